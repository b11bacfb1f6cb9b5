/*
 * sse.c - MMX, SSE, SSE2, SSE3 and SSSE3 against the real CPU, every
 * exception masked.
 *
 *   floating point, packed and scalar, single and double: add sub mul div
 *     min max sqrt rcp rsqrt and andn or xor unpck addsub hadd hsub, cmp
 *     with every predicate, shufps/shufpd, the conversions between single,
 *     double and int32 (rounding and truncating), the moves that merge
 *     (movss movsd movhlps movlhps movsldup movshdup movddup), and
 *     comiss/ucomiss/comisd/ucomisd (EFLAGS) - over edge values: +-0,
 *     denormals, +-inf, quiet and signalling NaNs with payloads, the largest
 *     and smallest normals, values that round each way; in every rounding
 *     mode, with and without DAZ and FTZ, MXCSR's flags after each
 *   integers on XMM and on MMX registers: every SSE2 and SSSE3 integer
 *     instruction, shifts by register and by immediate, shuffles with
 *     several immediates, over byte, word and dword edge patterns
 *   general registers: movd, pextrw, pinsrw, pmovmskb, movmskps/pd,
 *     cvtsi2ss/sd, cvt(t)ss2si, cvt(t)sd2si, the MMX conversions
 *     cvtpi2ps/pd, cvt(t)ps2pi, cvt(t)pd2pi, movq2dq, movdq2q
 *   memory operands: m32/m64/m128 loads, the stores (movss movsd movlps
 *     movhps movq movd movntps movntdq movnti maskmovdqu maskmovq)
 *   MMX and the x87: the tag word, TOP and the registers' exponent bits after
 *     MMX instructions and EMMS; FXSAVE's image (bytes 0-511) and FXRSTOR's
 *     rebuilt tag word; LDMXCSR/STMXCSR
 *
 * Each result is the destination and MXCSR (or EFLAGS), folded into one
 * hash per instruction form.  Built without -msse, the compiler itself uses
 * no vector registers, so the asm statements need not list them.
 */
#include "conf.h"

typedef struct { u8 b[16]; } __attribute__((aligned(16))) v128;

static u32 hash_v(u32 h, const v128 *v)
{
    for (int k = 0; k < 16; k += 4) {
        u32 w;
        memcpy(&w, v->b + k, 4);
        h = check(h, w);
    }
    return h;
}

static u32 get_mxcsr(void)
{
    u32 m;
    __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}

static void set_mxcsr(u32 m)
{
    __asm__ volatile("ldmxcsr %0" :: "m"(m));
}

/* ---- operand pools ---- */

static const u32 f32s[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x40400000, 0x3eaaaaab,
    0x00800000, 0x7f7fffff, 0x00000001, 0x807fffff, 0x00400000, 0x7f800000, 0xff800000,
    0x7fc00000, 0x7fc12345, 0x7f800001, 0xff812345, 0x4b800001, 0x4effffff, 0xcf000000,
    0x4f000000, 0x3f800001, 0x7f000000, 0x0c000000, 0x40200000, 0x40600000, 0xc0200000,
};
#define NF32 (sizeof(f32s) / sizeof(f32s[0]))

static const u64 f64s[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3ff0000000000000ull,
    0xbff0000000000000ull, 0x3ff8000000000000ull, 0x4008000000000000ull,
    0x3fd5555555555555ull, 0x0010000000000000ull, 0x7fefffffffffffffull,
    0x0000000000000001ull, 0x800fffffffffffffull, 0x0008000000000000ull,
    0x7ff0000000000000ull, 0xfff0000000000000ull, 0x7ff8000000000000ull,
    0x7ff8000000012345ull, 0x7ff0000000000001ull, 0xfff0000000054321ull,
    0x4340000000000001ull, 0x41dfffffffc00000ull, 0xc1e0000000000000ull,
    0x41e0000000000000ull, 0x3ff0000000000001ull, 0x47efffffe0000000ull,
    0x3690000000000000ull, 0x4004000000000000ull, 0x400c000000000000ull,
    0x36a0000000000001ull,
};
#define NF64 (sizeof(f64s) / sizeof(f64s[0]))

#define NINT 32
static v128 ints[NINT];

static void init_ints(void)
{
    static const u8 edge8[16] = { 0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x55, 0xaa,
                                  0x0f, 0xf0, 0x40, 0xc0, 0x81, 0x7e, 0x02, 0x10 };
    u32 s = 12345;
    for (int v = 0; v < 24; v++) {
        for (int k = 0; k < 16; k++) {
            s = s * 1103515245u + 12345u;
            ints[v].b[k] = edge8[(s >> 16) & 15];
        }
    }
    /* Shift counts in the low quadword, and whole-lane patterns. */
    static const u32 counts[8] = { 0, 1, 7, 8, 15, 16, 31, 33 };
    for (int v = 0; v < 8; v++) {
        memset(&ints[24 + v], 0, 16);
        ints[24 + v].b[0] = (u8)counts[v];
        if (v == 7)
            ints[24 + v].b[4] = 1;          /* 2^32 + 33: a huge count */
    }
}

