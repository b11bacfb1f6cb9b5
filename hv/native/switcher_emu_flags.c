/*
 * switcher_emu_flags.c: computing EFLAGS from the lazy record.
 *
 * Definitions follow the Intel SDM vol. 2 entry of each instruction.  Where a
 * flag is architecturally undefined we pick a fixed value (usually what our
 * reference CPUs produce); guests must not rely on it.
 */
#include "switcher_emu.h"

static bool parity8(uint32_t v)
{
    return !__builtin_parity(v & 0xff);     /* PF: even number of set bits */
}

static int carry(const struct cpu *c, uint32_t kind, int sz)
{
    uint32_t a = c->cc_a, b = c->cc_b, r = c->cc_res, m = sz_mask(sz);
    unsigned bits = (unsigned)sz * 8;
    switch (kind) {
    case CC_ADD: return r < a;
    case CC_ADC: {
        uint32_t cin = (r - a - b) & m;
        return cin ? r <= a : r < a;
    }
    case CC_SUB: return a < b;
    case CC_SBB: {
        uint32_t cin = (a - b - r) & m;
        return cin ? a <= b : a < b;
    }
    case CC_INC: case CC_DEC: return (int)b;   /* CF is preserved; b holds it */
    case CC_NEG: return a != 0;
    case CC_SHL: return b <= bits ? (int)(((uint64_t)a << b >> bits) & 1) : 0;
    case CC_SHR: return b <= 32 ? (int)((a >> (b - 1)) & 1) : 0;
    case CC_SAR: {
        int32_t sa = (int32_t)sext(a, sz);
        return (int)((sa >> (b - 1 < 31 ? b - 1 : 31)) & 1);
    }
    default: return 0;
    }
}

static int overflow(const struct cpu *c, uint32_t kind, int sz)
{
    uint32_t a = c->cc_a, b = c->cc_b, r = c->cc_res, s = sz_sign(sz);
    switch (kind) {
    case CC_ADD: case CC_ADC: return ((a ^ r) & (b ^ r) & s) != 0;
    case CC_SUB: case CC_SBB: return ((a ^ b) & (a ^ r) & s) != 0;
    case CC_INC: return r == s;
    case CC_DEC: return a == s;
    case CC_NEG: return a == s;
    case CC_SHL: return ((r & s) != 0) ^ carry(c, kind, sz);
    case CC_SHR: return (a & s) != 0;
    default: return 0;
    }
}

static int aux(const struct cpu *c, uint32_t kind)
{
    uint32_t a = c->cc_a, b = c->cc_b, r = c->cc_res;
    switch (kind) {
    case CC_ADD: case CC_ADC: case CC_SUB: case CC_SBB: return ((a ^ b ^ r) & 0x10) != 0;
    case CC_INC: return (r & 0xf) == 0;
    case CC_DEC: return (r & 0xf) == 0xf;
    case CC_NEG: return ((a ^ r) & 0x10) != 0;
    default: return 0;
    }
}

uint32_t emu_flags(const struct cpu *c)
{
    uint32_t kind = c->cc_op >> 2;
    if (kind == CC_EAGER)
        return c->eflags;
    int sz = 1 << (c->cc_op & 3);
    uint32_t f = c->eflags & ~ARITH_FLAGS;
    if (carry(c, kind, sz)) f |= HV_CF;
    if (parity8(c->cc_res)) f |= HV_PF;
    if (aux(c, kind)) f |= HV_AF;
    if (c->cc_res == 0) f |= HV_ZF;
    if (c->cc_res & sz_sign(sz)) f |= HV_SF;
    if (overflow(c, kind, sz)) f |= HV_OF;
    return f;
}

int emu_cf_slow(const struct cpu *c)
{
    uint32_t kind = c->cc_op >> 2;
    if (kind == CC_EAGER)
        return (int)(c->eflags & HV_CF);
    return carry(c, kind, 1 << (c->cc_op & 3));
}

void emu_set_flags(struct cpu *c, uint32_t f)
{
    c->eflags = (f & ~0x8u & ~0x20u & ~0x8000u) | HV_FLAGS_FIXED;   /* reserved bits read 0/1 */
    c->cc_op = CC_EAGER;
}

bool emu_cond_slow(const struct cpu *c, int cc)
{
    uint32_t f = emu_flags(c);
    bool cf = f & HV_CF, zf = f & HV_ZF, sf = f & HV_SF, of = f & HV_OF, pf = f & HV_PF;
    bool v;
    switch (cc >> 1) {
    case 0: v = of; break;
    case 1: v = cf; break;
    case 2: v = zf; break;
    case 3: v = cf || zf; break;
    case 4: v = sf; break;
    case 5: v = pf; break;
    case 6: v = sf != of; break;
    default: v = zf || (sf != of); break;
    }
    return v ^ (cc & 1);
}
