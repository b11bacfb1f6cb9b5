/*
 * shifts.c - shl shr sar rol ror rcl rcr shld shrd.
 *
 * Every shift and rotate at 8, 16 and 32 bits in the D0/D1 (by one), C0/C1
 * (imm8) and D2/D3 (by CL) encodings, register and memory destinations, with
 * counts 0..33 and CL values whose upper bits must be masked away (0x3f,
 * 0x40, 0xff...).  The count is masked to five bits; rcl/rcr at 8 and 16
 * bits then rotate through CF modulo 9 and 17.
 *
 * Defined flags only (Intel SDM vol. 2, SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR,
 * SHLD, SHRD):
 *   - masked count 0: no flag changes (all six are compared, with two input
 *     states each, so preservation is tested);
 *   - OF only when the masked count is 1;
 *   - shifts: CF SF ZF PF (AF undefined); CF undefined for shl/shr when the
 *     count is at least the operand size;
 *   - rotates: CF (and OF at 1); SF ZF AF PF unaffected, so compared;
 *   - shld/shrd 16-bit: counts above 16 leave result and flags undefined and
 *     are skipped.
 */
#include "conf.h"

typedef u32 (*sh_fn)(u32 a, u32 b, u32 cnt, u32 fin, u32 *fout);

#define FN(name) static u32 name(u32 a, u32 b, u32 cnt, u32 fin, u32 *fout)

