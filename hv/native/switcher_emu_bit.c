/*
 * switcher_emu_bit.c: BT, BTS, BTR, BTC, BSF, BSR (Intel SDM vol. 2).
 *
 * BTx sets CF to the selected bit and leaves ZF alone; OF, SF, AF and PF are
 * undefined and we leave them as they were.  With a register bit offset and a
 * memory operand the offset is signed and may reach outside the operand.
 */
#include "switcher_emu.h"

enum { BT_TEST, BT_SET, BT_RESET, BT_COMPLEMENT };

static uint32_t bt_apply(struct cpu *c, int op, uint32_t v, unsigned bit)
{
    uint32_t mask = 1u << bit;
    uint32_t f = emu_flags(c) & ~HV_CF;
    emu_set_flags(c, f | ((v & mask) ? HV_CF : 0));
    switch (op) {
    case BT_SET: return v | mask;
    case BT_RESET: return v & ~mask;
    case BT_COMPLEMENT: return v ^ mask;
    default: return v;
    }
}

/* imm2 = 1: the bit offset is an immediate (i->imm); else register i->reg. */
OP(op_bt)
{
    int sz = i->size;
    unsigned bits = (unsigned)sz * 8;
    uint32_t off = i->imm2 ? i->imm : getreg(c, sz, i->reg);
    if (i->rm != RM_MEM) {
        uint32_t v = getreg(c, sz, i->rm);
        uint32_t r = bt_apply(c, i->op, v, off & (bits - 1));
        if (i->op != BT_TEST)
            setreg(c, sz, i->rm, r);
        NEXT();
    }
    uint32_t a = ea(c, i);
    if (!i->imm2) {
        /* The signed offset selects a whole operand first (SDM: BT, "bit base"). */
        int32_t soff = (int32_t)sext(off, sz);
        int32_t unit = soff >> (sz == 4 ? 5 : 4);
        a += (uint32_t)unit * (uint32_t)sz;
    }
    if (i->op != BT_TEST)
        CHECKW(a, sz);
    else
        CHECK(a, sz);
    uint32_t r = bt_apply(c, i->op, ld(c, a, sz), off & (bits - 1));
    if (i->op != BT_TEST)
        st(c, a, sz, r);
    NEXT();
}

/* BSF (op 0) / BSR (op 1): a zero source sets ZF and keeps the destination. */
OP(op_bsx)
{
    uint32_t v, a = 0;
    READ_E(i->size, v, a);
    (void)a;
    uint32_t f = emu_flags(c) & ~ARITH_FLAGS;
    if (v == 0) {
        f |= HV_ZF | HV_PF;
    } else {
        uint32_t r = i->op ? 31u - (uint32_t)__builtin_clz(v) : (uint32_t)__builtin_ctz(v);
        setreg(c, i->size, i->reg, r);
        f |= __builtin_parity(r & 0xff) ? 0 : HV_PF;
    }
    emu_set_flags(c, f);
    NEXT();
}
