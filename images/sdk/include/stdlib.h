/* stdlib.h - number parsing, the heap, sorting and exit for the hv guest
 * SDK's libc.  The heap (malloc and friends) takes free RAM above the image,
 * from the same pool as hv_paging.h's frames. */
#ifndef HV_SDK_STDLIB_H
#define HV_SDK_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1
#define RAND_MAX 0x7fffffff

typedef struct { int quot, rem; } div_t;
typedef struct { long quot, rem; } ldiv_t;
typedef struct { long long quot, rem; } lldiv_t;

unsigned long strtoul(const char *s, char **end, int base);
long strtol(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);
long long strtoll(const char *s, char **end, int base);
int atoi(const char *s);
/* Correctly rounded for each type, hex floats, inf and nan (strtod.c). */
double strtod(const char *s, char **end);
float strtof(const char *s, char **end);
long double strtold(const char *s, char **end);
double atof(const char *s);
int abs(int v);
long labs(long v);
long long llabs(long long v);

/* stdlib_ext.c (an archive member). */
div_t div(int num, int den);
ldiv_t ldiv(long num, long den);
lldiv_t lldiv(long long num, long long den);
int rand(void);
void srand(unsigned seed);
long atol(const char *s);
long long atoll(const char *s);
char *getenv(const char *name);              /* always NULL: no environment */

void *malloc(size_t n);
void *calloc(size_t count, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);

void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
void *bsearch(const void *key, const void *base, size_t n, size_t size,
              int (*cmp)(const void *, const void *));

/* Flush console output and exit with status 134 (128 + SIGABRT). */
__attribute__((noreturn)) void abort(void);

/* Flush console output and power off with status (the EXIT hypercall). */
__attribute__((noreturn)) void exit(int status);

/* Register fn to run at exit() or on return from main, last registered
 * first, before the console is flushed; returns 0 (-1 when 64 are taken). */
int atexit(void (*fn)(void));

/* Exit at once: no atexit handlers (console output is still flushed). */
__attribute__((noreturn)) void _Exit(int status);

#endif /* HV_SDK_STDLIB_H */
