/*
 * muldiv.c - mul, imul (one, two and three operands), div, idiv.
 *
 * One-operand forms at 8, 16 and 32 bits with register (also CH) and memory
 * sources; imul r, r/m (0f af); imul r, r/m, imm8 (6b) and imm16/32 (69).
 * Only CF and OF are defined after a multiply (Intel SDM vol. 2, MUL/IMUL);
 * no flag is defined after a divide, so none is compared.
 *
 * Divides use only inputs that do not fault; the inputs are chosen around
 * the quotient limits (quotients of exactly INT_MIN, INT_MAX, UINT_MAX) and
 * the ones that would overflow are filtered out before executing.  EAX and
 * EDX are hashed whole, so bits outside the operand size must be kept.
 */
#include "conf.h"

typedef int64_t i64;

struct rd {
    u32 eax, edx;
};

/* ---- One-operand: f6/f7 /4 mul /5 imul /6 div /7 idiv. ------------------- */

typedef struct rd (*one_fn)(u32 eax, u32 edx, u32 src, u32 fin, u32 *fout);

#define FN1(name) static struct rd name(u32 eax, u32 edx, u32 src, u32 fin, u32 *fout)

/* Source ECX (or CH) or the dword at (%esi). */
#define BODY1(body)                                                             \
    {                                                                           \
        u32 fo, m = src;                                                        \
        struct rd r;                                                            \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(eax), "+d"(edx), [fo] "=r"(fo)                  \
                         : "c"(src), "S"(&m), [fin] "r"(fin)                    \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        r.eax = eax;                                                            \
        r.edx = edx;                                                            \
        return r;                                                               \
    }

