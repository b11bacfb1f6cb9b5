/*
 * switcher_emu_muldiv.c: MUL, IMUL (one, two and three operands), DIV, IDIV
 * (Intel SDM vol. 2).
 *
 * After a multiply only CF and OF are defined: set when the high half is
 * significant.  We also set SF, ZF and PF from the low half and clear AF, as
 * recent Intel cores do.  A divide leaves every flag as it was; divide by zero
 * or a quotient too wide for the destination raises #DE.
 */
#include "switcher_emu.h"

static void mul_flags(struct cpu *c, int sz, uint32_t lo, bool wide)
{
    uint32_t f = emu_flags(c) & ~ARITH_FLAGS;
    lo &= sz_mask(sz);
    f |= wide ? (HV_CF | HV_OF) : 0;
    f |= lo == 0 ? HV_ZF : 0;
    f |= (lo & sz_sign(sz)) ? HV_SF : 0;
    f |= __builtin_parity(lo & 0xff) ? 0 : HV_PF;
    emu_set_flags(c, f);
}

/* Store a double-width product: AX for bytes, DX:AX for words, EDX:EAX. */
static void put_wide(struct cpu *c, int sz, uint64_t p)
{
    if (sz == 1) {
        setreg(c, 2, HV_EAX, (uint32_t)p);
    } else {
        setreg(c, sz, HV_EAX, (uint32_t)p);
        setreg(c, sz, HV_EDX, (uint32_t)(p >> (sz * 8)));
    }
}

static uint64_t get_wide(const struct cpu *c, int sz)
{
    if (sz == 1)
        return getreg(c, 2, HV_EAX);
    return ((uint64_t)getreg(c, sz, HV_EDX) << (sz * 8)) | getreg(c, sz, HV_EAX);
}

/* Group 3 /4../7 with the operand already read: 0 = ok, else #DE. */
static int muldiv(struct cpu *c, int op, int sz, uint32_t src)
{
    unsigned bits = (unsigned)sz * 8;
    uint32_t acc = getreg(c, sz, HV_EAX);
    switch (op) {
    case 4: {
        uint64_t p = (uint64_t)acc * src;
        put_wide(c, sz, p);
        mul_flags(c, sz, (uint32_t)p, (p >> bits) != 0);
        return 0;
    }
    case 5: {
        int64_t p = (int64_t)(int32_t)sext(acc, sz) * (int32_t)sext(src, sz);
        put_wide(c, sz, (uint64_t)p);
        mul_flags(c, sz, (uint32_t)p, p != (int64_t)(int32_t)sext((uint32_t)p, sz));
        return 0;
    }
    case 6: {
        uint64_t n = get_wide(c, sz);
        if (src == 0)
            return -1;
        uint64_t q = n / src, r = n % src;
        if (q > sz_mask(sz))
            return -1;
        if (sz == 1) {
            setreg(c, 1, 0, (uint32_t)q);
            setreg(c, 1, 4, (uint32_t)r);       /* AH */
        } else {
            setreg(c, sz, HV_EAX, (uint32_t)q);
            setreg(c, sz, HV_EDX, (uint32_t)r);
        }
        return 0;
    }
    default: {
        uint64_t w = get_wide(c, sz);
        int64_t n = sz == 4 ? (int64_t)w : (int64_t)(int32_t)sext((uint32_t)w, sz * 2);
        int64_t d = (int32_t)sext(src, sz);
        if (d == 0)
            return -1;
        if (n == INT64_MIN && d == -1)
            return -1;
        int64_t q = n / d, r = n % d;
        int64_t lim = (int64_t)1 << (bits - 1);
        if (q >= lim || q < -lim)
            return -1;
        if (sz == 1) {
            setreg(c, 1, 0, (uint32_t)q);
            setreg(c, 1, 4, (uint32_t)r);
        } else {
            setreg(c, sz, HV_EAX, (uint32_t)q);
            setreg(c, sz, HV_EDX, (uint32_t)r);
        }
        return 0;
    }
    }
}

OP(op_muldiv)
{
    uint32_t v, a = 0;
    READ_E(i->size, v, a);
    (void)a;
    if (muldiv(c, i->op, i->size, v))
        FAULT(HV_VEC_DE, 0, 0);
    NEXT();
}

/* IMUL Gv, Ev (imm2 = 0) or IMUL Gv, Ev, Iz (imm2 = 1). */
OP(op_imul)
{
    uint32_t v, a = 0;
    READ_E(i->size, v, a);
    (void)a;
    int sz = i->size;
    int64_t x = (int32_t)sext(i->imm2 ? i->imm : getreg(c, sz, i->reg), sz);
    int64_t p = x * (int32_t)sext(v, sz);
    setreg(c, sz, i->reg, (uint32_t)p);
    mul_flags(c, sz, (uint32_t)p, p != (int64_t)(int32_t)sext((uint32_t)p, sz));
    NEXT();
}
