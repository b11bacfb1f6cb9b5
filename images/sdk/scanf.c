/*
 * scanf.c - formatted input: sscanf, fscanf, scanf and their v forms.
 *
 * One engine (scan) reads from a source, as hv_vformat writes to a sink:
 * a string for sscanf, a FILE for fscanf.  It follows C99 7.19.6.2: blanks
 * in the format skip any blanks in the input, other characters must match,
 * and each conversion (after '*' to suppress the assignment, a maximum field
 * width and a length modifier hh h l ll j z t L) reads the longest prefix of
 * the input that could begin its item.  If that prefix is not a whole item
 * (e.g. "100e" for %f) the conversion is a matching failure.  A source gives
 * back at most one character, as in C.  Integers convert with strtol/strtoll
 * and friends, floating items with strtod, so values are exactly theirs.
 */
#include <hv_guest.h>
#include <limits.h>

#include "hv_libc.h"

double strtod(const char *s, char **end);

/* Where characters come from. */
struct source {
    int (*get)(struct source *src);             /* the next one, or EOF */
    void (*unget)(struct source *src, int c);   /* give back the last one */
};

/* The engine's view of the source: one character of lookahead at most, and
 * the count of characters consumed (for %n). */
struct input {
    struct source *src;
    size_t count;
};

static int next(struct input *in)
{
    int c = in->src->get(in->src);

    if (c != EOF)
        in->count++;
    return c;
}

static void back(struct input *in, int c)
{
    if (c != EOF) {
        in->src->unget(in->src, c);
        in->count--;
    }
}

