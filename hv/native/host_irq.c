/*
 * host_irq.c: gates, trap and interrupt delivery, and the IRQ lines.
 *
 * A tour: LOAD_IDT_ENTRY fills the host's copy of the guest's gates
 * (hv_set_gate).  Every exception, `int n` and IRQ that has a gate reaches
 * the guest the same way, through hv_deliver(): the host pushes the frame a
 * CPU pushes at ring 0 (EFLAGS, CS, EIP and, for some exceptions, an error
 * code) on the guest's own stack and enters the handler (Intel SDM vol. 3,
 * 6.12).  IRQs are bits in `irq_pending`, mirrored into the guest_data page,
 * and hv_irq_poll() delivers the lowest one the guest accepts.
 *
 * No switcher takes part in any of this beyond reading and writing
 * registers, so every engine delivers identically.
 */
#include <string.h>

#include "hv.h"

enum { E_INVAL = 22 };
enum { GATE_INTR = 0xE, GATE_TRAP = 0xF };
#define FLAT_CODE_SEL 0x08u
#define GD_PENDING 0
#define GD_BLOCKED 4
#define GD_CR2 8
#define GD_TIME 16

int hv_set_gate(struct hv_guest *g, uint32_t vector, uint32_t lo, uint32_t hi)
{
    if (vector > 255 || vector == HV_VEC_HYPERCALL)
        return -E_INVAL;
    struct hv_gate *gate = &g->idt[vector];
    if (!(hi & (1u << 15))) {
        memset(gate, 0, sizeof(*gate));         /* P = 0: no gate */
        g->irq_recheck = true;
        return 0;
    }
    uint32_t type = (hi >> 8) & 0x1f;
    if (type != GATE_INTR && type != GATE_TRAP)
        return -E_INVAL;
    gate->offset = (hi & 0xffff0000u) | (lo & 0xffffu);
    gate->sel = (uint16_t)(lo >> 16);
    gate->type = (uint8_t)type;
    gate->dpl = (uint8_t)((hi >> 13) & 3);
    gate->present = true;
    g->irq_recheck = true;
    return 0;
}

void hv_guest_data_sync(struct hv_guest *g, bool time)
{
    if (!g->has_guest_data)
        return;
    uint8_t *gd = hv_gpa(g, g->guest_data, HV_PAGE_SIZE);   /* checked at INIT */
    memcpy(gd + GD_PENDING, &g->irq_pending, 4);
    if (time) {
        uint64_t now = hv_guest_clock(g);
        memcpy(gd + GD_TIME, &now, 8);
    }
    g->live.sw_ops->mem_written(g->live.sw, g->guest_data, 24);
}

static uint32_t guest_blocked(struct hv_guest *g)
{
    if (!g->has_guest_data)
        return 0;
    uint32_t b;
    memcpy(&b, hv_gpa(g, g->guest_data, HV_PAGE_SIZE) + GD_BLOCKED, 4);
    return b;
}

void hv_irq_raise(struct hv_guest *g, unsigned n)
{
    if (g->pic_active && n < 16) {
        hv_pic_raise(g, n);                 /* a PC's wiring: through the 8259s */
        return;
    }
    uint32_t bit = 1u << (n & 31);
    if (!(g->irq_pending & bit)) {
        g->irq_pending |= bit;
        hv_guest_data_sync(g, false);
    }
    g->irq_recheck = true;
}

/* What looking a vector up found. */
enum gate_found { GATE_NONE, GATE_OK, GATE_FAULT };

/*
 * The gate for `vector`: from the guest's own IDT once it has run LIDT
 * (a non-zero IDTR limit), else from LOAD_IDT_ENTRY.  A vector past the
 * IDT's limit or a gate that is not present counts as no gate; a gate the
 * host cannot use kills the guest (and counts as a fault).
 */
