/*
 * switcher_emu_simd.c: MMX, SSE, SSE2, SSE3 and SSSE3 instructions (Intel
 * SDM vol. 1, chapters 9 to 12; vol. 2), and the state instructions FXSAVE,
 * FXRSTOR, LDMXCSR and STMXCSR.
 *
 * The decoder has checked the encoding against its table, noted the memory
 * operand's size, alignment and direction (insn.imm2, SI_*) and found the
 * host stub (insn.stub).  The handler raises the exceptions the SDM lists in
 * its order: #UD for CR0.EM (or CR4.OSFXSR clear, for anything naming an
 * XMM register), #NM for CR0.TS, #MF (or FERR#) for an MMX instruction
 * while an x87 exception is pending, #GP(0) for a misaligned 16-byte operand, the
 * operand's segment and page faults; then runs the stub on a copy of the
 * operand and writes back what the instruction stores.  An unmasked SIMD
 * exception is #XM, or #UD when CR4.OSXMMEXCPT is clear.
 */
#include "switcher_emu.h"

/* #UD and #NM before anything is read; false once i has faulted. */
static __attribute__((noinline)) bool simd_unusable(struct cpu *c, const struct insn *i, bool xmm)
{
    if ((c->cr0 & HV_CR0_EM) || (xmm && !(c->cr4 & HV_CR4_OSFXSR)))
        emu_raise_ud(c, i, i->next - i->eip);
    else
        emu_fault_ret(c, i, HV_VEC_NM, 0, 0);
    return false;
}

static inline bool simd_usable(struct cpu *c, const struct insn *i, bool xmm)
{
    if (HV_LIKELY(!(c->cr0 & (HV_CR0_EM | HV_CR0_TS)) && (!xmm || (c->cr4 & HV_CR4_OSFXSR))))
        return true;
    return simd_unusable(c, i, xmm);
}

/* Operands are 2, 4, 8 or 16 bytes. */
static inline void copy_in(struct cpu *c, uint8_t *mem, uint32_t a, uint32_t n)
{
    if (n == 2) {
        uint16_t v = (uint16_t)ld(c, a, 2);
        memcpy(mem, &v, 2);
        return;
    }
    for (uint32_t k = 0; k < n; k += 4) {
        uint32_t v = ld(c, a + k, 4);
        memcpy(mem + k, &v, 4);
    }
}

static inline void copy_out(struct cpu *c, const uint8_t *mem, uint32_t a, uint32_t n)
{
    if (n == 2) {
        uint16_t v;
        memcpy(&v, mem, 2);
        st(c, a, 2, v);
        return;
    }
    for (uint32_t k = 0; k < n; k += 4) {
        uint32_t v;
        memcpy(&v, mem + k, 4);
        st(c, a + k, 4, v);
    }
}

/* The work of one vector instruction; false once it has faulted.  Apart
 * from the handler so that the handler's jump to the next one stays a tail
 * call. */
static __attribute__((noinline)) bool EMU(simd_step)(struct cpu *c, const struct insn *i)
{
    uint32_t info = i->imm2, n = info & SI_SIZE, a = 0;
    if ((info & (SI_XMM | SI_MMX)) && !simd_usable(c, i, info & SI_XMM))
        return false;
    /* MMX instructions wait for the x87 as its own waiting ones do. */
    int w = X87_WAIT_GO;
    if ((info & SI_MMX) && c->x87_watch && (w = emu_x87_wait(c, i)) == X87_WAIT_STOP)
        return false;
    uint8_t mem[16] __attribute__((aligned(16)));
    if (i->rm == RM_MEM) {
        a = ea(c, i);
        if ((info & SI_ALIGN) && (a & 15u)) {
            emu_fault_ret(c, i, HV_VEC_GP, 0, 0);
            return false;
        }
        bool store = info & (SI_STORE | SI_MASKMOV);
        if (!access_ok(c, i, i->seg, a, n, store))
            return false;
        if (!(info & SI_STORE))
            copy_in(c, mem, a, n);
    }
    if (info & SI_GIN)
        c->simd.gpr = c->r[i->op];
    uint32_t held = w == X87_WAIT_IGNORE ? emu_x87_hold(c) : 0;
    emu_simd_stub *stub;
    memcpy(&stub, &i->stub, sizeof(stub));
    if ((info & SI_MMX) && !c->x87_live)
        emu_x87_load(c);
    if (!c->simd.live)
        emu_simd_load(c);
    if (HV_LIKELY((c->simd.mxcsr & MXCSR_MASKS) == MXCSR_MASKS)) {
        stub((uint8_t *)&c->simd + 64, mem);
    } else if (!emu_simd_run_trapping(c, stub, mem)) {
        if (w == X87_WAIT_IGNORE)
            emu_x87_unhold(c, held);
        if (c->cr4 & HV_CR4_OSXMMEXCPT)
            emu_fault_ret(c, i, HV_VEC_XM, 0, 0);
        else
            emu_raise_ud(c, i, i->next - i->eip);
        return false;
    }
    if (w == X87_WAIT_IGNORE)
        emu_x87_unhold(c, held);
    if (info & SI_GOUT)
        c->r[i->op] = c->simd.gpr;
    if (info & SI_FLAGS)
        emu_set_flags(c, (emu_flags(c) & ~ARITH_FLAGS) | (c->simd.eflags & ARITH_FLAGS));
    if (i->rm == RM_MEM && (info & (SI_STORE | SI_MASKMOV)))
        copy_out(c, mem, a, n);
    return true;
}

OP(op_simd)
{
    if (!EMU(simd_step)(c, i))
        STOP();
    NEXT();
}

