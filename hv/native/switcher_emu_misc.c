/*
 * switcher_emu_misc.c: the stack, flag instructions, conversions, decimal
 * arithmetic and CPU identification (Intel SDM vol. 2: PUSH, POP, PUSHA,
 * POPA, PUSHF, POPF, ENTER, LEAVE, LAHF, SAHF, CLC ... STD, CBW ... CDQ,
 * DAA, DAS, AAA, AAS, AAM, AAD, XLAT, CPUID, RDTSC, MOV Sreg).
 */
#include "switcher_emu.h"

OP(op_nop)
{
    NEXT();
}

OP(op_push_r)
{
    PUSH(i->size, getreg(c, i->size, i->rm));
    NEXT();
}

OP(op_push32_r)
{
    PUSH(4, c->r[i->rm]);
    NEXT();
}

OP(op_pop_r)
{
    uint32_t v;
    POP(i->size, v);
    setreg(c, i->size, i->rm, v);
    NEXT();
}

OP(op_pop32_r)
{
    uint32_t v;
    POP(4, v);
    c->r[i->rm] = v;
    NEXT();
}

OP(op_push_i)
{
    PUSH(i->size, i->imm);
    NEXT();
}

OP(op_push_e)
{
    uint32_t v, a = 0;
    READ_E(i->size, v, a);
    (void)a;
    PUSH(i->size, v);
    NEXT();
}

/* POP Ev: ESP is incremented before the destination address is computed. */
OP(op_pop_e)
{
    uint32_t sp = c->r[HV_ESP], v;
    CHECK_SS(SP_LIN(sp), i->size);
    v = ld(c, SP_LIN(sp), i->size);
    c->r[HV_ESP] = sp + i->size;
    if (i->rm != RM_MEM) {
        setreg(c, i->size, i->rm, v);
        NEXT();
    }
    uint32_t a = ea(c, i);
    if (!access_ok(c, i, i->seg, a, i->size, true)) {
        c->r[HV_ESP] = sp;
        STOP();
    }
    st(c, a, i->size, v);
    NEXT();
}

OP(op_pusha)
{
    int sz = i->size;
    uint32_t sp = c->r[HV_ESP], a = sp - 8u * (uint32_t)sz;
    CHECKW_SS(SP_LIN(a), 8u * (uint32_t)sz);
    for (int n = 0; n < 8; n++) {
        uint32_t v = n == HV_ESP ? sp : c->r[n];
        st(c, SP_LIN(sp - (uint32_t)((n + 1) * sz)), sz, v);
    }
    c->r[HV_ESP] = a;
    NEXT();
}

OP(op_popa)
{
    int sz = i->size;
    uint32_t sp = c->r[HV_ESP];
    CHECK_SS(SP_LIN(sp), 8u * (uint32_t)sz);
    for (int n = 7; n >= 0; n--) {
        uint32_t v = ld(c, SP_LIN(sp + (uint32_t)((7 - n) * sz)), sz);
        if (n != HV_ESP)
            setreg(c, sz, n, v);
    }
    c->r[HV_ESP] = sp + 8u * (uint32_t)sz;
    NEXT();
}

/* The guest runs at CPL 0, so POPF may change IF and IOPL too; RF, VM, VIF
 * and VIP are never set this way, and TF is not emulated. */
#define POPF_MASK (ARITH_FLAGS | HV_IF | HV_DF | HV_IOPL | HV_NT | HV_AC | HV_ID)

OP(op_pushf)
{
    PUSH(i->size, emu_flags(c) & 0x00fcffffu);
    NEXT();
}

OP(op_popf)
{
    uint32_t v;
    POP(i->size, v);
    uint32_t mask = i->size == 2 ? (POPF_MASK & 0xffff) : POPF_MASK;
    /* Outside ring 0 IOPL stays; IF changes only when CPL <= IOPL. */
    if (HV_UNLIKELY(c->cpl != 0)) {
        mask &= ~HV_IOPL;
        if (c->cpl > ((c->eflags >> 12) & 3))
            mask &= ~HV_IF;
    }
    bool was_off = !(c->eflags & HV_IF);
    emu_set_flags(c, (emu_flags(c) & ~mask) | (v & mask));
    if (HV_UNLIKELY(c->want_window && was_off && (v & HV_IF))) {
        emu_trap_ret(c, i, HV_TRAP_IRQ_WINDOW, 0);
        STOP();
    }
    NEXT();
}

