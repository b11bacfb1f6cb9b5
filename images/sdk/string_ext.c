/* string_ext.c - the string.h functions beyond the core that string.c keeps
 * in every guest: searching (strspn, strpbrk, strtok, memmem...), copying
 * variants (stpcpy, memccpy...) and the allocating strdup/strndup.  An
 * archive member: a guest links it only when it uses one of them. */
#include <hv_guest.h>
#include <stdlib.h>
#include <string.h>

/* Whether c (not NUL) occurs in the NUL-terminated set. */
static int in_set(char c, const char *set)
{
    for (; *set; set++) {
        if (*set == c)
            return 1;
    }
    return 0;
}

size_t strspn(const char *s, const char *accept)
{
    size_t n = 0;

    while (s[n] && in_set(s[n], accept))
        n++;
    return n;
}

size_t strcspn(const char *s, const char *reject)
{
    size_t n = 0;

    while (s[n] && !in_set(s[n], reject))
        n++;
    return n;
}

char *strpbrk(const char *s, const char *accept)
{
    s += strcspn(s, accept);
    return *s ? (char *)(uintptr_t)s : NULL;
}

char *strtok_r(char *s, const char *delim, char **save)
{
    char *end;

    if (!s)
        s = *save;
    s += strspn(s, delim);
    if (!*s) {
        *save = s;
        return NULL;
    }
    end = s + strcspn(s, delim);
    if (*end)
        *end++ = 0;
    *save = end;
    return s;
}

char *strtok(char *s, const char *delim)
{
    static char *save;

    return strtok_r(s, delim, &save);
}

char *strsep(char **sp, const char *delim)
{
    char *s = *sp, *end;

    if (!s)
        return NULL;
    end = s + strcspn(s, delim);
    *sp = *end ? end + 1 : NULL;
    *end = 0;
    return s;
}

void *memrchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;

    while (n--) {
        if (p[n] == (unsigned char)c)
            return (void *)(uintptr_t)(p + n);
    }
    return NULL;
}

void *memmem(const void *haystack, size_t n, const void *needle, size_t m)
{
    const unsigned char *h = haystack;

    if (m == 0)
        return (void *)(uintptr_t)h;
    for (; n >= m; h++, n--) {
        if (*h == *(const unsigned char *)needle && memcmp(h, needle, m) == 0)
            return (void *)(uintptr_t)h;
    }
    return NULL;
}

void *memccpy(void *dst, const void *src, int c, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    while (n--) {
        if ((*d++ = *s++) == (unsigned char)c)
            return d;
    }
    return NULL;
}

void *mempcpy(void *dst, const void *src, size_t n)
{
    return (char *)memcpy(dst, src, n) + n;
}

char *stpcpy(char *dst, const char *src)
{
    size_t n = strlen(src);

    memcpy(dst, src, n + 1);
    return dst + n;
}

char *stpncpy(char *dst, const char *src, size_t n)
{
    size_t len = strnlen(src, n);

    memcpy(dst, src, len);
    memset(dst + len, 0, n - len);
    return dst + len;
}

size_t strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = 0;
    }
    return len;
}

size_t strlcat(char *dst, const char *src, size_t size)
{
    size_t used = strnlen(dst, size);

    if (used == size)
        return size + strlen(src);
    return used + strlcpy(dst + used, src, size - used);
}

char *strncat(char *dst, const char *src, size_t n)
{
    char *d = dst + strlen(dst);
    size_t len = strnlen(src, n);

    memcpy(d, src, len);
    d[len] = 0;
    return dst;
}

/* The "C" locale: collation is byte order. */
int strcoll(const char *a, const char *b)
{
    return strcmp(a, b);
}

size_t strxfrm(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);

    if (len < n)
        memcpy(dst, src, len + 1);
    return len;
}

char *strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = malloc(len + 1);

    if (copy) {
        memcpy(copy, s, len);
        copy[len] = 0;
    }
    return copy;
}

char *strdup(const char *s)
{
    return strndup(s, SIZE_MAX);
}
