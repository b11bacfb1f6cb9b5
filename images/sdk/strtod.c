/*
 * strtod.c - strtod, strtof, strtold and atof (C99 7.20.1.3), correctly
 * rounded for each type.
 *
 * The decimal significand D (up to 800 digits; later nonzero digits only
 * mark the value as inexact, which is all they can change) and exponent E
 * are converted exactly: D * 5^E, or D / 5^-E by long division to a few
 * bits more than the type holds, with the remainder as a sticky bit; the
 * power of two is only an exponent.  The bits are then rounded half to
 * even once, into a normal or subnormal number, with no floating-point
 * arithmetic on the way (hv_bignum.h).  Hex floats take the same road
 * without the powers of five.
 */
#include <errno.h>
#include <hv_guest.h>
#include <stdlib.h>

#include "hv_bignum.h"

#define MAX_DIGITS 800

/* A binary floating-point format: significand bits (with the leading one)
 * and the least normal exponent. */
struct format {
    int bits, emin;
};

static const struct format FMT_FLOAT = { 24, -126 };
static const struct format FMT_DOUBLE = { 53, -1022 };
static const struct format FMT_LONG = { 64, -16382 };

/* The parsed number: value = num * 2^b2 / den, exact. */
struct parsed {
    int negative;
    int special;                 /* 0, or 'i' for inf, 'n' for nan */
    uint64_t payload;            /* nan(n): n, as glibc puts it in the NaN */
    struct hv_big num, den;
    int b2;
};