static enum gate_found find_gate(struct hv_guest *g, uint32_t vector, struct hv_gate *out)
{
    struct hv_sregs s;
    g->live.sw_ops->get_sregs(g->live.sw, &s);
    if (s.idt.limit == 0) {
        *out = g->idt[vector & 0xff];
        return out->present ? GATE_OK : GATE_NONE;
    }
    uint32_t d[2], fa, fe;
    if (vector * 8 + 7 > s.idt.limit)
        return GATE_NONE;
    if (!hv_vcopy(g, s.idt.base + vector * 8, d, 8, false, &fa, &fe))
        return GATE_FAULT;
    if (!(d[1] & (1u << 15)))
        return GATE_NONE;
    uint32_t type = (d[1] >> 8) & 0x1f;
    if (type == 0x5) {
        hv_kill(g, "unsupported: vector %u has a task gate (task switches are not supported)",
                vector);
        return GATE_FAULT;
    }
    if (type != GATE_INTR && type != GATE_TRAP) {
        hv_kill(g, "unsupported: vector %u has a gate of type 0x%x (only 32-bit interrupt and "
                "trap gates are supported)", vector, type);
        return GATE_FAULT;
    }
    out->offset = (d[1] & 0xffff0000u) | (d[0] & 0xffffu);
    out->sel = (uint16_t)(d[0] >> 16);
    out->type = (uint8_t)type;
    out->dpl = (uint8_t)hv_desc_dpl(d[1]);
    out->present = true;
    return GATE_OK;
}

/* Pending IRQs the guest would take now if IF allowed it. */
static uint32_t deliverable(struct hv_guest *g)
{
    uint32_t ready = g->irq_pending;
    if (!ready)
        return 0;
    ready &= ~guest_blocked(g);
    for (uint32_t left = ready; left; left &= left - 1) {
        unsigned n = (unsigned)__builtin_ctz(left);
        struct hv_gate gate;
        if (find_gate(g, HV_VEC_IRQ0 + n, &gate) == GATE_NONE)
            ready &= ~(1u << n);            /* no gate: it stays pending */
    }
    return ready;
}

bool hv_irq_deliverable(struct hv_guest *g)
{
    if (g->pic_active && hv_pic_peek(g) >= 0)
        return true;
    return deliverable(g) != 0;
}

/*
 * An interrupt is waiting: may the guest take it at this instruction?  With
 * IF clear, the switcher is asked to come back once it is set; in an sti
 * shadow, one more instruction runs first.  *r gets the registers.
 */
static bool can_take_now(struct hv_guest *g, struct hv_regs *r)
{
    g->live.sw_ops->get_regs(g->live.sw, r);
    if (!(r->eflags & HV_IF)) {
        if (!g->irq_window) {
            g->irq_window = true;
            g->live.sw_ops->irq_window(g->live.sw, true);
        }
        return false;
    }
    struct hv_sregs s;
    g->live.sw_ops->get_sregs(g->live.sw, &s);
    if (s.interrupt_shadow) {
        g->step_one = true;                 /* the instruction after sti first */
        g->irq_recheck = true;
        return false;
    }
    return true;
}

/* Deliver what the PIC has, if IF allows; true if the PIC had something. */
static bool poll_pic(struct hv_guest *g)
{
    if (!g->pic_active || hv_pic_peek(g) < 0)
        return false;
    struct hv_regs r;
    if (!can_take_now(g, &r))
        return true;
    uint32_t vector = (uint32_t)hv_pic_ack(g);
    g->halted = false;
    if (!hv_deliver(g, vector, false, 0, r.eip, r.eip, false))
        hv_kill(g, "unhandled interrupt vector 0x%02x (from the 8259 PIC) at eip=0x%08x",
                vector, r.eip);
    g->irq_recheck = true;
    return true;
}

/* Push one 32-bit word on the guest stack at ss_base + esp; false on a
 * fault. */
static bool push32(struct hv_guest *g, uint32_t ss_base, uint32_t *esp, uint32_t v, uint32_t *fa,
                   uint32_t *fe)
{
    uint32_t sp = *esp - 4;
    if (!hv_vcopy(g, ss_base + sp, &v, 4, true, fa, fe))
        return false;
    *esp = sp;
    return true;
}

/* Selector sel's descriptor from the guest's GDT (linear addresses, through
 * its page tables): false for the null selector, an LDT selector, one past
 * the table's limit, or memory that cannot be read. */
static bool gdt_descriptor(struct hv_guest *g, const struct hv_sregs *s, uint16_t sel,
                           uint32_t d[2])
{
    uint32_t fa, fe;
    return (sel & 0xfffc) != 0 && !(sel & 4) && (sel | 7u) <= s->gdt.limit &&
           hv_vcopy(g, s->gdt.base + (sel & ~7u), d, 8, false, &fa, &fe);
}

