/* stdlib.h - number parsing and exit for the hv guest SDK's tiny libc.
 * There is no heap: malloc and free are not provided. */
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

/* Flush console output and power off with status (the EXIT hypercall). */
__attribute__((noreturn)) void exit(int status);

#endif /* HV_SDK_STDLIB_H */
