/* strings.h - case-blind comparison ("C" locale), bzero/bcopy/bcmp, ffs and
 * index/rindex, as POSIX and the BSDs have them. */
#ifndef HV_SDK_STRINGS_H
#define HV_SDK_STRINGS_H

#include <stddef.h>

int strcasecmp(const char *a, const char *b);
int strncasecmp(const char *a, const char *b, size_t n);
void bzero(void *s, size_t n);
void bcopy(const void *src, void *dst, size_t n);
int bcmp(const void *a, const void *b, size_t n);
/* The 1-based index of the lowest set bit, 0 for 0. */
int ffs(int v);
int ffsl(long v);
int ffsll(long long v);
char *index(const char *s, int c);
char *rindex(const char *s, int c);

#endif /* HV_SDK_STRINGS_H */