/* Destination EDX/DX/DL (or DH), count in CL, shld/shrd source EBX. */
#define BODY_D(body)                                                            \
    {                                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+d"(a), [fo] "=r"(fo)                               \
                         : "c"(cnt), "b"(b), [fin] "r"(fin)                     \
                         : "cc");                                               \
        *fout = fo;                                                             \
        return a;                                                               \
    }

/* Destination dword at (%esi) holding a. */
#define BODY_M(body)                                                            \
    {                                                                           \
        u32 fo, m = a;                                                          \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : [fo] "=r"(fo)                                        \
                         : "c"(cnt), "b"(b), "S"(&m), [fin] "r"(fin)            \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return m;                                                               \
    }

static inline u32 rol8(u32 x) { return (x << 8) | (x >> 24); }
static inline u32 ror8(u32 x) { return (x >> 8) | (x << 24); }

#define COUNTS(X, ...)                                                          \
    X(0, __VA_ARGS__) X(1, __VA_ARGS__) X(2, __VA_ARGS__) X(3, __VA_ARGS__)     \
    X(4, __VA_ARGS__) X(5, __VA_ARGS__) X(6, __VA_ARGS__) X(7, __VA_ARGS__)     \
    X(8, __VA_ARGS__) X(9, __VA_ARGS__) X(10, __VA_ARGS__) X(11, __VA_ARGS__)   \
    X(12, __VA_ARGS__) X(13, __VA_ARGS__) X(14, __VA_ARGS__) X(15, __VA_ARGS__) \
    X(16, __VA_ARGS__) X(17, __VA_ARGS__) X(18, __VA_ARGS__) X(19, __VA_ARGS__) \
    X(20, __VA_ARGS__) X(21, __VA_ARGS__) X(22, __VA_ARGS__) X(23, __VA_ARGS__) \
    X(24, __VA_ARGS__) X(25, __VA_ARGS__) X(26, __VA_ARGS__) X(27, __VA_ARGS__) \
    X(28, __VA_ARGS__) X(29, __VA_ARGS__) X(30, __VA_ARGS__) X(31, __VA_ARGS__) \
    X(32, __VA_ARGS__) X(33, __VA_ARGS__)
#define NIMM 34

/* ---- Group 2: rol ror rcl rcr shl shr (sal) sar = /0 /1 /2 /3 /4 /5 /7. */

#define SH_IMM(i, nm, ext, sz)                                                  \
    FN(nm##sz##_ri_##i)                                                         \
    {                                                                           \
        (void)cnt;                                                              \
        BODY_D(P##sz ".byte 0xc0+" STR(W##sz) ", 0xc2+(" #ext "<<3), " #i)      \
    }                                                                           \
    FN(nm##sz##_mi_##i)                                                         \
    {                                                                           \
        (void)cnt;                                                              \
        BODY_M(P##sz ".byte 0xc0+" STR(W##sz) ", 0x06+(" #ext "<<3), " #i)      \
    }

#define TAB_RI(i, nm, sz) nm##sz##_ri_##i,
#define TAB_MI(i, nm, sz) nm##sz##_mi_##i,

#define SH(nm, ext, sz)                                                         \
    FN(nm##sz##_r1) BODY_D(P##sz ".byte 0xd0+" STR(W##sz) ", 0xc2+(" #ext "<<3)") \
    FN(nm##sz##_m1) BODY_M(P##sz ".byte 0xd0+" STR(W##sz) ", 0x06+(" #ext "<<3)") \
    FN(nm##sz##_rc) BODY_D(P##sz ".byte 0xd2+" STR(W##sz) ", 0xc2+(" #ext "<<3)") \
    FN(nm##sz##_mc) BODY_M(P##sz ".byte 0xd2+" STR(W##sz) ", 0x06+(" #ext "<<3)") \
    COUNTS(SH_IMM, nm, ext, sz)                                                 \
    static const sh_fn nm##sz##_ri[NIMM] = {COUNTS(TAB_RI, nm, sz)};            \
    static const sh_fn nm##sz##_mi[NIMM] = {COUNTS(TAB_MI, nm, sz)};

/* Byte shifts of DH by CL (modrm rm=6). */
#define SH_8HI(nm, ext)                                                         \
    FN(nm##8_hraw) BODY_D(".byte 0xd2, 0xc6+(" #ext "<<3)")                     \
    FN(nm##8_hc) { return ror8(nm##8_hraw(rol8(a), b, cnt, fin, fout)); }

#define SH_ALL(nm, ext) SH(nm, ext, 8) SH_8HI(nm, ext) SH(nm, ext, 16) SH(nm, ext, 32)

SH_ALL(rol, 0)
SH_ALL(ror, 1)
SH_ALL(rcl, 2)
SH_ALL(rcr, 3)
SH_ALL(shl, 4)
SH_ALL(shr, 5)
SH_ALL(sar, 7)

/* ---- shld 0f a4/a5, shrd 0f ac/ad: dest EDX or (%esi), source EBX. ---- */

#define DS_IMM(i, nm, opc, sz)                                                  \
    FN(nm##sz##_ri_##i)                                                         \
    {                                                                           \
        (void)cnt;                                                              \
        BODY_D(P##sz ".byte 0x0f, " #opc ", 0xda, " #i)                         \
    }                                                                           \
    FN(nm##sz##_mi_##i)                                                         \
    {                                                                           \
        (void)cnt;                                                              \
        BODY_M(P##sz ".byte 0x0f, " #opc ", 0x1e, " #i)                         \
    }

#define DS(nm, opc, sz)                                                         \
    FN(nm##sz##_rc) BODY_D(P##sz ".byte 0x0f, " #opc "+1, 0xda")                \
    FN(nm##sz##_mc) BODY_M(P##sz ".byte 0x0f, " #opc "+1, 0x1e")                \
    COUNTS(DS_IMM, nm, opc, sz)                                                 \
    static const sh_fn nm##sz##_ri[NIMM] = {COUNTS(TAB_RI, nm, sz)};            \
    static const sh_fn nm##sz##_mi[NIMM] = {COUNTS(TAB_MI, nm, sz)};

DS(shld, 0xa4, 16)
DS(shld, 0xa4, 32)
DS(shrd, 0xac, 16)
DS(shrd, 0xac, 32)

/* ---- Driver. -------------------------------------------------------------- */

enum kind { K_ROT, K_SHL, K_SAR, K_DBL };

struct op {
    const char *name;
    int size;
    enum kind kind;
    sh_fn r1, m1, rc, mc, hc;       /* by one, by CL, DH by CL; may be 0 */
    const sh_fn *ri, *mi;           /* by imm8 0..33 */
};

#define OP_G2(nm, kind)                                                         \
    {#nm, 8, kind, nm##8_r1, nm##8_m1, nm##8_rc, nm##8_mc, nm##8_hc, nm##8_ri, nm##8_mi}, \
    {#nm, 16, kind, nm##16_r1, nm##16_m1, nm##16_rc, nm##16_mc, 0, nm##16_ri, nm##16_mi}, \
    {#nm, 32, kind, nm##32_r1, nm##32_m1, nm##32_rc, nm##32_mc, 0, nm##32_ri, nm##32_mi}

#define OP_DS(nm)                                                               \
    {#nm, 16, K_DBL, 0, 0, nm##16_rc, nm##16_mc, 0, nm##16_ri, nm##16_mi},      \
    {#nm, 32, K_DBL, 0, 0, nm##32_rc, nm##32_mc, 0, nm##32_ri, nm##32_mi}

static const struct op ops[] = {
    OP_G2(rol, K_ROT), OP_G2(ror, K_ROT), OP_G2(rcl, K_ROT), OP_G2(rcr, K_ROT),
    OP_G2(shl, K_SHL), OP_G2(shr, K_SHL), OP_G2(sar, K_SAR), OP_DS(shld), OP_DS(shrd),
};

/* CL values: 0..33, then values whose bits above the low five are dropped. */
static const u32 cl_counts[] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
    0x3f, 0x40, 0x41, 0x5f, 0x80, 0xe1, 0xff, 0x1c8, 0xffffff01,
};
#define NCL (sizeof(cl_counts) / sizeof(cl_counts[0]))

static const u32 values[] = {
    0x0, 0x1, 0x2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
    0x10000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
    0x12345678, 0x87654321, 0xa5a5a5a5, 0x5a5a5a5a, 0x00c000c0, 0x40000003,
};
#define NVAL (sizeof(values) / sizeof(values[0]))

/* Second operand of shld/shrd. */
static const u32 srcs[] = {0x0, 0xffffffff, 0x12345678, 0x80000001, 0x0000ffff, 0xa5a5a5a5};
#define NSRC (sizeof(srcs) / sizeof(srcs[0]))

static const u32 flags_in[4] = {0x002, 0x8d7, 0x003, 0x8d6};

/* Which flags are defined after op with this count; ~0u = skip entirely. */
static u32 defined_flags(const struct op *op, u32 count)
{
    u32 c = count & 31;

    if (c == 0)
        return F_ARITH;
    switch (op->kind) {
    case K_ROT:
        return F_CF | F_SF | F_ZF | F_AF | F_PF | (c == 1 ? F_OF : 0);
    case K_SHL:
        return F_SF | F_ZF | F_PF | (c < (u32)op->size ? F_CF : 0) | (c == 1 ? F_OF : 0);
    case K_SAR:
        return F_CF | F_SF | F_ZF | F_PF | (c == 1 ? F_OF : 0);
    case K_DBL:
        if (c > (u32)op->size)
            return ~0u;
        return F_CF | F_SF | F_ZF | F_PF | (c == 1 ? F_OF : 0);
    }
    return ~0u;
}

enum { FM_R1, FM_M1, FM_RI, FM_MI, FM_RC, FM_MC, FM_HC, NFORMS };
static const char *const form_names[NFORMS] = {"r1", "m1", "ri", "mi", "rc", "mc", "hc"};

static sh_fn form_fn(const struct op *op, int form, unsigned ci)
{
    u32 count = cl_counts[ci];

    switch (form) {
    case FM_R1: return count == 1 ? op->r1 : 0;
    case FM_M1: return count == 1 ? op->m1 : 0;
    case FM_RI: return ci < NIMM ? op->ri[ci] : 0;
    case FM_MI: return ci < NIMM ? op->mi[ci] : 0;
    case FM_RC: return op->rc;
    case FM_MC: return op->mc;
    case FM_HC: return op->hc;
    }
    return 0;
}

static void run_op(const struct op *op)
{
    u32 hform[NFORMS], hcount[NCL];
    unsigned nsrc = op->kind == K_DBL ? NSRC : 1;

    for (int f = 0; f < NFORMS; f++)
        hform[f] = HASH_INIT;
    for (unsigned ci = 0; ci < NCL; ci++) {
        u32 count = cl_counts[ci], mask = defined_flags(op, count);

        hcount[ci] = HASH_INIT;
        if (mask == ~0u)
            continue;
        for (unsigned vi = 0; vi < NVAL; vi++) {
            for (unsigned si = 0; si < nsrc; si++) {
                for (int fi = 0; fi < 4; fi++) {
                    for (int f = 0; f < NFORMS; f++) {
                        sh_fn fn = form_fn(op, f, ci);
                        u32 fo, r, v;

                        if (!fn)
                            continue;
                        r = fn(values[vi], srcs[si], count, flags_in[fi], &fo);
                        v = r ^ ((fo & mask) << 20) ^ (fo & mask);
                        hform[f] = check(hform[f], v);
                        hcount[ci] = hash_u32(hcount[ci], v);
                    }
                }
            }
        }
    }
    for (int f = 0; f < NFORMS; f++)
        if (form_fn(op, f, 1))
            printf("%s%d %s %08x\n", op->name, op->size, form_names[f], hform[f]);
    for (unsigned ci = 0; ci < NCL; ci++)
        printf("%s%d cl=%02x %08x\n", op->name, op->size, cl_counts[ci] & 0xff, hcount[ci]);
    /* A few full lines by CL. */
    for (unsigned ci = 0; ci < 3; ci++) {
        static const u32 show[] = {1, 7, 16};
        u32 count = show[ci], mask = defined_flags(op, count), fo, r;

        r = op->rc(0x87654321, 0x12345678, count, 0x003, &fo);
        printf("%s%d 87654321 cl=%u cf=1 -> %08x fl=%03x\n", op->name, op->size, count, r,
               fo & mask);
    }
}

int main(void)
{
    for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        run_op(&ops[i]);
    return conf_done("shifts");
}