/* Packed operands from the pools: lane k of vector n is pool[(n + k*5) % N]
 * so that every value meets every other in some lane. */
static void ps_vec(v128 *v, unsigned n)
{
    for (unsigned k = 0; k < 4; k++)
        memcpy(v->b + 4 * k, &f32s[(n + k * 5) % NF32], 4);
}

static void pd_vec(v128 *v, unsigned n)
{
    for (unsigned k = 0; k < 2; k++)
        memcpy(v->b + 8 * k, &f64s[(n + k * 9) % NF64], 8);
}

/* MXCSR states: each rounding mode, without and with FTZ and DAZ. */
static const u32 mxcsrs[8] = { 0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0, 0xbfc0, 0xdfc0, 0xffc0 };

/* ---- XMM, XMM instructions ---- */

typedef void xfn(const v128 *a, const v128 *b, v128 *o);

#define XRR(name, text)                                                        \
    static void x_##name(const v128 *a, const v128 *b, v128 *o)                \
    {                                                                          \
        __asm__ volatile("movdqu (%0), %%xmm0\n\tmovdqu (%1), %%xmm1\n\t"      \
                         text "\n\tmovdqu %%xmm0, (%2)"                        \
                         :: "r"(a), "r"(b), "r"(o) : "memory"); \
    }
/* The same with the second operand in memory (16-byte aligned). */
#define XRM(name, text)                                                        \
    static void x_##name(const v128 *a, const v128 *b, v128 *o)                \
    {                                                                          \
        __asm__ volatile("movdqu (%0), %%xmm0\n\t" text "\n\tmovdqu %%xmm0, (%2)" \
                         :: "r"(a), "r"(b), "r"(o) : "memory");        \
    }

#define R(op) XRR(op, #op " %%xmm1, %%xmm0")
#define M(op) XRM(op##_m, #op " (%1), %%xmm0")
#define RI(op, imm) XRR(op##_##imm, #op " $" #imm ", %%xmm1, %%xmm0")

/* floating point */
R(addps) R(addss) R(addpd) R(addsd) R(subps) R(subss) R(subpd) R(subsd)
R(mulps) R(mulss) R(mulpd) R(mulsd) R(divps) R(divss) R(divpd) R(divsd)
R(minps) R(minss) R(minpd) R(minsd) R(maxps) R(maxss) R(maxpd) R(maxsd)
R(sqrtps) R(sqrtss) R(sqrtpd) R(sqrtsd) R(rcpps) R(rcpss) R(rsqrtps) R(rsqrtss)
R(andps) R(andnps) R(orps) R(xorps) R(andpd) R(andnpd) R(orpd) R(xorpd)
R(unpcklps) R(unpckhps) R(unpcklpd) R(unpckhpd)
R(addsubps) R(addsubpd) R(haddps) R(haddpd) R(hsubps) R(hsubpd)
R(cvtps2pd) R(cvtpd2ps) R(cvtss2sd) R(cvtsd2ss) R(cvtdq2ps) R(cvtps2dq) R(cvttps2dq)
R(cvtdq2pd) R(cvtpd2dq) R(cvttpd2dq)
R(movss) R(movsd) R(movhlps) R(movlhps) R(movsldup) R(movshdup) R(movddup)
RI(cmpps, 0) RI(cmpps, 1) RI(cmpps, 2) RI(cmpps, 3) RI(cmpps, 4) RI(cmpps, 5) RI(cmpps, 6)
RI(cmpps, 7) RI(cmpss, 1) RI(cmpss, 3) RI(cmpss, 4) RI(cmppd, 0) RI(cmppd, 2) RI(cmppd, 3)
RI(cmppd, 5) RI(cmpsd, 1) RI(cmpsd, 3) RI(cmpsd, 6)
RI(shufps, 0x1b) RI(shufps, 0xe4) RI(shufps, 0x4e) RI(shufps, 0x00) RI(shufpd, 0) RI(shufpd, 1)
RI(shufpd, 2) RI(shufpd, 3)
M(addps) M(addss) M(mulsd) M(divpd) M(sqrtss) M(cvtps2pd) M(cvtss2sd) M(cvtdq2pd)
M(movss) M(movsd) M(movlps) M(movhps) M(movlpd) M(movhpd) M(movddup) M(maxsd) M(cmpltps)

