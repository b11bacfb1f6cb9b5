/*
 * printf.c - the formatting engine of the SDK's tiny libc.
 *
 * One engine (hv_vformat) turns a format string into bytes and hands them to
 * a sink: the console buffer for printf, a caller's array for snprintf.
 * It follows C99 7.19.6.1 for the conversions it supports:
 *   %d %i %u %x %X %o %c %s %p %%, the floating %f %F %e %E %g %G %a %A
 *   (printf_float.c: exact, as glibc prints them), flags "-0+ #", width,
 *   precision, "*", and the length modifiers hh h l ll z t j L.
 * %n is not supported; an unsupported conversion is copied to the output
 * as written.
 */
#include <hv_guest.h>

#include "hv_libc.h"

enum {
    FLAG_LEFT = HV_FMT_LEFT,      /* '-': pad on the right */
    FLAG_ZERO = HV_FMT_ZERO,      /* '0': pad numbers with zeros */
    FLAG_PLUS = HV_FMT_PLUS,      /* '+': always print a sign */
    FLAG_SPACE = HV_FMT_SPACE,    /* ' ': a blank where a '+' would go */
    FLAG_ALT = HV_FMT_ALT,        /* '#': 0x prefix for %x, leading 0 for %o */
};

enum length { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J, LEN_BIG_L };

/* One parsed conversion specification. */
struct conv {
    unsigned flags;
    int width;            /* 0 when absent */
    int prec;             /* -1 when absent */
    enum length len;
    char type;            /* the conversion letter */
};

/* va_list travels in a struct so it can be passed by pointer portably. */
struct args {
    va_list ap;
};

/* The output side: a sink plus the running count of bytes produced. */
struct out {
    struct hv_sink *sink;
    int count;
};

static void emit(struct out *o, const char *s, size_t n)
{
    if (n) {
        o->sink->put(o->sink, s, n);
        o->count += (int)n;
    }
}

static void emit_repeat(struct out *o, char c, int n)
{
    char chunk[16];
    int i;

    if (n <= 0)
        return;    /* the common case: no padding at all */
    for (i = 0; i < (int)sizeof(chunk); i++)
        chunk[i] = c;
    for (; n > 0; n -= (int)sizeof(chunk))
        emit(o, chunk, (size_t)(n < (int)sizeof(chunk) ? n : (int)sizeof(chunk)));
}

