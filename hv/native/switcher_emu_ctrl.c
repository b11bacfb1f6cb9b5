/*
 * switcher_emu_ctrl.c: control transfer, traps to the host, and the block
 * glue (Intel SDM vol. 2: Jcc, JMP, CALL, RET, LOOP, JECXZ, INT n/INT3/INTO,
 * IRET, HLT, IN, OUT, UD2).
 *
 * Direct branches go through the successor slots of their insn (block
 * chaining); indirect ones through the jump cache.  Anything that needs the
 * host retires the instruction and leaves with a trap.
 */
#include "switcher_emu.h"

OP(op_jcc)
{
    if (emu_cond(c, i->op))
        GOTO(i->imm, 0);
    GOTO(i->next, 1);
}

OP(op_jmp)
{
    GOTO(i->imm, 0);
}

/* End of a block that did not end in a branch: carry on with the next. */
OP(op_fallthrough)
{
    GOTO(i->eip, 0);
}

/* An instruction of a block invalidated by a write to its code: stop here,
 * before it runs, and let the dispatcher decode the new bytes. */
OP(op_stale)
{
    c->eip = i->eip;
    c->icount -= i->remain;
    STOP();
}

OP(op_call)
{
    PUSH(4, i->next);
    GOTO(i->imm, 0);
}

/* JMP/CALL Ev */
OP(op_jmp_e)
{
    uint32_t t, a = 0;
    READ_E(i->size, t, a);
    (void)a;
    GOTO_INDIRECT(t);
}

OP(op_call_e)
{
    uint32_t t, a = 0;
    READ_E(i->size, t, a);
    (void)a;
    PUSH(4, i->next);
    GOTO_INDIRECT(t);
}

OP(op_ret)
{
    uint32_t t;
    POP(4, t);
    c->r[HV_ESP] += i->imm;                 /* RET imm16 */
    GOTO_INDIRECT(t);
}

/* LOOP (op 2), LOOPE (1), LOOPNE (0), JECXZ (3). */
OP(op_loop)
{
    bool go;
    if (i->op == 3) {
        go = c->r[HV_ECX] == 0;
    } else {
        uint32_t n = --c->r[HV_ECX];
        go = n != 0;
        if (i->op == 1)
            go = go && emu_cond(c, 4);
        else if (i->op == 0)
            go = go && !emu_cond(c, 4);
    }
    if (go)
        GOTO(i->imm, 0);
    GOTO(i->next, 1);
}

/* ---- to the host ---- */
OP(op_int)
{
    emu_trap_ret(c, i, HV_TRAP_SOFTINT, i->imm);
    STOP();
}

OP(op_into)
{
    if (!emu_cond(c, 0))
        NEXT();
    emu_trap_ret(c, i, HV_TRAP_SOFTINT, HV_VEC_OF);
    STOP();
}

OP(op_hlt)
{
    emu_trap_ret(c, i, HV_TRAP_HLT, 0);
    STOP();
}

/* OUT: op 0 = port in imm, 1 = port in DX. */
OP(op_out)
{
    struct hv_trap *t = c->trap;
    emu_trap_ret(c, i, HV_TRAP_OUT, 0);
    t->port = (uint16_t)(i->op ? c->r[HV_EDX] : i->imm);
    t->size = i->size;
    t->value = getreg(c, i->size, HV_EAX);
    STOP();
}

OP(op_in)
{
    struct hv_trap *t = c->trap;
    emu_trap_ret(c, i, HV_TRAP_IN, 0);
    t->port = (uint16_t)(i->op ? c->r[HV_EDX] : i->imm);
    t->size = i->size;
    STOP();
}

/* IRET in a flat world: pop EIP, CS, EFLAGS. */
OP(op_iret)
{
    uint32_t sp = c->r[HV_ESP];
    CHECK(sp, 12);
    uint32_t eip = ld(c, sp, 4), cs = ld(c, sp + 4, 4), fl = ld(c, sp + 8, 4);
    if ((cs & 0xffff) != 0x08)
        FAULT(HV_VEC_GP, cs & 0xfffc, 0);
    c->r[HV_ESP] = sp + 12;
    uint32_t keep = c->eflags & ~0x254fd5u;
    emu_set_flags(c, (fl & 0x254fd5u) | keep);
    GOTO_INDIRECT(eip);
}

/* Undefined opcode: the decoder saved how many bytes to show in imm2. */
OP(op_ud)
{
    struct hv_trap *t = c->trap;
    emu_fault_ret(c, i, HV_VEC_UD, 0, 0);
    unsigned n = i->imm2 < sizeof(t->bytes) ? i->imm2 : sizeof(t->bytes);
    for (unsigned k = 0; k < n && mem_ok(c, i->eip + k, 1); k++)
        t->bytes[t->nbytes++] = c->ram[i->eip + k];
    STOP();
}

/* Instruction fetch from outside RAM, or an instruction that runs off its end. */
OP(op_fetch_fault)
{
    FAULT(HV_VEC_PF, 0, i->imm);
}

OP(op_gp)
{
    FAULT(HV_VEC_GP, 0, 0);
}