/* integers */
R(paddb) R(paddw) R(paddd) R(paddq) R(paddsb) R(paddsw) R(paddusb) R(paddusw)
R(psubb) R(psubw) R(psubd) R(psubq) R(psubsb) R(psubsw) R(psubusb) R(psubusw)
R(pmullw) R(pmulhw) R(pmulhuw) R(pmuludq) R(pmaddwd) R(psadbw) R(pavgb) R(pavgw)
R(pminub) R(pmaxub) R(pminsw) R(pmaxsw) R(pand) R(pandn) R(por) R(pxor)
R(pcmpeqb) R(pcmpeqw) R(pcmpeqd) R(pcmpgtb) R(pcmpgtw) R(pcmpgtd)
R(packsswb) R(packssdw) R(packuswb) R(punpcklbw) R(punpcklwd) R(punpckldq) R(punpcklqdq)
R(punpckhbw) R(punpckhwd) R(punpckhdq) R(punpckhqdq)
R(psllw) R(pslld) R(psllq) R(psrlw) R(psrld) R(psrlq) R(psraw) R(psrad)
R(pshufb) R(phaddw) R(phaddd) R(phaddsw) R(phsubw) R(phsubd) R(phsubsw) R(pmaddubsw)
R(pmulhrsw) R(psignb) R(psignw) R(psignd) R(pabsb) R(pabsw) R(pabsd)
RI(pshufd, 0x1b) RI(pshufd, 0x4e) RI(pshuflw, 0xb1) RI(pshufhw, 0x39)
RI(palignr, 0) RI(palignr, 5) RI(palignr, 16) RI(palignr, 23)
M(paddd) M(pmaddwd) M(punpcklbw) M(pshufb) M(psrlw)

#define SH(op, n) XRR(op##_##n, #op " $" #n ", %%xmm0")
SH(psllw, 3) SH(psllw, 16) SH(pslld, 1) SH(pslld, 31) SH(psllq, 63) SH(psllq, 64)
SH(psrlw, 15) SH(psrld, 7) SH(psrlq, 1) SH(psraw, 4) SH(psraw, 200) SH(psrad, 31)
SH(pslldq, 3) SH(pslldq, 16) SH(psrldq, 1) SH(psrldq, 15)

/* kinds: which pool, and whether MXCSR varies */
enum { K_PS, K_PD, K_INT };

struct xop {
    const char *name;
    xfn *fn;
    int kind;
};

