/* stdlib.h - number parsing, the heap, sorting and exit for the hv guest
 * SDK's libc.  The heap (malloc and friends) takes free RAM above the image,
 * from the same pool as hv_paging.h's frames. */
#ifndef HV_SDK_STDLIB_H
#define HV_SDK_STDLIB_H

#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

unsigned long strtoul(const char *s, char **end, int base);
long strtol(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);
long long strtoll(const char *s, char **end, int base);
int atoi(const char *s);
int abs(int v);
long labs(long v);
long long llabs(long long v);

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

#endif /* HV_SDK_STDLIB_H */
