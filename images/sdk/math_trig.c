/*
 * math_trig.c - sin, cos, tan, asin, acos, atan, atan2 and their float
 * versions.
 *
 * sin, cos and tan reduce x modulo pi/2 exactly, for every double (a
 * Payne-Hanek reduction: x's integer significand times a 192-bit window of
 * the bits of 2/pi, chosen by x's exponent), then sum the Taylor series on
 * [-pi/4, pi/4].  The x87's own fsin uses a 66-bit pi and loses every bit
 * near a multiple of pi for large x; this does not.  atan halves its
 * argument with atan(x) = 2 atan(x / (1 + sqrt(1 + x^2))) until it is below
 * 1/4 and sums the series; asin, acos and atan2 are written with it.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "hv_libm.h"

/* The bits of 2/pi after the binary point, 32 a word (from mpmath), enough
 * for the largest double's exponent plus the 192-bit window. */
static const uint32_t two_over_pi[40] = {
    0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0, 0xdb629599, 0x3c439041,
    0xfe5163ab, 0xdebbc561, 0xb7246e3a, 0x424dd2e0, 0x06492eea, 0x09d1921c,
    0xfe1deb1c, 0xb129a73e, 0xe88235f5, 0x2ebb4484, 0xe99c7026, 0xb45f7e41,
    0x3991d639, 0x835339f4, 0x9c845f8b, 0xbdf9283b, 0x1ff897ff, 0xde05980f,
    0xef2f118b, 0x5a0a6d1f, 0x6d367ecf, 0x27cb09b7, 0x4f463f66, 0x9e5fea2d,
    0x7527bac7, 0xebe5f17b, 0x3d0739f7, 0x8a5292ea, 0x6bfb5fb1, 0x1f8d5d08,
    0x56033046, 0xfc7b6bab, 0xf0cfbc20, 0x9af4361d,
};

/* Bits pos .. pos+31 of 2/pi, counting the first after the point as 1. */
static uint32_t two_over_pi_bits(int pos)
{
    int word = (pos - 1) / 32, off = (pos - 1) % 32;
    uint32_t w = two_over_pi[word] << off;

    if (off)
        w |= two_over_pi[word + 1] >> (32 - off);
    return w;
}

enum { WIN = 6, PROD = 8 };    /* window and product sizes in 32-bit words */

/* Bits pos .. pos+63 of the little-endian product (zero below bit 0). */
static uint64_t prod_bits(const uint32_t *p, int pos)
{
    uint64_t v = 0;
    int i;

    for (i = 63; i >= 0; i--) {
        int b = pos + i;
        v <<= 1;
        if (b >= 0 && b < PROD * 32)
            v |= (p[b / 32] >> (b % 32)) & 1;
    }
    return v;
}

/*
 * x - n*pi/2 with |result| <= pi/4 (as *r, in long double) and n mod 4
 * returned, for finite x.  With x = m * 2^ex, the terms of 2/pi whose
 * weight makes m * 2^ex * b_i * 2^-i a multiple of 4 are left out, and the
 * window's end leaves an error below 2^-137 in the fraction, while the
 * nearest a double comes to a multiple of pi/2 is about 2^-61.
 */
