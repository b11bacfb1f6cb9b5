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
    if (emu_cond(c, i->op)) {
        CS_LIMIT(i->imm);
        GOTO(i->imm, 0);
    }
    GOTO(i->next, 1);
}

/*
 * CMP or TEST (32-bit) immediately followed by Jcc: one handler does both,
 * recording the flags as CMP/TEST would and branching on the condition
 * computed straight from the operands.  The Jcc insn that follows keeps the
 * target and the successor slots.
 */
static inline __attribute__((always_inline)) bool
fused_cond(int cc, bool test, uint32_t a, uint32_t b, uint32_t r)
{
    bool v;
    switch (cc >> 1) {
    case 0: v = test ? false : (((a ^ b) & (a ^ r)) >> 31) != 0; break;
    case 1: v = test ? false : a < b; break;
    case 2: v = r == 0; break;
    case 3: v = test ? r == 0 : a <= b; break;
    case 4: v = (r >> 31) != 0; break;
    case 5: v = !__builtin_parity(r & 0xff); break;
    case 6: v = test ? (r >> 31) != 0 : (int32_t)a < (int32_t)b; break;
    default: v = test ? (r == 0 || (r >> 31)) : (int32_t)a <= (int32_t)b; break;
    }
    return v ^ (cc & 1);
}

#define FUSED_BODY(CC, TEST)                                                   \
    uint32_t r_;                                                               \
    if (TEST) {                                                                \
        r_ = a_ & b_;                                                          \
        set_cc(c, CC_LOGIC, 4, 0, 0, r_);                                      \
    } else {                                                                   \
        r_ = a_ - b_;                                                          \
        set_cc(c, CC_SUB, 4, a_, b_, r_);                                      \
    }                                                                          \
    const struct insn *j_ = i + 1;                                             \
    if (fused_cond(CC, TEST, a_, b_, r_)) {                                    \
        CS_LIMIT_AT(j_, j_->imm);                                              \
        GOTO_AT(j_, j_->imm, 0);                                               \
    }                                                                          \
    GOTO_AT(j_, j_->next, 1);

