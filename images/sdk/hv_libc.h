/* hv_libc.h - internal contracts between the SDK's libc files (not for
 * guests; they include <hv_guest.h>). */
#ifndef HV_LIBC_H
#define HV_LIBC_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where formatted output goes.  put() receives every produced byte, in
 * order, in runs of any length. */
struct hv_sink {
    void (*put)(struct hv_sink *sink, const char *s, size_t n);
};

/* Formats fmt with ap into sink and returns the number of bytes produced
 * (printf.c). */
int hv_vformat(struct hv_sink *sink, const char *fmt, va_list ap);

/* The flags of a printf conversion, as printf.c parses them. */
enum {
    HV_FMT_LEFT = 1,     /* '-': pad on the right */
    HV_FMT_ZERO = 2,     /* '0': pad numbers with zeros */
    HV_FMT_PLUS = 4,     /* '+': always print a sign */
    HV_FMT_SPACE = 8,    /* ' ': a blank where a '+' would go */
    HV_FMT_ALT = 16,     /* '#': the alternative form */
};

/* Formats v for one of %f %F %e %E %g %G %a %A (type) with the given flags,
 * width and precision (-1: none) into sink, as glibc would; is_long says
 * the argument was a long double (it changes %a's layout).  Returns the
 * number of bytes produced (printf_float.c). */
int hv_format_float(struct hv_sink *sink, unsigned flags, int width, int prec, char type,
                    long double v, bool is_long);

/* Appends n bytes to the buffered console, flushing at newlines and when
 * the buffer is full (console.c). */
void hv_console_put(const char *s, size_t n);

/* True when the last byte printed through the buffer was not a newline
 * (console.c); the test runner then starts its report on a new line. */
bool hv_console_mid_line(void);

#endif /* HV_LIBC_H */
