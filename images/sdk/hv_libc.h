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

/* Appends n bytes to the buffered console, flushing at newlines and when
 * the buffer is full (console.c). */
void hv_console_put(const char *s, size_t n);

/* True when the last byte printed through the buffer was not a newline
 * (console.c); the test runner then starts its report on a new line. */
bool hv_console_mid_line(void);

#endif /* HV_LIBC_H */
