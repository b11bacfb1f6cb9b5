/* string.c - memory and string functions of the SDK's tiny libc.
 *
 * GCC may emit calls to memcpy, memmove, memset and memcmp on its own (for
 * struct copies and zeroing), so these must exist even in guests that never
 * call them.  hv cc builds the SDK with -fno-tree-loop-distribute-patterns
 * so that the loops below are not turned back into calls to themselves. */
#include <stdint.h>
#include <string.h>

/* Word-sized access that may alias any object (memcpy copies any type). */
typedef uint32_t __attribute__((may_alias)) hv_word;

static int both_aligned(const void *a, const void *b)
{
    return (((uintptr_t)a | (uintptr_t)b) & (sizeof(hv_word) - 1)) == 0;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    /* Whole words first when we can: a quarter of the guest instructions. */
    if (both_aligned(d, s)) {
        for (; n >= sizeof(hv_word); n -= sizeof(hv_word)) {
            *(hv_word *)(void *)d = *(const hv_word *)(const void *)s;
            d += sizeof(hv_word);
            s += sizeof(hv_word);
        }
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    /* Copying forwards is only safe if the destination starts first. */
    if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    unsigned char byte = (unsigned char)c;

    if (both_aligned(d, d)) {
        hv_word word = byte * 0x01010101u;
        for (; n >= sizeof(hv_word); n -= sizeof(hv_word)) {
            *(hv_word *)(void *)d = word;
            d += sizeof(hv_word);
        }
    }
    while (n--)
        *d++ = byte;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;

    for (; n; n--, x++, y++) {
        if (*x != *y)
            return *x < *y ? -1 : 1;
    }
    return 0;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;

    for (; n; n--, p++) {
        if (*p == (unsigned char)c)
            return (void *)(uintptr_t)p;
    }
    return NULL;
}

size_t strlen(const char *s)
{
    const char *p = s;

    while (*p)
        p++;
    return (size_t)(p - s);
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;

    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    return strncmp(a, b, SIZE_MAX);
}

int strncmp(const char *a, const char *b, size_t n)
{
    /* Compare as unsigned char, as the C standard requires. */
    for (; n; n--, a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x != y)
            return x < y ? -1 : 1;
        if (x == 0)
            break;
    }
    return 0;
}

char *strcpy(char *dst, const char *src)
{
    char *d = dst;

    while ((*d++ = *src++) != 0)
        ;
    return dst;
}

char *strncpy(char *dst, const char *src, size_t n)
{
    size_t i = 0;

    for (; i < n && src[i]; i++)
        dst[i] = src[i];
    for (; i < n; i++)
        dst[i] = 0;    /* strncpy pads the rest with NULs */
    return dst;
}

char *strcat(char *dst, const char *src)
{
    strcpy(dst + strlen(dst), src);
    return dst;
}

char *strchr(const char *s, int c)
{
    char ch = (char)c;

    for (;; s++) {
        if (*s == ch)
            return (char *)(uintptr_t)s;
        if (*s == 0)
            return NULL;
    }
}

char *strrchr(const char *s, int c)
{
    char ch = (char)c;
    const char *last = NULL;

    for (;; s++) {
        if (*s == ch)
            last = s;
        if (*s == 0)
            return (char *)(uintptr_t)last;
    }
}

char *strstr(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);

    for (; *haystack; haystack++) {
        if (strncmp(haystack, needle, n) == 0)
            return (char *)(uintptr_t)haystack;
    }
    return n == 0 ? (char *)(uintptr_t)haystack : NULL;
}
