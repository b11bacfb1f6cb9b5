/* bench_float.h - what the floating-point benchmarks share: a readable
 * fixed-point print of a double that needs no %f from printf, next to its
 * IEEE bits, so every runner's console can be compared byte for byte. */
#ifndef BENCH_FLOAT_H
#define BENCH_FLOAT_H

#include <hv_guest.h>

/* "name -0.169075164 [bfc5a4d2ba2a3c16]": nine decimals (|x| < 1e9). */
static inline void bench_show(const char *name, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    double a = x < 0 ? -x : x;
    unsigned long long scaled = (unsigned long long)(a * 1e9 + 0.5);
    printf("%s %s%llu.%09llu [%016llx]\n", name, x < 0 ? "-" : "", scaled / 1000000000u,
           scaled % 1000000000u, (unsigned long long)bits);
}

#endif
