/*
 * numeric.h - what the numerical programs of images/numeric/ share.
 *
 * Each program (fft.h, mandel.h, matinv.h) is real floating-point code, not
 * an instruction test: it computes something and prints the result twice
 * over, readably (fixed-point decimals, an ASCII picture) and exactly (the
 * IEEE bits in hex, and an FNV-1a hash over the bits of every result).  The
 * same body is built from two tiny wrappers, <name>_x87.c (gcc's -m32
 * default) and <name>_sse2.c (-msse2 -mfpmath=sse), at -O0, -O2 and -Os, as
 * an hv guest and as a static i386 Linux program; tests/test_numeric.py
 * compares the two consoles byte for byte.
 *
 * The programs use no libm, so they run on the bare SDK: fft.h makes its
 * twiddle factors with a Taylor series, and __builtin_sqrt is one
 * instruction (the wrappers pass -fno-math-errno, as numerical code often
 * does).  The arithmetic is the program's own; only the CPU decides the bits.
 * The SDK's crt0 starts the FPU and SSE as Linux does (FNINIT, MXCSR 0x1f80,
 * CR4.OSFXSR), so both builds begin from the same state.
 */
#ifndef NUMERIC_H
#define NUMERIC_H

#include <hv_guest.h>

#define NUM_PI 3.14159265358979323846
#define NUM_PI_2 1.57079632679489661923

#if defined(__SSE2_MATH__)
#define NUM_FPMATH "sse2"
#else
#define NUM_FPMATH "x87"
#endif

static uint32_t num_hash = 0x811c9dc5u;

static inline void hash_bytes(uint32_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x01000193u;
    }
}

static inline uint64_t bits64(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline uint32_t bits32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Fold a result into the program's hash (and into h, if not NULL). */
static inline void fold(uint32_t *h, double x)
{
    uint64_t u = bits64(x);
    hash_bytes(&num_hash, &u, sizeof u);
    if (h)
        hash_bytes(h, &u, sizeof u);
}

static inline void foldf(uint32_t *h, float x)
{
    uint32_t u = bits32(x);
    hash_bytes(&num_hash, &u, sizeof u);
    if (h)
        hash_bytes(h, &u, sizeof u);
}

/* x readably: "-12.345679" with six decimals, or "+2.136001e-15" outside
 * [1e-3, 1e12).  The SDK's printf has no %f (yet), and this must not depend
 * on it.  The digits come from the program's own arithmetic (scaling by
 * tens, then a conversion to an integer), so the x87 and SSE2 builds may
 * differ in the last digit; each is compared only with itself on the CPU. */
static inline void put_fixed(double x)
{
    if (x != x) {
        printf("nan");
        return;
    }
    const char *sign = x < 0 || (x == 0 && 1 / x < 0) ? "-" : "+";
    double a = x < 0 ? -x : x;
    if (a > 1.7e308) {
        printf("%sinf", sign);
        return;
    }
    int exp10 = 0;
    if (a != 0 && (a < 1e-3 || a >= 1e12)) {
        while (a >= 10) {
            a /= 10;
            exp10++;
        }
        while (a < 1) {
            a *= 10;
            exp10--;
        }
    }
    unsigned long long scaled = (unsigned long long)(a * 1e6 + 0.5);
    printf("%s%llu.%06llu", sign, scaled / 1000000u, scaled % 1000000u);
    if (exp10)
        printf("e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
}

/* "name = +1.500000 [3ff8000000000000]" */
static inline void show(const char *name, double x)
{
    printf("  %-24s = ", name);
    put_fixed(x);
    printf(" [%016llx]\n", (unsigned long long)bits64(x));
    fold(NULL, x);
}

static inline void showf(const char *name, float x)
{
    printf("  %-24s = ", name);
    put_fixed(x);
    printf(" [%08x]\n", (unsigned)bits32(x));
    foldf(NULL, x);
}

/* A deterministic source of numbers: Numerical Recipes' LCG. */
static uint32_t lcg_state = 20240601u;

static inline uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state;
}

/* Uniform in [-1, 1), from the LCG's high bits. */
static inline double lcg_unit(void)
{
    return (double)(int32_t)(lcg() & 0xffffff00u) / 2147483648.0;
}

static int program(void) __attribute__((noinline));

int main(void)
{
    int status = program();
    printf("hash %08x\n", (unsigned)num_hash);
    printf("done\n");
    return status;
}

#endif