static int is_blank(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Skips blanks; returns the first other character (consumed) or EOF. */
static int skip_blanks(struct input *in)
{
    int c;

    do
        c = next(in);
    while (is_blank(c));
    return c;
}

enum length { LEN_HH, LEN_H, LEN_NONE, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T, LEN_LD };

/* One conversion specification. */
struct spec {
    int suppress;       /* '*' */
    int width;          /* INT_MAX when absent */
    enum length len;
    char type;
};

/* The text of one numeric item, up to this many bytes (a longer item is
 * still consumed; its tail is dropped, which only long runs of leading
 * zeros could make matter). */
#define ITEM_MAX 128

struct item {
    char text[ITEM_MAX];
    int n;
    int width;          /* characters still allowed */
    int c;              /* the current character, not yet taken */
};

static void take(struct input *in, struct item *it)
{
    if (it->n < ITEM_MAX - 1)
        it->text[it->n++] = (char)it->c;
    it->width--;
    it->c = it->width > 0 ? next(in) : EOF;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Takes the current character if it is one of `set` (case-blind). */
static int take_if(struct input *in, struct item *it, const char *set)
{
    if (it->width <= 0 || it->c == EOF)
        return 0;
    for (; *set; set++) {
        if (lower(it->c) == *set) {
            take(in, it);
            return 1;
        }
    }
    return 0;
}

static int digit_in(int c, int base)
{
    int d = c >= '0' && c <= '9' ? c - '0'
          : lower(c) >= 'a' && lower(c) <= 'z' ? lower(c) - 'a' + 10 : 99;
    return d < base;
}

static int take_digits(struct input *in, struct item *it, int base)
{
    int any = 0;

    while (it->width > 0 && it->c != EOF && digit_in(it->c, base)) {
        take(in, it);
        any = 1;
    }
    return any;
}

/* The start of an item: blanks skipped, the first character read. */
static void item_start(struct item *it, int width, int first)
{
    it->n = 0;
    it->width = width;
    it->c = first;
}

/* Ends an item: gives back the character that stopped it. */
static void item_end(struct input *in, struct item *it)
{
    if (it->width > 0)
        back(in, it->c);
    it->text[it->n] = 0;
}

/* Reads an integer's text in `base` (0: C prefixes decide; 16 takes "0x");
 * returns the base to convert with, or 0 if no digits came. */
static int scan_integer_text(struct input *in, struct item *it, int base)
{
    int any = 0;

    take_if(in, it, "+-");
    if ((base == 0 || base == 16) && it->c == '0' && it->width > 0) {
        take(in, it);
        any = 1;
        if (take_if(in, it, "x"))
            base = 16;
        else if (base == 0)
            base = 8;
    }
    if (base == 0)
        base = 10;
    any |= take_digits(in, it, base);
    item_end(in, it);
    return any ? base : 0;
}

/* Reads a floating item's text (C99 6.4.4.2 and strtod's inf/nan); returns
 * 1 if it is whole. */
static int scan_float_text(struct input *in, struct item *it)
{
    int any = 0, k;

    take_if(in, it, "+-");
    if (lower(it->c) == 'i' || lower(it->c) == 'n') {
        const char *word = lower(it->c) == 'i' ? "infinity" : "nan";
        for (k = 0; word[k] && it->width > 0 && lower(it->c) == word[k]; k++)
            take(in, it);
        if (word[0] == 'n' && k == 3 && it->c == '(' && it->width > 0) {
            take(in, it);
            while (it->width > 0 && it->c != EOF && (it->c == '_' || digit_in(it->c, 36)))
                take(in, it);
            if (it->c != ')') {
                item_end(in, it);
                return 0;
            }
            take(in, it);
        }
        item_end(in, it);
        return k == 3 || k == 8;
    }
    int base = 10;
    if (it->c == '0' && it->width > 0) {
        take(in, it);
        any = 1;
        if (take_if(in, it, "x")) {
            base = 16;
            any = 0;
        }
    }
    any |= take_digits(in, it, base);
    if (take_if(in, it, "."))
        any |= take_digits(in, it, base);
    if (any && take_if(in, it, base == 16 ? "p" : "e")) {
        take_if(in, it, "+-");
        any = take_digits(in, it, 10);
    }
    item_end(in, it);
    return any;
}

static void store_signed(void *p, enum length len, long long v)
{
    switch (len) {
    case LEN_HH: *(signed char *)p = (signed char)v; break;
    case LEN_H: *(short *)p = (short)v; break;
    case LEN_L: *(long *)p = (long)v; break;
    case LEN_LL: case LEN_J: case LEN_LD: *(long long *)p = v; break;
    case LEN_Z: *(size_t *)p = (size_t)v; break;
    case LEN_T: *(ptrdiff_t *)p = (ptrdiff_t)v; break;
    default: *(int *)p = (int)v; break;
    }
}

/* Integers: like strtol for the plain and l lengths, strtoll for the wider
 * ones (so an out-of-range item saturates as those do, then is narrowed). */
static int convert_integer(struct input *in, const struct spec *s, int first, va_list *ap)
{
    struct item it;
    int is_signed = s->type == 'd' || s->type == 'i';
    int base = s->type == 'o' ? 8 : s->type == 'x' || s->type == 'X' || s->type == 'p' ? 16
             : s->type == 'i' ? 0 : 10;
    int wide = s->len == LEN_LL || s->len == LEN_J || s->len == LEN_LD;
    long long v;

    item_start(&it, s->width, first);
    base = scan_integer_text(in, &it, base);
    if (!base)
        return 0;
    if (is_signed)
        v = wide ? strtoll(it.text, NULL, base) : strtol(it.text, NULL, base);
    else
        v = (long long)(wide ? strtoull(it.text, NULL, base) : strtoul(it.text, NULL, base));
    if (s->suppress)
        return 1;
    if (s->type == 'p')
        *va_arg(*ap, void **) = (void *)(uintptr_t)v;
    else
        store_signed(va_arg(*ap, void *), s->len, v);
    return 1;
}

static int convert_float(struct input *in, const struct spec *s, int first, va_list *ap)
{
    struct item it;
    char *end;
    double v;

    item_start(&it, s->width, first);
    if (!scan_float_text(in, &it))
        return 0;
    v = strtod(it.text, &end);
    if (*end)
        return 0;
    if (s->suppress)
        return 1;
    if (s->len == LEN_L)
        *va_arg(*ap, double *) = v;
    else if (s->len == LEN_LD)
        *va_arg(*ap, long double *) = v;
    else
        *va_arg(*ap, float *) = (float)v;
    return 1;
}

/* Whether c is in the scanset (parse_scanset's copy, '^' first if negated):
 * single characters and ranges a-b. */
static int in_scanset(const char *set, int c)
{
    int negate = *set == '^';
    const unsigned char *p = (const unsigned char *)set + negate;

    while (*p) {
        int lo = p[0], hi = p[0];
        if (p[1] == '-' && p[2]) {
            hi = p[2];
            p += 3;
        } else {
            p++;
        }
        if (lo <= c && c <= hi)
            return !negate;
    }
    return negate;
}

/* %s, %c and %[: characters while they belong, at most width of them,
 * starting with c (already read).  Returns how many were read. */
static int convert_chars(struct input *in, const struct spec *s, int c, const char *set,
                         va_list *ap)
{
    char *out = s->suppress ? NULL : va_arg(*ap, char *);
    int n = 0;

    for (; c != EOF; n++) {
        if (s->type == 's' && is_blank(c))
            break;
        if (s->type == '[' && !in_scanset(set, c))
            break;
        if (out)
            out[n] = (char)c;
        if (n + 1 == s->width) {
            n++;
            c = EOF;
            break;
        }
        c = next(in);
    }
    back(in, c);
    if (out && s->type != 'c' && n)
        out[n] = 0;
    return n;
}

/* The scanset of "%[...]" at *fmt (just past '['), copied as a string with
 * its closing ']' dropped; a ']' first (after an optional '^') is a member.
 * A range a-b counts when '-' is neither first nor last. */
static const char *parse_scanset(const char *fmt, char *set, size_t size)
{
    size_t n = 0;

    if (*fmt == '^')
        set[n++] = *fmt++;
    if (*fmt == ']')
        set[n++] = *fmt++;
    while (*fmt && *fmt != ']') {
        if (n < size - 1)
            set[n++] = *fmt;
        fmt++;
    }
    set[n] = 0;
    return *fmt ? fmt + 1 : fmt;
}

static const char *parse_spec(const char *p, struct spec *s)
{
    s->suppress = *p == '*';
    p += s->suppress;
    s->width = 0;
    while (*p >= '0' && *p <= '9')
        s->width = s->width * 10 + (*p++ - '0');
    if (s->width == 0)
        s->width = INT_MAX;
    s->len = LEN_NONE;
    switch (*p) {
    case 'h': s->len = p[1] == 'h' ? LEN_HH : LEN_H; p += 1 + (p[1] == 'h'); break;
    case 'l': s->len = p[1] == 'l' ? LEN_LL : LEN_L; p += 1 + (p[1] == 'l'); break;
    case 'q': s->len = LEN_LL; p++; break;
    case 'j': s->len = LEN_J; p++; break;
    case 'z': s->len = LEN_Z; p++; break;
    case 't': s->len = LEN_T; p++; break;
    case 'L': s->len = LEN_LD; p++; break;
    default: break;
    }
    s->type = *p;
    return *p ? p + 1 : p;
}

/* Returns the number of assignments, or EOF if the input ended before the
 * first conversion. */
static int scan(struct source *src, const char *fmt, va_list ap_in)
{
    struct input in = { src, 0 };
    int assigned = 0, converted = 0;
    va_list ap;
    char set[256];

    va_copy(ap, ap_in);
    while (*fmt) {
        struct spec s;
        int c, ok;

        if (is_blank((unsigned char)*fmt)) {
            back(&in, skip_blanks(&in));
            fmt++;
            continue;
        }
        if (*fmt != '%' || fmt[1] == '%') {
            fmt += *fmt == '%';
            c = *fmt == '%' ? skip_blanks(&in) : next(&in);
            if (c == EOF)
                goto input_failure;
            if (c != (unsigned char)*fmt) {
                back(&in, c);
                break;
            }
            fmt++;
            continue;
        }
        fmt = parse_spec(fmt + 1, &s);
        if (s.type == 'n') {
            if (!s.suppress)
                store_signed(va_arg(ap, void *), s.len, (long long)in.count);
            continue;
        }
        if (s.type == '[')
            fmt = parse_scanset(fmt, set, sizeof(set));
        if (s.type == 'c' && s.width == INT_MAX)
            s.width = 1;
        c = s.type == 'c' || s.type == '[' ? next(&in) : skip_blanks(&in);
        if (c == EOF)
            goto input_failure;
        switch (s.type) {
        case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': case 'p':
            ok = convert_integer(&in, &s, c, &ap);
            break;
        case 'a': case 'A': case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
            ok = convert_float(&in, &s, c, &ap);
            break;
        case 's': case 'c': case '[':
            ok = convert_chars(&in, &s, c, s.type == '[' ? set : NULL, &ap) > 0;
            break;
        default:
            back(&in, c);           /* not a conversion C knows */
            ok = 0;
            break;
        }
        if (!ok)
            break;
        converted++;
        assigned += !s.suppress;
    }
    va_end(ap);
    return assigned;

input_failure:
    va_end(ap);
    return converted ? assigned : EOF;
}

/* ---- Sources. ------------------------------------------------------------- */

struct string_source {
    struct source src;
    const unsigned char *p;
};

static int string_get(struct source *src)
{
    struct string_source *s = (struct string_source *)src;

    return *s->p ? *s->p++ : EOF;
}

static void string_unget(struct source *src, int c)
{
    (void)c;
    ((struct string_source *)src)->p--;
}

int vsscanf(const char *str, const char *fmt, va_list ap)
{
    struct string_source s = { { string_get, string_unget }, (const unsigned char *)str };

    return scan(&s.src, fmt, ap);
}

int sscanf(const char *str, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsscanf(str, fmt, ap);
    va_end(ap);
    return n;
}

struct file_source {
    struct source src;
    FILE *f;
};

static int file_get(struct source *src)
{
    return fgetc(((struct file_source *)src)->f);
}

static void file_unget(struct source *src, int c)
{
    ungetc(c, ((struct file_source *)src)->f);
}

int vfscanf(FILE *f, const char *fmt, va_list ap)
{
    struct file_source s = { { file_get, file_unget }, f };

    return scan(&s.src, fmt, ap);
}

int fscanf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfscanf(f, fmt, ap);
    va_end(ap);
    return n;
}

int vscanf(const char *fmt, va_list ap)
{
    return vfscanf(stdin, fmt, ap);
}

int scanf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vfscanf(stdin, fmt, ap);
    va_end(ap);
    return n;
}
