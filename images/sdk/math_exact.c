/*
 * math_exact.c - the math.h functions whose result is exact or correctly
 * rounded: sqrt, fabs, copysign, the rounding functions, frexp/ldexp,
 * modf, fmod/remainder, fmin/fmax/fdim, fma, ilogb/logb; and the helpers
 * every math file uses to round a long double result once.
 *
 * Most of these work on the bits of the double, so they give the same
 * result whether gcc compiles double arithmetic to the x87 or to SSE.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "hv_libm.h"

#define D_SIGN (1ULL << 63)
#define D_MANT ((1ULL << 52) - 1)

/* The unbiased exponent of a double (1024 for inf and NaN, -1023 for zero
 * and subnormals). */
static int d_exp(uint64_t u)
{
    return (int)((u >> 52) & 0x7ff) - 1023;
}

double hv_narrow(long double x)
{
    volatile double d = (double)x;

    return d;
}

float hv_narrowf(long double x)
{
    volatile float f = (float)x;

    return f;
}

long double hv_scalel(long double x, int n)
{
    union hv_ld p;

    while (n > 16000) {
        x *= 0x1p16000L;
        n -= 16000;
    }
    while (n < -16000) {
        x *= 0x1p-16000L;
        n += 16000;
    }
    p.p.mant = 1ULL << 63;
    p.p.sexp = (uint16_t)(16383 + n);
    return x * p.v;
}

/*
 * a + b is first rounded to 64 bits, then to the narrower format: that is
 * wrong only when the first rounding lands exactly halfway between two
 * numbers of that format.  TwoSum gives the exact error of the first
 * rounding; when the sum sits on a midpoint and the error is not zero,
 * moving the sum one 64-bit ulp toward the error makes the second rounding
 * go the way the exact sum would.  `bits` and `emin` describe the format.
 */
long double hv_sum_for(long double a, long double b, int bits, int emin)
{
    long double s = a + b;
    long double bb = s - a;
    long double err = (a - (s - bb)) + (b - bb);
    union hv_ld p;
    int e, drop;
    uint64_t mask;

    p.v = s;
    e = (p.p.sexp & 0x7fff) - 16383;
    if (err == 0 || s == 0 || e > -emin + 1)
        return s;
    drop = 64 - bits + (e < emin ? emin - e : 0);    /* bits below the ulp */
    if (drop > 64)
        return s;                      /* below half the least subnormal */
    if (drop == 64) {
        if (p.p.mant != 1ULL << 63)
            return s;
        /* exactly half the least subnormal: the error alone decides */
        return ((err > 0) == (s > 0)) ? s * 2 : s * 0.5L;
    }
    mask = (1ULL << drop) - 1;
    if ((p.p.mant & mask) == 1ULL << (drop - 1)) {
        if ((err > 0) == (s > 0))
            p.p.mant++;
        else
            p.p.mant--;
    }
    return p.v;
}

double hv_add_rounded(long double a, long double b)
{
    return hv_narrow(hv_sum_for(a, b, 53, -1022));
}

/* ---- sign and magnitude ---------------------------------------------- */

double fabs(double x)
{
    return hv_dfrom(hv_dbits(x) & ~D_SIGN);
}

float fabsf(float x)
{
    return hv_ffrom(hv_fbits(x) & 0x7fffffffu);
}

long double fabsl(long double x)
{
    union hv_ld p;

    p.v = x;
    p.p.sexp &= 0x7fff;
    return p.v;
}

double copysign(double x, double y)
{
    return hv_dfrom((hv_dbits(x) & ~D_SIGN) | (hv_dbits(y) & D_SIGN));
}

float copysignf(float x, float y)
{
    return hv_ffrom((hv_fbits(x) & 0x7fffffffu) | (hv_fbits(y) & 0x80000000u));
}

double nan(const char *tag)
{
    (void)tag;
    return NAN;
}

float nanf(const char *tag)
{
    (void)tag;
    return NAN;
}

/* ---- sqrt: the x87's fsqrt with the precision control set to the result's
 * format, so it rounds once (64-bit fsqrt then a store to double would
 * round twice). -------------------------------------------------------- */

static long double fsqrt_pc(long double x, unsigned pc)
{
    unsigned short cw, cw_pc;

    __asm__ volatile("fnstcw %0" : "=m"(cw));
    cw_pc = (unsigned short)((cw & ~0x300u) | pc);
    __asm__ volatile("fldcw %1\n\tfsqrt\n\tfldcw %2" : "+t"(x) : "m"(cw_pc), "m"(cw));
    return x;
}

