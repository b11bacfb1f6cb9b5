/*
 * host_trap.c: what a trap means.
 *
 * The switcher reports the bare event (a vector, a port, a hlt); the host
 * decides.  An exception or `int n` with a guest gate is delivered through
 * it (host_irq.c); without one it kills the guest with a reason naming the
 * vector and the instruction (Guest ABI v1, "Faults").
 */
#include <stdio.h>

#include "hv.h"


static const char *const vector_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void kill_unhandled(struct hv_guest *g, const struct hv_trap *t)
{
    const char *name = t->vector < 32 ? vector_names[t->vector] : NULL;
    if (t->vector == HV_VEC_PF) {
        hv_kill(g, "unhandled #PF at eip=0x%08x cr2=0x%08x", t->eip, t->cr2);
    } else if (t->vector == HV_VEC_UD) {
        char bytes[3 * sizeof(t->bytes) + 1] = "";
        size_t len = 0;
        for (unsigned k = 0; k < t->nbytes && k < sizeof(t->bytes); k++)
            len += (size_t)snprintf(bytes + len, sizeof(bytes) - len, k ? " %02x" : "%02x",
                                    t->bytes[k]);
        hv_kill(g, "unhandled #UD at eip=0x%08x bytes=%s", t->eip, bytes);
    } else if (name && t->kind == HV_TRAP_FAULT) {
        hv_kill(g, "unhandled %s at eip=0x%08x", name, t->eip);
    } else if (t->vector == HV_VEC_BP || t->vector == HV_VEC_OF) {
        hv_kill(g, "unhandled %s at eip=0x%08x", vector_names[t->vector], t->eip);
    } else {
        hv_kill(g, "unhandled int 0x%02x at eip=0x%08x", t->vector, t->eip);
    }
}

static void handle_in(struct hv_guest *g, const struct hv_trap *t)
{
    struct hv_regs r;
    g->live.sw_ops->get_regs(g->live.sw, &r);
    uint32_t keep = t->size == 4 ? 0 : t->size == 2 ? 0xffff0000u : 0xffffff00u;
    r.gpr[HV_EAX] = (r.gpr[HV_EAX] & keep) | hv_port_in(g, t->port, t->size);
    g->live.sw_ops->set_regs(g->live.sw, &r);
}

/* Exceptions that push an error code (SDM vol. 3, table 6-1). */
static bool has_error_code(uint32_t vector)
{
    return vector == HV_VEC_DF || (vector >= HV_VEC_TS && vector <= HV_VEC_PF) ||
           vector == HV_VEC_AC;
}

static void handle_fault(struct hv_guest *g, const struct hv_trap *t)
{
    if (t->vector == HV_VEC_PF) {
        /* CR2 holds the address before the handler runs, and guest_data too. */
        struct hv_sregs s;
        g->live.sw_ops->get_sregs(g->live.sw, &s);
        s.cr2 = t->cr2;
        g->live.sw_ops->set_sregs(g->live.sw, &s);
        if (g->has_guest_data)
            hv_write(g, g->guest_data + 8, &t->cr2, 4);
    }
    /* A fault returns to the faulting instruction, so it can be restarted. */
    if (!hv_deliver(g, t->vector, has_error_code(t->vector), t->error_code, t->eip, t->eip,
                    false))
        kill_unhandled(g, t);
}

static void handle_softint(struct hv_guest *g, const struct hv_trap *t)
{
    if (t->vector == HV_VEC_HYPERCALL) {
        /* Only the guest's kernel talks to the host: from ring 3, int $0x1f
         * is an ordinary software interrupt. */
        struct hv_sregs s;
        g->live.sw_ops->get_sregs(g->live.sw, &s);
        if (s.cpl == 0) {
            g->hcall_pending = true;
            g->hcall_eip = t->eip;
            return;
        }
    }
    /* int n, int3 and into return after themselves and push no error code. */
    if (!hv_deliver(g, t->vector, false, 0, t->next_eip, t->eip, true))
        kill_unhandled(g, t);
}

static void handle_hlt(struct hv_guest *g, const struct hv_trap *t)
{
    struct hv_regs r;
    g->live.sw_ops->get_regs(g->live.sw, &r);
    if (!(r.eflags & HV_IF)) {
        hv_kill(g, "hlt with interrupts off at eip=0x%08x", t->eip);
        return;
    }
    g->halted = true;
    g->halt_eip = t->eip;
}

void hv_handle_trap(struct hv_guest *g, const struct hv_trap *t)
{
    if (g->stop != HV_RUNNING)
        return;                 /* killed during the run: the first reason stands */
    if (t->kind != HV_TRAP_BUDGET)
        g->irq_recheck = true;
    switch (t->kind) {
    case HV_TRAP_NONE:
    case HV_TRAP_BUDGET:
    case HV_TRAP_IRQ_WINDOW:
    case HV_TRAP_STOP:
        break;
    case HV_TRAP_SOFTINT:
        handle_softint(g, t);
        break;
    case HV_TRAP_FAULT:
        handle_fault(g, t);
        break;
    case HV_TRAP_OUT:
        hv_port_out(g, t->port, t->size, t->value);
        break;
    case HV_TRAP_IN:
        handle_in(g, t);
        break;
    case HV_TRAP_HLT:
        handle_hlt(g, t);
        break;
    case HV_TRAP_UNSUPPORTED:
        hv_kill(g, "unsupported at eip=0x%08x: %s", t->eip, t->what);
        break;
    case HV_TRAP_FERR:
        hv_ferr_assert(g);
        break;
    case HV_TRAP_BREAK:
        g->stop = HV_STOP_DEBUG;    /* the embedder's debugger takes over */
        g->live.debug_reason = HV_DEBUG_BREAK;
        break;
    }
}