static int rem_pio2(double x, long double *r)
{
    uint64_t u = hv_dbits(x), m, frac;
    int ex, i0, f, n, top, i, j;
    uint32_t g[WIN], p[PROD] = { 0 };
    union hv_ld v;

    if (fabs(x) <= 0.785398163397448309615) {
        *r = x;
        return 0;
    }
    ex = (int)((u >> 52) & 0x7ff) - 1075;
    m = (u & ((1ULL << 52) - 1)) | (1ULL << 52);
    i0 = ex - 1 < 1 ? 1 : ex - 1;
    for (i = 0; i < WIN; i++)
        g[WIN - 1 - i] = two_over_pi_bits(i0 + 32 * i);
    for (j = 0; j < 2; j++) {    /* p = m * g */
        uint32_t mj = (uint32_t)(m >> (32 * j));
        uint64_t carry = 0;
        for (i = 0; i < WIN; i++) {
            uint64_t t = (uint64_t)mj * g[i] + p[i + j] + carry;
            p[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
        p[WIN + j] = (uint32_t)carry;
    }
    f = i0 + 32 * WIN - 1 - ex;    /* bits of p below the binary point */
    n = (int)(prod_bits(p, f) & 3);
    frac = prod_bits(p, f - 64);
    v.p.sexp = 0;
    if (frac >> 63) {              /* fraction >= 1/2: the next quadrant */
        uint64_t carry = 1;
        n++;
        v.p.sexp = 0x8000;
        for (i = 0; i < PROD; i++) {    /* p = 2^f - (p mod 2^f) */
            uint64_t t = (uint64_t)(uint32_t)~p[i] + carry;
            p[i] = (uint32_t)t;
            carry = t >> 32;
        }
        for (i = f; i < PROD * 32; i++)
            p[i / 32] &= ~(1u << (i % 32));
    }
    for (top = f - 1; top >= 0 && !((p[top / 32] >> (top % 32)) & 1); top--)
        ;
    if (top < 0) {
        *r = 0;
        return n & 3;
    }
    v.p.mant = prod_bits(p, top - 63);
    v.p.sexp = (uint16_t)(v.p.sexp | (16383 + top - f));
    *r = v.v * HV_PIO2_HI + v.v * HV_PIO2_LO;
    if (x < 0) {
        *r = -*r;
        n = -n;
    }
    return n & 3;
}

/* Taylor coefficients: (-1)^n / (2n+1)! for n = 1..10 and (-1)^n / (2n)!
 * for n = 2..11; on |r| <= pi/4 the first omitted terms are below 2^-70. */
static const long double sin_coef[] = {
    -1.0L / 6.0L, 1.0L / 120.0L, -1.0L / 5040.0L, 1.0L / 362880.0L,
    -1.0L / 39916800.0L, 1.0L / 6227020800.0L, -1.0L / 1307674368000.0L,
    1.0L / 355687428096000.0L, -1.0L / 121645100408832000.0L,
    1.0L / 51090942171709440000.0L,
};

static const long double cos_coef[] = {
    1.0L / 24.0L, -1.0L / 720.0L, 1.0L / 40320.0L, -1.0L / 3628800.0L,
    1.0L / 479001600.0L, -1.0L / 87178291200.0L, 1.0L / 20922789888000.0L,
    -1.0L / 6402373705728000.0L, 1.0L / 2432902008176640000.0L,
    -1.0L / 1124000727777607680000.0L,
};

static long double series(const long double *c, int n, long double r2)
{
    long double p = 0;

    while (n-- > 0)
        p = p * r2 + c[n];
    return p;
}

static long double sin_kernel(long double r)
{
    long double r2 = r * r;

    return r + r * r2 * series(sin_coef, 10, r2);
}

static long double cos_kernel(long double r)
{
    long double r2 = r * r;

    return 1 - r2 * 0.5L + r2 * r2 * series(cos_coef, 10, r2);
}

/* sin (cos = 0) or cos (cos = 1) of x, in long double. */
static long double sin_cos_core(double x, int cos)
{
    long double r;
    int n;

    if (isnan(x))
        return x + x;
    if (isinf(x)) {
        errno = EDOM;
        return NAN;
    }
    if (x == 0 && !cos)
        return x;                   /* keeps the sign of a zero */
    n = (rem_pio2(x, &r) + cos) & 3;
    switch (n) {
    case 0: return sin_kernel(r);
    case 1: return cos_kernel(r);
    case 2: return -sin_kernel(r);
    default: return -cos_kernel(r);
    }
}

static long double tan_core(double x)
{
    long double r;

    if (isnan(x))
        return x + x;
    if (isinf(x)) {
        errno = EDOM;
        return NAN;
    }
    if (x == 0)
        return x;
    if (rem_pio2(x, &r) & 1)
        return -cos_kernel(r) / sin_kernel(r);
    return sin_kernel(r) / cos_kernel(r);
}

double sin(double x) { return hv_narrow(sin_cos_core(x, 0)); }
float sinf(float x) { return hv_narrowf(sin_cos_core(x, 0)); }
double cos(double x) { return hv_narrow(sin_cos_core(x, 1)); }
float cosf(float x) { return hv_narrowf(sin_cos_core(x, 1)); }
double tan(double x) { return hv_narrow(tan_core(x)); }
float tanf(float x) { return hv_narrowf(tan_core(x)); }

/* ---- the inverse functions -------------------------------------------- */

/* (-1)^n / (2n+1) for n = 1..16: atan(t) = t + t^3 * (...), |t| <= 1/4. */
static const long double atan_coef[] = {
    -1.0L / 3, 1.0L / 5, -1.0L / 7, 1.0L / 9, -1.0L / 11, 1.0L / 13, -1.0L / 15,
    1.0L / 17, -1.0L / 19, 1.0L / 21, -1.0L / 23, 1.0L / 25, -1.0L / 27,
    1.0L / 29, -1.0L / 31, 1.0L / 33,
};

long double hv_atanl(long double x)
{
    long double a = fabsl(x), scale = 1, t2, r;
    int invert = a > 1;

    if (isnan(x))
        return x + x;
    if (invert)
        a = 1 / a;                 /* atan(x) = pi/2 - atan(1/x) */
    while (a > 0.25L) {
        a = a / (1 + sqrtl(1 + a * a));
        scale *= 2;
    }
    t2 = a * a;
    r = scale * (a + a * t2 * series(atan_coef, 16, t2));
    if (invert)
        r = (HV_PIO2_HI - r) + HV_PIO2_LO;
    return signbit(x) ? -r : r;
}

static long double atan_core(double x)
{
    return hv_atanl(x);
}

double atan(double x) { return hv_narrow(atan_core(x)); }
float atanf(float x) { return hv_narrowf(atan_core(x)); }

/* C99 F.9.1.4 for the special values; otherwise atan(|y/x|) placed in its
 * quadrant (long double's range holds any quotient of two doubles). */
static long double atan2_core(double y, double x)
{
    long double t;

    if (isnan(x) || isnan(y))
        return (long double)x + y;
    if (y == 0 || (isinf(x) && isfinite(y))) {
        t = signbit(x) ? HV_PI_HI + HV_PI_LO : 0;
    } else if (x == 0 || (isinf(y) && isfinite(x))) {
        t = HV_PIO2_HI + HV_PIO2_LO;
    } else if (isinf(x)) {       /* both infinite */
        t = x > 0 ? (HV_PIO2_HI + HV_PIO2_LO) / 2 : (HV_PI_HI + HV_PI_LO) * 0.75L;
    } else {
        t = hv_atanl(fabsl((long double)y / x));
        if (x < 0)
            t = (HV_PI_HI - t) + HV_PI_LO;
    }
    return signbit(y) ? -t : t;
}

double atan2(double y, double x) { return hv_narrow(atan2_core(y, x)); }
float atan2f(float y, float x) { return hv_narrowf(atan2_core(y, x)); }

static long double asin_core(double x)
{
    long double a = fabs(x), r;

    if (isnan(x))
        return x + x;
    if (a > 1) {
        errno = EDOM;
        return NAN;
    }
    /* (1 - a)(1 + a) keeps its bits where 1 - a*a would cancel them. */
    r = hv_atanl(a / sqrtl((1 - a) * (1 + a)));
    return signbit(x) ? -r : r;
}

static long double acos_core(double x)
{
    if (isnan(x))
        return x + x;
    if (fabs(x) > 1) {
        errno = EDOM;
        return NAN;
    }
    return 2 * hv_atanl(sqrtl((1 - (long double)x) / (1 + (long double)x)));
}

double asin(double x) { return hv_narrow(asin_core(x)); }
float asinf(float x) { return hv_narrowf(asin_core(x)); }
double acos(double x) { return hv_narrow(acos_core(x)); }
float acosf(float x) { return hv_narrowf(acos_core(x)); }
