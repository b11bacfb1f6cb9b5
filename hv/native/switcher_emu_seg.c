/*
 * switcher_emu_seg.c: descriptor tables and segment loads (Intel SDM vol. 3,
 * chapter 3 and 5; vol. 2: LGDT, LIDT, SGDT, SIDT, SMSW, LMSW, SLDT, STR,
 * LLDT, LTR, MOV/POP Sreg, far JMP/CALL/RET, IRET).
 *
 * Until the guest loads a GDT, the boot selectors of Guest ABI v1 are the
 * only valid ones (CS 0x08, data 0x10, null for DS/ES/FS/GS).  After LGDT,
 * a selector is checked against its descriptor in the GDT or the LDT as the
 * CPU checks it: limit of the table (#GP), type and privilege (#GP), present
 * (#NP, or #SS for SS); the Accessed bit is set and the descriptor's base,
 * limit and type go into the segment register's cache, which the segmented
 * build of the handlers checks every access against.  16-bit code and stack
 * segments, and rings 1 and 2, stop the guest with a reason that says so.
 */
#include "switcher_emu.h"

/* Where selector sel's descriptor lies (*at), in the GDT or (TI set) the
 * LDT: false for the null selector, an LDT selector with no LDT loaded, one
 * past the table's limit, or memory that cannot be read. */
static bool desc_entry(struct cpu *c, uint32_t sel, uint32_t *at)
{
    bool local = sel & 4;
    uint32_t base = local ? c->ldt_base : c->gdtr.base;
    uint32_t limit = local ? c->ldt_limit : c->gdtr.limit;
    if (local ? (c->ldtr & 0xfffc) == 0 : (sel & 0xfffc) == 0)
        return false;
    *at = base + (sel & ~7u);
    return (sel | 7u) <= limit && mem_ok(c, *at, 8);
}

/* Only in the GDT: TSS and LDT descriptors. */
static bool gdt_entry(struct cpu *c, uint32_t sel, uint32_t *at)
{
    return !(sel & 4) && desc_entry(c, sel, at);
}

/* Boot-state rules, before any LGDT. */
static bool boot_selector_ok(int sreg, uint32_t sel)
{
    if (sreg == HV_CS)
        return sel == 0x08;
    if (sreg == HV_SS)
        return sel == 0x10;
    return sel == 0x10 || (sel & 0xfffc) == 0;
}

static bool load_fault(struct cpu *c, const struct insn *i, uint32_t vec, uint32_t err)
{
    emu_fault_ret(c, i, vec, err, 0);
    return false;
}

/*
 * Check selector sel for segment register sreg; on success load it (and its
 * cache) and return true.  On failure the instruction has faulted (or the
 * guest is stopped) and false is returned.
 */
bool EMU(emu_load_segment)(struct cpu *c, const struct insn *i, int sreg, uint32_t sel)
{
    return EMU(emu_load_segment_at)(c, i, sreg, sel, c->cpl);
}

