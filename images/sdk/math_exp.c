/*
 * math_exp.c - exponentials, logarithms, powers and roots: exp, exp2,
 * expm1, log, log2, log10, log1p, pow, cbrt, hypot and their float
 * versions, and the long double kernels the hyperbolic functions share.
 *
 * exp reduces x to k*ln2 + r with |r| <= ln2/2 (ln2 in two parts, so the
 * reduction is exact) and sums the Taylor series of e^r; log writes x as
 * 2^k * m with m in [sqrt(1/2), sqrt(2)) and sums the series of
 * 2*atanh((m-1)/(m+1)).  pow needs log(x) to about 70 bits, because y*log(x)
 * can be as large as 745 and its absolute error becomes the result's
 * relative error, so hv_log_parts keeps it as a hi + lo pair and the product
 * with y is formed exactly.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "hv_libm.h"

/* 1/n! for n = 2..17: with |r| <= 0.35 the first omitted term is below
 * 2^-75 of the sum. */
static const long double exp_coef[] = {
    1.0L / 2, 1.0L / 6, 1.0L / 24, 1.0L / 120, 1.0L / 720, 1.0L / 5040,
    1.0L / 40320, 1.0L / 362880, 1.0L / 3628800, 1.0L / 39916800,
    1.0L / 479001600, 1.0L / 6227020800.0L, 1.0L / 87178291200.0L,
    1.0L / 1307674368000.0L, 1.0L / 20922789888000.0L, 1.0L / 355687428096000.0L,
};

/* e^r - 1 - r for small |r|. */
static long double expm1_tail(long double r)
{
    long double p = 0;
    int i;

    for (i = (int)(sizeof(exp_coef) / sizeof(exp_coef[0])) - 1; i >= 0; i--)
        p = p * r + exp_coef[i];
    return r * r * p;
}

long double hv_exp_parts(long double hi, long double lo)
{
    long double t, r;
    int k;

    if (hi > 11400)
        return HUGE_VALL;
    if (hi < -11500)
        return 0;
    t = hi * HV_LOG2E_HI;
    k = (int)(t + (t >= 0 ? 0.5L : -0.5L));
    /* k * LN2_HI is exact and cancels against hi exactly (Sterbenz). */
    r = (hi - k * HV_LN2_HI) - k * HV_LN2_LO + lo;
    return hv_scalel(1 + (r + expm1_tail(r)), k);
}

long double hv_expl(long double x)
{
    return hv_exp_parts(x, 0);
}

long double hv_expm1l(long double x)
{
    if (x > -0.34L && x < 0.34L)
        return x + expm1_tail(x);
    if (x > 11400)
        return HUGE_VALL;
    return hv_expl(x) - 1;
}

/* 2/(2n+1) for n = 1..13: log(m) = 2s + s^3 * (2/3 + s^2 * (2/5 + ...)),
 * |s| <= 0.1716, so the omitted terms are below 2^-75 of the sum. */
static const long double log_coef[] = {
    2.0L / 3, 2.0L / 5, 2.0L / 7, 2.0L / 9, 2.0L / 11, 2.0L / 13, 2.0L / 15,
    2.0L / 17, 2.0L / 19, 2.0L / 21, 2.0L / 23, 2.0L / 25, 2.0L / 27,
};

/* log_coef[from] + s2 * log_coef[from + 1] + ... */
static long double log_series(long double s2, int from)
{
    long double p = 0;
    int i;

    for (i = (int)(sizeof(log_coef) / sizeof(log_coef[0])) - 1; i >= from; i--)
        p = p * s2 + log_coef[i];
    return p;
}

/* 2*atanh(s) - 2s. */
static long double log_tail(long double s)
{
    long double s2 = s * s;

    return s * s2 * log_series(s2, 0);
}

/* Splits a into hi + lo with 32 bits each (Veltkamp), for exact products. */
static void split(long double a, long double *hi, long double *lo)
{
    long double t = a * 4294967297.0L;    /* 2^32 + 1 */

    *hi = t - (t - a);
    *lo = a - *hi;
}