OP(op_enter)
{
    uint32_t size = i->imm, level = i->imm2 & 31;
    uint32_t sp = c->r[HV_ESP], bp = c->r[HV_EBP];
    uint32_t need = 4 * (level + 1) + size;
#if EMU_SEG
    if (!seg_ok(c, HV_SS, SP_LIN(sp - need), need, true))
        SEG_FAULT(HV_SS);
#endif
    if (!mem_okw(c, SP_LIN(sp - need), need))
        PFW(SP_LIN(sp - 4));
    sp -= 4;
    st(c, SP_LIN(sp), 4, bp);
    uint32_t frame = sp;
    for (uint32_t n = 1; n < level; n++) {
        bp -= 4;
        CHECK_SS(SP_LIN(bp), 4);
        sp -= 4;
        st(c, SP_LIN(sp), 4, ld(c, SP_LIN(bp), 4));
    }
    if (level > 0) {
        sp -= 4;
        st(c, SP_LIN(sp), 4, frame);
    }
    c->r[HV_EBP] = frame;
    c->r[HV_ESP] = sp - size;
    NEXT();
}

OP(op_leave)
{
    uint32_t bp = c->r[HV_EBP];
    CHECK_SS(SP_LIN(bp), 4);
    c->r[HV_EBP] = ld(c, SP_LIN(bp), 4);
    c->r[HV_ESP] = bp + 4;
    NEXT();
}

/* ---- single flag bits: op selects CLC STC CMC CLD STD CLI STI ---- */
OP(op_flagbit)
{
    if (i->op >= 5)
        IOPL_CHECK();                       /* CLI, STI */
    uint32_t f = emu_flags(c);
    switch (i->op) {
    case 0: f &= ~HV_CF; break;
    case 1: f |= HV_CF; break;
    case 2: f ^= HV_CF; break;
    case 3: f &= ~HV_DF; break;
    case 4: f |= HV_DF; break;
    case 5: f &= ~HV_IF; break;
    default:
        if (!(f & HV_IF)) {
            /* STI: interrupts wait for one more instruction (the shadow). */
            emu_set_flags(c, f | HV_IF);
            c->shadow_at = c->icount - i->remain + 1;
            if (c->want_window) {
                emu_trap_ret(c, i, HV_TRAP_IRQ_WINDOW, 0);
                STOP();
            }
            NEXT();
        }
        break;
    }
    emu_set_flags(c, f);
    NEXT();
}

OP(op_lahf)
{
    setreg(c, 1, 4, (emu_flags(c) & 0xd5) | 0x02);
    NEXT();
}

OP(op_sahf)
{
    uint32_t f = emu_flags(c) & ~0xd5u;
    emu_set_flags(c, f | (getreg(c, 1, 4) & 0xd5));
    NEXT();
}

/* CBW/CWDE (op 0) and CWD/CDQ (op 1) */
OP(op_convert)
{
    int sz = i->size;
    if (i->op == 0) {
        setreg(c, sz, HV_EAX, sext(getreg(c, sz / 2, HV_EAX), sz / 2));
    } else {
        bool neg = getreg(c, sz, HV_EAX) & sz_sign(sz);
        setreg(c, sz, HV_EDX, neg ? 0xffffffffu : 0);
    }
    NEXT();
}

/* ---- decimal adjust: op 0 DAA, 1 DAS, 2 AAA, 3 AAS, 4 AAM, 5 AAD ---- */
static uint32_t szp(uint32_t f, uint32_t v)
{
    f &= ~(HV_SF | HV_ZF | HV_PF);
    v &= 0xff;
    f |= v == 0 ? HV_ZF : 0;
    f |= (v & 0x80) ? HV_SF : 0;
    f |= __builtin_parity(v) ? 0 : HV_PF;
    return f;
}

/* DAA and DAS as the SDM's pseudocode has them; note DAS keeps the borrow of
 * its first step in CF, where DAA recomputes CF in the second. */
static uint32_t daa_das(uint32_t f, uint32_t *al, bool sub)
{
    uint32_t old = *al, v = old;
    bool cf = f & HV_CF, af = f & HV_AF, cf_out = false;
    f &= ~(HV_CF | HV_AF | HV_OF);
    if ((old & 0xf) > 9 || af) {
        v = sub ? v - 6 : v + 6;
        cf_out = sub && (cf || old < 6);
        f |= HV_AF;
    }
    if (old > 0x99 || cf) {
        v = sub ? v - 0x60 : v + 0x60;
        cf_out = true;
    }
    f |= cf_out ? HV_CF : 0;
    *al = v & 0xff;
    return szp(f, v);
}

