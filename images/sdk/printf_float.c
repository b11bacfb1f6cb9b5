/*
 * printf_float.c - printf's floating conversions %f %F %e %E %g %G %a %A
 * (C99 7.19.6.1), printing exactly what glibc prints.
 *
 * The value's binary significand and exponent are taken from its bits and
 * the decimal digits computed with big integers (hv_bignum.h): the integer
 * part by division by 10^9, the fraction by multiplication by 10^9, as many
 * digits as the precision asks for, and the rounding (half to even) looks
 * at every remaining bit.  So any precision is exact: "%.40f" of 1e-300,
 * "%f" of 1e308 or of the largest long double.  No floating-point arithmetic
 * is done, so the FPU's rounding mode cannot change what is printed.
 */
#include <hv_guest.h>

#include "hv_bignum.h"
#include "hv_libc.h"

/* Enough for every significant digit of the longest exact expansion: a
 * long double subnormal has about 11,500. */
#define DEC_DIGITS 11600

struct fout {
    struct hv_sink *sink;
    int count;
};

static void put(struct fout *o, const char *s, int n)
{
    if (n > 0) {
        o->sink->put(o->sink, s, (size_t)n);
        o->count += n;
    }
}

static void put_repeat(struct fout *o, char c, int n)
{
    char chunk[32];
    int i;

    for (i = 0; i < (int)sizeof(chunk); i++)
        chunk[i] = c;
    for (; n > 0; n -= (int)sizeof(chunk))
        put(o, chunk, n < (int)sizeof(chunk) ? n : (int)sizeof(chunk));
}

/* ---- the exact decimal expansion ---------------------------------------- */

/* The value is 0.d[0] d[1] ... x 10^point, plus frac / 2^s below the last
 * digit produced (in units of that digit's place). */
struct dec {
    int n, point, s;
    struct hv_big frac;
    char d[DEC_DIGITS];
};

/* The next nine digits of the fraction. */
static uint32_t next_chunk(struct dec *x)
{
    hv_big_mul_add(&x->frac, 1000000000u, 0);
    return hv_big_split_at(&x->frac, x->s);
}

static void put_nine(struct dec *x, uint32_t chunk)
{
    int i;

    for (i = 8; i >= 0; i--) {
        x->d[x->n + i] = (char)('0' + chunk % 10);
        chunk /= 10;
    }
    x->n += 9;
}

/* Writes v's decimal digits at the end of d[0..end) and returns where
 * they start. */
static int put_integer(struct dec *x, struct hv_big *v, int end)
{
    while (!hv_big_is_zero(v)) {
        uint32_t r = hv_big_div_small(v, 1000000000u);
        int i;
        for (i = 0; i < 9 && (r || !hv_big_is_zero(v)); i++) {
            x->d[--end] = (char)('0' + r % 10);
            r /= 10;
        }
    }
    return end;
}

/* Starts the expansion of mant * 2^e2 (mant != 0): every integer digit and
 * the first nine significant ones if the value is below 1. */
static void dec_init(struct dec *x, uint64_t mant, int e2)
{
    struct hv_big v;
    int start;

    while (!(mant & 1)) {
        mant >>= 1;
        e2++;
    }
    x->n = 0;
    if (e2 >= 0) {
        hv_big_set(&v, mant);
        hv_big_shl(&v, e2);
        hv_big_set(&x->frac, 0);
        x->s = 0;
    } else {
        x->s = -e2;
        hv_big_set(&v, x->s < 64 ? mant >> x->s : 0);
        hv_big_set(&x->frac, x->s < 64 ? mant & ((1ULL << x->s) - 1) : mant);
    }
    start = put_integer(x, &v, DEC_DIGITS);
    x->n = DEC_DIGITS - start;
    memmove(x->d, x->d + start, (size_t)x->n);
    x->point = x->n;
    if (x->n)
        return;
    for (;;) {                      /* below 1: skip the leading zeros */
        uint32_t chunk = next_chunk(x);
        int lead = 0;
        if (!chunk) {
            x->point -= 9;
            continue;
        }
        put_nine(x, chunk);
        while (x->d[lead] == '0')
            lead++;
        memmove(x->d, x->d + lead, (size_t)(9 - lead));
        x->n -= lead;
        x->point -= lead;
        return;
    }
}