/* a * b = *p + *e exactly (Dekker). */
static void two_prod(long double a, long double b, long double *p, long double *e)
{
    long double ah, al, bh, bl;

    split(a, &ah, &al);
    split(b, &bh, &bl);
    *p = a * b;
    *e = ((ah * bh - *p) + ah * bl + al * bh) + al * bl;
}

/* h + l = a + b exactly (Knuth's TwoSum). */
static void two_sum(long double a, long double b, long double *h, long double *l)
{
    long double bb;

    *h = a + b;
    bb = *h - a;
    *l = (a - (*h - bb)) + (b - bb);
}

/* 2/3 as hi + lo, for the first term of the series in hv_log_parts. */
#define TWO_THIRDS_HI 0xaaaaaaaaaaaaaaabp-64L
#define TWO_THIRDS_LO (-0xaaaaaaaaaaaaaaabp-129L)

void hv_log_parts(long double x, long double *hi, long double *lo)
{
    union hv_ld p;
    long double m, f, d, s, s_lo, q, e, h, l, l2, s2, s2_lo, s3, s3_lo, t1, t1_lo, rest;
    int k;

    p.v = x;
    if ((p.p.sexp & 0x7fff) == 0) {    /* long double subnormal */
        p.v = x * 0x1p64L;
        k = -64;
    } else {
        k = 0;
    }
    k += (p.p.sexp & 0x7fff) - 16383;
    p.p.sexp = 16383;                  /* m in [1, 2) */
    m = p.v;
    if (m > 1.41421356237309504880L) {
        m *= 0.5L;
        k++;
    }
    f = m - 1;                         /* exact */
    d = m + 1;                         /* exact for a double's 53 bits */
    s = f / d;
    two_prod(s, d, &q, &e);            /* s*d = q + e exactly */
    s_lo = ((f - q) - e) / d;          /* the rest of f/d */
    /* The series' first term, 2s^3/3, is up to 1% of the result: its
     * rounding would cost 2^-71 of it, which y*log(x) in pow multiplies by
     * up to 745.  So it is formed as hi + lo too; the rest is 2^-14 of the
     * result and plain long double is enough. */
    two_prod(s, s, &s2, &s2_lo);
    two_prod(s, s2, &s3, &s3_lo);
    s3_lo += s * s2_lo;
    two_prod(TWO_THIRDS_HI, s3, &t1, &t1_lo);
    t1_lo += TWO_THIRDS_HI * s3_lo + TWO_THIRDS_LO * s3;
    rest = s3 * s2 * log_series(s2, 1);
    two_sum(k * HV_LN2_HI, 2 * s, &h, &l);    /* k * LN2_HI is exact */
    two_sum(h, t1, &h, &l2);
    l += l2 + (2 * s_lo + t1_lo + rest + k * HV_LN2_LO);
    *hi = h + l;                       /* renormalise (|h| >= |l|) */
    *lo = l - (*hi - h);
}

long double hv_logl(long double x)
{
    long double hi, lo;

    hv_log_parts(x, &hi, &lo);
    return hi + lo;
}

long double hv_log1pl(long double x)
{
    /* 1 + x in [sqrt(1/2), sqrt(2)]: the series in s = x/(2+x), no 1 + x. */
    if (x > -0.2928932188134524756L && x < 0.4142135623730950488L) {
        long double s = x / (2 + x);
        return 2 * s + log_tail(s);
    }
    return hv_logl(1 + x);
}

/* ---- the public functions ------------------------------------------- */

/* Finite arguments gave an infinite result: an overflow. */
static long double overflow_check(long double r)
{
    if (isinf(r))
        errno = ERANGE;
    return r;
}

static double narrow_checked(long double r)
{
    return hv_narrow(overflow_check(hv_narrow(r)));
}