/* Reads the number in a width or precision; *p is left after it. */
static int parse_int(const char **p)
{
    int v = 0;

    while (**p >= '0' && **p <= '9') {
        if (v < 100000000)    /* clamp absurd widths instead of overflowing */
            v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

static const char *parse_flags(const char *p, struct conv *c)
{
    for (;; p++) {
        switch (*p) {
        case '-': c->flags |= FLAG_LEFT; break;
        case '0': c->flags |= FLAG_ZERO; break;
        case '+': c->flags |= FLAG_PLUS; break;
        case ' ': c->flags |= FLAG_SPACE; break;
        case '#': c->flags |= FLAG_ALT; break;
        default: return p;
        }
    }
}

static const char *parse_width_prec(const char *p, struct conv *c, struct args *a)
{
    if (*p == '*') {
        p++;
        c->width = va_arg(a->ap, int);
        if (c->width < 0) {    /* a negative '*' width means left-justify */
            c->flags |= FLAG_LEFT;
            c->width = c->width == INT_MIN ? INT_MAX : -c->width;
        }
    } else {
        c->width = parse_int(&p);
    }
    if (*p == '.') {
        p++;
        if (*p == '*') {
            p++;
            c->prec = va_arg(a->ap, int);
            if (c->prec < 0)    /* a negative '*' precision counts as absent */
                c->prec = -1;
        } else {
            c->prec = parse_int(&p);
        }
    }
    return p;
}

static const char *parse_length(const char *p, struct conv *c)
{
    switch (*p) {
    case 'h':
        if (p[1] == 'h') { c->len = LEN_HH; return p + 2; }
        c->len = LEN_H;
        return p + 1;
    case 'l':
        if (p[1] == 'l') { c->len = LEN_LL; return p + 2; }
        c->len = LEN_L;
        return p + 1;
    case 'z': c->len = LEN_Z; return p + 1;
    case 't': c->len = LEN_T; return p + 1;
    case 'j': c->len = LEN_J; return p + 1;
    case 'L': c->len = LEN_BIG_L; return p + 1;
    default: return p;
    }
}

/* Fetches a signed argument of the size the length modifier names. */
static int64_t arg_signed(struct args *a, enum length len)
{
    switch (len) {
    case LEN_HH: return (signed char)va_arg(a->ap, int);
    case LEN_H: return (short)va_arg(a->ap, int);
    case LEN_L: return va_arg(a->ap, long);
    case LEN_LL: return va_arg(a->ap, long long);
    case LEN_Z: return (ptrdiff_t)va_arg(a->ap, size_t);
    case LEN_T: return va_arg(a->ap, ptrdiff_t);
    case LEN_J: return va_arg(a->ap, intmax_t);
    default: return va_arg(a->ap, int);
    }
}

/* Fetches an unsigned argument of the size the length modifier names. */
static uint64_t arg_unsigned(struct args *a, enum length len)
{
    switch (len) {
    case LEN_HH: return (unsigned char)va_arg(a->ap, unsigned);
    case LEN_H: return (unsigned short)va_arg(a->ap, unsigned);
    case LEN_L: return va_arg(a->ap, unsigned long);
    case LEN_LL: return va_arg(a->ap, unsigned long long);
    case LEN_Z: return va_arg(a->ap, size_t);
    case LEN_T: return (size_t)va_arg(a->ap, ptrdiff_t);
    case LEN_J: return va_arg(a->ap, uintmax_t);
    default: return va_arg(a->ap, unsigned);
    }
}

/*
 * Writes v in base into the end of buf (which holds at least 22 bytes) and
 * returns a pointer to the first digit.  Zero gives no digits at all; the
 * caller decides whether a lone "0" is due.  Values that fit in 32 bits use
 * 32-bit division, which avoids the slow 64-bit helpers for common numbers.
 */
static char *format_digits(char *end, uint64_t v, unsigned base, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    uint32_t w;

    while (v > UINT32_MAX) {
        uint64_t q = v / base;
        *--p = digits[v - q * base];
        v = q;
    }
    for (w = (uint32_t)v; w; w /= base)
        *--p = digits[w % base];
    return p;
}

/*
 * Lays out one integer: [spaces][sign or 0x][zeros][digits][spaces].
 * Precision is the minimum digit count; a '0' flag (ignored with a
 * precision or '-') widens the zeros to fill the field.
 */
static void emit_integer(struct out *o, const struct conv *c, const char *prefix,
                         const char *digits, int ndigits)
{
    int nprefix = (int)strlen(prefix);
    int zeros = c->prec > ndigits ? c->prec - ndigits : 0;
    int pad;

    if ((c->flags & (FLAG_ZERO | FLAG_LEFT)) == FLAG_ZERO && c->prec < 0
        && c->width > nprefix + ndigits)
        zeros = c->width - nprefix - ndigits;
    pad = c->width - nprefix - zeros - ndigits;
    if (!(c->flags & FLAG_LEFT))
        emit_repeat(o, ' ', pad);
    emit(o, prefix, (size_t)nprefix);
    emit_repeat(o, '0', zeros);
    emit(o, digits, (size_t)ndigits);
    if (c->flags & FLAG_LEFT)
        emit_repeat(o, ' ', pad);
}

static void format_integer(struct out *o, struct conv *c, struct args *a)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    const char *prefix = "";
    unsigned base = 10;
    uint64_t mag;
    char *digits;

    if (c->type == 'd' || c->type == 'i') {
        int64_t v = arg_signed(a, c->len);
        mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        if (v < 0)
            prefix = "-";
        else if (c->flags & (FLAG_PLUS | FLAG_SPACE))
            prefix = c->flags & FLAG_PLUS ? "+" : " ";
    } else {
        mag = arg_unsigned(a, c->len);
        base = c->type == 'o' ? 8 : c->type == 'u' ? 10 : 16;
        if ((c->flags & FLAG_ALT) && base == 16 && mag != 0)
            prefix = c->type == 'X' ? "0X" : "0x";
    }
    digits = format_digits(end, mag, base, c->type == 'X');
    /* With no precision a zero still prints as "0"; "%.0d" of 0 prints nothing. */
    if (mag == 0 && c->prec != 0)
        *--digits = '0';
    /* '#' with %o makes the first digit a zero, raising the precision if needed. */
    if ((c->flags & FLAG_ALT) && base == 8 && (digits == end || *digits != '0')
        && c->prec <= end - digits)
        *--digits = '0';
    emit_integer(o, c, prefix, digits, (int)(end - digits));
}

static void emit_padded(struct out *o, const struct conv *c, const char *s, size_t n)
{
    int pad = c->width - (int)n;

    if (!(c->flags & FLAG_LEFT))
        emit_repeat(o, ' ', pad);
    emit(o, s, n);
    if (c->flags & FLAG_LEFT)
        emit_repeat(o, ' ', pad);
}

static void format_string(struct out *o, const struct conv *c, struct args *a)
{
    const char *s = va_arg(a->ap, const char *);

    if (!s)
        s = c->prec < 0 || c->prec >= 6 ? "(null)" : "";
    emit_padded(o, c, s, c->prec < 0 ? strlen(s) : strnlen(s, (size_t)c->prec));
}

static void format_char(struct out *o, const struct conv *c, struct args *a)
{
    char ch = (char)va_arg(a->ap, int);

    emit_padded(o, c, &ch, 1);
}

/* %p prints like glibc: "0x" and lowercase hex, or "(nil)" for NULL. */
static void format_pointer(struct out *o, struct conv *c, struct args *a)
{
    uintptr_t p = (uintptr_t)va_arg(a->ap, void *);
    char buf[24];
    char *end = buf + sizeof(buf);
    char *digits;

    if (!p) {
        c->prec = -1;
        emit_padded(o, c, "(nil)", 5);
        return;
    }
    digits = format_digits(end, p, 16, 0);
    emit_integer(o, c, "0x", digits, (int)(end - digits));
}

/* A double, or with 'L' a long double (the conversion to long double is
 * exact, so one engine formats both). */
static void format_float(struct out *o, const struct conv *c, struct args *a)
{
    bool is_long = c->len == LEN_BIG_L;
    long double v = is_long ? va_arg(a->ap, long double) : va_arg(a->ap, double);

    o->count += hv_format_float(o->sink, c->flags, c->width, c->prec, c->type, v, is_long);
}

/* Handles the conversion starting after a '%'; returns where to go on. */
static const char *format_one(struct out *o, const char *p, struct args *a)
{
    const char *start = p - 1;
    struct conv c = { 0, 0, -1, LEN_NONE, 0 };

    p = parse_flags(p, &c);
    p = parse_width_prec(p, &c, a);
    p = parse_length(p, &c);
    c.type = *p;
    switch (c.type) {
    case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
        format_integer(o, &c, a);
        break;
    case 's': format_string(o, &c, a); break;
    case 'c': format_char(o, &c, a); break;
    case 'p': format_pointer(o, &c, a); break;
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
        format_float(o, &c, a);
        break;
    case '%': emit(o, "%", 1); break;
    case 0:
        /* A lone '%' at the end of the format: copy it and stop there. */
        emit(o, start, (size_t)(p - start));
        return p;
    default:
        emit(o, start, (size_t)(p + 1 - start));
        break;
    }
    return p + 1;
}

int hv_vformat(struct hv_sink *sink, const char *fmt, va_list ap)
{
    struct out o = { sink, 0 };
    struct args a;

    va_copy(a.ap, ap);
    while (*fmt) {
        const char *pct = strchr(fmt, '%');
        size_t run = pct ? (size_t)(pct - fmt) : strlen(fmt);

        emit(&o, fmt, run);    /* literal text goes out in one piece */
        fmt += run;
        if (*fmt == '%')
            fmt = format_one(&o, fmt + 1, &a);
    }
    va_end(a.ap);
    return o.count;
}

/* ---- snprintf and friends: a sink that fills a caller's buffer. ---------- */

struct buf_sink {
    struct hv_sink sink;
    char *buf;
    size_t size;    /* room including the final NUL */
    size_t used;
};

static void buf_put(struct hv_sink *sink, const char *s, size_t n)
{
    struct buf_sink *b = (struct buf_sink *)sink;

    /* Keep one byte for the NUL; bytes beyond the room are only counted. */
    while (n-- && b->used + 1 < b->size)
        b->buf[b->used++] = *s++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct buf_sink b = { { buf_put }, buf, size, 0 };
    int n = hv_vformat(&b.sink, fmt, ap);

    if (size)
        buf[b.used] = 0;
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int vsprintf(char *buf, const char *fmt, va_list ap)
{
    return vsnprintf(buf, SIZE_MAX, fmt, ap);
}

int sprintf(char *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, SIZE_MAX, fmt, ap);
    va_end(ap);
    return n;
}
