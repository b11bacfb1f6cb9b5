/* fmt.c - see fmt.h. */
#include <stdbool.h>

#include "fmt.h"

static const char digit_chars[] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* The shared body: magnitude plus an optional minus sign. */
static int format(char *buf, size_t size, uint64_t magnitude, bool negative, unsigned base,
                  unsigned width, char pad)
{
    char digits[64];             /* 64 binary digits is the longest */
    unsigned ndigits = 0, len, fill, i = 0;

    if (size > 0)
        buf[0] = 0;
    if (base < FMT_BASE_MIN || base > FMT_BASE_MAX)
        return -1;
    do {
        digits[ndigits++] = digit_chars[magnitude % base];
        magnitude /= base;
    } while (magnitude);

    len = ndigits + (negative ? 1u : 0u);
    fill = width > len ? width - len : 0;
    if ((size_t)len + fill + 1 > size)
        return -1;

    if (pad == '0') {
        if (negative)
            buf[i++] = '-';
        while (fill--)
            buf[i++] = '0';
    } else {
        while (fill--)
            buf[i++] = pad;
        if (negative)
            buf[i++] = '-';
    }
    while (ndigits)
        buf[i++] = digits[--ndigits];
    buf[i] = 0;
    return (int)i;
}

int fmt_utoa(char *buf, size_t size, uint64_t value, unsigned base, unsigned width, char pad)
{
    return format(buf, size, value, false, base, width, pad);
}

int fmt_itoa(char *buf, size_t size, int64_t value, unsigned base, unsigned width, char pad)
{
    /* 0 - (uint64_t)value is the magnitude even for INT64_MIN. */
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;

    return format(buf, size, magnitude, value < 0, base, width, pad);
}