static float narrowf_checked(long double r)
{
    return hv_narrowf(overflow_check(hv_narrowf(r)));
}

double exp(double x)
{
    if (isnan(x))
        return x + x;
    if (isinf(x))
        return x > 0 ? x : 0.0;
    return narrow_checked(hv_expl(x));
}

float expf(float x)
{
    if (isnan(x))
        return x + x;
    if (isinf(x))
        return x > 0 ? x : 0.0f;
    return narrowf_checked(hv_expl(x));
}

static long double exp2_core(double x)
{
    long double r;
    int k;

    if (x > 20000)
        return HUGE_VALL;
    if (x < -20000)
        return 0;
    k = (int)(x >= 0 ? x + 0.5 : x - 0.5);
    r = (long double)x - k;            /* exact, |r| <= 1/2 */
    return hv_scalel(hv_expl(r * HV_LN2), k);
}

double exp2(double x)
{
    if (isnan(x))
        return x + x;
    if (isinf(x))
        return x > 0 ? x : 0.0;
    return narrow_checked(exp2_core(x));
}

float exp2f(float x)
{
    if (isnan(x))
        return x + x;
    if (isinf(x))
        return x > 0 ? x : 0.0f;
    return narrowf_checked(exp2_core(x));
}

double expm1(double x)
{
    if (isnan(x) || x == 0)
        return x + x;
    if (isinf(x))
        return x > 0 ? x : -1.0;
    return narrow_checked(hv_expm1l(x));
}

float expm1f(float x)
{
    if (isnan(x) || x == 0)
        return x + x;
    if (isinf(x))
        return x > 0 ? x : -1.0f;
    return narrowf_checked(hv_expm1l(x));
}

/* The special values shared by the logarithms; returns 1 with *r set when
 * x is one. */
static int log_special(double x, long double *r)
{
    if (isnan(x)) {
        *r = x + x;
        return 1;
    }
    if (x < 0) {
        errno = EDOM;
        *r = NAN;
        return 1;
    }
    if (x == 0) {
        errno = ERANGE;
        *r = -HUGE_VALL;
        return 1;
    }
    if (isinf(x)) {
        *r = x;
        return 1;
    }
    return 0;
}

static long double log_core(double x)
{
    long double r;

    return log_special(x, &r) ? r : hv_logl(x);
}

/* log(x) times a constant c = c_hi + c_lo, to about 2^-66. */
static long double log_times(double x, long double c_hi, long double c_lo)
{
    long double hi, lo, r;

    if (log_special(x, &r))
        return r;
    hv_log_parts(x, &hi, &lo);
    return hi * c_hi + (hi * c_lo + lo * c_hi);
}

double log(double x) { return hv_narrow(log_core(x)); }
float logf(float x) { return hv_narrowf(log_core(x)); }
double log2(double x) { return hv_narrow(log_times(x, HV_LOG2E_HI, HV_LOG2E_LO)); }
float log2f(float x) { return hv_narrowf(log_times(x, HV_LOG2E_HI, HV_LOG2E_LO)); }
double log10(double x) { return hv_narrow(log_times(x, HV_LOG10E_HI, HV_LOG10E_LO)); }
float log10f(float x) { return hv_narrowf(log_times(x, HV_LOG10E_HI, HV_LOG10E_LO)); }

static long double log1p_core(double x)
{
    if (isnan(x) || x == 0)
        return x + x;
    if (x < -1) {
        errno = EDOM;
        return NAN;
    }
    if (x == -1) {
        errno = ERANGE;
        return -HUGE_VALL;
    }
    if (isinf(x))
        return x;
    return hv_log1pl(x);
}

double log1p(double x) { return hv_narrow(log1p_core(x)); }
float log1pf(float x) { return hv_narrowf(log1p_core(x)); }

/* ---- pow ----------------------------------------------------------------- */