double sqrt(double x)
{
    if (x < 0) {
        errno = EDOM;
        return NAN;
    }
    return hv_narrow(fsqrt_pc(x, 0x200));    /* PC = 53 bits */
}

float sqrtf(float x)
{
    if (x < 0) {
        errno = EDOM;
        return NAN;
    }
    return hv_narrowf(fsqrt_pc(x, 0x000));   /* PC = 24 bits */
}

long double sqrtl(long double x)
{
    if (x < 0) {
        errno = EDOM;
        return NAN;
    }
    return fsqrt_pc(x, 0x300);
}

/* ---- rounding to an integer, on the bits ------------------------------ */

/* The bits below the binary point of a double with exponent e (0..51). */
static uint64_t frac_mask(int e)
{
    return (1ULL << (52 - e)) - 1;
}

double trunc(double x)
{
    uint64_t u = hv_dbits(x);
    int e = d_exp(u);

    if (e >= 52)
        return x;
    if (e < 0)
        return hv_dfrom(u & D_SIGN);
    return hv_dfrom(u & ~frac_mask(e));
}

/* Rounds the magnitude of x up (away from zero) or down to an integer. */
static double round_magnitude(double x, int up)
{
    uint64_t u = hv_dbits(x);
    int e = d_exp(u);
    uint64_t mask;

    if (e >= 52 || (u & ~D_SIGN) == 0)
        return x;
    if (e < 0)
        return hv_dfrom((u & D_SIGN) | (up ? 0x3ff0000000000000ULL : 0));
    mask = frac_mask(e);
    if ((u & mask) && up)
        u += mask + 1;    /* a carry into the exponent is the right answer */
    return hv_dfrom(u & ~mask);
}

double floor(double x)
{
    return round_magnitude(x, (hv_dbits(x) & D_SIGN) != 0);
}

double ceil(double x)
{
    return round_magnitude(x, (hv_dbits(x) & D_SIGN) == 0);
}

/* Half away from zero. */
double round(double x)
{
    uint64_t u = hv_dbits(x);
    int e = d_exp(u);
    uint64_t mask;

    if (e >= 52)
        return x;
    if (e < 0)
        return hv_dfrom((u & D_SIGN) | (e == -1 ? 0x3ff0000000000000ULL : 0));
    mask = frac_mask(e);
    return hv_dfrom((u + (1ULL << (51 - e))) & ~mask);
}

/* Half to even, the default rounding mode. */
double rint(double x)
{
    uint64_t u = hv_dbits(x);
    int e = d_exp(u);
    uint64_t mask, frac, half;

    if (e >= 52)
        return x;
    if (e < 0) {
        int above_half = e == -1 && (u & D_MANT) != 0;
        return hv_dfrom((u & D_SIGN) | (above_half ? 0x3ff0000000000000ULL : 0));
    }
    mask = frac_mask(e);
    frac = u & mask;
    half = 1ULL << (51 - e);
    u &= ~mask;
    /* For e == 0 the bit above the fraction is the exponent's lowest bit,
     * which is 1 for 1.x: the integer 1 is odd, so it still works. */
    if (frac > half || (frac == half && (u >> (52 - e)) & 1))
        u += mask + 1;
    return hv_dfrom(u);
}

double nearbyint(double x)
{
    return rint(x);
}

/* A double already rounded to an integer, as a long long; out of range
 * (and NaN) gives LLONG_MIN as the x87's integer store does. */
static long long to_llong(double r)
{
    if (!(r >= -0x1p63 && r < 0x1p63))
        return (long long)(1ULL << 63);
    return (long long)r;
}

static long to_long(double r)
{
    if (!(r >= -0x1p31 && r < 0x1p31))
        return (long)(1UL << 31);
    return (long)r;
}

long lround(double x) { return to_long(round(x)); }
long long llround(double x) { return to_llong(round(x)); }
long lrint(double x) { return to_long(rint(x)); }
long long llrint(double x) { return to_llong(rint(x)); }

/* The float versions: every float is a double, and each of these results
 * is an integer of no more bits than the argument, so it is exact. */
