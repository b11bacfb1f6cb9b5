/*
 * alu_flags.c - the arithmetic/logic flags grid.
 *
 * add adc sub sbb and or xor cmp test inc dec neg not, at 8, 16 (0x66) and
 * 32 bits, over all pairs of sixteen edge values, with four input flag
 * states (CF in 0 and 1 for adc/sbb; the other arithmetic flags all clear or
 * all set, so "unaffected" flags are seen preserved in both states).
 *
 * Each encoding is written out byte for byte where the assembler could pick
 * another one: register forms in both directions (00/02 style opcodes),
 * high-byte registers (CH, DH), 80/81/82/83 immediates, the short AL/AX/EAX
 * immediate opcodes, the 40+r/48+r inc/dec forms and memory operands in both
 * directions.  Only defined flags are compared (Intel SDM vol. 2, each
 * instruction's "Flags Affected"): AF is undefined after and/or/xor/test.
 *
 * Destination is ECX/CX/CL (or CH), source EDX/DX/DL (or DH); the whole
 * 32-bit register or dword is hashed, so bits outside the operand size must
 * be kept.
 */
#include "conf.h"

typedef u32 (*alu_fn)(u32 a, u32 b, u32 fin, u32 *fout);

#define SFX8 "b"
#define SFX16 "w"
#define SFX32 "l"
#define RS8 "0x82"              /* 82 /n ib: an alias of 80 valid outside 64-bit mode */
#define RS16 "0x83"
#define RS32 "0x83"
#define IMM8(v) ".byte (" #v ")&0xff"
#define IMM16(v) ".word (" #v ")&0xffff"
#define IMM32(v) ".long " #v
#define DOL8(v) "$((" #v ")&0xff)"
#define DOL16(v) "$((" #v ")&0xffff)"
#define DOL32(v) "$" #v
#define RC8 "%%cl"
#define RC16 "%%cx"
#define RC32 "%%ecx"
#define RD8 "%%dl"
#define RD16 "%%dx"
#define RD32 "%%edx"

