/* fmt.h - integers to text in any base from 2 to 36. */
#ifndef DEMO_FMT_H
#define DEMO_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_BASE_MIN 2
#define FMT_BASE_MAX 36

/*
 * Write value in `base` (digits 0-9 then lower-case a-z) into buf, which
 * holds `size` bytes including the terminating NUL.  The text is at least
 * `width` characters, padded on the left with `pad`; a '0' pad goes after
 * the minus sign ("-0042"), any other pad before it ("  -42").
 *
 * Returns the length of the text, or -1 when the base is out of range or
 * the text does not fit (buf is then "" if size > 0).
 */
int fmt_utoa(char *buf, size_t size, uint64_t value, unsigned base, unsigned width, char pad);
int fmt_itoa(char *buf, size_t size, int64_t value, unsigned base, unsigned width, char pad);

#endif /* DEMO_FMT_H */
