/*
 * switcher_emu_x87.c: the x87 FPU instructions (escape opcodes D8..DF) and
 * FWAIT (Intel SDM vol. 1, chapter 8; vol. 2).
 *
 * The decoder has checked the encoding and noted the memory operand's size
 * and direction (insn.imm, X87_*).  The handler raises #NM when CR0.EM or
 * CR0.TS says so, and #MF for a waiting instruction (all but the FN* ones)
 * while an unmasked exception is pending; then it copies the memory operand, runs the opcode
 * on the host's x87 (switcher_emu_x87host.c), and writes back what the
 * instruction stores.  Non-control instructions leave their opcode, EIP,
 * CS and operand address in fpu_*, which FNSTENV and FNSAVE report.
 */
#include "switcher_emu.h"

/* The work of one x87 instruction; false once it has faulted.  Apart from
 * the handler, so that the handler's jump to the next one stays a tail call
 * (the operand buffer here has its address taken). */
static __attribute__((noinline)) bool EMU(x87_step)(struct cpu *c, const struct insn *i)
{
    uint32_t info = i->imm, n = info & 0xffu, a = 0;
    unsigned modrm = i->imm2 & 0xffu;
    if (HV_UNLIKELY(c->cr0 & (HV_CR0_EM | HV_CR0_TS))) {
        emu_fault_ret(c, i, HV_VEC_NM, 0, 0);
        return false;
    }
    int w = X87_WAIT_GO;
    if (!(info & X87_NOWAIT) && c->x87_watch && (w = emu_x87_wait(c, i)) == X87_WAIT_STOP)
        return false;
    uint8_t mem[108];
    if (n) {
        a = ea(c, i);
        if (!access_ok(c, i, i->seg, a, n, info & X87_WRITE))
            return false;
        /* A store that an unmasked exception stops leaves memory as it was:
         * the host writes over a copy of it. */
        for (uint32_t k = 0; k < n; k += 4) {
            uint32_t v = n - k >= 4 ? ld(c, a + k, 4) : ld(c, a + k, 2);
            memcpy(mem + k, &v, n - k >= 4 ? 4 : 2);
        }
    }
    uint32_t held = w == X87_WAIT_IGNORE ? emu_x87_hold(c) : 0;
    uint32_t fl = emu_x87_exec(c, i->op, modrm, mem);
    if (!(info & X87_CONTROL)) {
        c->fpu_ip = i->eip;
        c->fpu_cs = c->sreg[HV_CS];
        c->fpu_op = (uint16_t)((i->op << 8 | modrm) & 0x7ffu);
        if (n) {
            c->fpu_dp = ea_off(c, i);
            c->fpu_ds = c->sreg[i->seg];
        }
    } else if (n >= 28 && (i->op == 1 || i->op == 5)) {
        /* FLDENV, FNSTENV (D9 /4, /6), FRSTOR, FNSAVE (DD /4, /6): the
         * pointers come from the image, or go into it */
        if (info & X87_WRITE)
            emu_x87_put_pointers(c, mem);
        else
            emu_x87_get_pointers(c, mem);
    }
    if ((i->op == 5 && n == 108 && (info & X87_WRITE)) || (i->op == 3 && modrm == 0xe3)) {
        c->fpu_ip = c->fpu_dp = 0;      /* FNSAVE and FNINIT initialise them */
        c->fpu_cs = c->fpu_op = c->fpu_ds = 0;
    }
    if (w == X87_WAIT_IGNORE)
        emu_x87_unhold(c, held);
    else if (info & X87_CONTROL)
        emu_x87_rewatch(c);
    if (info & X87_WRITE) {
        for (uint32_t k = 0; k < n; k += 4) {
            uint32_t v = 0;
            memcpy(&v, mem + k, n - k >= 4 ? 4 : 2);
            st(c, a + k, n - k >= 4 ? 4 : 2, v);
        }
    }
    if (info & X87_FLAGS)
        emu_set_flags(c, (emu_flags(c) & ~ARITH_FLAGS) | fl);
    if (info & X87_STSW_AX)
        setreg(c, 2, HV_EAX, emu_x87_sw(c));
    return true;
}

OP(op_x87)
{
    if (!EMU(x87_step)(c, i))
        STOP();
    NEXT();
}

/* FWAIT: #NM when both CR0.MP and CR0.TS are set; #MF if an exception is
 * pending. */
OP(op_fwait)
{
    if (HV_UNLIKELY((c->cr0 & (HV_CR0_MP | HV_CR0_TS)) == (HV_CR0_MP | HV_CR0_TS)))
        FAULT(HV_VEC_NM, 0, 0);
    if (c->x87_watch && emu_x87_wait(c, i) == X87_WAIT_STOP)
        STOP();
    NEXT();
}