#define E(op, k) { #op, x_##op, k }
static const struct xop xops[] = {
    E(addps, K_PS), E(addss, K_PS), E(addpd, K_PD), E(addsd, K_PD), E(subps, K_PS),
    E(subss, K_PS), E(subpd, K_PD), E(subsd, K_PD), E(mulps, K_PS), E(mulss, K_PS),
    E(mulpd, K_PD), E(mulsd, K_PD), E(divps, K_PS), E(divss, K_PS), E(divpd, K_PD),
    E(divsd, K_PD), E(minps, K_PS), E(minss, K_PS), E(minpd, K_PD), E(minsd, K_PD),
    E(maxps, K_PS), E(maxss, K_PS), E(maxpd, K_PD), E(maxsd, K_PD), E(sqrtps, K_PS),
    E(sqrtss, K_PS), E(sqrtpd, K_PD), E(sqrtsd, K_PD), E(rcpps, K_PS), E(rcpss, K_PS),
    E(rsqrtps, K_PS), E(rsqrtss, K_PS), E(andps, K_PS), E(andnps, K_PS), E(orps, K_PS),
    E(xorps, K_PS), E(andpd, K_PD), E(andnpd, K_PD), E(orpd, K_PD), E(xorpd, K_PD),
    E(unpcklps, K_PS), E(unpckhps, K_PS), E(unpcklpd, K_PD), E(unpckhpd, K_PD),
    E(addsubps, K_PS), E(addsubpd, K_PD), E(haddps, K_PS), E(haddpd, K_PD),
    E(hsubps, K_PS), E(hsubpd, K_PD),
    E(cvtps2pd, K_PS), E(cvtpd2ps, K_PD), E(cvtss2sd, K_PS), E(cvtsd2ss, K_PD),
    E(cvtdq2ps, K_INT), E(cvtps2dq, K_PS), E(cvttps2dq, K_PS), E(cvtdq2pd, K_INT),
    E(cvtpd2dq, K_PD), E(cvttpd2dq, K_PD),
    E(movss, K_PS), E(movsd, K_PD), E(movhlps, K_PS), E(movlhps, K_PS), E(movsldup, K_PS),
    E(movshdup, K_PS), E(movddup, K_PD),
    E(cmpps_0, K_PS), E(cmpps_1, K_PS), E(cmpps_2, K_PS), E(cmpps_3, K_PS), E(cmpps_4, K_PS),
    E(cmpps_5, K_PS), E(cmpps_6, K_PS), E(cmpps_7, K_PS), E(cmpss_1, K_PS), E(cmpss_3, K_PS),
    E(cmpss_4, K_PS), E(cmppd_0, K_PD), E(cmppd_2, K_PD), E(cmppd_3, K_PD), E(cmppd_5, K_PD),
    E(cmpsd_1, K_PD), E(cmpsd_3, K_PD), E(cmpsd_6, K_PD),
    E(shufps_0x1b, K_PS), E(shufps_0xe4, K_PS), E(shufps_0x4e, K_PS), E(shufps_0x00, K_PS),
    E(shufpd_0, K_PD), E(shufpd_1, K_PD), E(shufpd_2, K_PD), E(shufpd_3, K_PD),
    E(addps_m, K_PS), E(addss_m, K_PS), E(mulsd_m, K_PD), E(divpd_m, K_PD), E(sqrtss_m, K_PS),
    E(cvtps2pd_m, K_PS), E(cvtss2sd_m, K_PS), E(cvtdq2pd_m, K_INT), E(movss_m, K_PS),
    E(movsd_m, K_PD), E(movlps_m, K_PS), E(movhps_m, K_PS), E(movlpd_m, K_PD),
    E(movhpd_m, K_PD), E(movddup_m, K_PD), E(maxsd_m, K_PD), E(cmpltps_m, K_PS),
    E(paddb, K_INT), E(paddw, K_INT), E(paddd, K_INT), E(paddq, K_INT), E(paddsb, K_INT),
    E(paddsw, K_INT), E(paddusb, K_INT), E(paddusw, K_INT), E(psubb, K_INT), E(psubw, K_INT),
    E(psubd, K_INT), E(psubq, K_INT), E(psubsb, K_INT), E(psubsw, K_INT), E(psubusb, K_INT),
    E(psubusw, K_INT), E(pmullw, K_INT), E(pmulhw, K_INT), E(pmulhuw, K_INT),
    E(pmuludq, K_INT), E(pmaddwd, K_INT), E(psadbw, K_INT), E(pavgb, K_INT), E(pavgw, K_INT),
    E(pminub, K_INT), E(pmaxub, K_INT), E(pminsw, K_INT), E(pmaxsw, K_INT), E(pand, K_INT),
    E(pandn, K_INT), E(por, K_INT), E(pxor, K_INT), E(pcmpeqb, K_INT), E(pcmpeqw, K_INT),
    E(pcmpeqd, K_INT), E(pcmpgtb, K_INT), E(pcmpgtw, K_INT), E(pcmpgtd, K_INT),
    E(packsswb, K_INT), E(packssdw, K_INT), E(packuswb, K_INT), E(punpcklbw, K_INT),
    E(punpcklwd, K_INT), E(punpckldq, K_INT), E(punpcklqdq, K_INT), E(punpckhbw, K_INT),
    E(punpckhwd, K_INT), E(punpckhdq, K_INT), E(punpckhqdq, K_INT),
    E(psllw, K_INT), E(pslld, K_INT), E(psllq, K_INT), E(psrlw, K_INT), E(psrld, K_INT),
    E(psrlq, K_INT), E(psraw, K_INT), E(psrad, K_INT),
    E(pshufb, K_INT), E(phaddw, K_INT), E(phaddd, K_INT), E(phaddsw, K_INT), E(phsubw, K_INT),
    E(phsubd, K_INT), E(phsubsw, K_INT), E(pmaddubsw, K_INT), E(pmulhrsw, K_INT),
    E(psignb, K_INT), E(psignw, K_INT), E(psignd, K_INT), E(pabsb, K_INT), E(pabsw, K_INT),
    E(pabsd, K_INT),
    E(pshufd_0x1b, K_INT), E(pshufd_0x4e, K_INT), E(pshuflw_0xb1, K_INT),
    E(pshufhw_0x39, K_INT), E(palignr_0, K_INT), E(palignr_5, K_INT), E(palignr_16, K_INT),
    E(palignr_23, K_INT), E(paddd_m, K_INT), E(pmaddwd_m, K_INT), E(punpcklbw_m, K_INT),
    E(pshufb_m, K_INT), E(psrlw_m, K_INT),
    E(psllw_3, K_INT), E(psllw_16, K_INT), E(pslld_1, K_INT), E(pslld_31, K_INT),
    E(psllq_63, K_INT), E(psllq_64, K_INT), E(psrlw_15, K_INT), E(psrld_7, K_INT),
    E(psrlq_1, K_INT), E(psraw_4, K_INT), E(psraw_200, K_INT), E(psrad_31, K_INT),
    E(pslldq_3, K_INT), E(pslldq_16, K_INT), E(psrldq_1, K_INT), E(psrldq_15, K_INT),
};
#undef E

static void operand(int kind, unsigned n, v128 *v)
{
    if (kind == K_PS)
        ps_vec(v, n);
    else if (kind == K_PD)
        pd_vec(v, n);
    else
        *v = ints[n % NINT];
}

