/*
 * host_trap.c: what a trap means.
 *
 * The switcher reports the bare event (a vector, a port, a hlt); the host
 * decides.  There are no guest interrupt gates until the interrupts issue
 * lands, so every exception kills the guest with a reason naming the vector
 * and the instruction (Guest ABI v1, "Faults").
 */
#include <stdio.h>

#include "hv.h"

#define PORT_DEBUG_CONSOLE 0xE9
#define PORT_DEBUG_EXIT 0xF4

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

static void handle_out(struct hv_guest *g, const struct hv_trap *t)
{
    uint8_t byte = (uint8_t)t->value;
    switch (t->port) {
    case PORT_DEBUG_CONSOLE:
        hv_console_write(g, &byte, 1);
        if (byte == '\n')
            hv_console_flush(g);
        break;
    case PORT_DEBUG_EXIT:
        g->status = (int)(t->value & 0xff);
        g->stop = HV_STOP_EXIT;
        break;
    default:
        break;              /* no device there: writes vanish, as on a PC */
    }
}

static void handle_in(struct hv_guest *g, const struct hv_trap *t)
{
    /* No device answers yet, so the bus floats high. */
    struct hv_regs r;
    g->sw_ops->get_regs(g->sw, &r);
    uint32_t ones = t->size == 4 ? 0xffffffffu : t->size == 2 ? 0xffffu : 0xffu;
    uint32_t keep = ~ones;
    r.gpr[HV_EAX] = (r.gpr[HV_EAX] & keep) | ones;
    g->sw_ops->set_regs(g->sw, &r);
}

void hv_handle_trap(struct hv_guest *g, const struct hv_trap *t)
{
    switch (t->kind) {
    case HV_TRAP_NONE:
    case HV_TRAP_BUDGET:
        break;
    case HV_TRAP_SOFTINT:
        if (t->vector == HV_VEC_HYPERCALL)
            g->hcall_pending = true;
        else
            kill_unhandled(g, t);
        break;
    case HV_TRAP_FAULT:
        kill_unhandled(g, t);
        break;
    case HV_TRAP_OUT:
        handle_out(g, t);
        break;
    case HV_TRAP_IN:
        handle_in(g, t);
        break;
    case HV_TRAP_HLT: {
        struct hv_regs r;
        g->sw_ops->get_regs(g->sw, &r);
        if (!(r.eflags & HV_IF))
            hv_kill(g, "hlt with interrupts off at eip=0x%08x", t->eip);
        else
            hv_kill(g, "hlt with no interrupt source at eip=0x%08x", t->eip);
        break;
    }
    }
}