/* The result: mant * 2^scale with mant < 2^bits (or zero), or an overflow. */
struct rounded {
    uint64_t mant;
    int scale, overflow, inexact;
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int match_word(const char *p, const char *word)
{
    while (*word)
        if (lower(*p++) != *word++)
            return 0;
    return 1;
}

/* An optionally signed decimal exponent after 'e' or 'p'; *p is moved past
 * it only if it has a digit.  Clamped far beyond any type's range. */
static long parse_exponent(const char **p)
{
    const char *q = *p + 1;
    int negative = 0;
    long v = 0;

    if (*q == '+' || *q == '-')
        negative = *q++ == '-';
    if (*q < '0' || *q > '9')
        return 0;
    for (; *q >= '0' && *q <= '9'; q++)
        if (v < 1000000)
            v = v * 10 + (*q - '0');
    *p = q;
    return negative ? -v : v;
}

static const char *parse_hex(const char *p, struct parsed *x)
{
    int any = 0, seen_point = 0, kept = 0, sticky = 0, d;
    long b2 = 0;

    hv_big_set(&x->num, 0);
    for (;; p++) {
        if (*p == '.' && !seen_point) {
            seen_point = 1;
            continue;
        }
        d = hex_value(*p);
        if (d < 0)
            break;
        any = 1;
        if (kept < 30) {           /* 120 bits: far more than any type holds */
            if (kept || d) {
                hv_big_mul_add(&x->num, 16, (uint32_t)d);
                kept++;
            }
            if (seen_point)
                b2 -= 4;
        } else {
            sticky |= d;
            if (!seen_point)
                b2 += 4;
        }
    }
    if (!any)
        return NULL;
    if (lower(*p) == 'p')
        b2 += parse_exponent(&p);
    if (sticky) {                  /* a 1 below every kept bit */
        hv_big_mul_add(&x->num, 2, 1);
        b2--;
    }
    hv_big_set(&x->den, 1);
    x->b2 = (int)(b2 > 100000 ? 100000 : b2 < -100000 ? -100000 : b2);
    return p;
}

static void multiply_pow5(struct hv_big *b, int n)
{
    for (; n >= 13; n -= 13)
        hv_big_mul_add(b, 1220703125u, 0);    /* 5^13 */
    for (; n > 0; n--)
        hv_big_mul_add(b, 5, 0);
}

/* Returns where the number ends, or NULL if there is none; *range is -1
 * or 1 when the value is certainly below or above every type's range. */
static const char *parse_decimal(const char *p, struct parsed *x, int *range)
{
    int any = 0, seen_point = 0, kept = 0, sticky = 0, chunk_len = 0;
    uint32_t chunk = 0;
    long e10 = 0;

    hv_big_set(&x->num, 0);
    *range = 0;
    for (;; p++) {
        if (*p == '.' && !seen_point) {
            seen_point = 1;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        any = 1;
        if (kept < MAX_DIGITS) {
            if (kept || *p != '0') {
                chunk = chunk * 10 + (uint32_t)(*p - '0');
                kept++;
                if (++chunk_len == 9) {
                    hv_big_mul_add(&x->num, 1000000000u, chunk);
                    chunk = 0;
                    chunk_len = 0;
                }
            }
            if (seen_point)
                e10--;
        } else {
            sticky |= *p != '0';
            if (!seen_point)
                e10++;
        }
    }
    if (!any)
        return NULL;
    if (chunk_len) {
        static const uint32_t pow10[9] = { 1, 10, 100, 1000, 10000, 100000, 1000000,
                                           10000000, 100000000 };
        hv_big_mul_add(&x->num, pow10[chunk_len], chunk);
    }
    if (lower(*p) == 'e')
        e10 += parse_exponent(&p);
    if (sticky) {                  /* a 1 below every kept digit */
        hv_big_mul_add(&x->num, 10, 1);
        kept++;
        e10--;
    }
    hv_big_set(&x->den, 1);
    x->b2 = 0;
    if (hv_big_is_zero(&x->num))
        return p;
    if (kept + e10 > 4935)         /* >= 10^4934: above the largest long double */
        *range = 1;
    else if (kept + e10 < -4952)   /* < 10^-4952: below half the least one */
        *range = -1;
    else if (e10 >= 0)
        multiply_pow5(&x->num, (int)e10);
    else
        multiply_pow5(&x->den, (int)-e10);
    x->b2 = (int)e10;
    return p;
}

/* num * 2^b2 / den rounded to fmt, half to even (num is not zero). */
static void round_to(struct parsed *x, const struct format *fmt, struct rounded *r)
{
    struct hv_big q;
    int k = 0, len, top, bits, drop, round_bit, sticky = 0, i;

    if (!(x->den.n == 1 && x->den.w[0] == 1)) {
        /* q = floor(num * 2^k / den) with at least bits + 2 bits */
        int shift;
        k = hv_big_bitlen(&x->den) - hv_big_bitlen(&x->num) + fmt->bits + 2;
        if (k < 0)
            k = 0;
        hv_big_shl(&x->num, k);
        shift = hv_big_bitlen(&x->num) - hv_big_bitlen(&x->den);
        hv_big_shl(&x->den, shift);
        hv_big_set(&q, 0);
        for (i = shift; i >= 0; i--) {
            int bit = hv_big_cmp(&x->num, &x->den) >= 0;
            if (bit)
                hv_big_sub(&x->num, &x->den);
            hv_big_mul_add(&q, 2, (uint32_t)bit);
            hv_big_shr(&x->den, 1);
        }
        sticky = !hv_big_is_zero(&x->num);
    } else {
        q = x->num;
    }
    len = hv_big_bitlen(&q);
    top = len - 1 + x->b2 - k;     /* the value is in [2^top, 2^(top+1)) */
    bits = top >= fmt->emin ? fmt->bits : fmt->bits - (fmt->emin - top);
    drop = len - bits;
    r->scale = top - bits + 1;
    if (drop <= 0) {
        r->mant = hv_big_bits64(&q, 0) << -drop;
        round_bit = 0;
    } else {
        r->mant = hv_big_bits64(&q, drop);
        round_bit = hv_big_bit(&q, drop - 1);
        sticky |= hv_big_any_below(&q, drop - 1);
    }
    if (bits < 64 && bits > 0)
        r->mant &= (1ULL << bits) - 1;
    else if (bits <= 0)
        r->mant = 0;
    r->inexact = round_bit || sticky;
    if (round_bit && (sticky || (r->mant & 1)))
        r->mant++;
    if (bits >= fmt->bits && bits < 64 && r->mant >> bits) {
        r->mant >>= 1;             /* rounded up to the next power of two */
        r->scale++;
    } else if (bits == 64 && r->mant == 0 && round_bit) {
        r->mant = 1ULL << 63;      /* 2^64 - 1 rounded up: 2^64 */
        r->scale++;
    }
    r->overflow = r->scale + fmt->bits - 1 > -fmt->emin + 1;
}

/* Parses s into x; returns the end, or s itself if there is no number. */
static const char *parse(const char *s, struct parsed *x, int *range)
{
    const char *p = s, *end;

    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    x->negative = 0;
    x->special = 0;
    x->payload = 0;
    *range = 0;
    if (*p == '+' || *p == '-')
        x->negative = *p++ == '-';
    if (match_word(p, "inf")) {
        x->special = 'i';
        return p + (match_word(p, "infinity") ? 8 : 3);
    }
    if (match_word(p, "nan")) {
        const char *q = p + 3;
        x->special = 'n';
        if (*q == '(') {           /* nan(n-char-sequence) */
            const char *seq = q + 1;
            char *num_end;
            for (q++; (*q >= '0' && *q <= '9') || (lower(*q) >= 'a' && lower(*q) <= 'z')
                      || *q == '_'; q++)
                ;
            if (*q == ')') {
                unsigned long long n = strtoull(seq, &num_end, 0);
                if (num_end == q)
                    x->payload = n;
                return q + 1;
            }
        }
        return p + 3;
    }
    if (p[0] == '0' && lower(p[1]) == 'x'
        && (hex_value(p[2]) >= 0 || (p[2] == '.' && hex_value(p[3]) >= 0))) {
        end = parse_hex(p + 2, x);
        if (end)
            return end;
    }
    end = parse_decimal(p, x, range);
    return end ? end : s;
}

/* The whole conversion for one format: fills r; returns 0 for zero, 1 for
 * a finite nonzero result, 2 for infinity and 3 for NaN. */
static int convert(const char *s, char **endp, const struct format *fmt, int *negative,
                   struct rounded *r)
{
    struct parsed x;
    int range;
    const char *end = parse(s, &x, &range);

    if (endp)
        *endp = (char *)(uintptr_t)end;
    *negative = x.negative;
    if (end == s)
        return 0;
    if (x.special) {
        r->mant = x.payload;
        return x.special == 'i' ? 2 : 3;
    }
    if (hv_big_is_zero(&x.num))
        return 0;
    if (range) {
        errno = ERANGE;
        return range > 0 ? 2 : 0;
    }
    round_to(&x, fmt, r);
    if (r->overflow) {
        errno = ERANGE;
        return 2;
    }
    if (r->mant == 0 || (r->inexact && r->mant < 1ULL << (fmt->bits - 1))) {
        errno = ERANGE;            /* underflow: zero, or an inexact subnormal */
        return r->mant ? 1 : 0;
    }
    return 1;
}

/* Packs an IEEE binary format of `bits` significand bits (implicit leading
 * one) and exponent bias `bias` into a 64-bit pattern. */
static uint64_t pack(int kind, int negative, const struct rounded *r, int bits, int bias,
                     int exp_bits)
{
    uint64_t sign = (uint64_t)negative << (bits - 1 + exp_bits);
    uint64_t max_exp = (1ULL << exp_bits) - 1;
    uint64_t field;

    if (kind == 0)
        return sign;
    if (kind == 2)
        return sign | max_exp << (bits - 1);
    if (kind == 3)
        return sign | max_exp << (bits - 1) | 1ULL << (bits - 2)
               | (r->mant & ((1ULL << (bits - 2)) - 1));
    if (r->mant < 1ULL << (bits - 1))
        return sign | r->mant;     /* subnormal */
    field = (uint64_t)(r->scale + bits - 1 + bias);
    return sign | field << (bits - 1) | (r->mant & ((1ULL << (bits - 1)) - 1));
}

double strtod(const char *s, char **end)
{
    struct rounded r;
    int negative, kind = convert(s, end, &FMT_DOUBLE, &negative, &r);
    union {
        uint64_t u;
        double d;
    } v;

    v.u = pack(kind, negative, &r, 53, 1023, 11);
    return v.d;
}

float strtof(const char *s, char **end)
{
    struct rounded r;
    int negative, kind = convert(s, end, &FMT_FLOAT, &negative, &r);
    union {
        uint32_t u;
        float f;
    } v;

    v.u = (uint32_t)pack(kind, negative, &r, 24, 127, 8);
    return v.f;
}

/* The x87's format: an explicit leading bit, 15-bit exponent. */
long double strtold(const char *s, char **end)
{
    struct rounded r;
    int negative, kind = convert(s, end, &FMT_LONG, &negative, &r);
    union {
        long double v;
        struct {
            uint64_t mant;
            uint16_t sexp;
        } p;
    } v;
    uint16_t sign = negative ? 0x8000 : 0;

    v.p.mant = 0;
    v.p.sexp = sign;
    if (kind == 2 || kind == 3) {
        v.p.mant = kind == 2 ? 1ULL << 63 : 3ULL << 62 | (r.mant & ((1ULL << 62) - 1));
        v.p.sexp = sign | 0x7fff;
    } else if (kind == 1) {
        v.p.mant = r.mant;
        if (r.mant >> 63)
            v.p.sexp = (uint16_t)(sign | (r.scale + 63 + 16383));
    }
    return v.v;
}

double atof(const char *s)
{
    return strtod(s, NULL);
}
