/* math.h - the floating-point functions of the hv guest SDK's libc.
 *
 * double and float (f suffix) versions.  The exact functions (sqrt, fabs,
 * floor, ceil, trunc, round, rint, nearbyint, fmod, remainder, frexp, ldexp,
 * scalbn, modf, copysign, fmin, fmax, fdim) give the correctly rounded
 * result; the others are computed in the x87's 64-bit precision with their
 * own argument reduction and round once at the end, so they are within one
 * ulp (measured: below 0.51 ulp).  They use only x87 arithmetic and fsqrt,
 * never the x87 transcendental instructions, so every x86 CPU gives the same
 * bits.  rint and nearbyint round half to even (the SDK has no fenv.h, so
 * the rounding mode is always to nearest).  Special values follow C99
 * Annex F; errno gets EDOM for a domain error and ERANGE for a pole or an
 * overflow. */
#ifndef HV_SDK_MATH_H
#define HV_SDK_MATH_H

#define HUGE_VAL (__builtin_huge_val())
#define HUGE_VALF (__builtin_huge_valf())
#define HUGE_VALL (__builtin_huge_vall())
#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))

#define FP_NAN 0
#define FP_INFINITE 1
#define FP_ZERO 2
#define FP_SUBNORMAL 3
#define FP_NORMAL 4

#define fpclassify(x) \
    __builtin_fpclassify(FP_NAN, FP_INFINITE, FP_NORMAL, FP_SUBNORMAL, FP_ZERO, x)
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf_sign(x)
#define isfinite(x) __builtin_isfinite(x)
#define isnormal(x) __builtin_isnormal(x)
#define signbit(x) __builtin_signbit(x)
#define isgreater(x, y) __builtin_isgreater(x, y)
#define isgreaterequal(x, y) __builtin_isgreaterequal(x, y)
#define isless(x, y) __builtin_isless(x, y)
#define islessequal(x, y) __builtin_islessequal(x, y)
#define islessgreater(x, y) __builtin_islessgreater(x, y)
#define isunordered(x, y) __builtin_isunordered(x, y)

#define MATH_ERRNO 1
#define MATH_ERREXCEPT 2
#define math_errhandling MATH_ERRNO

/* What the compiler evaluates float and double expressions in (long double
 * on the x87, float and double with -mfpmath=sse). */
#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ == 2
typedef long double float_t;
typedef long double double_t;
#else
typedef float float_t;
typedef double double_t;
#endif

#define M_E 2.7182818284590452354
#define M_LOG2E 1.4426950408889634074
#define M_LOG10E 0.43429448190325182765
#define M_LN2 0.69314718055994530942
#define M_LN10 2.30258509299404568402
#define M_PI 3.14159265358979323846
#define M_PI_2 1.57079632679489661923
#define M_PI_4 0.78539816339744830962
#define M_1_PI 0.31830988618379067154
#define M_2_PI 0.63661977236758134308
#define M_2_SQRTPI 1.12837916709551257390
#define M_SQRT2 1.41421356237309504880
#define M_SQRT1_2 0.70710678118654752440

/* Exact: correctly rounded, no error at all. */
double sqrt(double x);
double fabs(double x);
double floor(double x);
double ceil(double x);
double trunc(double x);
double round(double x);
long lround(double x);
long long llround(double x);
double rint(double x);
double nearbyint(double x);
long lrint(double x);
long long llrint(double x);
double fmod(double x, double y);
double remainder(double x, double y);
double frexp(double x, int *exp);
double ldexp(double x, int exp);
double scalbn(double x, int exp);
double scalbln(double x, long exp);
double modf(double x, double *ip);
double copysign(double x, double y);
double fmin(double x, double y);
double fmax(double x, double y);
double fdim(double x, double y);
double fma(double x, double y, double z);
int ilogb(double x);
double logb(double x);
double nan(const char *tag);

/* Within one ulp. */
double sin(double x);
double cos(double x);
double tan(double x);
double asin(double x);
double acos(double x);
double atan(double x);
double atan2(double y, double x);
double exp(double x);
double exp2(double x);
double expm1(double x);
double log(double x);
double log10(double x);
double log2(double x);
double log1p(double x);
double pow(double x, double y);
double sinh(double x);
double cosh(double x);
double tanh(double x);
double asinh(double x);
double acosh(double x);
double atanh(double x);
double hypot(double x, double y);
double cbrt(double x);

float sqrtf(float x);
float fabsf(float x);
float floorf(float x);
float ceilf(float x);
float truncf(float x);
float roundf(float x);
long lroundf(float x);
long long llroundf(float x);
float rintf(float x);
float nearbyintf(float x);
long lrintf(float x);
long long llrintf(float x);
float fmodf(float x, float y);
float remainderf(float x, float y);
float frexpf(float x, int *exp);
float ldexpf(float x, int exp);
float scalbnf(float x, int exp);
float scalblnf(float x, long exp);
float modff(float x, float *ip);
float copysignf(float x, float y);
float fminf(float x, float y);
float fmaxf(float x, float y);
float fdimf(float x, float y);
float fmaf(float x, float y, float z);
int ilogbf(float x);
float logbf(float x);
float nanf(const char *tag);

float sinf(float x);
float cosf(float x);
float tanf(float x);
float asinf(float x);
float acosf(float x);
float atanf(float x);
float atan2f(float y, float x);
float expf(float x);
float exp2f(float x);
float expm1f(float x);
float logf(float x);
float log10f(float x);
float log2f(float x);
float log1pf(float x);
float powf(float x, float y);
float sinhf(float x);
float coshf(float x);
float tanhf(float x);
float asinhf(float x);
float acoshf(float x);
float atanhf(float x);
float hypotf(float x, float y);
float cbrtf(float x);

/* A few long double ones that are exact on the x87. */
long double sqrtl(long double x);
long double fabsl(long double x);

#define FP_ILOGB0 (-2147483647 - 1)
#define FP_ILOGBNAN (-2147483647 - 1)

#endif /* HV_SDK_MATH_H */
