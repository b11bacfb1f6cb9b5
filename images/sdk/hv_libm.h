/* hv_libm.h - internal contracts between the SDK's math files (not for
 * guests; they include <math.h>).
 *
 * The functions of math.h are computed in long double, which is the x87's
 * 80-bit format in every build (also with -mfpmath=sse), with an error of a
 * few units in its 64-bit significand, and then rounded once to double or
 * float by hv_narrow() or hv_narrowf().  So the result is within 0.5 ulp plus
 * about 2^-10 ulp of the true value.  The kernels below take finite,
 * already-checked arguments; the public functions handle the special values.
 */
#ifndef HV_LIBM_H
#define HV_LIBM_H

#include <stdint.h>

/* The parts of a long double: the 64-bit significand (explicit integer bit)
 * and the sign and 15-bit biased exponent. */
union hv_ld {
    long double v;
    struct {
        uint64_t mant;
        uint16_t sexp;
    } p;
};

union hv_d {
    double v;
    uint64_t u;
};

union hv_f {
    float v;
    uint32_t u;
};

static inline uint64_t hv_dbits(double x) { union hv_d d; d.v = x; return d.u; }
static inline double hv_dfrom(uint64_t u) { union hv_d d; d.u = u; return d.v; }
static inline uint32_t hv_fbits(float x) { union hv_f f; f.v = x; return f.u; }
static inline float hv_ffrom(uint32_t u) { union hv_f f; f.u = u; return f.v; }

/* Rounds to double (float) through memory: on the x87 a value returned in a
 * register would otherwise keep its extra precision and range. */
double hv_narrow(long double x);
float hv_narrowf(long double x);

/* Correctly rounded a + b in double, for a and b that each fit long double
 * exactly (the x87 would round the sum twice: to 64 bits, then to 53). */
double hv_add_rounded(long double a, long double b);

/* a + b, nudged so that rounding it to a format of `bits` significant bits
 * and least normal exponent `emin` (53, -1022 for double; 24, -126 for
 * float) rounds the exact sum once. */
long double hv_sum_for(long double a, long double b, int bits, int emin);

/* x * 2^n, exact unless the result leaves long double's range. */
long double hv_scalel(long double x, int n);

/* e^(hi + lo) for |lo| much smaller than |hi|; 0 or inf far outside the
 * range of double (math_exp.c). */
long double hv_exp_parts(long double hi, long double lo);
long double hv_expl(long double x);
long double hv_expm1l(long double x);

/* log(x) as hi + lo with about 70 bits of precision, for finite x > 0. */
void hv_log_parts(long double x, long double *hi, long double *lo);
long double hv_logl(long double x);
long double hv_log1pl(long double x);

/* atan(x) for any finite or infinite x (math_trig.c). */
long double hv_atanl(long double x);

/* Constants as long double hi + lo pairs (computed with mpmath). */
#define HV_PIO2_HI 0xc90fdaa22168c235p-63L
#define HV_PIO2_LO (-0xece675d1fc8f8cbbp-129L)
#define HV_PI_HI 0xc90fdaa22168c235p-62L
#define HV_PI_LO (-0xece675d1fc8f8cbbp-128L)
/* ln 2 with a 48-bit hi part, so k * hi is exact for |k| < 2^16. */
#define HV_LN2_HI 0xb17217f7d1cfp-48L
#define HV_LN2_LO 0xf35793c7673007e6p-113L
#define HV_LN2 0xb17217f7d1cf79acp-64L
#define HV_LOG2E_HI 0xb8aa3b295c17f0bcp-63L
#define HV_LOG2E_LO (-0x82f0025f2dc582eep-128L)
#define HV_LOG10E_HI 0xde5bd8a937287195p-65L
#define HV_LOG10E_LO 0xd56eaabeb4cf70c9p-131L

#endif /* HV_LIBM_H */
