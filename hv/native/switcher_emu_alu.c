/*
 * switcher_emu_alu.c: integer arithmetic, logic and data movement
 * (Intel SDM vol. 2: ADD ... XOR, TEST, INC/DEC/NOT/NEG, MOV, LEA, MOVZX/MOVSX,
 * XCHG, XADD, CMPXCHG, CMPXCHG8B, BSWAP, SETcc, CMOVcc).
 *
 * Operand forms: _rr register/register (dst in rm, src in reg), _ri register
 * and immediate, _rm register destination with memory source, _mr memory
 * destination with register source, _mi memory and immediate.  Each form is
 * instantiated once with the size and operation taken from the insn (the
 * generic handler) and once per operation for 32 bits, the hot case.
 */
#include "switcher_emu.h"

#define WRITES(opn) ((opn) < ALU_CMP)

#define ALU_FORMS(P, SZ, OPN)                                                  \
    static OP(P##_rr)                                                          \
    {                                                                          \
        uint32_t r_ = alu(c, OPN, SZ, getreg(c, SZ, i->rm), getreg(c, SZ, i->reg)); \
        if (WRITES(OPN))                                                       \
            setreg(c, SZ, i->rm, r_);                                          \
        NEXT();                                                                \
    }                                                                          \
    static OP(P##_ri)                                                          \
    {                                                                          \
        uint32_t r_ = alu(c, OPN, SZ, getreg(c, SZ, i->rm), i->imm);           \
        if (WRITES(OPN))                                                       \
            setreg(c, SZ, i->rm, r_);                                          \
        NEXT();                                                                \
    }                                                                          \
    static OP(P##_rm)                                                          \
    {                                                                          \
        uint32_t a_ = ea(c, i);                                                \
        CHECK(a_, SZ);                                                         \
        uint32_t r_ = alu(c, OPN, SZ, getreg(c, SZ, i->reg), ld(c, a_, SZ));   \
        if (WRITES(OPN))                                                       \
            setreg(c, SZ, i->reg, r_);                                         \
        NEXT();                                                                \
    }                                                                          \
    static OP(P##_mr)                                                          \
    {                                                                          \
        uint32_t a_ = ea(c, i);                                                \
        if (WRITES(OPN))                                                       \
            CHECKW(a_, SZ);                                                    \
        else                                                                   \
            CHECK(a_, SZ);                                                     \
        uint32_t r_ = alu(c, OPN, SZ, ld(c, a_, SZ), getreg(c, SZ, i->reg));   \
        if (WRITES(OPN))                                                       \
            st(c, a_, SZ, r_);                                                 \
        NEXT();                                                                \
    }                                                                          \
    static OP(P##_mi)                                                          \
    {                                                                          \
        uint32_t a_ = ea(c, i);                                                \
        if (WRITES(OPN))                                                       \
            CHECKW(a_, SZ);                                                    \
        else                                                                   \
            CHECK(a_, SZ);                                                     \
        uint32_t r_ = alu(c, OPN, SZ, ld(c, a_, SZ), i->imm);                  \
        if (WRITES(OPN))                                                       \
            st(c, a_, SZ, r_);                                                 \
        NEXT();                                                                \
    }

ALU_FORMS(op_alu, i->size, i->op)

#define ALU_SIZE(N, SZ)                                                        \
    ALU_FORMS(op_add##N, SZ, ALU_ADD) ALU_FORMS(op_or##N, SZ, ALU_OR)          \
    ALU_FORMS(op_adc##N, SZ, ALU_ADC) ALU_FORMS(op_sbb##N, SZ, ALU_SBB)        \
    ALU_FORMS(op_and##N, SZ, ALU_AND) ALU_FORMS(op_sub##N, SZ, ALU_SUB)        \
    ALU_FORMS(op_xor##N, SZ, ALU_XOR) ALU_FORMS(op_cmp##N, SZ, ALU_CMP)        \
    ALU_FORMS(op_test##N, SZ, ALU_TEST)
ALU_SIZE(8, 1)
ALU_SIZE(16, 2)
ALU_SIZE(32, 4)

#define FORM_ROW(P) { EMU(P##_rr), EMU(P##_ri), EMU(P##_rm), EMU(P##_mr), EMU(P##_mi) }
#define OPS_ROW(N) {                                                           \
        FORM_ROW(op_add##N), FORM_ROW(op_or##N), FORM_ROW(op_adc##N),          \
        FORM_ROW(op_sbb##N), FORM_ROW(op_and##N), FORM_ROW(op_sub##N),         \
        FORM_ROW(op_xor##N), FORM_ROW(op_cmp##N), FORM_ROW(op_test##N),        \
    }
emu_fn *const EMU(emu_alu_generic)[5] = FORM_ROW(op_alu);
/* [log2 size][operation][form] */
emu_fn *const EMU(emu_alu)[3][9][5] = { OPS_ROW(8), OPS_ROW(16), OPS_ROW(32) };

/* ---- MOV ---- */
#define MOV_FORMS(P, SZ)                                                       \
    static OP(P##_rr) { setreg(c, SZ, i->rm, getreg(c, SZ, i->reg)); NEXT(); } \
    static OP(P##_ri) { setreg(c, SZ, i->rm, i->imm); NEXT(); }                \
    static OP(P##_rm)                                                          \
    {                                                                          \
        uint32_t a_ = ea(c, i);                                                \
        CHECK(a_, SZ);                                                         \
        setreg(c, SZ, i->reg, ld(c, a_, SZ));                                  \
        NEXT();                                                                \
    }                                                                          \
    static OP(P##_mr)                                                          \
    {                                                                          \
        uint32_t a_ = ea(c, i);                                                \
        CHECKW(a_, SZ);                                                        \
        st(c, a_, SZ, getreg(c, SZ, i->reg));                                  \
        NEXT();                                                                \
    }                                                                          \
    static OP(P##_mi)                                                          \
    {                                                                          \
        uint32_t a_ = ea(c, i);                                                \
        CHECKW(a_, SZ);                                                        \
        st(c, a_, SZ, i->imm);                                                 \
        NEXT();                                                                \
    }

MOV_FORMS(op_mov, i->size)
MOV_FORMS(op_mov32, 4)
emu_fn *const EMU(emu_mov_generic)[5] = FORM_ROW(op_mov);
emu_fn *const EMU(emu_mov32)[5] = FORM_ROW(op_mov32);

/* LEA Gv, M: the address itself, truncated to the operand size. */
OP(op_lea)
{
    setreg(c, i->size, i->reg, ea_off(c, i));
    NEXT();
}

OP(op_lea32)
{
    c->r[i->reg] = ea_off(c, i);
    NEXT();
}

/* ---- INC, DEC, NOT, NEG (group 3/4/5 and 40+r/48+r) ---- */
enum { UN_INC, UN_DEC, UN_NOT, UN_NEG };

static inline uint32_t unary(struct cpu *c, int op, int sz, uint32_t a)
{
    uint32_t m = sz_mask(sz), r;
    switch (op) {
    case UN_INC:
        r = (a + 1) & m;
        set_cc(c, CC_INC, sz, a, (uint32_t)emu_cf(c), r);
        return r;
    case UN_DEC:
        r = (a - 1) & m;
        set_cc(c, CC_DEC, sz, a, (uint32_t)emu_cf(c), r);
        return r;
    case UN_NOT:
        return ~a & m;              /* NOT leaves every flag alone */
    default:
        r = (0 - a) & m;
        set_cc(c, CC_NEG, sz, a, 0, r);
        return r;
    }
}

OP(op_unary)
{
    uint32_t v, a = 0;
    READ_EW(i->size, v, a);
    WRITE_E(i->size, unary(c, i->op, i->size, v), a);
    NEXT();
}

OP(op_inc32_r)
{
    c->r[i->rm] = unary(c, UN_INC, 4, c->r[i->rm]);
    NEXT();
}

OP(op_dec32_r)
{
    c->r[i->rm] = unary(c, UN_DEC, 4, c->r[i->rm]);
    NEXT();
}

/* ---- MOVZX / MOVSX: size is the destination, imm2 the source size ---- */
OP(op_movx)
{
    uint32_t v, a = 0;
    READ_E(i->imm2, v, a);
    if (i->op)
        v = sext(v, i->imm2);
    setreg(c, i->size, i->reg, v);
    NEXT();
}

OP(op_movzxb32_m)
{
    uint32_t a = ea(c, i);
    CHECK(a, 1);
    c->r[i->reg] = ld(c, a, 1);
    NEXT();
}

OP(op_movzxb32_r)
{
    c->r[i->reg] = getreg(c, 1, i->rm);
    NEXT();
}

/* ---- exchanges ---- */
OP(op_xchg)
{
    uint32_t v, a = 0;
    READ_EW(i->size, v, a);
    WRITE_E(i->size, getreg(c, i->size, i->reg), a);
    setreg(c, i->size, i->reg, v);
    NEXT();
}

OP(op_xadd)
{
    uint32_t v, a = 0;
    READ_EW(i->size, v, a);
    uint32_t src = getreg(c, i->size, i->reg);
    uint32_t sum = alu(c, ALU_ADD, i->size, v, src);
    setreg(c, i->size, i->reg, v);
    WRITE_E(i->size, sum, a);
    NEXT();
}

OP(op_cmpxchg)
{
    uint32_t v, a = 0;
    READ_EW(i->size, v, a);
    uint32_t acc = getreg(c, i->size, HV_EAX);
    alu(c, ALU_CMP, i->size, acc, v);
    if (acc == v)
        WRITE_E(i->size, getreg(c, i->size, i->reg), a);
    else
        setreg(c, i->size, HV_EAX, v);
    NEXT();
}

OP(op_cmpxchg8b)
{
    uint32_t a = ea(c, i);
    CHECKW(a, 8);
    uint32_t lo = ld(c, a, 4), hi = ld(c, a + 4, 4);
    uint32_t f = emu_flags(c);
    if (lo == c->r[HV_EAX] && hi == c->r[HV_EDX]) {
        st(c, a, 4, c->r[HV_EBX]);
        st(c, a + 4, 4, c->r[HV_ECX]);
        f |= HV_ZF;
    } else {
        c->r[HV_EAX] = lo;
        c->r[HV_EDX] = hi;
        f &= ~HV_ZF;
    }
    emu_set_flags(c, f);
    NEXT();
}

OP(op_bswap)
{
    c->r[i->rm] = __builtin_bswap32(c->r[i->rm]);
    NEXT();
}

/* ---- SETcc Eb, CMOVcc Gv, Ev ---- */
OP(op_setcc)
{
    uint32_t v = emu_cond(c, i->op), a = 0;
    if (i->rm == RM_MEM) {
        a = ea(c, i);
        CHECKW(a, 1);
    }
    WRITE_E(1, v, a);
    NEXT();
}

OP(op_cmovcc)
{
    uint32_t v, a = 0;
    READ_E(i->size, v, a);          /* the source is read even when not moved */
    if (emu_cond(c, i->op))
        setreg(c, i->size, i->reg, v);
    NEXT();
}