bool EMU(emu_load_segment_at)(struct cpu *c, const struct insn *i, int sreg, uint32_t sel,
                              unsigned cpl)
{
    sel &= 0xffff;
    uint32_t err = sel & 0xfffc;
    if (!c->gdt_loaded) {
        if (!boot_selector_ok(sreg, sel))
            return load_fault(c, i, HV_VEC_GP, err);
        if ((sel & 0xfffc) == 0)
            emu_seg_set(c, sreg, (uint16_t)sel, 0, 0, 0);
        else
            emu_seg_set(c, sreg, (uint16_t)sel, 0, 0xffffffffu,
                        sreg == HV_CS ? EMU_ATTR_CODE0 : EMU_ATTR_DATA0);
        emu_seg_loaded(c);
        return true;
    }
    if ((sel & 0xfffc) == 0 && !(sel & 4)) {
        if (sreg == HV_CS || sreg == HV_SS)
            return load_fault(c, i, HV_VEC_GP, 0);
        emu_seg_set(c, sreg, (uint16_t)sel, 0, 0, 0);  /* a null data segment: unusable */
        emu_seg_loaded(c);
        return true;
    }
    uint32_t at;
    if (!desc_entry(c, sel, &at))
        return load_fault(c, i, HV_VEC_GP, err);
    uint32_t lo = ld(c, at, 4), hi = ld(c, at + 4, 4);
    unsigned dpl = hv_desc_dpl(hi), rpl = sel & 3;
    bool code = hi & HV_DESC_CODE, ok;
    if (!(hi & HV_DESC_S))
        ok = false;                         /* a system descriptor */
    else if (sreg == HV_CS)
        ok = code && rpl <= cpl && ((hi & HV_DESC_CONFORMING) ? dpl <= cpl : dpl == cpl);
    else if (sreg == HV_SS)
        ok = !code && (hi & HV_DESC_RW) && rpl == cpl && dpl == cpl;
    else
        ok = (!code || (hi & HV_DESC_RW)) &&
             ((code && (hi & HV_DESC_CONFORMING)) || dpl >= (rpl > cpl ? rpl : cpl));
    if (!ok)
        return load_fault(c, i, HV_VEC_GP, err);
    if (!(hi & HV_DESC_P))
        return load_fault(c, i, sreg == HV_SS ? HV_VEC_SS : HV_VEC_NP, err);
    if ((sreg == HV_CS || sreg == HV_SS) && !(hi & HV_DESC_DB)) {
        if (sreg == HV_CS)
            emu_unsupported(c, i, "segment 0x%04x is 16-bit code (only 32-bit code segments "
                            "are supported)", sel);
        else
            emu_unsupported(c, i, "segment 0x%04x is a 16-bit stack (only 32-bit stack "
                            "segments are supported)", sel);
        return false;
    }
    if (!(hi & HV_DESC_ACCESSED)) {
        if (!mem_okw(c, at + 4, 4)) {
            emu_fault_ret(c, i, HV_VEC_PF, c->pf_err, c->pf_addr);
            return false;
        }
        hi |= HV_DESC_ACCESSED;
        st(c, at + 4, 4, hi);
    }
    emu_seg_set(c, sreg, (uint16_t)sel, hv_desc_base(lo, hi), hv_desc_limit(lo, hi),
                hv_desc_attr(hi));
    emu_seg_loaded(c);
    return true;
}

/* ---- MOV/POP Sreg: a load of SS holds interrupts off for one more
 * instruction, so that the ESP load after it runs first (SDM vol. 2, MOV) */

OP(op_mov_to_sreg)
{
    uint32_t v, a = 0;
    READ_E(2, v, a);
    (void)a;
    if (!EMU(emu_load_segment)(c, i, i->reg, v))
        STOP();
    if (i->reg == HV_SS)
        c->shadow_at = c->icount - i->remain + 1;   /* no interrupt before the next one */
    NEXT_AFTER_LOAD();
}

OP(op_pop_sreg)
{
    uint32_t sp = c->r[HV_ESP];
    CHECK_SS(SP_LIN(sp), i->size);
    uint32_t v = ld(c, SP_LIN(sp), i->size) & 0xffff;
    if (!EMU(emu_load_segment)(c, i, i->reg, v))
        STOP();
    c->r[HV_ESP] = sp + i->size;
    if (i->reg == HV_SS)
        c->shadow_at = c->icount - i->remain + 1;
    NEXT_AFTER_LOAD();
}

/* ---- far transfers: imm = offset, imm2 = selector for the direct forms ---- */

/* Far JMP: op 0 = ptr16:32 in the instruction, 1 = m16:32. */
OP(op_jmp_far)
{
    uint32_t off = i->imm, sel = i->imm2;
    if (i->op) {
        uint32_t a = ea(c, i);
        CHECK(a, 6);
        off = ld(c, a, 4);
        sel = ld(c, a + 4, 2);
    }
    uint16_t old_sel = c->sreg[HV_CS];
    struct emu_seg old = c->seg[HV_CS];
    if (!EMU(emu_load_segment)(c, i, HV_CS, sel) || !emu_far_target_ok(c, i, old_sel, &old, off))
        STOP();
    GOTO_AFTER_LOAD(off);
}