static void run_xops(void)
{
    u32 all = HASH_INIT;
    for (unsigned k = 0; k < sizeof(xops) / sizeof(xops[0]); k++) {
        const struct xop *x = &xops[k];
        unsigned n = x->kind == K_PS ? NF32 : x->kind == K_PD ? NF64 : NINT;
        unsigned nm = x->kind == K_INT ? 1 : 8;
        u32 h = HASH_INIT;
        for (unsigned m = 0; m < nm; m++) {
            for (unsigned i = 0; i < n; i++) {
                for (unsigned j = 0; j < n; j++) {
                    v128 a, b, o;
                    operand(x->kind, i, &a);
                    operand(x->kind, j, &b);
                    set_mxcsr(mxcsrs[m]);
                    x->fn(&a, &b, &o);
                    h = hash_v(h, &o);
                    h = check(h, get_mxcsr());
                }
            }
        }
        set_mxcsr(0x1f80);
        printf("%-14s %08x\n", x->name, h);
        all = hash_u32(all, h);
    }
    printf("xmm all %08x\n", all);
}

/* ---- EFLAGS: comiss and friends ---- */

#define CMPF(name, text)                                                       \
    static u32 c_##name(const v128 *a, const v128 *b)                          \
    {                                                                          \
        u32 f;                                                                 \
        __asm__ volatile("movdqu (%1), %%xmm0\n\tmovdqu (%2), %%xmm1\n\t"      \
                         "pushl $0x8d7\n\tpopfl\n\t" text "\n\tpushfl\n\tpopl %0" \
                         : "=r"(f) : "r"(a), "r"(b) : "cc", "memory"); \
        return f;                                                              \
    }
CMPF(comiss, "comiss %%xmm1, %%xmm0") CMPF(ucomiss, "ucomiss %%xmm1, %%xmm0")
CMPF(comisd, "comisd %%xmm1, %%xmm0") CMPF(ucomisd, "ucomisd %%xmm1, %%xmm0")
CMPF(comiss_m, "comiss (%2), %%xmm0") CMPF(ucomisd_m, "ucomisd (%2), %%xmm0")

static void run_compares(void)
{
    static const struct { const char *name; u32 (*fn)(const v128 *, const v128 *); int kind; }
    ops[] = {
        { "comiss", c_comiss, K_PS }, { "ucomiss", c_ucomiss, K_PS },
        { "comisd", c_comisd, K_PD }, { "ucomisd", c_ucomisd, K_PD },
        { "comiss m32", c_comiss_m, K_PS }, { "ucomisd m64", c_ucomisd_m, K_PD },
    };
    for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        unsigned n = ops[k].kind == K_PS ? NF32 : NF64;
        u32 h = HASH_INIT;
        for (unsigned m = 0; m < 8; m += 4) {
            for (unsigned i = 0; i < n; i++) {
                for (unsigned j = 0; j < n; j++) {
                    v128 a, b;
                    operand(ops[k].kind, i, &a);
                    operand(ops[k].kind, j, &b);
                    set_mxcsr(mxcsrs[m]);
                    h = check(h, ops[k].fn(&a, &b) & F_ARITH);
                    h = check(h, get_mxcsr());
                }
            }
        }
        set_mxcsr(0x1f80);
        printf("%-14s %08x\n", ops[k].name, h);
    }
}

/* ---- general registers ---- */

