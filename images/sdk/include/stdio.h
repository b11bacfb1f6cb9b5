/* stdio.h - the console part of the hv guest SDK's tiny libc.
 *
 * Output goes to the console (fd 1) through a small buffer that is written
 * out at each newline, when it fills, and by hv_flush().  There are no FILE
 * streams.  Conversions: %d %i %u %x %X %o %c %s %p %%, flags "-0+ #", width,
 * precision, "*", and the length modifiers hh h l ll z t j. */
#ifndef HV_SDK_STDIO_H
#define HV_SDK_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#define EOF (-1)

#define HV_PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

int printf(const char *fmt, ...) HV_PRINTF_LIKE(1, 2);
int vprintf(const char *fmt, va_list ap) HV_PRINTF_LIKE(1, 0);
int sprintf(char *buf, const char *fmt, ...) HV_PRINTF_LIKE(2, 3);
int snprintf(char *buf, size_t size, const char *fmt, ...) HV_PRINTF_LIKE(3, 4);
int vsprintf(char *buf, const char *fmt, va_list ap) HV_PRINTF_LIKE(2, 0);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) HV_PRINTF_LIKE(3, 0);
int putchar(int c);
int puts(const char *s);

/* Write out buffered console output now. */
void hv_flush(void);

#endif /* HV_SDK_STDIO_H */