/* Destination register ECX, source EDX. */
#define BODY_C(body)                                                            \
    {                                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+c"(a), [fo] "=r"(fo)                               \
                         : "d"(b), [fin] "r"(fin)                               \
                         : "cc");                                               \
        *fout = fo;                                                             \
        return a;                                                               \
    }

/* Destination register EAX (the short accumulator-immediate opcodes). */
#define BODY_A(body)                                                            \
    {                                                                           \
        u32 fo;                                                                 \
        (void)b;                                                                \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(a), [fo] "=r"(fo)                               \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        *fout = fo;                                                             \
        return a;                                                               \
    }

/* Destination in memory at (%[p]) holding a; source EDX.  The operand is
 * addressed through a register so that the push/popf around the body cannot
 * move it (an ESP-relative operand would). */
#define BODY_M(body)                                                            \
    {                                                                           \
        u32 fo, m = a;                                                          \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : [fo] "=r"(fo)                                        \
                         : "d"(b), [p] "r"(&m), [fin] "r"(fin)                  \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return m;                                                               \
    }

/* Destination register ECX holding a; source in memory holding b. */
#define BODY_RM(body)                                                           \
    {                                                                           \
        u32 fo, m = b;                                                          \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+c"(a), [fo] "=r"(fo)                               \
                         : [p] "r"(&m), [fin] "r"(fin)                          \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return a;                                                               \
    }

#define FN(name) static u32 name(u32 a, u32 b, u32 fin, u32 *fout)

/* Move the low byte into bits 8..15 (CH/DH) and back. */
static inline u32 rol8(u32 x) { return (x << 8) | (x >> 24); }
static inline u32 ror8(u32 x) { return (x >> 8) | (x << 24); }

/* ---- Group 1: add or adc sbb and sub xor cmp (opcode row n). ---------- */

#define G1_IMM(i, v, nm, n, sz)                                                 \
    FN(nm##sz##_ri_##i)                                                         \
    BODY_C(P##sz ".byte 0x80+" STR(W##sz) ", 0xc1+(" #n "<<3)\n\t" IMM##sz(v))  \
    FN(nm##sz##_rs_##i)                                                         \
    BODY_C(P##sz ".byte " RS##sz ", 0xc1+(" #n "<<3)\n\t" IMM8(v))              \
    FN(nm##sz##_acc_##i)                                                        \
    BODY_A(P##sz ".byte " #n "*8+4+" STR(W##sz) "\n\t" IMM##sz(v))              \
    FN(nm##sz##_mi_##i)                                                         \
    BODY_M(#nm SFX##sz " " DOL##sz(v) ", (%[p])")

#define TAB_RI(i, v, nm, sz) nm##sz##_ri_##i,
#define TAB_RS(i, v, nm, sz) nm##sz##_rs_##i,
#define TAB_ACC(i, v, nm, sz) nm##sz##_acc_##i,
#define TAB_MI(i, v, nm, sz) nm##sz##_mi_##i,

#define G1(nm, n, sz)                                                           \
    FN(nm##sz##_rr0) BODY_C(P##sz ".byte " #n "*8+" STR(W##sz) ", 0xd1")        \
    FN(nm##sz##_rr2) BODY_C(P##sz ".byte " #n "*8+2+" STR(W##sz) ", 0xca")      \
    FN(nm##sz##_rm) BODY_RM(#nm SFX##sz " (%[p]), " RC##sz)                     \
    FN(nm##sz##_mr) BODY_M(#nm SFX##sz " " RD##sz ", (%[p])")                   \
    EDGES(G1_IMM, nm, n, sz)                                                    \
    static const alu_fn nm##sz##_ri[16] = {EDGES(TAB_RI, nm, sz)};              \
    static const alu_fn nm##sz##_rs[16] = {EDGES(TAB_RS, nm, sz)};              \
    static const alu_fn nm##sz##_acc[16] = {EDGES(TAB_ACC, nm, sz)};            \
    static const alu_fn nm##sz##_mi[16] = {EDGES(TAB_MI, nm, sz)};

/* Byte ops also get the high-byte registers: op dh -> ch (modrm 0xf5). */
#define G1_8(nm, n)                                                             \
    G1(nm, n, 8)                                                                \
    FN(nm##8_hraw) BODY_C(".byte " #n "*8, 0xf5")                               \
    FN(nm##8_hi) { return ror8(nm##8_hraw(rol8(a), rol8(b), fin, fout)); }

#define G1_ALL(nm, n) G1_8(nm, n) G1(nm, n, 16) G1(nm, n, 32)

G1_ALL(add, 0)
G1_ALL(or, 1)
G1_ALL(adc, 2)
G1_ALL(sbb, 3)
G1_ALL(and, 4)
G1_ALL(sub, 5)
G1_ALL(xor, 6)
G1_ALL(cmp, 7)

/* ---- test: 84/85 (r/m, r), a8/a9 (acc, imm), f6/f7 /0 (r/m, imm). ----- */

#define T_IMM(i, v, sz)                                                         \
    FN(test##sz##_ri_##i)                                                       \
    BODY_C(P##sz ".byte 0xf6+" STR(W##sz) ", 0xc1\n\t" IMM##sz(v))              \
    FN(test##sz##_acc_##i)                                                      \
    BODY_A(P##sz ".byte 0xa8+" STR(W##sz) "\n\t" IMM##sz(v))                    \
    FN(test##sz##_mi_##i)                                                       \
    BODY_M("test" SFX##sz " " DOL##sz(v) ", (%[p])")

#define TEST(sz)                                                                \
    FN(test##sz##_rr0) BODY_C(P##sz ".byte 0x84+" STR(W##sz) ", 0xd1")          \
    FN(test##sz##_mr) BODY_M("test" SFX##sz " " RD##sz ", (%[p])")              \
    EDGES(T_IMM, sz)                                                            \
    static const alu_fn test##sz##_ri[16] = {EDGES(TAB_RI, test, sz)};          \
    static const alu_fn test##sz##_acc[16] = {EDGES(TAB_ACC, test, sz)};        \
    static const alu_fn test##sz##_mi[16] = {EDGES(TAB_MI, test, sz)};

TEST(8)
TEST(16)
TEST(32)
FN(test8_hraw) BODY_C(".byte 0x84, 0xf5")
FN(test8_hi) { return ror8(test8_hraw(rol8(a), rol8(b), fin, fout)); }

/* ---- Unary: inc dec (fe/ff /0 /1, 40+r, 48+r), not neg (f6/f7 /2 /3). - */

#define UN(nm, ext, sz)                                                         \
    FN(nm##sz##_r) BODY_C(P##sz ".byte 0xfe+" STR(W##sz) ", 0xc1+(" #ext "<<3)") \
    FN(nm##sz##_m) BODY_M(#nm SFX##sz " (%[p])")

#define UN_8(nm, ext)                                                           \
    UN(nm, ext, 8)                                                              \
    FN(nm##8_hraw) BODY_C(".byte 0xfe, 0xc5+(" #ext "<<3)")                     \
    FN(nm##8_hi) { return ror8(nm##8_hraw(rol8(a), b, fin, fout)); }

#define UNF(nm, ext, sz)                                                        \
    FN(nm##sz##_r) BODY_C(P##sz ".byte 0xf6+" STR(W##sz) ", 0xc1+(" #ext "<<3)") \
    FN(nm##sz##_m) BODY_M(#nm SFX##sz " (%[p])")

#define UNF_8(nm, ext)                                                          \
    UNF(nm, ext, 8)                                                             \
    FN(nm##8_hraw) BODY_C(".byte 0xf6, 0xc5+(" #ext "<<3)")                     \
    FN(nm##8_hi) { return ror8(nm##8_hraw(rol8(a), b, fin, fout)); }

UN_8(inc, 0)
UN(inc, 0, 16)
UN(inc, 0, 32)
UN_8(dec, 1)
UN(dec, 1, 16)
UN(dec, 1, 32)
UNF_8(not, 2)
UNF(not, 2, 16)
UNF(not, 2, 32)
UNF_8(neg, 3)
UNF(neg, 3, 16)
UNF(neg, 3, 32)
FN(inc16_s) BODY_C(P16 ".byte 0x41")
FN(inc32_s) BODY_C(".byte 0x41")
FN(dec16_s) BODY_C(P16 ".byte 0x49")
FN(dec32_s) BODY_C(".byte 0x49")

/* ---- Tables. ------------------------------------------------------------ */

struct form {
    const char *name;
    const alu_fn *fns;      /* 16 entries (one per edge immediate) or 1 */
    int per_imm;
};

struct op {
    const char *name;
    int size;
    int binary;             /* uses b */
    u32 mask;               /* defined (or preserved) flags */
    const struct form *forms;
};

#define ONE(f) ((const alu_fn[1]){f})

#define G1_FORMS(nm, sz)                                                        \
    {"rr0", ONE(nm##sz##_rr0), 0}, {"rr2", ONE(nm##sz##_rr2), 0},               \
    {"rm", ONE(nm##sz##_rm), 0}, {"mr", ONE(nm##sz##_mr), 0},                   \
    {"ri", nm##sz##_ri, 1}, {"rs", nm##sz##_rs, 1},                             \
    {"acc", nm##sz##_acc, 1}, {"mi", nm##sz##_mi, 1}

#define G1_TABLES(nm)                                                           \
    static const struct form nm##8_forms[] = {                                  \
        G1_FORMS(nm, 8), {"hi", ONE(nm##8_hi), 0}, {0, 0, 0}};                  \
    static const struct form nm##16_forms[] = {G1_FORMS(nm, 16), {0, 0, 0}};    \
    static const struct form nm##32_forms[] = {G1_FORMS(nm, 32), {0, 0, 0}};

G1_TABLES(add)
G1_TABLES(or)
G1_TABLES(adc)
G1_TABLES(sbb)
G1_TABLES(and)
G1_TABLES(sub)
G1_TABLES(xor)
G1_TABLES(cmp)

#define T_FORMS(sz)                                                             \
    {"rr0", ONE(test##sz##_rr0), 0}, {"mr", ONE(test##sz##_mr), 0},             \
    {"ri", test##sz##_ri, 1}, {"acc", test##sz##_acc, 1}, {"mi", test##sz##_mi, 1}

static const struct form test8_forms[] = {T_FORMS(8), {"hi", ONE(test8_hi), 0}, {0, 0, 0}};
static const struct form test16_forms[] = {T_FORMS(16), {0, 0, 0}};
static const struct form test32_forms[] = {T_FORMS(32), {0, 0, 0}};

#define UN_TABLES(nm)                                                           \
    static const struct form nm##8_forms[] = {                                  \
        {"r", ONE(nm##8_r), 0}, {"m", ONE(nm##8_m), 0}, {"hi", ONE(nm##8_hi), 0}, \
        {0, 0, 0}};                                                             \
    static const struct form nm##16_forms[] = {                                 \
        {"r", ONE(nm##16_r), 0}, {"m", ONE(nm##16_m), 0}, {0, 0, 0}};           \
    static const struct form nm##32_forms[] = {                                 \
        {"r", ONE(nm##32_r), 0}, {"m", ONE(nm##32_m), 0}, {0, 0, 0}};

UN_TABLES(not)
UN_TABLES(neg)

#define INCDEC_TABLES(nm)                                                       \
    static const struct form nm##8_forms[] = {                                  \
        {"r", ONE(nm##8_r), 0}, {"m", ONE(nm##8_m), 0}, {"hi", ONE(nm##8_hi), 0}, \
        {0, 0, 0}};                                                             \
    static const struct form nm##16_forms[] = {                                 \
        {"r", ONE(nm##16_r), 0}, {"m", ONE(nm##16_m), 0}, {"s", ONE(nm##16_s), 0}, \
        {0, 0, 0}};                                                             \
    static const struct form nm##32_forms[] = {                                 \
        {"r", ONE(nm##32_r), 0}, {"m", ONE(nm##32_m), 0}, {"s", ONE(nm##32_s), 0}, \
        {0, 0, 0}};

INCDEC_TABLES(inc)
INCDEC_TABLES(dec)

#define LOGIC (F_CF | F_PF | F_ZF | F_SF | F_OF)      /* AF undefined */

#define OPS3(nm, bin, mask)                                                     \
    {#nm, 8, bin, mask, nm##8_forms}, {#nm, 16, bin, mask, nm##16_forms},       \
    {#nm, 32, bin, mask, nm##32_forms}

static const struct op ops[] = {
    OPS3(add, 1, F_ARITH), OPS3(adc, 1, F_ARITH), OPS3(sub, 1, F_ARITH),
    OPS3(sbb, 1, F_ARITH), OPS3(cmp, 1, F_ARITH), OPS3(and, 1, LOGIC),
    OPS3(or, 1, LOGIC), OPS3(xor, 1, LOGIC), OPS3(test, 1, LOGIC),
    OPS3(inc, 0, F_ARITH), OPS3(dec, 0, F_ARITH), OPS3(neg, 0, F_ARITH),
    OPS3(not, 0, F_ARITH),
};

/* All arithmetic flags clear, all set, only CF, all but CF. */
static const u32 flags_in[4] = {0x002, 0x8d7, 0x003, 0x8d6};

/* A few pairs printed in full for each binary op and size. */
static const u32 samples[][2] = {
    {0x7f, 0x1}, {0x80, 0xff}, {0x7fff, 0x1}, {0x8000, 0xffff},
    {0x7fffffff, 0x1}, {0x80000000, 0xffffffff}, {0x0, 0x0}, {0xff, 0x80000001},
};

static void run_op(const struct op *op)
{
    u32 hform[12], ha[16];
    int nforms = 0, nb = op->binary ? 16 : 1;

    while (op->forms[nforms].name)
        nforms++;
    for (int f = 0; f < nforms; f++)
        hform[f] = HASH_INIT;
    for (int ai = 0; ai < 16; ai++) {
        ha[ai] = HASH_INIT;
        for (int bi = 0; bi < nb; bi++) {
            for (int fi = 0; fi < 4; fi++) {
                for (int f = 0; f < nforms; f++) {
                    const struct form *fm = &op->forms[f];
                    alu_fn fn = fm->fns[fm->per_imm ? bi : 0];
                    u32 fo, r = fn(edges[ai], edges[bi], flags_in[fi], &fo);
                    u32 v = r ^ ((fo & op->mask) << 20) ^ (fo & op->mask);
                    hform[f] = check(hform[f], v);
                    ha[ai] = hash_u32(ha[ai], v);
                }
            }
        }
    }
    for (int f = 0; f < nforms; f++)
        printf("%s%d %-3s %08x\n", op->name, op->size, op->forms[f].name, hform[f]);
    for (int ai = 0; ai < 16; ai++)
        printf("%s%d a=%08x %08x\n", op->name, op->size, edges[ai], ha[ai]);
    /* Full lines from the first form (register-register, or register). */
    for (unsigned s = 0; s < sizeof(samples) / sizeof(samples[0]); s++) {
        u32 a = samples[s][0], b = op->binary ? samples[s][1] : 0;
        for (int fi = 0; fi < 4; fi += 2) {
            u32 fo, r = op->forms[0].fns[0](a, b, flags_in[fi + 1], &fo);
            printf("%s%d %08x,%08x fin=%03x -> %08x fl=%03x\n", op->name, op->size, a, b,
                   flags_in[fi + 1], r, fo & op->mask);
        }
        if (!op->binary && s == 3)
            break;
    }
}

int main(void)
{
    for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        run_op(&ops[i]);
    return conf_done("alu_flags");
}