float truncf(float x) { return (float)trunc(x); }
float floorf(float x) { return (float)floor(x); }
float ceilf(float x) { return (float)ceil(x); }
float roundf(float x) { return (float)round(x); }
float rintf(float x) { return (float)rint(x); }
float nearbyintf(float x) { return (float)rint(x); }
long lroundf(float x) { return to_long(round(x)); }
long long llroundf(float x) { return to_llong(round(x)); }
long lrintf(float x) { return to_long(rint(x)); }
long long llrintf(float x) { return to_llong(rint(x)); }

double modf(double x, double *ip)
{
    double t = trunc(x);

    *ip = t;
    if (isnan(x))
        return x;
    if (isinf(x))
        return copysign(0.0, x);
    return copysign(x - t, x);    /* exact: the fraction has fewer bits */
}

float modff(float x, float *ip)
{
    double t;
    float r = (float)modf(x, &t);

    *ip = (float)t;
    return r;
}

/* ---- exponent ---------------------------------------------------------- */

double frexp(double x, int *exp)
{
    uint64_t u = hv_dbits(x);
    int bias = 0;

    if ((u & ~D_SIGN) == 0 || d_exp(u) == 1024) {
        *exp = 0;
        return x;
    }
    if (d_exp(u) == -1023) {    /* subnormal: scale into the normal range */
        u = hv_dbits(x * 0x1p54);
        bias = -54;
    }
    *exp = d_exp(u) + 1 + bias;
    return hv_dfrom((u & ~(0x7ffULL << 52)) | (1022ULL << 52));
}

float frexpf(float x, int *exp)
{
    return (float)frexp(x, exp);
}

/* x * 2^n rounded once (only a subnormal result can be inexact). */
double ldexp(double x, int n)
{
    double r;

    if (x == 0 || !isfinite(x))
        return x;
    n = n > 3000 ? 3000 : n < -3000 ? -3000 : n;
    r = hv_narrow(hv_scalel(x, n));
    if (isinf(r) || r == 0)
        errno = ERANGE;
    return r;
}

float ldexpf(float x, int n)
{
    float r;

    if (x == 0 || !isfinite(x))
        return x;
    n = n > 3000 ? 3000 : n < -3000 ? -3000 : n;
    r = hv_narrowf(hv_scalel(x, n));
    if (isinf(r) || r == 0)
        errno = ERANGE;
    return r;
}

double scalbn(double x, int n) { return ldexp(x, n); }
float scalbnf(float x, int n) { return ldexpf(x, n); }

double scalbln(double x, long n)
{
    return ldexp(x, n > 100000 ? 100000 : n < -100000 ? -100000 : (int)n);
}

float scalblnf(float x, long n)
{
    return ldexpf(x, n > 100000 ? 100000 : n < -100000 ? -100000 : (int)n);
}

int ilogb(double x)
{
    int e;

    if (x == 0 || isnan(x)) {
        errno = EDOM;
        return FP_ILOGB0;
    }
    if (isinf(x)) {
        errno = EDOM;
        return 0x7fffffff;
    }
    frexp(x, &e);
    return e - 1;
}

int ilogbf(float x) { return ilogb(x); }

double logb(double x)
{
    if (isnan(x))
        return x;
    if (isinf(x))
        return INFINITY;
    if (x == 0) {
        errno = ERANGE;
        return -INFINITY;
    }
    return ilogb(x);
}

float logbf(float x) { return (float)logb(x); }

/* ---- fmod and remainder: exact, by long division of the significands --- */

/* A finite nonzero double as m * 2^e with m an integer in [2^52, 2^53)
 * (a subnormal's significand shifted up). */
static uint64_t decompose(uint64_t u, int *e)
{
    int field = (int)((u >> 52) & 0x7ff);
    uint64_t m;

    if (field == 0) {
        for (m = u & D_MANT, *e = -1074; !(m >> 52); m <<= 1)
            --*e;
        return m;
    }
    *e = field - 1075;
    return (u & D_MANT) | (1ULL << 52);
}

/*
 * |x| mod |y| for finite nonzero x, y with |x| >= |y|, as a long double
 * (exact), and whether the integer quotient is odd.  One quotient bit per
 * step: with both significands in [2^52, 2^53) the remainder stays below
 * twice the divisor.
 */