static uint32_t aaa_aas(struct cpu *c, uint32_t f, bool sub)
{
    uint32_t ax = getreg(c, 2, HV_EAX);
    bool adjust = (ax & 0xf) > 9 || (f & HV_AF);
    f &= ~(HV_CF | HV_AF);
    if (adjust) {
        ax = sub ? ax - 0x106 : ax + 0x106;
        f |= HV_AF | HV_CF;
    }
    setreg(c, 2, HV_EAX, ax & 0xff0f);
    return f;
}

OP(op_bcd)
{
    uint32_t f = emu_flags(c), al = getreg(c, 1, HV_EAX);
    switch (i->op) {
    case 0:
    case 1:
        f = daa_das(f, &al, i->op == 1);
        setreg(c, 1, HV_EAX, al);
        break;
    case 2:
    case 3:
        f = aaa_aas(c, f, i->op == 3);
        break;
    case 4:
        if (i->imm == 0)
            FAULT(HV_VEC_DE, 0, 0);
        setreg(c, 2, HV_EAX, ((al / i->imm) << 8) | (al % i->imm));
        f = szp(f & ~(HV_CF | HV_AF | HV_OF), al % i->imm);
        break;
    default: {
        uint32_t ah = getreg(c, 1, 4);
        uint32_t v = (al + ah * i->imm) & 0xff;
        setreg(c, 2, HV_EAX, v);
        f = szp(f & ~(HV_CF | HV_AF | HV_OF), v);
        break;
    }
    }
    emu_set_flags(c, f);
    NEXT();
}

OP(op_xlat)
{
    uint32_t a = LIN(i->seg, c->r[HV_EBX] + getreg(c, 1, HV_EAX));
    CHECK(a, 1);
    setreg(c, 1, HV_EAX, ld(c, a, 1));
    NEXT();
}

/* ---- identification ---- */
static void put_sig(uint32_t *b, uint32_t *cx, uint32_t *d, const char *s)
{
    memcpy(b, s, 4);
    memcpy(d, s + 4, 4);
    memcpy(cx, s + 8, 4);
}

OP(op_cpuid)
{
    uint32_t leaf = c->r[HV_EAX], a = 0, b = 0, cx = 0, d = 0;
    switch (leaf) {
    case 0:
        a = 1;
        put_sig(&b, &cx, &d, "hvfarm-ia32 ");   /* vendor: EBX, EDX, ECX */
        break;
    case 1:
        a = 0x00000630;         /* family 6, model 3: a P6-class integer core */
        /* FPU PSE TSC MSR CX8 SEP CMOV CLFSH MMX FXSR SSE SSE2 */
        d = 1u | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 11) | (1u << 15) |
            (1u << 19) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26);
        b = 8u << 8;            /* CLFLUSH line: 8 quadwords */
        cx = 1u | (1u << 9) | (1u << 31);   /* SSE3, SSSE3; running under a hypervisor */
        break;
    case 0x40000000:
        a = 0x40000000;
        memcpy(&b, "hv-e", 4);
        memcpy(&cx, "mu\0\0", 4);
        break;
    default:
        break;
    }
    c->r[HV_EAX] = a;
    c->r[HV_EBX] = b;
    c->r[HV_ECX] = cx;
    c->r[HV_EDX] = d;
    NEXT();
}

/* The time-stamp counter is the instruction count: deterministic. */
OP(op_rdtsc)
{
    uint64_t t = c->icount - i->remain + 1 + c->tsc_offset;
    c->r[HV_EAX] = (uint32_t)t;
    c->r[HV_EDX] = (uint32_t)(t >> 32);
    NEXT();
}

/* ---- segment registers (loads: switcher_emu_seg.c) ---- */
OP(op_mov_from_sreg)
{
    uint32_t a = 0;
    if (i->rm == RM_MEM) {
        a = ea(c, i);
        CHECKW(a, 2);
        st(c, a, 2, c->sreg[i->reg]);
    } else {
        setreg(c, i->size, i->rm, c->sreg[i->reg]);
    }
    NEXT();
}

OP(op_push_sreg)
{
    PUSH(i->size, c->sreg[i->reg]);
    NEXT();
}