static void segment_of(struct hv_segment *seg, uint16_t sel, const uint32_t d[2])
{
    seg->sel = sel;
    seg->base = hv_desc_base(d[0], d[1]);
    seg->limit = hv_desc_limit(d[0], d[1]);
    seg->attr = hv_desc_attr(d[1] | HV_DESC_ACCESSED);
}

/* The handler's CS: `sel` must be a present ring-0 code segment (the boot
 * selector 0x08 until the guest loads a GDT); *seg gets its cache. */
static bool handler_cs(struct hv_guest *g, const struct hv_sregs *s, uint16_t sel,
                       struct hv_segment *seg)
{
    if (s->gdt.limit == 0) {
        static const uint32_t flat_code[2] = { 0x0000ffffu, 0x00cf9b00u };
        segment_of(seg, sel, flat_code);
        return sel == FLAT_CODE_SEL;
    }
    uint32_t d[2];
    if (!gdt_descriptor(g, s, sel, d))
        return false;
    uint32_t hi = d[1];
    if (!(hi & HV_DESC_S) || !(hi & HV_DESC_CODE) || !(hi & HV_DESC_P))
        return false;
    if (!(hi & HV_DESC_CONFORMING) && hv_desc_dpl(hi) != 0)
        return false;
    if (!(hi & HV_DESC_DB)) {
        hv_kill(g, "unsupported: handler segment 0x%04x is 16-bit code (only 32-bit code "
                "segments are supported)", sel);
        return false;
    }
    segment_of(seg, sel, d);
    return true;
}

/* The ring-0 stack (SS0:ESP0) of the guest's TSS, for an interrupt that
 * arrives in ring 3, with SS0's cache; false (and the guest killed) if there
 * is none. */
static bool tss_stack(struct hv_guest *g, const struct hv_sregs *s, uint32_t *esp0,
                      struct hv_segment *ss0)
{
    uint32_t d[2], fa, fe, stack[2];
    if (!gdt_descriptor(g, s, s->tr.sel, d)) {
        hv_kill(g, "an interrupt arrived in ring 3 but there is no TSS (ltr) to switch stacks");
        return false;
    }
    if (!hv_vcopy(g, hv_desc_base(d[0], d[1]) + 4, stack, 8, false, &fa, &fe)) {
        hv_kill(g, "the TSS at 0x%08x cannot be read", hv_desc_base(d[0], d[1]));
        return false;
    }
    uint16_t sel = (uint16_t)stack[1];
    uint32_t hi;
    if (!gdt_descriptor(g, s, sel, d) || !((hi = d[1]) & HV_DESC_S) || (hi & HV_DESC_CODE) ||
        !(hi & HV_DESC_RW) || !(hi & HV_DESC_P) || hv_desc_dpl(hi) != 0 || (sel & 3) != 0) {
        hv_kill(g, "the TSS's SS0 0x%04x is not a present, writable ring-0 data segment", sel);
        return false;
    }
    if (!(hi & HV_DESC_DB)) {
        hv_kill(g, "unsupported: the TSS's SS0 0x%04x is a 16-bit stack", sel);
        return false;
    }
    *esp0 = stack[0];
    segment_of(ss0, sel, d);
    return true;
}

/*
 * Build the frame for `gate` and enter it (SDM vol. 3, 6.12.1): on the
 * current stack at ring 0, or, coming from ring 3, on the TSS's ring-0 stack
 * with the old SS:ESP pushed first.  On a fault nothing changes in the
 * registers; *fa and *fe say what faulted (fe = ~0u for a gate that cannot
 * be entered at all).
 */
