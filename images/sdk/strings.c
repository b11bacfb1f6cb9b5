/* strings.c - the BSD/POSIX <strings.h> functions: case-blind comparison
 * in the "C" locale, bzero/bcopy, ffs and index/rindex (an archive member). */
#include <string.h>
#include <strings.h>

static int lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int strncasecmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        int x = lower((unsigned char)*a), y = lower((unsigned char)*b);
        if (x != y)
            return x - y;
        if (x == 0)
            break;
    }
    return 0;
}

int strcasecmp(const char *a, const char *b)
{
    return strncasecmp(a, b, (size_t)-1);
}

void bzero(void *s, size_t n)
{
    memset(s, 0, n);
}

void bcopy(const void *src, void *dst, size_t n)
{
    memmove(dst, src, n);
}

int bcmp(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) != 0;
}

int ffs(int v)
{
    return v ? __builtin_ctz((unsigned)v) + 1 : 0;
}

int ffsl(long v)
{
    return ffs((int)v);
}

int ffsll(long long v)
{
    unsigned long long u = (unsigned long long)v;

    if ((unsigned)u)
        return ffs((int)(unsigned)u);
    return u ? 32 + ffs((int)(unsigned)(u >> 32)) : 0;
}

char *index(const char *s, int c)
{
    return strchr(s, c);
}

char *rindex(const char *s, int c)
{
    return strrchr(s, c);
}
