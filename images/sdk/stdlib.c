/* stdlib.c - number parsing, abs, exit and _Exit for the SDK's tiny libc. */
#include <hv_guest.h>
#include <limits.h>

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return 99;
}

static int is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * The common core of the strto* family: skips blanks, reads a sign and the
 * base prefix, and accumulates up to `limit`.  Sets *negative and *overflow;
 * *end gets the first unparsed character (s itself if no digits were read).
 */
static unsigned long long parse_digits(const char *s, char **end, int base,
                                       unsigned long long limit, int *negative, int *overflow)
{
    const char *p = s;
    unsigned long long value = 0;
    int any = 0;

    *negative = 0;
    *overflow = 0;
    while (is_space(*p))
        p++;
    if (*p == '+' || *p == '-')
        *negative = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] | 0x20) == 'x'
        && digit_value(p[2]) < 16) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    for (; digit_value(*p) < base; p++, any = 1) {
        unsigned d = (unsigned)digit_value(*p);
        /* value * base + d > limit, tested without overflowing or dividing
         * by a 64-bit number more than once. */
        if (value > (limit - d) / (unsigned)base)
            *overflow = 1;
        else
            value = value * (unsigned)base + d;
    }
    if (end)
        *end = (char *)(uintptr_t)(any ? p : s);
    return value;
}

unsigned long long strtoull(const char *s, char **end, int base)
{
    int negative, overflow;
    unsigned long long v = parse_digits(s, end, base, ULLONG_MAX, &negative, &overflow);

    if (overflow)
        return ULLONG_MAX;
    return negative ? -v : v;
}

long long strtoll(const char *s, char **end, int base)
{
    int negative, overflow;
    unsigned long long max = (unsigned long long)LLONG_MAX;
    unsigned long long v = parse_digits(s, end, base, max + 1, &negative, &overflow);

    if (overflow || (!negative && v > max))
        return negative ? LLONG_MIN : LLONG_MAX;
    return negative ? (long long)(0 - v) : (long long)v;
}

unsigned long strtoul(const char *s, char **end, int base)
{
    int negative, overflow;
    unsigned long v = (unsigned long)parse_digits(s, end, base, ULONG_MAX, &negative, &overflow);

    if (overflow)
        return ULONG_MAX;
    return negative ? -v : v;
}

long strtol(const char *s, char **end, int base)
{
    int negative, overflow;
    unsigned long max = (unsigned long)LONG_MAX;
    unsigned long v = (unsigned long)parse_digits(s, end, base, (unsigned long long)max + 1,
                                                  &negative, &overflow);

    if (overflow || (!negative && v > max))
        return negative ? LONG_MIN : LONG_MAX;
    return negative ? (long)(0 - v) : (long)v;
}

int atoi(const char *s)
{
    return (int)strtol(s, NULL, 10);
}

int abs(int v)
{
    return v < 0 ? -v : v;
}

long labs(long v)
{
    return v < 0 ? -v : v;
}

long long llabs(long long v)
{
    return v < 0 ? -v : v;
}

/* atexit.c defines this when a program registers a handler. */
void hv__run_atexit(void) __attribute__((weak));

void exit(int status)
{
    if (hv__run_atexit)
        hv__run_atexit();
    hv_exit(status);
}

void _Exit(int status)
{
    hv_exit(status);
}
