/*
 * libgcc_complex.c - complex multiplication and division, which gcc calls
 * for `*` and `/` on _Complex float (sc3), double (dc3) and long double
 * (xc3) operands.  An archive member, linked only by guests that use them.
 *
 * C99 Annex G.5.1: the product and the quotient come from the usual
 * formulas, and when those give NaN in both parts the infinities are
 * recovered: an infinite operand times a nonzero one is infinite, a finite
 * one over an infinite one is zero, and a nonzero one over zero infinite.
 * Division uses Smith's method (dividing through by the larger part of the
 * divisor), so moderately large or small divisors do not overflow.
 * The x87 evaluates every step in extended precision.
 */

/* Each helper once per type.  T is the real type; SUFFIX names the
 * helpers (sc3, dc3, xc3). */
#define COMPLEX_HELPERS(T, SUFFIX)                                                      \
    _Complex T __mul##SUFFIX(T a, T b, T c, T d);                                        \
    _Complex T __div##SUFFIX(T a, T b, T c, T d);                                        \
                                                                                         \
    /* |x| with the sign of s. */                                                        \
    static T with_sign_##SUFFIX(T x, T s)                                                \
    {                                                                                    \
        x = __builtin_fabsl(x);                                                          \
        return __builtin_signbit(s) ? -x : x;                                            \
    }                                                                                    \
                                                                                         \
    /* An infinite part becomes ±1, a finite one ±0 (Annex G's "box"). */                \
    static T boxed_##SUFFIX(T x)                                                         \
    {                                                                                    \
        return with_sign_##SUFFIX(__builtin_isinf(x) ? 1 : 0, x);                        \
    }                                                                                    \
                                                                                         \
    static T nan_to_zero_##SUFFIX(T x)                                                   \
    {                                                                                    \
        return __builtin_isnan(x) ? with_sign_##SUFFIX(0, x) : x;                        \
    }                                                                                    \
                                                                                         \
    _Complex T __mul##SUFFIX(T a, T b, T c, T d)                                         \
    {                                                                                    \
        T ac = a * c, bd = b * d, ad = a * d, bc = b * c;                                \
        T x = ac - bd, y = ad + bc;                                                      \
        int recover = 0;                                                                 \
                                                                                         \
        if (!__builtin_isnan(x) || !__builtin_isnan(y))                                  \
            return __builtin_complex(x, y);                                              \
        if (__builtin_isinf(a) || __builtin_isinf(b)) {                                  \
            a = boxed_##SUFFIX(a);                                                       \
            b = boxed_##SUFFIX(b);                                                       \
            c = nan_to_zero_##SUFFIX(c);                                                 \
            d = nan_to_zero_##SUFFIX(d);                                                 \
            recover = 1;                                                                 \
        }                                                                                \
        if (__builtin_isinf(c) || __builtin_isinf(d)) {                                  \
            c = boxed_##SUFFIX(c);                                                       \
            d = boxed_##SUFFIX(d);                                                       \
            a = nan_to_zero_##SUFFIX(a);                                                 \
            b = nan_to_zero_##SUFFIX(b);                                                 \
            recover = 1;                                                                 \
        }                                                                                \
        if (!recover && (__builtin_isinf(ac) || __builtin_isinf(bd)                      \
                         || __builtin_isinf(ad) || __builtin_isinf(bc))) {               \
            /* Overflow in a partial product: the result is infinite too. */             \
            a = nan_to_zero_##SUFFIX(a);                                                 \
            b = nan_to_zero_##SUFFIX(b);                                                 \
            c = nan_to_zero_##SUFFIX(c);                                                 \
            d = nan_to_zero_##SUFFIX(d);                                                 \
            recover = 1;                                                                 \
        }                                                                                \
        if (recover) {                                                                   \
            x = __builtin_infl() * (a * c - b * d);                                      \
            y = __builtin_infl() * (a * d + b * c);                                      \
        }                                                                                \
        return __builtin_complex(x, y);                                                  \
    }                                                                                    \
                                                                                         \
    _Complex T __div##SUFFIX(T a, T b, T c, T d)                                         \
    {                                                                                    \
        T x, y;                                                                          \
                                                                                         \
        if (__builtin_fabsl(c) < __builtin_fabsl(d)) {                                   \
            T ratio = c / d, denom = c * ratio + d;                                      \
            x = (a * ratio + b) / denom;                                                 \
            y = (b * ratio - a) / denom;                                                 \
        } else {                                                                         \
            T ratio = d / c, denom = d * ratio + c;                                      \
            x = (b * ratio + a) / denom;                                                 \
            y = (b - a * ratio) / denom;                                                 \
        }                                                                                \
        if (!__builtin_isnan(x) || !__builtin_isnan(y))                                  \
            return __builtin_complex(x, y);                                              \
        if (c == 0 && d == 0 && (!__builtin_isnan(a) || !__builtin_isnan(b))) {          \
            x = with_sign_##SUFFIX(__builtin_infl(), c) * a;                             \
            y = with_sign_##SUFFIX(__builtin_infl(), c) * b;                             \
        } else if ((__builtin_isinf(a) || __builtin_isinf(b))                            \
                   && __builtin_isfinite(c) && __builtin_isfinite(d)) {                  \
            a = boxed_##SUFFIX(a);                                                       \
            b = boxed_##SUFFIX(b);                                                       \
            x = __builtin_infl() * (a * c + b * d);                                      \
            y = __builtin_infl() * (b * c - a * d);                                      \
        } else if ((__builtin_isinf(c) || __builtin_isinf(d))                            \
                   && __builtin_isfinite(a) && __builtin_isfinite(b)) {                  \
            c = boxed_##SUFFIX(c);                                                       \
            d = boxed_##SUFFIX(d);                                                       \
            x = 0 * (a * c + b * d);                                                     \
            y = 0 * (b * c - a * d);                                                     \
        }                                                                                \
        return __builtin_complex(x, y);                                                  \
    }

COMPLEX_HELPERS(float, sc3)
COMPLEX_HELPERS(double, dc3)
COMPLEX_HELPERS(long double, xc3)