OP(op_call_far)
{
    uint32_t off = i->imm, sel = i->imm2, sp = c->r[HV_ESP];
    if (i->op) {
        uint32_t a = ea(c, i);
        CHECK(a, 6);
        off = ld(c, a, 4);
        sel = ld(c, a + 4, 2);
    }
    uint32_t la = SP_LIN(sp - 8);
    CHECKW_SS(la, 8);
    uint16_t old_cs = c->sreg[HV_CS];
    struct emu_seg old = c->seg[HV_CS];
    if (!EMU(emu_load_segment)(c, i, HV_CS, sel) || !emu_far_target_ok(c, i, old_cs, &old, off))
        STOP();
    st(c, la + 4, 4, old_cs);
    st(c, la, 4, i->next);
    c->r[HV_ESP] = sp - 8;
    GOTO_AFTER_LOAD(off);
}

/* RETF [imm16]: to the same privilege level only. */
OP(op_ret_far)
{
    uint32_t sp = c->r[HV_ESP], la = SP_LIN(sp);
    CHECK_SS(la, 8);
    uint32_t off = ld(c, la, 4), sel = ld(c, la + 4, 4) & 0xffff;
    if ((sel & 3) != c->cpl) {
        emu_unsupported(c, i, "far return to ring %u (selector 0x%04x) from ring %u: use iret",
                        sel & 3, sel, (unsigned)c->cpl);
        STOP();
    }
    uint16_t old_sel = c->sreg[HV_CS];
    struct emu_seg old = c->seg[HV_CS];
    if (!EMU(emu_load_segment)(c, i, HV_CS, sel) || !emu_far_target_ok(c, i, old_sel, &old, off))
        STOP();
    c->r[HV_ESP] = sp + 8 + i->imm;
    GOTO_AFTER_LOAD(off);
}

/* ---- descriptor-table registers (0F 01, 0F 00) ---- */

/* LGDT/LIDT/SGDT/SIDT m16&32: op 0 sgdt, 1 sidt, 2 lgdt, 3 lidt. */
OP(op_dtr)
{
    uint32_t a = ea(c, i);
    struct hv_dtable *d = (i->op & 1) ? &c->idtr : &c->gdtr;
    if (i->op >= 2) {
        PRIVILEGED();
        CHECK(a, 6);
        d->limit = (uint16_t)ld(c, a, 2);
        d->base = ld(c, a + 2, 4) & (i->size == 2 ? 0x00ffffffu : 0xffffffffu);
        if (i->op == 2)
            c->gdt_loaded = true;
    } else {
        CHECKW(a, 6);
        st(c, a, 2, d->limit);
        st(c, a + 2, 4, d->base);
    }
    NEXT();
}

/* SMSW r/m16, LMSW r/m16 (op 0 / 1). */
OP(op_msw)
{
    uint32_t v, a = 0;
    if (i->op == 0) {
        if (i->rm == RM_MEM) {
            a = ea(c, i);
            CHECKW(a, 2);
            st(c, a, 2, c->cr0 & 0xffff);
        } else {
            setreg(c, i->size, i->rm, c->cr0 & (i->size == 4 ? 0xffffffffu : 0xffffu));
        }
        NEXT();
    }
    PRIVILEGED();
    READ_E(2, v, a);
    (void)a;
    /* LMSW sets PE, MP, EM and TS; it can set PE but never clear it. */
    c->cr0 = (c->cr0 & ~0xeu) | (v & 0xfu) | (c->cr0 & 1u);
    NEXT();
}