/* More distinct vector encodings than the stub table holds. */
OP(op_simd_full)
{
    emu_unsupported(c, i, "too many distinct MMX/SSE encodings for the host stub table");
    STOP();
}

/* LDMXCSR (op 0) and STMXCSR (op 1).  Setting a bit MXCSR_MASK leaves out
 * is #GP(0). */
OP(op_mxcsr)
{
    if (!simd_usable(c, i, true))
        STOP();
    uint32_t a = ea(c, i);
    if (i->op) {
        CHECKW(a, 4);
        st(c, a, 4, emu_simd_mxcsr(c));
    } else {
        CHECK(a, 4);
        uint32_t v = ld(c, a, 4);
        if (v & ~emu_mxcsr_mask())
            FAULT(HV_VEC_GP, 0, 0);
        emu_simd_set_mxcsr(c, v);
    }
    NEXT();
}

/* ---- FXSAVE and FXRSTOR (SDM vol. 1, 10.5.1, table 10-2) ---- */

/* The tag FXRSTOR gives a non-empty register, from its contents: zero,
 * special (NaN, infinity, denormal, unnormal) or valid. */
static unsigned tag_of(const uint8_t *r)
{
    uint32_t exp = le16(r + 8) & 0x7fffu;
    uint64_t man;
    memcpy(&man, r, 8);
    if (exp == 0x7fffu)
        return 2;
    if (exp == 0)
        return man ? 2 : 1;
    return (man >> 63) ? 0 : 2;
}

/* The first 288 bytes of the 32-bit FXSAVE image, from the FNSAVE image,
 * the XMM registers and MXCSR.  The processor leaves bytes 288-511 alone. */
static void fxsave_image(const struct cpu *c, uint8_t *img)
{
    const uint8_t *x = c->x87;
    memset(img, 0, 288);
    put_le16(img, le16(x));                               /* FCW */
    put_le16(img + 2, le16(x + 4));                       /* FSW */
    uint32_t tw = le16(x + 8), ftw = 0;
    for (unsigned r = 0; r < 8; r++)
        if (((tw >> (2 * r)) & 3u) != 3u)
            ftw |= 1u << r;
    img[4] = (uint8_t)ftw;                              /* abridged tag */
    put_le16(img + 6, c->fpu_op);
    put_le32(img + 8, c->fpu_ip);
    put_le16(img + 12, c->fpu_cs);
    put_le32(img + 16, c->fpu_dp);
    put_le16(img + 20, c->fpu_ds);
    put_le32(img + 24, c->simd.mxcsr);
    put_le32(img + 28, emu_mxcsr_mask());
    for (unsigned k = 0; k < 8; k++)
        memcpy(img + 32 + 16 * k, x + 28 + 10 * k, 10);  /* ST(k) */
    memcpy(img + 160, c->simd.xmm, 128);
}

static void fxrstor_image(struct cpu *c, const uint8_t *img)
{
    uint8_t *x = c->x87;
    uint32_t sw = le16(img + 2), top = (sw >> 11) & 7u, tw = 0;
    for (unsigned k = 0; k < 8; k++)
        memcpy(x + 28 + 10 * k, img + 32 + 16 * k, 10);
    for (unsigned r = 0; r < 8; r++) {
        unsigned t = 3;
        if ((img[4] >> r) & 1u)
            t = tag_of(x + 28 + 10 * ((r - top) & 7u));
        tw |= t << (2 * r);
    }
    memset(x, 0, 28);
    put_le16(x, le16(img));
    put_le16(x + 4, sw);
    put_le16(x + 8, tw);
    c->fpu_ip = le32(img + 8);
    c->fpu_cs = (uint16_t)le16(img + 12);
    c->fpu_op = (uint16_t)(le16(img + 6) & 0x7ffu);
    c->fpu_dp = le32(img + 16);
    c->fpu_ds = (uint16_t)le16(img + 20);
    emu_x87_put_pointers(c, x);
    c->simd.mxcsr = le32(img + 24);
    memcpy(c->simd.xmm, img + 160, 128);
    emu_x87_rewatch(c);
}

/* FXSAVE (op 0) and FXRSTOR (op 1): #GP(0) for an operand not 16-byte
 * aligned, and for FXRSTOR of an MXCSR with reserved bits set. */
OP(op_fxsr)
{
    if (HV_UNLIKELY(c->cr0 & HV_CR0_EM)) {
        emu_raise_ud(c, i, i->next - i->eip);
        STOP();
    }
    if (HV_UNLIKELY(c->cr0 & HV_CR0_TS))
        FAULT(HV_VEC_NM, 0, 0);
    uint32_t a = ea(c, i);
    if (a & 15u)
        FAULT(HV_VEC_GP, 0, 0);
    if (c->x87_live)
        emu_x87_save(c);
    if (c->simd.live)
        emu_simd_save(c);
    uint8_t img[288];
    if (i->op == 0) {
        CHECKW(a, 512);
        fxsave_image(c, img);
        for (uint32_t k = 0; k < 288; k += 4)
            st(c, a + k, 4, le32(img + k));
    } else {
        CHECK(a, 512);
        for (uint32_t k = 0; k < 288; k += 4)
            put_le32(img + k, ld(c, a + k, 4));
        if (le32(img + 24) & ~emu_mxcsr_mask())
            FAULT(HV_VEC_GP, 0, 0);
        fxrstor_image(c, img);
    }
    NEXT();
}

/* CLFLUSH: faults as a one-byte read would; there is no cache to flush. */
OP(op_clflush)
{
    uint32_t a = ea(c, i);
    CHECK(a, 1);
    NEXT();
}
