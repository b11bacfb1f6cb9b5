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

/*
 * RDMSR and WRMSR (op 0 / 1), ECX = the MSR (SDM vol. 4).  The MSRs a 32-bit
 * kernel touches: the TSC (0x10; reads as rdtsc does, a write sets it), the
 * SYSENTER CS/ESP/EIP (0x174-0x176), MISC_ENABLE (0x1A0) and PAT (0x277),
 * which keep what is written; MTRRCAP (0xFE) and the MTRRs read 0 (no
 * MTRRs).  Any other MSR raises #GP(0), as CPUID advertises no more.
 */
OP(op_msr)
{
    PRIVILEGED();
    uint32_t msr = c->r[HV_ECX];
    uint64_t v = ((uint64_t)c->r[HV_EDX] << 32) | c->r[HV_EAX];
    uint64_t *slot;
    switch (msr) {
    case 0x10: {
        uint64_t now = c->icount - i->remain + 1;
        if (i->op) {
            c->tsc_offset = v - now;
        } else {
            v = now + c->tsc_offset;
            c->r[HV_EAX] = (uint32_t)v;
            c->r[HV_EDX] = (uint32_t)(v >> 32);
        }
        NEXT();
    }
    case 0x174: slot = &c->msr_sysenter[0]; break;
    case 0x175: slot = &c->msr_sysenter[1]; break;
    case 0x176: slot = &c->msr_sysenter[2]; break;
    case 0x1a0: slot = &c->msr_misc_enable; break;
    case 0x277: slot = &c->msr_pat; break;
    case 0xfe:
        if (i->op)
            FAULT(HV_VEC_GP, 0, 0);         /* read-only */
        c->r[HV_EAX] = c->r[HV_EDX] = 0;
        NEXT();
    default:
        FAULT(HV_VEC_GP, 0, 0);
    }
    if (i->op) {
        *slot = v;
    } else {
        c->r[HV_EAX] = (uint32_t)*slot;
        c->r[HV_EDX] = (uint32_t)(*slot >> 32);
    }
    NEXT();
}