/* Produces digits until there are k of them or the expansion ends. */
static void dec_need(struct dec *x, int k)
{
    if (k > DEC_DIGITS - 9)
        k = DEC_DIGITS - 9;    /* past every nonzero digit: the rest are 0 */
    while (x->n < k && !hv_big_is_zero(&x->frac))
        put_nine(x, next_chunk(x));
}

static char dec_digit(const struct dec *x, int i)
{
    return i >= 0 && i < x->n ? x->d[i] : '0';
}

/* Rounds to k >= 0 significant digits, half to even on the exact value. */
static void dec_round(struct dec *x, int k)
{
    int up, rest, i;

    dec_need(x, k + 1);
    if (k >= x->n)
        return;                     /* nothing but zeros beyond */
    rest = !hv_big_is_zero(&x->frac);
    for (i = k + 1; i < x->n && !rest; i++)
        rest = x->d[i] != '0';
    up = x->d[k] > '5' || (x->d[k] == '5' && (rest || (k > 0 && (x->d[k - 1] & 1))));
    x->n = k;
    hv_big_set(&x->frac, 0);
    if (!up)
        return;
    for (i = k - 1; i >= 0 && x->d[i] == '9'; i--)
        x->d[i] = '0';
    if (i >= 0) {
        x->d[i]++;
    } else {                        /* 99.9 -> 100: one more integer digit */
        x->d[0] = '1';
        if (k == 0)
            x->n = 1;
        x->point++;
    }
}

/* Digits from..from+count-1 (indices outside the expansion are zeros). */
static void put_digits(struct fout *o, const struct dec *x, int from, int count)
{
    while (count > 0) {
        if (from < 0 || from >= x->n) {
            int zeros = from < 0 ? -from : count;
            zeros = zeros < count ? zeros : count;
            put_repeat(o, '0', zeros);
            from += zeros;
            count -= zeros;
        } else {
            int run = x->n - from < count ? x->n - from : count;
            put(o, x->d + from, run);
            from += run;
            count -= run;
        }
    }
}

/* ---- layout ----------------------------------------------------------------- */

struct spec {
    unsigned flags;
    int width, prec;
    char type;
    const char *sign;
};

/* Spaces, sign, zeros to fill the width (with '0'), then the body. */
static void put_lead(struct fout *o, const struct spec *c, int body_len, const char *prefix,
                     int zero_ok)
{
    int prefix_len = (int)strlen(c->sign) + (int)strlen(prefix);
    int pad = c->width - prefix_len - body_len;

    if (!(c->flags & HV_FMT_LEFT) && !(zero_ok && (c->flags & HV_FMT_ZERO)))
        put_repeat(o, ' ', pad);
    put(o, c->sign, (int)strlen(c->sign));
    put(o, prefix, (int)strlen(prefix));
    if (!(c->flags & HV_FMT_LEFT) && zero_ok && (c->flags & HV_FMT_ZERO))
        put_repeat(o, '0', pad);
}

static void put_trail(struct fout *o, const struct spec *c, int total)
{
    if (c->flags & HV_FMT_LEFT)
        put_repeat(o, ' ', c->width - total);
}