/* 0: y is not an integer, 1: an odd integer, 2: an even integer. */
static int integer_kind(double y)
{
    uint64_t u = hv_dbits(y);
    int e = (int)((u >> 52) & 0x7ff) - 1023;
    uint64_t below;

    if (e >= 53)
        return 2;    /* every double this large is even (also inf) */
    if (e < 0)
        return y == 0 ? 2 : 0;
    below = (1ULL << (52 - e)) - 1;
    if (u & below)
        return 0;
    /* The units bit; for e == 0 it is the exponent's lowest bit, which is
     * set, and the integer is 1. */
    return (u >> (52 - e)) & 1 ? 1 : 2;
}

/* C99 F.9.4.4, then |x|^y = e^(y log|x|) with the product exact. */
static long double pow_core(double x, double y)
{
    int kind = integer_kind(y);
    int negate = signbit(x) && kind == 1;
    long double ax = fabs(x), lh, ll, th, te, r;

    if (y == 0 || x == 1)
        return 1;
    if (isnan(x) || isnan(y))
        return (long double)x + y;
    if (isinf(y)) {
        if (ax == 1)
            return 1;
        return (ax < 1) == (y < 0) ? HUGE_VALL : 0;
    }
    if (x == 0 || isinf(x)) {
        /* 0^y and inf^y: the pole and the zero trade places */
        int big = (x == 0) == (y < 0);
        if (x == 0 && y < 0)
            errno = ERANGE;
        r = big ? HUGE_VALL : 0;
        return negate ? -r : r;
    }
    if (x < 0 && kind == 0) {
        errno = EDOM;
        return NAN;
    }
    hv_log_parts(ax, &lh, &ll);
    two_prod(y, lh, &th, &te);
    te += y * ll;
    if (th > 12000)
        r = HUGE_VALL;
    else if (th < -12000)
        r = 0;
    else
        r = hv_exp_parts(th, te);
    return negate ? -r : r;
}

double pow(double x, double y)
{
    long double r = pow_core(x, y);

    if (isfinite(x) && isfinite(y) && x != 0)
        return narrow_checked(r);
    return hv_narrow(r);
}

float powf(float x, float y)
{
    long double r = pow_core(x, y);

    if (isfinite(x) && isfinite(y) && x != 0)
        return narrowf_checked(r);
    return hv_narrowf(r);
}

/* ---- cbrt, hypot ------------------------------------------------------------- */

/* Newton's iteration for the cube root of f in [1, 8), from a linear first
 * guess within 10%: the error squares each step, six steps reach 2^-64. */
static long double cbrt_core(double x)
{
    union hv_ld p;
    long double f, y;
    int k, q, i;

    if (x == 0 || !isfinite(x))
        return x + x;
    p.v = fabs(x);
    k = (p.p.sexp & 0x7fff) - 16383;
    q = (k >= 0 ? k : k - 2) / 3;     /* floor(k / 3) */
    p.p.sexp = (uint16_t)(16383 + k - 3 * q);
    f = p.v;
    y = 1 + (f - 1) * (1.0L / 7);
    for (i = 0; i < 6; i++)
        y = (2 * y + f / (y * y)) * (1.0L / 3);
    y = hv_scalel(y, q);
    return x < 0 ? -y : y;
}

double cbrt(double x) { return hv_narrow(cbrt_core(x)); }
float cbrtf(float x) { return hv_narrowf(cbrt_core(x)); }

/* long double's range holds the squares of any two doubles. */
static long double hypot_core(double x, double y)
{
    if (isinf(x) || isinf(y))
        return HUGE_VALL;
    if (isnan(x) || isnan(y))
        return (long double)x + y;
    return sqrtl((long double)x * x + (long double)y * y);
}

double hypot(double x, double y)
{
    long double r = hypot_core(x, y);

    return isfinite(x) && isfinite(y) ? narrow_checked(r) : hv_narrow(r);
}

float hypotf(float x, float y)
{
    long double r = hypot_core(x, y);

    return isfinite(x) && isfinite(y) ? narrowf_checked(r) : hv_narrowf(r);
}