/* SLDT/STR (op 0 / 1) store; LLDT/LTR (op 2 / 3) load. */
OP(op_sysseg)
{
    uint32_t v, a = 0;
    uint16_t *reg = (i->op & 1) ? &c->tr : &c->ldtr;
    if (i->op < 2) {
        if (i->rm == RM_MEM) {
            a = ea(c, i);
            CHECKW(a, 2);
            st(c, a, 2, *reg);
        } else {
            setreg(c, i->size, i->rm, *reg);
        }
        NEXT();
    }
    PRIVILEGED();
    READ_E(2, v, a);
    (void)a;
    v &= 0xffff;
    uint32_t at;
    if (i->op == 2) {
        /* LLDT: null (no LDT), or an LDT descriptor (type 2) in the GDT. */
        if ((v & 0xfffc) != 0) {
            if (!gdt_entry(c, v, &at))
                FAULT(HV_VEC_GP, v & 0xfffc, 0);
            uint32_t lo = ld(c, at, 4), hi = ld(c, at + 4, 4);
            if ((hi & HV_DESC_S) || ((hi >> 8) & 0xf) != 0x2)
                FAULT(HV_VEC_GP, v & 0xfffc, 0);
            if (!(hi & HV_DESC_P))
                FAULT(HV_VEC_NP, v & 0xfffc, 0);
            c->ldt_base = hv_desc_base(lo, hi);
            c->ldt_limit = hv_desc_limit(lo, hi);
        }
        *reg = (uint16_t)v;
        NEXT();
    }
    /* LTR: an available 32-bit TSS in the GDT, marked busy. */
    if (!gdt_entry(c, v, &at))
        FAULT(HV_VEC_GP, v & 0xfffc, 0);
    uint32_t hi = ld(c, at + 4, 4);
    if ((hi & HV_DESC_S) || ((hi >> 8) & 0xf) != 0x9)
        FAULT(HV_VEC_GP, v & 0xfffc, 0);
    if (!(hi & HV_DESC_P))
        FAULT(HV_VEC_NP, v & 0xfffc, 0);
    CHECKW_LIN(at + 4, 4);
    st(c, at + 4, 4, hi | (0x2u << 8));     /* type 0x9 -> 0xB: busy */
    *reg = (uint16_t)v;
    NEXT();
}

/* After a return to ring 3: a data segment register the new level may not
 * use becomes null (SDM vol. 2, IRET: "RETURN-TO-OUTER-PRIVILEGE-LEVEL"). */
void EMU(emu_drop_inner_segments)(struct cpu *c)
{
    static const int regs[] = { HV_ES, HV_DS, HV_FS, HV_GS };
    for (unsigned k = 0; k < 4; k++) {
        const struct emu_seg *e = &c->seg[regs[k]];
        bool conforming_code = (e->attr & 0xc) == 0xc;
        if ((e->attr & EMU_ATTR_P) && !conforming_code && ((e->attr >> 5) & 3u) < c->cpl)
            emu_seg_set(c, regs[k], 0, 0, 0, 0);
    }
    emu_seg_loaded(c);
}

/*
 * LAR, LSL (0F 02 / 0F 03: op 0 / 1) and VERR, VERW (0F 00 /4 /5: op 2 / 3):
 * look at a descriptor without loading it (SDM vol. 2).  ZF says whether
 * the selector passed; LAR and LSL then write the access rights / the limit.
 * Before LGDT, the boot selectors stand for flat ring-0 code (0x08) and
 * data (0x10).
 */
static bool peek_descriptor(struct cpu *c, uint32_t sel, uint32_t *lo, uint32_t *hi)
{
    if ((sel & 0xfffc) == 0 && !(sel & 4))
        return false;
    if (!c->gdt_loaded) {
        if ((sel & ~3u) != 0x08 && (sel & ~3u) != 0x10)
            return false;
        *lo = 0x0000ffffu;
        *hi = (sel & ~3u) == 0x08 ? 0x00cf9b00u : 0x00cf9300u;
        return true;
    }
    uint32_t at;
    if (!desc_entry(c, sel, &at))
        return false;
    *lo = ld(c, at, 4);
    *hi = ld(c, at + 4, 4);
    return true;
}