static int decimal_len(int v)
{
    int n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* [int digits].[frac digits], frac digits = fprec (after stripping). */
static void put_fixed(struct fout *o, const struct spec *c, const struct dec *x, int fprec)
{
    int int_len = x->point > 0 ? x->point : 1;
    int dot = fprec > 0 || (c->flags & HV_FMT_ALT);
    int body = int_len + dot + fprec;

    put_lead(o, c, body, "", 1);
    if (x->point > 0)
        put_digits(o, x, 0, x->point);
    else
        put(o, "0", 1);
    if (dot)
        put(o, ".", 1);
    put_digits(o, x, x->point, fprec);
    put_trail(o, c, (int)strlen(c->sign) + body);
}

/* d.ddde+XX with eprec digits after the point. */
static void put_exp(struct fout *o, const struct spec *c, const struct dec *x, int eprec,
                    int exp10)
{
    char tail[16];
    int dot = eprec > 0 || (c->flags & HV_FMT_ALT);
    int mag = exp10 < 0 ? -exp10 : exp10;
    int elen = decimal_len(mag) < 2 ? 2 : decimal_len(mag);
    int body = 1 + dot + eprec + 2 + elen, i;

    tail[0] = c->type == 'E' || c->type == 'G' ? 'E' : 'e';
    tail[1] = exp10 < 0 ? '-' : '+';
    for (i = elen - 1; i >= 0; i--) {
        tail[2 + i] = (char)('0' + mag % 10);
        mag /= 10;
    }
    put_lead(o, c, body, "", 1);
    put_digits(o, x, 0, 1);
    if (dot)
        put(o, ".", 1);
    put_digits(o, x, 1, eprec);
    put(o, tail, 2 + elen);
    put_trail(o, c, (int)strlen(c->sign) + body);
}

static void format_decimal(struct fout *o, const struct spec *c, uint64_t mant, int e2)
{
    struct dec big_x, *x = &big_x;
    int prec = c->prec < 0 ? 6 : c->prec;
    char t = c->type | 0x20;

    if (mant == 0) {
        x->n = 0;                   /* every digit reads as '0' */
        x->point = 1;
    } else {
        dec_init(x, mant, e2);
    }
    if (t == 'f') {
        if (mant && x->point + prec < 0) {
            x->n = 0;               /* below half the last place: 0.000 */
        } else if (mant) {
            dec_round(x, x->point + prec);
        }
        put_fixed(o, c, x, prec);
        return;
    }
    if (t == 'e') {
        if (mant)
            dec_round(x, prec + 1);
        put_exp(o, c, x, prec, mant ? x->point - 1 : 0);
        return;
    }
    /* %g: P significant digits, then %f or %e by the exponent they give. */
    {
        int p = prec == 0 ? 1 : prec, exp10, keep, before = x->point - 1;
        if (mant)
            dec_round(x, p);
        exp10 = mant ? x->point - 1 : 0;
        if (p > exp10 && exp10 >= -4) {
            keep = p - 1 - exp10;
            if (!(c->flags & HV_FMT_ALT))
                while (keep > 0 && dec_digit(x, x->point + keep - 1) == '0')
                    keep--;
            put_fixed(o, c, x, keep);
        } else {
            keep = p - 1;
            /* glibc: when the rounding carries 9.99 into 10 and so moves from
             * the %f form to %e, it keeps the %f form's digit count, none
             * ("%#.3g" of 999.5 is "1.e+03"). */
            if (mant && exp10 == p && before == p - 1)
                keep = 0;
            if (!(c->flags & HV_FMT_ALT))
                while (keep > 0 && dec_digit(x, keep) == '0')
                    keep--;
            put_exp(o, c, x, keep, exp10);
        }
    }
}

/* ---- %a -------------------------------------------------------------------- */

/*
 * glibc's layout: a double is 0x1.hhh (13 digits) with its exponent, a
 * subnormal 0x0.hhh p-1022; a long double shows its 64-bit significand as
 * one digit and 15 more, with the exponent less 3 (0x8p-3 is 1).  Rounding
 * to a precision is half to even and may carry into the first digit
 * (0x2p+0).
 */
static void format_hex(struct fout *o, const struct spec *c, uint64_t mant, int e, int is_long)
{
    const char *hex = c->type == 'A' ? "0123456789ABCDEF" : "0123456789abcdef";
    int digits = is_long ? 15 : 13, shown, exp2, i, body;
    uint64_t all, lead, frac;
    char buf[40], tail[12];
    int n = 0, tn = 0, mag;

    /* all = the first digit, then `digits` fraction digits */
    if (mant == 0) {
        all = 0;
        exp2 = 0;
    } else if (is_long) {
        all = mant;
        exp2 = e - 3;
    } else if (e >= -1022) {
        all = mant >> 11;
        exp2 = e;
    } else {                        /* a double subnormal, as 0x0.hhh p-1022 */
        all = mant >> (-e - 1011);
        exp2 = -1022;
    }
    lead = all >> (4 * digits);
    frac = all & ((1ULL << (4 * digits)) - 1);
    if (c->prec < 0) {
        shown = digits;
        while (shown > 0 && !((frac >> (4 * (digits - shown))) & 0xf))
            shown--;
    } else if (c->prec < digits) {
        int drop = 4 * (digits - c->prec);
        uint64_t rest = frac & ((1ULL << drop) - 1), half = 1ULL << (drop - 1);
        frac >>= drop;
        digits = c->prec;
        if (rest > half || (rest == half && ((digits ? frac : lead) & 1))) {
            frac++;
            if (frac >> (4 * digits)) {    /* the carry reaches the first digit */
                frac = 0;
                lead++;
            }
        }
        shown = digits;
    } else {
        shown = digits;
    }
    if (lead >= 16) {               /* long double 0xf.f rounded up: glibc's 0x1p+4 */
        lead = 1;
        exp2 += 4;
    }
    buf[n++] = hex[lead];
    if (shown > 0 || c->prec > 0 || (c->flags & HV_FMT_ALT))
        buf[n++] = '.';
    for (i = 1; i <= shown; i++)
        buf[n++] = hex[(frac >> (4 * (digits - i))) & 0xf];
    tail[tn++] = c->type == 'A' ? 'P' : 'p';
    tail[tn++] = exp2 < 0 ? '-' : '+';
    mag = exp2 < 0 ? -exp2 : exp2;
    for (i = decimal_len(mag) - 1; i >= 0; i--) {
        tail[tn + i] = (char)('0' + mag % 10);
        mag /= 10;
    }
    tn += decimal_len(exp2 < 0 ? -exp2 : exp2);
    {
        int zeros = c->prec > shown ? c->prec - shown : 0;
        body = n + zeros + tn;
        put_lead(o, c, body, c->type == 'A' ? "0X" : "0x", 1);
        put(o, buf, n);
        put_repeat(o, '0', zeros);
        put(o, tail, tn);
        put_trail(o, c, (int)strlen(c->sign) + 2 + body);
    }
}

int hv_format_float(struct hv_sink *sink, unsigned flags, int width, int prec, char type,
                    long double v, bool is_long)
{
    union {
        long double v;
        struct {
            uint64_t mant;
            uint16_t sexp;
        } p;
    } u;
    struct fout o = { sink, 0 };
    struct spec c = { flags, width, prec, type, "" };
    int field, upper = type >= 'A' && type <= 'Z';

    u.v = v;
    field = u.p.sexp & 0x7fff;
    if (u.p.sexp & 0x8000)
        c.sign = "-";
    else if (flags & (HV_FMT_PLUS | HV_FMT_SPACE))
        c.sign = flags & HV_FMT_PLUS ? "+" : " ";
    if (field == 0x7fff) {
        const char *word = (u.p.mant << 1) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
        put_lead(&o, &c, 3, "", 0);
        put(&o, word, 3);
        put_trail(&o, &c, (int)strlen(c.sign) + 3);
        return o.count;
    }
    /* value = mant * 2^(e - 63); a long double subnormal has e = -16382 */
    {
        int e = field ? field - 16383 : -16382;
        if ((type | 0x20) == 'a')
            format_hex(&o, &c, u.p.mant, e, is_long);
        else
            format_decimal(&o, &c, u.p.mant, e - 63);
    }
    return o.count;
}
