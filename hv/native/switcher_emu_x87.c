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
 * CS and operand address in the image, as FNSTENV and FNSAVE report them.
 */
#include "switcher_emu.h"

/* The image's fields (FNSAVE layout): CW at 0, SW at 4, FIP 12, FCS 16,
 * FOP 18, FDP 20, FDS 24. */
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
    if (!(info & X87_NOWAIT) && !emu_x87_check_pending(c, i))
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
    uint32_t fl = emu_x87_exec(c, i->op, modrm, mem);
    if (!(info & X87_CONTROL)) {
        put_le32(c->x87 + 12, i->eip);                                 /* FIP */
        put_le16(c->x87 + 16, c->sreg[HV_CS]);                         /* FCS */
        put_le16(c->x87 + 18, (uint32_t)(i->op << 8 | modrm) & 0x7ffu); /* FOP */
        if (n) {
            put_le32(c->x87 + 20, ea_off(c, i));                       /* FDP */
            put_le32(c->x87 + 24, c->sreg[i->seg]);                    /* FDS */
        }
    }
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
        setreg(c, 2, HV_EAX, le16(c->x87 + 4));
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
    if (!emu_x87_check_pending(c, i))
        STOP();
    NEXT();
}