static long double fmod_magnitude(double x, double y, int *odd)
{
    int ex, ey;
    uint64_t mx = decompose(hv_dbits(x), &ex);
    uint64_t my = decompose(hv_dbits(y), &ey);

    for (; ex > ey; ex--) {
        if (mx >= my)
            mx -= my;
        mx <<= 1;
    }
    *odd = mx >= my;
    if (*odd)
        mx -= my;
    return hv_scalel((long double)(int64_t)mx, ey);
}

double fmod(double x, double y)
{
    int odd;
    long double r;

    if (isnan(x) || isnan(y))
        return x + y;
    if (isinf(x) || y == 0) {
        errno = EDOM;
        return NAN;
    }
    if (isinf(y) || fabs(x) < fabs(y))
        return x;
    r = fmod_magnitude(x, y, &odd);
    return copysign(hv_narrow(r), x);
}

float fmodf(float x, float y)
{
    return (float)fmod(x, y);
}

/* x - n*y with n the integer nearest x/y, ties to even. */
double remainder(double x, double y)
{
    long double ax = fabs(x), ay = fabs(y), r;
    int odd = 0;

    if (isnan(x) || isnan(y))
        return x + y;
    if (isinf(x) || y == 0) {
        errno = EDOM;
        return NAN;
    }
    if (isinf(y))
        return x;
    r = ax < ay ? ax : fmod_magnitude(x, y, &odd);
    /* ay - r is exact whenever it matters (r >= ay/2: Sterbenz). */
    if (r > ay - r || (r == ay - r && odd))
        r -= ay;
    return signbit(x) ? -hv_narrow(r) : hv_narrow(r);
}

float remainderf(float x, float y)
{
    return (float)remainder(x, y);
}

/* ---- min, max, positive difference, fused multiply-add --------------- */

double fmin(double x, double y)
{
    if (isnan(x))
        return y;
    if (isnan(y))
        return x;
    if (x == y)
        return signbit(x) ? x : y;    /* fmin(+0, -0) is -0 */
    return x < y ? x : y;
}

double fmax(double x, double y)
{
    if (isnan(x))
        return y;
    if (isnan(y))
        return x;
    if (x == y)
        return signbit(x) ? y : x;
    return x > y ? x : y;
}

float fminf(float x, float y) { return (float)fmin(x, y); }
float fmaxf(float x, float y) { return (float)fmax(x, y); }

double fdim(double x, double y)
{
    double r;

    if (isnan(x) || isnan(y))
        return x + y;
    if (!(x > y))
        return 0.0;
    r = hv_add_rounded(x, -(long double)y);
    if (isinf(r) && isfinite(x) && isfinite(y))
        errno = ERANGE;
    return r;
}

float fdimf(float x, float y)
{
    if (isnan(x) || isnan(y))
        return x + y;
    return x > y ? hv_narrowf(hv_sum_for(x, -(long double)y, 24, -126)) : 0.0f;
}

/* The high 26 bits of a double's significand (the rest is x - hi, exact). */
static double high_half(double x)
{
    return hv_dfrom(hv_dbits(x) & ~((1ULL << 27) - 1));
}

/*
 * x * y + z.  The product is exact as the sum of four partial products of
 * 26- and 27-bit halves.  The sum is then carried as s + t with s exact and
 * only t's low part rounded, so the result rounds once in all but
 * pathological cases.
 */
double fma(double x, double y, double z)
{
    double xh, xl, yh, yl;
    long double p1, p2, p3, a, b, bb, s, t, tt;

    if (!isfinite(x) || !isfinite(y) || !isfinite(z) || x == 0 || y == 0)
        return hv_narrow((long double)x * y + z);
    xh = high_half(x);
    yh = high_half(y);
    xl = x - xh;
    yl = y - yh;
    p1 = (long double)xh * yh;
    p2 = (long double)xh * yl + (long double)xl * yh;
    p3 = (long double)xl * yl;
    a = p1 + p2;                        /* TwoSum(p1, p2) */
    bb = a - p1;
    b = (p1 - (a - bb)) + (p2 - bb);
    s = a + z;                          /* TwoSum(a, z) */
    tt = s - a;
    t = (a - (s - tt)) + (z - tt);
    return hv_add_rounded(s, t + (b + p3));
}

/* The product of two floats is exact in long double; the sum is rounded
 * once by hv_sum_for. */
float fmaf(float x, float y, float z)
{
    if (!isfinite(x) || !isfinite(y) || !isfinite(z))
        return hv_narrowf((long double)x * y + z);
    return hv_narrowf(hv_sum_for((long double)x * y, z, 24, -126));
}
