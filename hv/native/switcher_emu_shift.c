/*
 * switcher_emu_shift.c: shifts and rotates (Intel SDM vol. 2: SAL/SAR/SHL/SHR,
 * RCL/RCR/ROL/ROR, SHLD, SHRD).
 *
 * The count is masked to 5 bits; a masked count of zero changes nothing, not
 * even the flags.  Shifts keep their flags lazily; rotates touch only CF and
 * OF, so they write EFLAGS eagerly.
 */
#include "switcher_emu.h"

enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };

static uint32_t put_cf_of(struct cpu *c, uint32_t r, bool cf, bool of)
{
    uint32_t f = emu_flags(c) & ~(HV_CF | HV_OF);
    f |= (cf ? HV_CF : 0) | (of ? HV_OF : 0);
    emu_set_flags(c, f);
    return r;
}

static uint32_t rotate(struct cpu *c, int op, int sz, uint32_t v, unsigned n)
{
    unsigned bits = (unsigned)sz * 8;
    uint32_t m = sz_mask(sz), s = sz_sign(sz), r;
    uint64_t wide, wm;
    bool cf;
    switch (op) {
    case SH_ROL:
        n %= bits;
        r = n ? ((v << n) | (v >> (bits - n))) & m : v;
        return put_cf_of(c, r, r & 1, ((r & s) != 0) ^ (r & 1));
    case SH_ROR:
        n %= bits;
        r = n ? ((v >> n) | (v << (bits - n))) & m : v;
        return put_cf_of(c, r, (r & s) != 0, ((r ^ (r << 1)) & s) != 0);
    case SH_RCL:
        n %= bits + 1;
        cf = emu_cf(c);
        if (n == 0)
            return put_cf_of(c, v, cf, ((v & s) != 0) ^ cf);
        wide = ((uint64_t)cf << bits) | v;
        wm = (2ull << bits) - 1;
        wide = ((wide << n) | (wide >> (bits + 1 - n))) & wm;
        r = (uint32_t)wide & m;
        cf = (wide >> bits) & 1;
        return put_cf_of(c, r, cf, ((r & s) != 0) ^ cf);
    default: /* SH_RCR */
        n %= bits + 1;
        cf = emu_cf(c);
        if (n == 0)
            return put_cf_of(c, v, cf, ((v & s) != 0) ^ cf);
        {
            bool of = ((v & s) != 0) ^ cf;
            wide = ((uint64_t)cf << bits) | v;
            wm = (2ull << bits) - 1;
            wide = ((wide >> n) | (wide << (bits + 1 - n))) & wm;
            r = (uint32_t)wide & m;
            return put_cf_of(c, r, (wide >> bits) & 1, of);
        }
    }
}

/* Shift v (sz bytes) by the masked, nonzero count n. */
static inline uint32_t shift(struct cpu *c, int op, int sz, uint32_t v, unsigned n)
{
    uint32_t m = sz_mask(sz), r;
    switch (op) {
    case SH_SHL:
    case SH_SAL:
        r = n < 32 ? (v << n) & m : 0;
        set_cc(c, CC_SHL, sz, v, n, r);
        return r;
    case SH_SHR:
        r = v >> n;
        set_cc(c, CC_SHR, sz, v, n, r);
        return r;
    case SH_SAR:
        r = (uint32_t)((int32_t)sext(v, sz) >> n) & m;
        set_cc(c, CC_SAR, sz, v, n, r);
        return r;
    default:
        return rotate(c, op, sz, v, n);
    }
}

static inline const struct insn *shift_e(struct cpu *c, const struct insn *i, unsigned n)
{
    uint32_t v, a = 0;
    if (i->rm != RM_MEM) {
        v = getreg(c, i->size, i->rm);
    } else {
        a = ea(c, i);
        if (!mem_okw(c, a, i->size))
            return pf_ret(c, i, a, true);
        v = ld(c, a, i->size);
    }
    n &= 31;
    if (n == 0)
        return i + 1;
    v = shift(c, i->op, i->size, v, n);
    if (i->rm != RM_MEM)
        setreg(c, i->size, i->rm, v);
    else
        st(c, a, i->size, v);
    return i + 1;
}

/* Group 2: count in imm (1 for D0/D1, imm8 for C0/C1) or in CL (D2/D3). */
OP(op_shift_imm)
{
    const struct insn *n = shift_e(c, i, i->imm);
    if (!n)
        STOP();
    RUN_AT(n);
}

OP(op_shift_cl)
{
    const struct insn *n = shift_e(c, i, c->r[HV_ECX] & 0xff);
    if (!n)
        STOP();
    RUN_AT(n);
}

/* The hot 32-bit register forms with an immediate count. */
OP(op_shl32_ri)
{
    c->r[i->rm] = shift(c, SH_SHL, 4, c->r[i->rm], i->imm);
    NEXT();
}

OP(op_shr32_ri)
{
    c->r[i->rm] = shift(c, SH_SHR, 4, c->r[i->rm], i->imm);
    NEXT();
}

OP(op_sar32_ri)
{
    c->r[i->rm] = shift(c, SH_SAR, 4, c->r[i->rm], i->imm);
    NEXT();
}

/* SHLD/SHRD Ev, Gv, Ib/CL: op 0 = left, 1 = right; imm2 = 1 for CL. */
static const struct insn *double_shift(struct cpu *c, const struct insn *i, unsigned n)
{
    uint32_t d, a = 0;
    int sz = i->size;
    unsigned bits = (unsigned)sz * 8;
    if (i->rm != RM_MEM) {
        d = getreg(c, sz, i->rm);
    } else {
        a = ea(c, i);
        if (!mem_okw(c, a, (uint32_t)sz))
            return pf_ret(c, i, a, true);
        d = ld(c, a, sz);
    }
    n &= 31;
    if (n == 0)
        return i + 1;
    uint32_t s = getreg(c, sz, i->reg), m = sz_mask(sz), r;
    bool cf;
    uint64_t wide;
    if (i->op == 0) {           /* d:s shifted left, take the top */
        wide = ((uint64_t)d << bits | s) << n;
        r = (uint32_t)(wide >> bits) & m;
        cf = sz == 4 ? (d >> (32 - n)) & 1 : (wide >> 32) & 1;
    } else {                    /* s:d shifted right, take the bottom */
        wide = (uint64_t)s << bits | d;
        r = (uint32_t)(wide >> n) & m;
        cf = (wide >> (n - 1)) & 1;
    }
    uint32_t f = emu_flags(c) & ~ARITH_FLAGS;
    f |= (cf ? HV_CF : 0) | (r == 0 ? HV_ZF : 0) | ((r & sz_sign(sz)) ? HV_SF : 0);
    f |= __builtin_parity(r & 0xff) ? 0 : HV_PF;
    f |= ((r ^ d) & sz_sign(sz)) ? HV_OF : 0;
    emu_set_flags(c, f);
    if (i->rm != RM_MEM)
        setreg(c, sz, i->rm, r);
    else
        st(c, a, sz, r);
    return i + 1;
}

OP(op_shxd)
{
    const struct insn *n = double_shift(c, i, i->imm2 ? (c->r[HV_ECX] & 0xff) : i->imm);
    if (!n)
        STOP();
    RUN_AT(n);
}