#define ONE(nm, ext, sz)                                                        \
    FN1(nm##sz##_r) BODY1(P##sz ".byte 0xf6+" STR(W##sz) ", 0xc1+(" #ext "<<3)") \
    FN1(nm##sz##_m) BODY1(P##sz ".byte 0xf6+" STR(W##sz) ", 0x06+(" #ext "<<3)")

#define ONE_ALL(nm, ext)                                                        \
    ONE(nm, ext, 8) ONE(nm, ext, 16) ONE(nm, ext, 32)                           \
    FN1(nm##8_hraw) BODY1(".byte 0xf6, 0xc5+(" #ext "<<3)")                     \
    FN1(nm##8_h) { return nm##8_hraw(eax, edx, src << 8, fin, fout); }

ONE_ALL(mul, 4)
ONE_ALL(imul, 5)
ONE_ALL(div, 6)
ONE_ALL(idiv, 7)

/* ---- imul r, r/m (0f af) and imul r, r/m, imm (6b, 69). ------------------ */

typedef u32 (*two_fn)(u32 a, u32 b, u32 fin, u32 *fout);

#define FN2(name) static u32 name(u32 a, u32 b, u32 fin, u32 *fout)

/* Destination EAX holding a; source ECX or (%esi) holding b. */
#define BODY2(body)                                                             \
    {                                                                           \
        u32 fo, m = b;                                                          \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(a), [fo] "=r"(fo)                               \
                         : "c"(b), "S"(&m), [fin] "r"(fin)                      \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return a;                                                               \
    }

#define IMM16(v) ".word (" #v ")&0xffff"
#define IMM32(v) ".long " #v

/* Three-operand forms ignore the old EAX; the source is b, the immediate
 * comes from the edge table. */
#define I3(i, v, sz)                                                            \
    FN2(imul##sz##_rb_##i) BODY2(P##sz ".byte 0x6b, 0xc1, (" #v ")&0xff")       \
    FN2(imul##sz##_mb_##i) BODY2(P##sz ".byte 0x6b, 0x06, (" #v ")&0xff")       \
    FN2(imul##sz##_rw_##i) BODY2(P##sz ".byte 0x69, 0xc1\n\t" IMM##sz(v))       \
    FN2(imul##sz##_mw_##i) BODY2(P##sz ".byte 0x69, 0x06\n\t" IMM##sz(v))

#define TAB(i, v, sz, f) imul##sz##_##f##_##i,

#define IMUL23(sz)                                                              \
    FN2(imul##sz##_rr) BODY2(P##sz ".byte 0x0f, 0xaf, 0xc1")                    \
    FN2(imul##sz##_rm) BODY2(P##sz ".byte 0x0f, 0xaf, 0x06")                    \
    EDGES(I3, sz)                                                               \
    static const two_fn imul##sz##_rb[16] = {EDGES(TAB, sz, rb)};               \
    static const two_fn imul##sz##_mb[16] = {EDGES(TAB, sz, mb)};               \
    static const two_fn imul##sz##_rw[16] = {EDGES(TAB, sz, rw)};               \
    static const two_fn imul##sz##_mw[16] = {EDGES(TAB, sz, mw)};

IMUL23(16)
IMUL23(32)

/* ---- Multiplies. ------------------------------------------------------- */

#define F_MUL (F_CF | F_OF)
static const u32 flags_in[2] = {0x002, 0x8d7};

struct mul_op {
    const char *name;
    int size;
    one_fn r, m, h;
};

static const struct mul_op mul_ops[] = {
    {"mul", 8, mul8_r, mul8_m, mul8_h},     {"mul", 16, mul16_r, mul16_m, 0},
    {"mul", 32, mul32_r, mul32_m, 0},       {"imul", 8, imul8_r, imul8_m, imul8_h},
    {"imul", 16, imul16_r, imul16_m, 0},    {"imul", 32, imul32_r, imul32_m, 0},
};

static u32 mix(struct rd r, u32 fo, u32 mask)
{
    return hash_u32(r.eax ^ ((fo & mask) << 20), r.edx);
}

static void run_mul(const struct mul_op *op)
{
    u32 hr = HASH_INIT, hm = HASH_INIT, hh = HASH_INIT, ha[16];

    for (int ai = 0; ai < 16; ai++) {
        ha[ai] = HASH_INIT;
        for (int bi = 0; bi < 16; bi++) {
            for (int fi = 0; fi < 2; fi++) {
                /* EDX starts with a pattern the 8-bit forms must keep. */
                u32 a = edges[ai], b = edges[bi], fo;
                struct rd r = op->r(a, 0x5a5a1234, b, flags_in[fi], &fo);
                u32 v = mix(r, fo, F_MUL);

                hr = check(hr, v);
                ha[ai] = hash_u32(ha[ai], v);
                r = op->m(a, 0x5a5a1234, b, flags_in[fi], &fo);
                hm = check(hm, mix(r, fo, F_MUL));
                ha[ai] = hash_u32(ha[ai], mix(r, fo, F_MUL));
                if (op->h) {
                    r = op->h(a, 0x5a5a1234, b, flags_in[fi], &fo);
                    hh = check(hh, mix(r, fo, F_MUL));
                    ha[ai] = hash_u32(ha[ai], mix(r, fo, F_MUL));
                }
            }
        }
    }
    printf("%s%d r %08x\n%s%d m %08x\n", op->name, op->size, hr, op->name, op->size, hm);
    if (op->h)
        printf("%s%d h %08x\n", op->name, op->size, hh);
    for (int ai = 0; ai < 16; ai++)
        printf("%s%d a=%08x %08x\n", op->name, op->size, edges[ai], ha[ai]);
    {
        u32 fo;
        struct rd r = op->r(0x80000001, 0x5a5a1234, 0xfffffffe, 0x002, &fo);
        printf("%s%d 80000001*fffffffe -> %08x:%08x fl=%03x\n", op->name, op->size, r.edx,
               r.eax, fo & F_MUL);
        r = op->r(0x7fff, 0x5a5a1234, 0x7fff, 0x002, &fo);
        printf("%s%d 7fff*7fff -> %08x:%08x fl=%03x\n", op->name, op->size, r.edx, r.eax,
               fo & F_MUL);
    }
}

struct imul_form {
    const char *name;
    const two_fn *fns;
    int per_imm;
};

#define ONE2(f) ((const two_fn[1]){f})

#define IMUL_FORMS(sz)                                                          \
    {"rr", ONE2(imul##sz##_rr), 0}, {"rm", ONE2(imul##sz##_rm), 0},             \
    {"rb", imul##sz##_rb, 1}, {"mb", imul##sz##_mb, 1},                         \
    {"rw", imul##sz##_rw, 1}, {"mw", imul##sz##_mw, 1}, {0, 0, 0}

static const struct imul_form imul16_forms[] = {IMUL_FORMS(16)};
static const struct imul_form imul32_forms[] = {IMUL_FORMS(32)};

static void run_imul23(int size, const struct imul_form *forms)
{
    for (const struct imul_form *f = forms; f->name; f++) {
        u32 h = HASH_INIT;

        for (int ai = 0; ai < 16; ai++) {
            for (int bi = 0; bi < 16; bi++) {
                for (int fi = 0; fi < 2; fi++) {
                    u32 fo, r;

                    if (f->per_imm)
                        r = f->fns[bi](0xdeadbeef, edges[ai], flags_in[fi], &fo);
                    else
                        r = f->fns[0](edges[ai], edges[bi], flags_in[fi], &fo);
                    h = check(h, r ^ ((fo & F_MUL) << 20));
                }
            }
        }
        printf("imul%d %s %08x\n", size, f->name, h);
    }
}

/* ---- Divides. ------------------------------------------------------------ */

struct div_op {
    const char *name;
    int size, is_signed;
    one_fn r, m, h;
};

static const struct div_op div_ops[] = {
    {"div", 8, 0, div8_r, div8_m, div8_h},      {"div", 16, 0, div16_r, div16_m, 0},
    {"div", 32, 0, div32_r, div32_m, 0},        {"idiv", 8, 1, idiv8_r, idiv8_m, idiv8_h},
    {"idiv", 16, 1, idiv16_r, idiv16_m, 0},     {"idiv", 32, 1, idiv32_r, idiv32_m, 0},
};

static const u32 divisors[] = {
    1, 2, 3, 7, 10, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
    0x12345, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff, 0xfffffff9,
    0xffffff80, 0xffff8000,
};
#define NDIV (sizeof(divisors) / sizeof(divisors[0]))

static const i64 base_dividends[] = {
    0, 1, 2, 6, 7, 100, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000,
    0x7fffffff, 0x80000000LL, 0xffffffffLL, 0x100000000LL, 0x123456789aLL,
    -1, -2, -7, -100, -128, -129, -0x8000, -0x8001, -0x80000000LL, -0x80000001LL,
    -0x100000000LL, -0x123456789aLL,
};
#define NBASE (sizeof(base_dividends) / sizeof(base_dividends[0]))

/* Operand-size helpers: the value of x as an n-bit signed/unsigned number. */
static i64 sx(u64 x, int n) { return (i64)(x << (64 - n)) >> (64 - n); }
static u64 zx(u64 x, int n) { return (x << (64 - n)) >> (64 - n); }

/* Would dividing the 2n-bit dividend by the n-bit divisor fault (#DE)? */
static int div_faults(const struct div_op *op, i64 dividend, u32 divisor)
{
    int n = op->size;

    if (op->is_signed) {
        i64 d = sx(divisor, n), v = sx((u64)dividend, 2 * n), q;

        if (d == 0 || (d == -1 && v == sx(1ULL << (2 * n - 1), 2 * n)))
            return 1;
        q = v / d;
        return q < -(1LL << (n - 1)) || q > (1LL << (n - 1)) - 1;
    } else {
        u64 d = zx(divisor, n), v = zx((u64)dividend, 2 * n);

        /* The quotient fits iff the high half is below the divisor. */
        return d == 0 || (v >> n) >= d;
    }
}

/* Load the 2n-bit dividend into AX / DX:AX / EDX:EAX around fixed patterns. */
static void load_dividend(int n, i64 dividend, u32 *eax, u32 *edx)
{
    u64 v = (u64)dividend;

    switch (n) {
    case 8: *eax = 0xa5a50000u | (u32)(v & 0xffff); *edx = 0x5a5a1234; break;
    case 16:
        *eax = 0xa5a50000u | (u32)(v & 0xffff);
        *edx = 0x5a5a0000u | (u32)((v >> 16) & 0xffff);
        break;
    default: *eax = (u32)v; *edx = (u32)(v >> 32); break;
    }
}

/* Divide and fold EAX:EDX into *h and *hd (flags are all undefined). */
static void div_one(const struct div_op *op, one_fn fn, i64 dividend, u32 divisor, u32 *h,
                    u32 *hd)
{
    u32 eax, edx, fo, v;
    struct rd r;

    load_dividend(op->size, dividend, &eax, &edx);
    r = fn(eax, edx, divisor, 0x8d7, &fo);
    v = hash_u32(r.eax, r.edx);
    *h = check(*h, v);
    *hd = hash_u32(*hd, v);
}

static void run_div(const struct div_op *op)
{
    u32 hr = HASH_INIT, hm = HASH_INIT, hh = HASH_INIT;
    unsigned total = 0;
    int n = op->size;

    for (unsigned di = 0; di < NDIV; di++) {
        u32 divisor = divisors[di], hd = HASH_INIT;
        i64 dv = op->is_signed ? sx(divisor, n) : (i64)zx(divisor, n);
        i64 cand[NBASE + 16];
        unsigned nc = 0, used = 0;

        if (dv == 0)
            continue;
        for (unsigned i = 0; i < NBASE; i++)
            cand[nc++] = base_dividends[i];
        /* Dividends whose quotient lands on the limits, remainder 0 or max. */
        {
            i64 qs[4], ad = dv < 0 ? -dv : dv;
            int nq = 0;

            if (op->is_signed) {
                qs[nq++] = -(1LL << (n - 1));
                qs[nq++] = (1LL << (n - 1)) - 1;
                qs[nq++] = -1;
            } else {
                qs[nq++] = (i64)((1ULL << n) - 1);
                qs[nq++] = 1;
            }
            for (int k = 0; k < nq; k++) {
                i64 base = qs[k] * dv;
                cand[nc++] = base;
                cand[nc++] = base >= 0 ? base + (ad - 1) : base - (ad - 1);
                cand[nc++] = base >= 0 ? base + ad : base - ad;  /* one past: faults */
            }
        }
        for (unsigned i = 0; i < nc; i++) {
            if (div_faults(op, cand[i], divisor))
                continue;
            div_one(op, op->r, cand[i], divisor, &hr, &hd);
            div_one(op, op->m, cand[i], divisor, &hm, &hd);
            if (op->h)
                div_one(op, op->h, cand[i], divisor, &hh, &hd);
            used++;
        }
        total += used;
        printf("%s%d d=%08x n=%u %08x\n", op->name, n, divisor, used, hd);
    }
    printf("%s%d r %08x m %08x total=%u\n", op->name, n, hr, hm, total);
    if (op->h)
        printf("%s%d h %08x\n", op->name, n, hh);
    {
        u32 eax, edx, fo;
        struct rd r;

        load_dividend(n, op->is_signed ? -7 : 7, &eax, &edx);
        r = op->r(eax, edx, 2, 0x002, &fo);
        printf("%s%d +-7/2 -> eax=%08x edx=%08x\n", op->name, n, r.eax, r.edx);
    }
}

int main(void)
{
    for (unsigned i = 0; i < sizeof(mul_ops) / sizeof(mul_ops[0]); i++)
        run_mul(&mul_ops[i]);
    run_imul23(16, imul16_forms);
    run_imul23(32, imul32_forms);
    for (unsigned i = 0; i < sizeof(div_ops) / sizeof(div_ops[0]); i++)
        run_div(&div_ops[i]);
    return conf_done("muldiv");
}