#define FUSED(CC)                                                              \
    static OP(op_cmp_rr_j##CC) { uint32_t a_ = c->r[i->rm], b_ = c->r[i->reg]; FUSED_BODY(CC, 0) } \
    static OP(op_cmp_ri_j##CC) { uint32_t a_ = c->r[i->rm], b_ = i->imm; FUSED_BODY(CC, 0) } \
    static OP(op_cmp_rm_j##CC)                                                 \
    {                                                                          \
        uint32_t m_ = ea(c, i);                                                \
        CHECK(m_, 4);                                                          \
        uint32_t a_ = c->r[i->reg], b_ = ld(c, m_, 4);                         \
        FUSED_BODY(CC, 0)                                                      \
    }                                                                          \
    static OP(op_cmp_mr_j##CC)                                                 \
    {                                                                          \
        uint32_t m_ = ea(c, i);                                                \
        CHECK(m_, 4);                                                          \
        uint32_t a_ = ld(c, m_, 4), b_ = c->r[i->reg];                         \
        FUSED_BODY(CC, 0)                                                      \
    }                                                                          \
    static OP(op_cmp_mi_j##CC)                                                 \
    {                                                                          \
        uint32_t m_ = ea(c, i);                                                \
        CHECK(m_, 4);                                                          \
        uint32_t a_ = ld(c, m_, 4), b_ = i->imm;                               \
        FUSED_BODY(CC, 0)                                                      \
    }                                                                          \
    static OP(op_test_rr_j##CC) { uint32_t a_ = c->r[i->rm], b_ = c->r[i->reg]; FUSED_BODY(CC, 1) } \
    static OP(op_test_ri_j##CC) { uint32_t a_ = c->r[i->rm], b_ = i->imm; FUSED_BODY(CC, 1) }

FUSED(0) FUSED(1) FUSED(2) FUSED(3) FUSED(4) FUSED(5) FUSED(6) FUSED(7)
FUSED(8) FUSED(9) FUSED(10) FUSED(11) FUSED(12) FUSED(13) FUSED(14) FUSED(15)

#define FUSED_ROW(F) {                                                          \
        EMU(F##_j0), EMU(F##_j1), EMU(F##_j2), EMU(F##_j3), EMU(F##_j4), EMU(F##_j5), \
        EMU(F##_j6), EMU(F##_j7), EMU(F##_j8), EMU(F##_j9), EMU(F##_j10), EMU(F##_j11), \
        EMU(F##_j12), EMU(F##_j13), EMU(F##_j14), EMU(F##_j15) }
static emu_fn *const fused_table[7][16] = {
    FUSED_ROW(op_cmp_rr), FUSED_ROW(op_cmp_ri), FUSED_ROW(op_cmp_rm), FUSED_ROW(op_cmp_mr),
    FUSED_ROW(op_cmp_mi), FUSED_ROW(op_test_rr), FUSED_ROW(op_test_ri),
};

extern emu_fn *const EMU(emu_alu)[3][9][5];

/* The fused handler for `cmp` (a 32-bit CMP/TEST handler) then Jcc `cond`. */
emu_fn *EMU(emu_fused_cmp_jcc)(emu_fn *cmp, int cond)
{
    emu_fn *const *cmps = EMU(emu_alu)[2][ALU_CMP], *const *tests = EMU(emu_alu)[2][ALU_TEST];
    for (int form = 0; form < 5; form++)
        if (cmp == cmps[form])
            return fused_table[form][cond];
    if (cmp == tests[0])
        return fused_table[5][cond];
    if (cmp == tests[1])
        return fused_table[6][cond];
    return NULL;
}

OP(op_jmp)
{
    CS_LIMIT(i->imm);
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
    if (HV_UNLIKELY(c->cov_hash != NULL))
        emu_cov_cut(c, i->eip);
    STOP();
}

OP(op_call)
{
    CS_LIMIT(i->imm);
    PUSH(4, i->next);
    GOTO(i->imm, 0);
}

/* JMP/CALL Ev */
OP(op_jmp_e)
{
    uint32_t t, a = 0;
    READ_E(i->size, t, a);
    (void)a;
    CS_LIMIT(t);
    GOTO_INDIRECT(t);
}

OP(op_call_e)
{
    uint32_t t, a = 0;
    READ_E(i->size, t, a);
    (void)a;
    CS_LIMIT(t);
    PUSH(4, i->next);
    GOTO_INDIRECT(t);
}

OP(op_ret)
{
    uint32_t t, sp = c->r[HV_ESP];
    POP(4, t);
#if EMU_SEG
    if (HV_UNLIKELY(t > c->seg[HV_CS].limit)) {
        c->r[HV_ESP] = sp;
        FAULT(HV_VEC_GP, 0, 0);
    }
#else
    (void)sp;
#endif
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
    if (go) {
#if EMU_SEG
        if (HV_UNLIKELY(i->imm > c->seg[HV_CS].limit)) {
            if (i->op != 3)
                c->r[HV_ECX]++;         /* the LOOP did not happen */
            FAULT(HV_VEC_GP, 0, 0);
        }
#endif
        GOTO(i->imm, 0);
    }
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
    PRIVILEGED();
    emu_trap_ret(c, i, HV_TRAP_HLT, 0);
    STOP();
}

/* OUT: op 0 = port in imm, 1 = port in DX. */
OP(op_out)
{
    IOPL_CHECK();
    struct hv_trap *t = c->trap;
    emu_trap_ret(c, i, HV_TRAP_OUT, 0);
    t->port = (uint16_t)(i->op ? c->r[HV_EDX] : i->imm);
    t->size = i->size;
    t->value = getreg(c, i->size, HV_EAX);
    STOP();
}

OP(op_in)
{
    IOPL_CHECK();
    struct hv_trap *t = c->trap;
    emu_trap_ret(c, i, HV_TRAP_IN, 0);
    t->port = (uint16_t)(i->op ? c->r[HV_EDX] : i->imm);
    t->size = i->size;
    STOP();
}

/* IRET (SDM vol. 2): pop EIP, CS and EFLAGS; returning to ring 3 also pops
 * ESP and SS.  Outside ring 0, IOPL stays and IF changes only when
 * CPL <= IOPL. */
#define IRET_FLAGS 0x254fd5u

OP(op_iret)
{
    uint32_t sp = c->r[HV_ESP], la = SP_LIN(sp);
    CHECK_SS(la, 12);
    uint32_t eip = ld(c, la, 4), cs = ld(c, la + 4, 4) & 0xffff, fl = ld(c, la + 8, 4);
    unsigned rpl = cs & 3;
    if (rpl < c->cpl)
        FAULT(HV_VEC_GP, cs & 0xfffc, 0);   /* iret never goes to an inner level */
    if (rpl == 1 || rpl == 2) {
        emu_unsupported(c, i, "iret to ring %u (selector 0x%04x): rings 1 and 2 are not "
                        "supported", cs & 3, cs);
        STOP();
    }
    uint32_t mask = IRET_FLAGS;
    if (c->cpl != 0) {
        mask &= ~HV_IOPL;
        if (c->cpl > ((c->eflags >> 12) & 3))
            mask &= ~HV_IF;
    }
    bool was_off = !(c->eflags & HV_IF);
    if (rpl > c->cpl) {
        /* To ring 3: SS:ESP come off the stack too. */
        CHECK_SS(la, 20);
        uint32_t esp = ld(c, la + 12, 4), ss = ld(c, la + 16, 4) & 0xffff;
        uint16_t old_ss = c->sreg[HV_SS];
        struct emu_seg old_cache = c->seg[HV_SS];
        if (!EMU(emu_load_segment_at)(c, i, HV_SS, ss, rpl))
            STOP();
        uint16_t old_cs = c->sreg[HV_CS];
        struct emu_seg old_code = c->seg[HV_CS];
        if (!EMU(emu_load_segment_at)(c, i, HV_CS, cs, rpl) ||
            !emu_far_target_ok(c, i, old_cs, &old_code, eip)) {
            c->sreg[HV_SS] = old_ss;
            c->seg[HV_SS] = old_cache;
            emu_seg_loaded(c);
            STOP();
        }
        emu_set_flags(c, (fl & mask) | (c->eflags & ~mask));
        c->r[HV_ESP] = esp;
        emu_set_cpl(c, rpl);
        EMU(emu_drop_inner_segments)(c);
        bool window = c->want_window && was_off && (fl & HV_IF);
        emu_exit_at(c, i, window ? HV_TRAP_IRQ_WINDOW : HV_TRAP_NONE, eip);
        STOP();
    }
    uint16_t old_sel = c->sreg[HV_CS];
    struct emu_seg old = c->seg[HV_CS];
    if (!EMU(emu_load_segment)(c, i, HV_CS, cs) || !emu_far_target_ok(c, i, old_sel, &old, eip))
        STOP();
    c->r[HV_ESP] = sp + 12;
    emu_set_flags(c, (fl & mask) | (c->eflags & ~mask));
    if (HV_UNLIKELY(c->want_window && was_off && (fl & HV_IF))) {
        emu_exit_at(c, i, HV_TRAP_IRQ_WINDOW, eip);
        STOP();
    }
    GOTO_INDIRECT(eip);
}

/* Undefined opcode: the decoder saved how many bytes to show in imm2. */
OP(op_ud)
{
    emu_raise_ud(c, i, i->imm2);
    STOP();
}

/* Instruction fetch from outside RAM (or an unmapped page), or an instruction
 * that runs off its end: imm is the first byte that could not be fetched,
 * imm2 the #PF error code. */
/* An instruction that could not be fetched: a #PF at imm (error code imm2),
 * or past the CS limit (op 1), #GP(0). */
OP(op_fetch_fault)
{
    if (i->op)
        FAULT(HV_VEC_GP, 0, 0);
    FAULT(HV_VEC_PF, i->imm2, i->imm);
}

OP(op_gp)
{
    FAULT(HV_VEC_GP, 0, 0);
}
