/* complex.h - C99 complex types: `complex`, `I`, CMPLX and the parts of a
 * complex number.  `*` and `/` call libgcc_complex.c (Annex G semantics).
 * The complex math functions (cabs, cexp, ...) are not in the SDK. */
#ifndef HV_SDK_COMPLEX_H
#define HV_SDK_COMPLEX_H

#define complex _Complex
#define _Complex_I (__extension__ 1.0iF)
#define I _Complex_I

#define CMPLXF(x, y) __builtin_complex((float)(x), (float)(y))
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#define CMPLXL(x, y) __builtin_complex((long double)(x), (long double)(y))

static inline double creal(double _Complex z) { return __real__ z; }
static inline float crealf(float _Complex z) { return __real__ z; }
static inline long double creall(long double _Complex z) { return __real__ z; }
static inline double cimag(double _Complex z) { return __imag__ z; }
static inline float cimagf(float _Complex z) { return __imag__ z; }
static inline long double cimagl(long double _Complex z) { return __imag__ z; }
static inline double _Complex conj(double _Complex z) { return ~z; }
static inline float _Complex conjf(float _Complex z) { return ~z; }
static inline long double _Complex conjl(long double _Complex z) { return ~z; }

#endif /* HV_SDK_COMPLEX_H */