OP(op_lar_lsl)
{
    uint32_t v, a = 0, lo = 0, hi = 0;
    READ_E(2, v, a);
    (void)a;
    v &= 0xffff;
    bool ok = peek_descriptor(c, v, &lo, &hi);
    if (ok) {
        unsigned type = (hi >> 8) & 0xf, dpl = hv_desc_dpl(hi), rpl = v & 3;
        bool code = hi & HV_DESC_CODE, conforming = code && (hi & HV_DESC_CONFORMING);
        if (!(hi & HV_DESC_S)) {
            /* System descriptors LAR and LSL accept: TSSs, LDT, call and task gates. */
            static const uint8_t lsl_types[16] = { [1] = 1, [2] = 1, [3] = 1, [9] = 1,
                                                   [11] = 1 };
            static const uint8_t lar_types[16] = { [1] = 1, [2] = 1, [3] = 1, [4] = 1,
                                                   [5] = 1, [9] = 1, [11] = 1, [12] = 1 };
            ok = (i->op == 0 ? lar_types : lsl_types)[type];
        }
        if (ok && !conforming && dpl < (rpl > c->cpl ? rpl : c->cpl))
            ok = false;
    }
    if (ok) {
        uint32_t r = i->op == 0 ? hi & 0x00f0ff00u : hv_desc_limit(lo, hi);
        setreg(c, i->size, i->reg, r);
    }
    uint32_t f = emu_flags(c) & ~HV_ZF;
    emu_set_flags(c, f | (ok ? HV_ZF : 0));
    NEXT();
}

OP(op_verify)
{
    uint32_t v, a = 0, lo = 0, hi = 0;
    READ_E(2, v, a);
    (void)a;
    v &= 0xffff;
    bool ok = peek_descriptor(c, v, &lo, &hi) && (hi & HV_DESC_S);
    if (ok) {
        unsigned dpl = hv_desc_dpl(hi), rpl = v & 3;
        bool code = hi & HV_DESC_CODE, conforming = code && (hi & HV_DESC_CONFORMING);
        if (!conforming && dpl < (rpl > c->cpl ? rpl : c->cpl))
            ok = false;
        else if (i->op == 2)
            ok = !code || (hi & HV_DESC_RW);            /* VERR: readable */
        else
            ok = !code && (hi & HV_DESC_RW);             /* VERW: writable data */
    }
    uint32_t f = emu_flags(c) & ~HV_ZF;
    emu_set_flags(c, f | (ok ? HV_ZF : 0));
    NEXT();
}

/*
 * SYSENTER / SYSEXIT (0F 34 / 0F 35: op 0 / 1; SDM vol. 2): the fast system
 * call.  The segments are implied by the SYSENTER_CS MSR: ring-0 code at it
 * and data 8 above; ring-3 code 16 above and data 24 above.  Their caches
 * are loaded flat, as the CPU loads them (it reads no descriptors).
 */
OP(op_sysenter)
{
    uint32_t cs = (uint32_t)c->msr_sysenter[0] & 0xfffc;
    if (cs == 0)
        FAULT(HV_VEC_GP, 0, 0);
    if (i->op == 0) {
        uint32_t f = emu_flags(c) & ~(HV_IF | (1u << 16) | (1u << 17));   /* IF RF VM */
        emu_set_flags(c, f);
        emu_seg_set(c, HV_CS, (uint16_t)cs, 0, 0xffffffffu, EMU_ATTR_CODE0);
        emu_seg_set(c, HV_SS, (uint16_t)(cs + 8), 0, 0xffffffffu, EMU_ATTR_DATA0);
        emu_seg_loaded(c);
        c->r[HV_ESP] = (uint32_t)c->msr_sysenter[1];
        emu_set_cpl(c, 0);
        emu_exit_at(c, i, HV_TRAP_NONE, (uint32_t)c->msr_sysenter[2]);
        STOP();
    }
    PRIVILEGED();
    emu_seg_set(c, HV_CS, (uint16_t)((cs + 16) | 3), 0, 0xffffffffu, EMU_ATTR_CODE0 | 0x60);
    emu_seg_set(c, HV_SS, (uint16_t)((cs + 24) | 3), 0, 0xffffffffu, EMU_ATTR_DATA0 | 0x60);
    emu_seg_loaded(c);
    c->r[HV_ESP] = c->r[HV_ECX];
    emu_set_cpl(c, 3);
    emu_exit_at(c, i, HV_TRAP_NONE, c->r[HV_EDX]);
    STOP();
}
