/*
 * switcher_emu_system.c: system instructions of a ring-0 guest (Intel SDM
 * vol. 2: MOV to and from control registers, INVLPG, CLTS).
 *
 * What a control-register write means for cached translations and decoded
 * code is decided once, in emu_set_cr(); the handler only leaves the block,
 * so the dispatcher can drop that state before any more guest code runs.
 */
#include "switcher_emu.h"

OP(op_mov_from_cr)
{
    PRIVILEGED();
    uint32_t v;
    switch (i->reg) {
    case 0: v = c->cr0; break;
    case 2: v = c->cr2; break;
    case 3: v = c->cr3; break;
    default: v = c->cr4; break;
    }
    c->r[i->rm] = v;
    NEXT();
}

OP(op_mov_to_cr)
{
    PRIVILEGED();
    uint32_t v = c->r[i->rm];
    if (!emu_cr_valid(i->reg, v))
        FAULT(HV_VEC_GP, 0, 0);
    emu_set_cr(c, i->reg, v);
    emu_exit_at(c, i, HV_TRAP_NONE, i->next);
    STOP();
}

OP(op_invlpg)
{
    PRIVILEGED();
    emu_invlpg(c, ea(c, i));
    emu_exit_at(c, i, HV_TRAP_NONE, i->next);
    STOP();
}

OP(op_clts)
{
    PRIVILEGED();
    c->cr0 &= ~HV_CR0_TS;
    NEXT();
}

/* INVD, WBINVD: there are no caches to write back, but ring 3 may not ask. */
OP(op_wbinvd)
{
    PRIVILEGED();
    NEXT();
}