static bool enter_gate(struct hv_guest *g, const struct hv_gate *gate, bool has_error,
                       uint32_t error, uint32_t return_eip, uint32_t *fa, uint32_t *fe)
{
    struct hv_sregs s;
    g->live.sw_ops->get_sregs(g->live.sw, &s);
    struct hv_segment cs, ss = s.seg[HV_SS];
    if (!handler_cs(g, &s, gate->sel, &cs)) {
        *fa = gate->sel;
        *fe = ~0u;                          /* #GP(selector): not a code segment */
        return false;
    }
    struct hv_regs r;
    g->live.sw_ops->get_regs(g->live.sw, &r);
    uint32_t esp = r.gpr[HV_ESP];
    bool outer = s.cpl != 0;
    if (outer) {
        if (!tss_stack(g, &s, &esp, &ss)) {
            *fa = 0;
            *fe = ~0u;
            return false;
        }
        if (!push32(g, ss.base, &esp, s.seg[HV_SS].sel, fa, fe) ||
            !push32(g, ss.base, &esp, r.gpr[HV_ESP], fa, fe))
            return false;
    }
    uint32_t b = ss.base;
    if (!push32(g, b, &esp, r.eflags, fa, fe) || !push32(g, b, &esp, s.seg[HV_CS].sel, fa, fe) ||
        !push32(g, b, &esp, return_eip, fa, fe) ||
        (has_error && !push32(g, b, &esp, error, fa, fe)))
        return false;
    r.gpr[HV_ESP] = esp;
    r.eip = gate->offset;
    r.eflags &= ~(HV_TF | HV_NT | (1u << 16) | (1u << 17));     /* TF NT RF VM */
    if (gate->type == GATE_INTR)
        r.eflags &= ~HV_IF;
    g->live.sw_ops->set_regs(g->live.sw, &r);
    if (memcmp(&s.seg[HV_CS], &cs, sizeof(cs)) != 0 || outer) {
        s.seg[HV_CS] = cs;
        s.seg[HV_SS] = ss;
        s.cpl = 0;
        g->live.sw_ops->set_sregs(g->live.sw, &s);
    }
    return true;
}

/* A #PF found while pushing a frame still reports its address, as on a CPU. */
static void note_fault(struct hv_guest *g, uint32_t fa, uint32_t fe)
{
    if (fe == ~0u)
        return;
    struct hv_sregs s;
    g->live.sw_ops->get_sregs(g->live.sw, &s);
    s.cr2 = fa;
    g->live.sw_ops->set_sregs(g->live.sw, &s);
}

bool hv_deliver(struct hv_guest *g, uint32_t vector, bool has_error, uint32_t error,
                uint32_t return_eip, uint32_t origin_eip, bool software)
{
    struct hv_gate gate;
    enum gate_found found = find_gate(g, vector & 0xff, &gate);
    if (found == GATE_NONE)
        return false;
    if (software && found == GATE_OK) {
        /* `int n` from ring 3 needs a gate with DPL 3: else #GP(vector*8+2),
         * returning to the int itself. */
        struct hv_sregs s;
        g->live.sw_ops->get_sregs(g->live.sw, &s);
        if (s.cpl > gate.dpl) {
            if (!hv_deliver(g, HV_VEC_GP, true, (vector & 0xff) * 8 + 2, origin_eip,
                            origin_eip, false))
                hv_kill(g, "unhandled #GP at eip=0x%08x", origin_eip);
            return true;
        }
    }
    uint32_t fa = 0, fe = ~0u;
    if (found == GATE_OK && enter_gate(g, &gate, has_error, error, return_eip, &fa, &fe))
        return true;
    if (g->stop != HV_RUNNING)
        return true;
    note_fault(g, fa, fe);
    /* A fault while delivering: the double fault, on the same stack. */
    struct hv_gate df;
    found = find_gate(g, HV_VEC_DF, &df);
    if (found == GATE_NONE) {
        hv_kill(g, "unhandled #DF at eip=0x%08x", origin_eip);
        return true;
    }
    if (found == GATE_OK && enter_gate(g, &df, true, 0, return_eip, &fa, &fe))
        return true;
    hv_kill(g, "triple fault at eip=0x%08x", origin_eip);
    return true;
}

void hv_irq_poll(struct hv_guest *g)
{
    g->irq_recheck = false;
    if (poll_pic(g))
        return;
    uint32_t ready = deliverable(g);
    if (!ready) {
        if (g->irq_window) {
            g->irq_window = false;
            g->live.sw_ops->irq_window(g->live.sw, false);
        }
        return;
    }
    struct hv_regs r;
    if (!can_take_now(g, &r))
        return;
    unsigned n = (unsigned)__builtin_ctz(ready);
    g->irq_pending &= ~(1u << n);
    g->halted = false;
    hv_guest_data_sync(g, true);
    hv_deliver(g, HV_VEC_IRQ0 + n, false, 0, r.eip, r.eip, false);
    /* An interrupt gate cleared IF; more pending IRQs wait for it. */
    g->irq_recheck = true;
}