static void run_gpr(void)
{
    u32 h1 = HASH_INIT, h2 = HASH_INIT, h3 = HASH_INIT;
    for (unsigned m = 0; m < 8; m++) {
        for (unsigned i = 0; i < NF32; i++) {
            v128 a;
            u32 r[4];
            ps_vec(&a, i);
            set_mxcsr(mxcsrs[m]);
            __asm__ volatile("movdqu (%4), %%xmm0\n\tcvtss2si %%xmm0, %0\n\tcvttss2si %%xmm0, %1\n\t"
                             "cvtss2si (%4), %2\n\tmovmskps %%xmm0, %3"
                             : "=&r"(r[0]), "=&r"(r[1]), "=&r"(r[2]), "=&r"(r[3])
                             : "r"(&a) : "memory");
            for (int k = 0; k < 4; k++)
                h1 = check(h1, r[k]);
            h1 = check(h1, get_mxcsr());
        }
        for (unsigned i = 0; i < NF64; i++) {
            v128 a;
            u32 r[4];
            pd_vec(&a, i);
            set_mxcsr(mxcsrs[m]);
            __asm__ volatile("movdqu (%4), %%xmm0\n\tcvtsd2si %%xmm0, %0\n\tcvttsd2si %%xmm0, %1\n\t"
                             "cvttsd2si (%4), %2\n\tmovmskpd %%xmm0, %3"
                             : "=&r"(r[0]), "=&r"(r[1]), "=&r"(r[2]), "=&r"(r[3])
                             : "r"(&a) : "memory");
            for (int k = 0; k < 4; k++)
                h1 = check(h1, r[k]);
            h1 = check(h1, get_mxcsr());
        }
        for (unsigned i = 0; i < 16; i++) {
            v128 o;
            u32 v = edges[i];
            set_mxcsr(mxcsrs[m]);
            __asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\tcvtsi2ss %1, %%xmm0\n\t"
                             "cvtsi2sd %1, %%xmm1\n\tunpcklps %%xmm1, %%xmm0\n\t"
                             "movdqu %%xmm0, (%0)"
                             :: "r"(&o), "r"(v) : "memory");
            h2 = hash_v(h2, &o);
            h2 = check(h2, get_mxcsr());
        }
    }
    set_mxcsr(0x1f80);
    for (unsigned i = 0; i < NINT; i++) {
        u32 r[5];
        v128 o;
        __asm__ volatile("movdqu (%1), %%xmm0\n\tmovd %%xmm0, %%eax\n\tmovl %%eax, 0(%0)\n\t"
                         "pextrw $5, %%xmm0, %%eax\n\tmovl %%eax, 4(%0)\n\t"
                         "pmovmskb %%xmm0, %%eax\n\tmovl %%eax, 8(%0)\n\t"
                         "movl $0x8765abcd, %%eax\n\tpinsrw $3, %%eax, %%xmm0\n\t"
                         "pinsrw $6, 4(%1), %%xmm0\n\tmovd %%eax, %%xmm1\n\t"
                         "punpckldq %%xmm1, %%xmm0\n\tmovdqu %%xmm0, (%2)\n\t"
                         "movd 8(%1), %%xmm2\n\tmovd %%xmm2, 12(%0)\n\t"
                         "movq 4(%1), %%xmm2\n\tpextrw $3, %%xmm2, %%eax\n\tmovl %%eax, 16(%0)"
                         :: "r"(r), "r"(&ints[i]), "r"(&o) : "eax", "memory");
        for (int k = 0; k < 5; k++)
            h3 = check(h3, r[k]);
        h3 = hash_v(h3, &o);
    }
    printf("cvt to int     %08x\n", h1);
    printf("cvt from int   %08x\n", h2);
    printf("movd/pextrw/.. %08x\n", h3);
}

/* ---- stores ---- */

static void run_stores(void)
{
    u32 h = HASH_INIT;
    for (unsigned i = 0; i < NINT; i++) {
        v128 out[10], *p = &out[8];
        memset(out, 0xa5, sizeof(out));
        const v128 *a = &ints[i], *mask = &ints[(i + 7) % NINT];
        u32 g = 0x13572468u ^ i;
        __asm__ volatile("movdqu (%0), %%xmm3\n\tmovss %%xmm3, 0(%1)\n\tmovsd %%xmm3, 16(%1)\n\t"
                         "movlps %%xmm3, 32(%1)\n\tmovhps %%xmm3, 40(%1)\n\tmovq %%xmm3, 52(%1)\n\t"
                         "movd %%xmm3, 60(%1)\n\tmovntps %%xmm3, 64(%1)\n\tmovntdq %%xmm3, 80(%1)\n\t"
                         "movnti %2, 96(%1)\n\tmovlpd %%xmm3, 100(%1)\n\tmovhpd %%xmm3, 108(%1)\n\t"
                         "movups %%xmm3, 113(%1)"
                         :: "r"(a), "r"(out), "r"(g) : "memory");
        /* maskmovdqu and maskmovq store through EDI */
        __asm__ volatile("movdqu (%1), %%xmm3\n\tmovdqu (%2), %%xmm4\n\tmaskmovdqu %%xmm4, %%xmm3\n\t"
                         "movq (%1), %%mm2\n\tmovq (%2), %%mm3\n\tleal 16(%%edi), %%edi\n\t"
                         "maskmovq %%mm3, %%mm2\n\temms"
                         : "+D"(p) : "r"(a), "r"(mask) : "memory");
        for (unsigned k = 0; k < sizeof(out) / 16; k++)
            h = hash_v(h, &out[k]);
    }
    printf("stores         %08x\n", h);
}

/* ---- MMX ---- */

typedef void mfn(const v128 *a, const v128 *b, v128 *o);

#define MRR(name, text)                                                        \
    static void m_##name(const v128 *a, const v128 *b, v128 *o)                \
    {                                                                          \
        __asm__ volatile("movq (%0), %%mm0\n\tmovq (%1), %%mm1\n\t"            \
                         text "\n\tmovq %%mm0, (%2)\n\temms"                   \
                         :: "r"(a), "r"(b), "r"(o) : "memory");  \
    }
#define MR(op) MRR(op, #op " %%mm1, %%mm0")
#define MM_(op) MRR(op##_m, #op " (%1), %%mm0")
#define MRI(op, imm) MRR(op##_##imm, #op " $" #imm ", %%mm1, %%mm0")
#define MSH(op, n) MRR(op##_##n, #op " $" #n ", %%mm0")

