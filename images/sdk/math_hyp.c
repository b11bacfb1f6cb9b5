/*
 * math_hyp.c - sinh, cosh, tanh, asinh, acosh, atanh and their float
 * versions, written with the long double kernels of math_exp.c in forms
 * that do not cancel: sinh from expm1, the inverses from log1p near zero.
 */
#include <errno.h>
#include <math.h>

#include "hv_libm.h"

static long double with_sign(double x, long double r)
{
    return signbit(x) ? -r : r;
}

/* Finite arguments gave an infinite result: an overflow. */
static long double overflow_check(double x, long double r)
{
    if (isfinite(x) && isinf(r))
        errno = ERANGE;
    return r;
}

static long double sinh_core(double x)
{
    long double a = fabs(x), u;

    if (!isfinite(x) || x == 0)
        return x + x;
    if (a > 11000)                 /* beyond long double; far beyond double */
        return with_sign(x, HUGE_VALL);
    u = hv_expm1l(a);
    return with_sign(x, 0.5L * (u + u / (u + 1)));
}

static long double cosh_core(double x)
{
    long double a = fabs(x), e;

    if (isnan(x))
        return x + x;
    if (a > 11000)
        return HUGE_VALL;
    e = hv_expl(a);
    return 0.5L * (e + 1 / e);
}

static long double tanh_core(double x)
{
    long double a = fabs(x), u;

    if (isnan(x) || x == 0)
        return x + x;
    if (a > 40)                    /* 1 - tanh(40) is below 2^-115 */
        return with_sign(x, 1);
    u = hv_expm1l(2 * a);
    return with_sign(x, u / (u + 2));
}

double sinh(double x) { return hv_narrow(overflow_check(x, hv_narrow(sinh_core(x)))); }
float sinhf(float x) { return hv_narrowf(overflow_check(x, hv_narrowf(sinh_core(x)))); }
double cosh(double x) { return hv_narrow(overflow_check(x, hv_narrow(cosh_core(x)))); }
float coshf(float x) { return hv_narrowf(overflow_check(x, hv_narrowf(cosh_core(x)))); }
double tanh(double x) { return hv_narrow(tanh_core(x)); }
float tanhf(float x) { return hv_narrowf(tanh_core(x)); }

static long double asinh_core(double x)
{
    long double a = fabs(x);

    if (!isfinite(x) || x == 0)
        return x + x;
    if (a < 0.5L)                  /* log1p(a + a^2 / (1 + sqrt(1 + a^2))) */
        return with_sign(x, hv_log1pl(a + a * a / (1 + sqrtl(1 + a * a))));
    return with_sign(x, hv_logl(a + sqrtl(a * a + 1)));
}

static long double acosh_core(double x)
{
    long double t;

    if (isnan(x))
        return x + x;
    if (x < 1) {
        errno = EDOM;
        return NAN;
    }
    if (isinf(x))
        return x;
    if (x < 2) {                   /* t = x - 1 is exact */
        t = (long double)x - 1;
        return hv_log1pl(t + sqrtl(2 * t + t * t));
    }
    return hv_logl(x + sqrtl((long double)x * x - 1));
}

static long double atanh_core(double x)
{
    long double a = fabs(x);

    if (isnan(x) || x == 0)
        return x + x;
    if (a > 1) {
        errno = EDOM;
        return NAN;
    }
    if (a == 1) {
        errno = ERANGE;
        return with_sign(x, HUGE_VALL);
    }
    return with_sign(x, 0.5L * hv_log1pl(2 * a / (1 - a)));
}

double asinh(double x) { return hv_narrow(asinh_core(x)); }
float asinhf(float x) { return hv_narrowf(asinh_core(x)); }
double acosh(double x) { return hv_narrow(acosh_core(x)); }
float acoshf(float x) { return hv_narrowf(acosh_core(x)); }
double atanh(double x) { return hv_narrow(atanh_core(x)); }
float atanhf(float x) { return hv_narrowf(atanh_core(x)); }
