/* stdio.h - the console part of the hv guest SDK's tiny libc.
 *
 * Output goes to the console (fd 1) through a small buffer that is written
 * out at each newline, when it fills, and by hv_flush().  Conversions: %d %i
 * %u %x %X %o %c %s %p %%, the floating %f %F %e %E %g %G %a %A (exact, as
 * glibc prints them), flags "-0+ #", width, precision, "*", and the length
 * modifiers hh h l ll z t j L.
 *
 * FILE streams (stdio.c): stdout is that console buffer, stderr writes at
 * once (after flushing stdout) with fd 2, stdin reads COM1's received bytes
 * on hv and fd 0 on Linux, EOF when none is waiting.  There are no files:
 * fopen() returns NULL with errno ENOENT. */
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

typedef struct hv_file FILE;
extern FILE *stdin;
extern FILE *stdout;
extern FILE *stderr;
#define stdin stdin
#define stdout stdout
#define stderr stderr

#define BUFSIZ 512
#define FILENAME_MAX 4096
#define FOPEN_MAX 3
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
#define _IOFBF 0
#define _IOLBF 1
#define _IONBF 2

int fprintf(FILE *f, const char *fmt, ...) HV_PRINTF_LIKE(2, 3);
int vfprintf(FILE *f, const char *fmt, va_list ap) HV_PRINTF_LIKE(2, 0);
int fputs(const char *s, FILE *f);
int fputc(int c, FILE *f);
int putc(int c, FILE *f);
size_t fwrite(const void *p, size_t size, size_t n, FILE *f);
int fflush(FILE *f);
void perror(const char *s);
int fgetc(FILE *f);
int getc(FILE *f);
int getchar(void);
int ungetc(int c, FILE *f);
char *fgets(char *s, int size, FILE *f);
size_t fread(void *p, size_t size, size_t n, FILE *f);
int feof(FILE *f);
int ferror(FILE *f);
void clearerr(FILE *f);
int fileno(FILE *f);
FILE *fopen(const char *path, const char *mode);
FILE *freopen(const char *path, const char *mode, FILE *f);
int fclose(FILE *f);
int remove(const char *path);
int rename(const char *from, const char *to);
int fseek(FILE *f, long offset, int whence);
long ftell(FILE *f);
void rewind(FILE *f);
int setvbuf(FILE *f, char *buf, int mode, size_t size);
void setbuf(FILE *f, char *buf);

/* Formatted input (scanf.c): C99 7.19.6.2, all conversions (the floating
 * ones through strtod). */
#define HV_SCANF_LIKE(fmt, args) __attribute__((format(scanf, fmt, args)))
int sscanf(const char *s, const char *fmt, ...) HV_SCANF_LIKE(2, 3);
int vsscanf(const char *s, const char *fmt, va_list ap) HV_SCANF_LIKE(2, 0);
int fscanf(FILE *f, const char *fmt, ...) HV_SCANF_LIKE(2, 3);
int vfscanf(FILE *f, const char *fmt, va_list ap) HV_SCANF_LIKE(2, 0);
int scanf(const char *fmt, ...) HV_SCANF_LIKE(1, 2);
int vscanf(const char *fmt, va_list ap) HV_SCANF_LIKE(1, 0);

#endif /* HV_SDK_STDIO_H */