MR(paddb) MR(paddw) MR(paddd) MR(paddq) MR(paddsb) MR(paddsw) MR(paddusb) MR(paddusw)
MR(psubb) MR(psubw) MR(psubd) MR(psubq) MR(psubsb) MR(psubsw) MR(psubusb) MR(psubusw)
MR(pmullw) MR(pmulhw) MR(pmulhuw) MR(pmuludq) MR(pmaddwd) MR(psadbw) MR(pavgb) MR(pavgw)
MR(pminub) MR(pmaxub) MR(pminsw) MR(pmaxsw) MR(pand) MR(pandn) MR(por) MR(pxor)
MR(pcmpeqb) MR(pcmpeqw) MR(pcmpeqd) MR(pcmpgtb) MR(pcmpgtw) MR(pcmpgtd)
MR(packsswb) MR(packssdw) MR(packuswb) MR(punpcklbw) MR(punpcklwd) MR(punpckldq)
MR(punpckhbw) MR(punpckhwd) MR(punpckhdq)
MR(psllw) MR(pslld) MR(psllq) MR(psrlw) MR(psrld) MR(psrlq) MR(psraw) MR(psrad)
MR(pshufb) MR(phaddw) MR(phaddd) MR(phaddsw) MR(phsubw) MR(phsubd) MR(phsubsw)
MR(pmaddubsw) MR(pmulhrsw) MR(psignb) MR(psignw) MR(psignd) MR(pabsb) MR(pabsw) MR(pabsd)
MRI(pshufw, 0x1b) MRI(pshufw, 0xb1) MRI(palignr, 3) MRI(palignr, 12)
MSH(psllw, 5) MSH(pslld, 17) MSH(psllq, 40) MSH(psrlw, 1) MSH(psrld, 32) MSH(psrlq, 63)
MSH(psraw, 15) MSH(psrad, 3)
MM_(paddb) MM_(punpcklbw) MM_(punpckhdq) MM_(pmaddwd) MM_(psrlq) MM_(pshufb)

#define E(op) { #op, m_##op }
static const struct { const char *name; mfn *fn; } mops[] = {
    E(paddb), E(paddw), E(paddd), E(paddq), E(paddsb), E(paddsw), E(paddusb), E(paddusw),
    E(psubb), E(psubw), E(psubd), E(psubq), E(psubsb), E(psubsw), E(psubusb), E(psubusw),
    E(pmullw), E(pmulhw), E(pmulhuw), E(pmuludq), E(pmaddwd), E(psadbw), E(pavgb), E(pavgw),
    E(pminub), E(pmaxub), E(pminsw), E(pmaxsw), E(pand), E(pandn), E(por), E(pxor),
    E(pcmpeqb), E(pcmpeqw), E(pcmpeqd), E(pcmpgtb), E(pcmpgtw), E(pcmpgtd),
    E(packsswb), E(packssdw), E(packuswb), E(punpcklbw), E(punpcklwd), E(punpckldq),
    E(punpckhbw), E(punpckhwd), E(punpckhdq),
    E(psllw), E(pslld), E(psllq), E(psrlw), E(psrld), E(psrlq), E(psraw), E(psrad),
    E(pshufb), E(phaddw), E(phaddd), E(phaddsw), E(phsubw), E(phsubd), E(phsubsw),
    E(pmaddubsw), E(pmulhrsw), E(psignb), E(psignw), E(psignd), E(pabsb), E(pabsw), E(pabsd),
    E(pshufw_0x1b), E(pshufw_0xb1), E(palignr_3), E(palignr_12),
    E(psllw_5), E(pslld_17), E(psllq_40), E(psrlw_1), E(psrld_32), E(psrlq_63),
    E(psraw_15), E(psrad_3),
    E(paddb_m), E(punpcklbw_m), E(punpckhdq_m), E(pmaddwd_m), E(psrlq_m), E(pshufb_m),
};
#undef E

static void run_mmx(void)
{
    u32 all = HASH_INIT;
    for (unsigned k = 0; k < sizeof(mops) / sizeof(mops[0]); k++) {
        u32 h = HASH_INIT;
        for (unsigned i = 0; i < NINT; i++) {
            for (unsigned j = 0; j < NINT; j++) {
                v128 o;
                memset(&o, 0, sizeof(o));
                mops[k].fn(&ints[i], &ints[j], &o);
                h = hash_v(h, &o);
            }
        }
        printf("mmx %-10s %08x\n", mops[k].name, h);
        all = hash_u32(all, h);
    }
    printf("mmx all %08x\n", all);
}

/* MMX and the x87 share registers: what FNSAVE shows after MMX code. */
static void run_mmx_x87(void)
{
    static u8 img[4][108];
    u32 h = HASH_INIT;
    const v128 *a = &ints[3], *b = &ints[9];
    __asm__ volatile("fninit\n\tfld1\n\tfldpi\n\tfldz\n\t"        /* TOP 5, three valid */
                     "movq (%0), %%mm3\n\tpaddw (%1), %%mm3\n\tfnsave %2\n\t"
                     "fninit\n\tfldl2e\n\tmovq (%1), %%mm6\n\tpxor %%mm6, %%mm6\n\tfnsave %3\n\t"
                     "fninit\n\tfld1\n\tfld1\n\tmovd %%mm0, %%eax\n\temms\n\tfnsave %4\n\t"
                     "fninit\n\tfldpi\n\tcvtpi2ps (%0), %%xmm0\n\tfnsave %5\n\tfninit"
                     :: "r"(a), "r"(b), "m"(img[0]), "m"(img[1]), "m"(img[2]), "m"(img[3])
                     : "eax", "memory");
    for (int k = 0; k < 4; k++) {
        /* control, status, tag, then the registers (FIP and friends differ
         * between the two builds) */
        for (int n = 0; n < 12; n += 4)
            h = check(h, (u32)img[k][n] | (u32)img[k][n + 1] << 8);
        for (int n = 28; n < 108; n += 4) {
            u32 w;
            memcpy(&w, img[k] + n, 4);
            h = check(h, w);
        }
        printf("mmx/x87 %d: sw %02x%02x tw %02x%02x\n", k, img[k][5], img[k][4], img[k][9],
               img[k][8]);
    }
    printf("mmx/x87 regs   %08x\n", h);
}

/* ---- FXSAVE, FXRSTOR, LDMXCSR ---- */

static void run_fxsr(void)
{
    static u8 area[512] __attribute__((aligned(16)));
    static u8 img2[108];
    u32 h = HASH_INIT;
    memset(area, 0xaa, sizeof(area));
    set_mxcsr(0x3fa5 & 0xffbf);
    __asm__ volatile("fninit\n\tfld1\n\tfldpi\n\tfldz\n\tmovdqu (%1), %%xmm5\n\t"
                     "movdqu (%2), %%xmm7\n\tfxsave %0\n\tfninit"
                     : "=m"(area) : "r"(&ints[5]), "r"(&ints[11]) : "memory");
    set_mxcsr(0x1f80);
    for (int n = 0; n < 512; n += 4) {
        u32 w;
        if (n >= 4 && n < 24)
            continue;           /* FOP, FIP, FCS, FDP, FDS: addresses differ */
        memcpy(&w, area + n, 4);
        h = check(h, w);
    }
    printf("fxsave: fcw %02x%02x fsw %02x%02x ftw %02x mxcsr %02x%02x mask %02x%02x%02x%02x"
           " %08x\n", area[1], area[0], area[3], area[2], area[4], area[25], area[24], area[31],
           area[30], area[29], area[28], h);

    /* FXRSTOR rebuilds the tag word from the registers: zero, valid,
     * special (a NaN, a denormal, an unnormal) and empty. */
    memset(area + 32, 0, 128);
    static const u8 regs[6][10] = {
        { 0 },                                                          /* zero */
        { 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f },                      /* 1.0 */
        { 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0x7f },                      /* NaN */
        { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },                               /* denormal */
        { 0, 0, 0, 0, 0, 0, 0, 0x40, 0x00, 0x40 },                      /* unnormal */
        { 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f },                      /* inf */
    };
    for (int k = 0; k < 6; k++)
        memcpy(area + 32 + 16 * k, regs[k], 10);
    area[0] = 0x7f;
    area[1] = 0x03;
    area[2] = 0;
    area[3] = 0x10;             /* TOP = 2 */
    area[4] = 0xbf;             /* physical register 6 empty */
    area[24] = 0x80;
    area[25] = 0x1f;
    area[26] = area[27] = 0;
    __asm__ volatile("fxrstor %1\n\tfnsave %0\n\tfninit" : "=m"(img2) : "m"(area) : "memory");
    printf("fxrstor: sw %02x%02x tw %02x%02x mxcsr %08x\n", img2[5], img2[4], img2[9], img2[8],
           get_mxcsr());
    h = HASH_INIT;
    for (int n = 28; n < 108; n += 4) {
        u32 w;
        memcpy(&w, img2 + n, 4);
        h = check(h, w);
    }
    printf("fxrstor regs   %08x\n", h);

    u32 m = 0;
    set_mxcsr(0xffff);
    m = get_mxcsr();
    set_mxcsr(0x1f80);
    printf("ldmxcsr 0xffff -> %08x\n", m);
}

int main(void)
{
    init_ints();
    run_xops();
    run_compares();
    run_gpr();
    run_stores();
    run_mmx();
    run_mmx_x87();
    run_fxsr();
    return conf_done("sse");
}
