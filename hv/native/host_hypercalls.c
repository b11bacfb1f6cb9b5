/*
 * host_hypercalls.c: the guest asks, the host answers.
 *
 * The guest executes `int $0x1f` with the number in EAX and arguments in EBX,
 * ECX, EDX and ESI (ABI v1).  Each hypercall is a short handler in a table.
 * A bad argument is answered with a negative errno in EAX; a pointer outside
 * guest RAM kills the guest (hv_read/hv_write do that).
 */
#include <stdlib.h>
#include <string.h>

#include "hv.h"

enum { E_BADF = 9, E_NODEV = 19, E_INVAL = 22, E_NOSYS = 38 };

struct hcall {
    uint32_t nr;
    uint32_t arg[4];
    uint32_t ret;           /* goes to EAX */
    uint32_t ret_hi;        /* goes to EDX when set_edx */
    bool set_edx;
};

typedef void hcall_fn(struct hv_guest *g, struct hcall *hc);

static void hc_flush_async(struct hv_guest *g, struct hcall *hc)
{
    (void)g;
    hc->ret = 0;            /* no async ring yet, so it is always drained */
}

/* INIT: the shared page, guest-physical; the host writes pending and time
 * into it from now on. */
static void hc_init(struct hv_guest *g, struct hcall *hc)
{
    if (!hv_gpa(g, hc->arg[0], HV_PAGE_SIZE)) {
        hv_kill(g, "bad guest_data address 0x%08x", hc->arg[0]);
        return;
    }
    g->guest_data = hc->arg[0];
    g->has_guest_data = true;
    hv_guest_data_sync(g, true);
    hc->ret = 0;
}

/* Copy a NUL-terminated guest string (guest-virtual) of at most max-1 bytes. */
static void read_guest_string(struct hv_guest *g, uint32_t addr, char *dst, size_t max)
{
    size_t n = 0;
    while (n + 1 < max) {
        uint8_t ch;
        uint32_t fa, fe;
        if (!hv_vcopy(g, addr + (uint32_t)n, &ch, 1, false, &fa, &fe)) {
            hv_kill(g, "bad read address 0x%08x len 1", addr + (uint32_t)n);
            break;
        }
        if (ch == 0)
            break;
        dst[n++] = (char)ch;
    }
    dst[n] = 0;
}

static void hc_shutdown(struct hv_guest *g, struct hcall *hc)
{
    uint32_t how = hc->arg[1];
    if (how != 1 && how != 2) {
        hc->ret = (uint32_t)-E_INVAL;
        return;
    }
    if (hc->arg[0]) {
        char msg[HV_REASON_MAX];
        read_guest_string(g, hc->arg[0], msg, sizeof(msg));
        if (g->stop != HV_RUNNING)
            return;
        hv_console_write(g, (const uint8_t *)msg, strlen(msg));
        hv_console_write(g, (const uint8_t *)"\n", 1);
    }
    if (how == 2) {
        g->stop = HV_STOP_RESTART;
    } else {
        g->status = 0;
        g->stop = HV_STOP_EXIT;
    }
}

static void hc_write(struct hv_guest *g, struct hcall *hc)
{
    uint32_t fd = hc->arg[0], addr = hc->arg[1], len = hc->arg[2];
    if (fd != 1 && fd != 2) {
        hc->ret = (uint32_t)-E_BADF;
        return;
    }
    const uint8_t *p = hv_gpa(g, addr, len);
    struct hv_mmu m;
    hv_mmu_get(g, &m);
    if (m.cr0 & HV_CR0_PG) {
        /* Guest-virtual: copy it page by page (the console keeps it anyway). */
        uint8_t buf[HV_PAGE_SIZE];
        uint32_t done = 0, fa, fe;
        while (done < len) {
            uint32_t chunk = len - done < sizeof(buf) ? len - done : (uint32_t)sizeof(buf);
            if (!hv_vcopy(g, addr + done, buf, chunk, false, &fa, &fe)) {
                hv_kill(g, "bad write address 0x%08x len %u", addr, len);
                return;
            }
            hv_console_write(g, buf, chunk);
            done += chunk;
        }
    } else if (!p) {
        hv_kill(g, "bad write address 0x%08x len %u", addr, len);
        return;
    } else {
        hv_console_write(g, p, len);
    }
    hv_console_flush(g);
    hc->ret = len;
}

static void hc_exit(struct hv_guest *g, struct hcall *hc)
{
    g->status = (int)(hc->arg[0] & 0xff);    /* like _exit(2): the low byte */
    g->stop = HV_STOP_EXIT;
}

static void hc_clock(struct hv_guest *g, struct hcall *hc)
{
    uint64_t ns = hv_guest_clock(g);
    hc->ret = (uint32_t)ns;
    hc->ret_hi = (uint32_t)(ns >> 32);
    hc->set_edx = true;
}

/* A guest string for a test report: NULL for address 0, else a host copy
 * (at most HV_TEST_STRING_MAX - 1 bytes; longer strings are cut). */
static char *test_string(struct hv_guest *g, uint32_t addr)
{
    if (!addr)
        return NULL;
    char buf[HV_TEST_STRING_MAX];
    read_guest_string(g, addr, buf, sizeof(buf));
    return g->stop == HV_RUNNING ? strdup(buf) : NULL;
}

/*
 * TEST_RESULT(outcome, record): a test case reports pass (0), fail (1) or
 * skip (2).  record is 0 or the gpa of seven u32: file, line, expr, lhs, rhs,
 * message, reserved; each string field is 0 or the gpa of a NUL-terminated
 * string.  Reports accumulate; the embedder reads them after the run.
 */
static void hc_test_result(struct hv_guest *g, struct hcall *hc)
{
    uint32_t outcome = hc->arg[0], rec[7] = { 0 };
    if (outcome > HV_TEST_SKIP) {
        hc->ret = (uint32_t)-E_INVAL;
        return;
    }
    if (hc->arg[1] && !hv_vread(g, hc->arg[1], rec, sizeof(rec)))
        return;
    if (g->nresults >= HV_TEST_RESULTS_MAX) {
        hv_kill(g, "more than %u test results", HV_TEST_RESULTS_MAX);
        return;
    }
    if (g->nresults == g->live.results_cap) {
        size_t cap = g->live.results_cap ? 2 * g->live.results_cap : 4;
        struct hv_test_result *p = realloc(g->live.results, cap * sizeof(*p));
        if (!p) {
            hv_kill(g, "out of host memory for test results");
            return;
        }
        g->live.results = p;
        g->live.results_cap = cap;
    }
    struct hv_test_result r = {
        .outcome = (enum hv_outcome)outcome,
        .line = rec[1],
        .file = test_string(g, rec[0]),
        .expr = test_string(g, rec[2]),
        .lhs = test_string(g, rec[3]),
        .rhs = test_string(g, rec[4]),
        .message = test_string(g, rec[5]),
    };
    if (g->stop != HV_RUNNING) {        /* a bad string pointer: no half reports */
        free(r.file);
        free(r.expr);
        free(r.lhs);
        free(r.rhs);
        free(r.message);
        return;
    }
    g->live.results[g->nresults++] = r;
    hc->ret = 0;
}

static void hc_load_idt_entry(struct hv_guest *g, struct hcall *hc)
{
    hc->ret = (uint32_t)hv_set_gate(g, hc->arg[0], hc->arg[1], hc->arg[2]);
}

static void hc_set_clockevent(struct hv_guest *g, struct hcall *hc)
{
    hv_timer_set(g, hc->arg[0]);
    hc->ret = 0;
}

/* HALT: IF on, then wait in the run loop; EAX is 0 when the guest resumes. */
static void hc_halt(struct hv_guest *g, struct hcall *hc)
{
    struct hv_regs r;
    g->live.sw_ops->get_regs(g->live.sw, &r);
    r.eflags |= HV_IF;
    g->live.sw_ops->set_regs(g->live.sw, &r);
    g->halted = true;
    g->halt_eip = g->hcall_eip;
    hc->ret = 0;
}

static void hc_send_interrupts(struct hv_guest *g, struct hcall *hc)
{
    g->irq_recheck = true;              /* the run loop delivers right after this */
    hc->ret = 0;
}

/* A page directory or table given by the guest: 4 KiB aligned, in RAM. */
static bool pgdir_ok(struct hv_guest *g, uint32_t gpa)
{
    return (gpa & 0xfffu) == 0 && hv_gpa(g, gpa, HV_PAGE_SIZE);
}

static void hc_new_pgtable(struct hv_guest *g, struct hcall *hc)
{
    if (!pgdir_ok(g, hc->arg[0])) {
        hc->ret = (uint32_t)-E_INVAL;
        return;
    }
    struct hv_sregs s;
    g->live.sw_ops->get_sregs(g->live.sw, &s);
    s.cr3 = hc->arg[0];
    s.cr0 |= HV_CR0_PG | HV_CR0_WP | HV_CR0_PE;
    s.cr4 |= HV_CR4_PSE;
    g->live.sw_ops->set_sregs(g->live.sw, &s);
    g->live.sw_ops->flush_tlb(g->live.sw, 0, true);   /* even when the directory is the same */
    hc->ret = 0;
}

static void hc_flush_tlb(struct hv_guest *g, struct hcall *hc)
{
    g->live.sw_ops->flush_tlb(g->live.sw, 0, true);
    hc->ret = 0;
}

static void hc_set_pte(struct hv_guest *g, struct hcall *hc)
{
    if (!pgdir_ok(g, hc->arg[0])) {
        hc->ret = (uint32_t)-E_INVAL;
        return;
    }
    g->live.sw_ops->flush_tlb(g->live.sw, hc->arg[1], false);
    hc->ret = 0;
}

static void hc_set_pgd(struct hv_guest *g, struct hcall *hc)
{
    if (!pgdir_ok(g, hc->arg[0]) || hc->arg[1] > 1023) {
        hc->ret = (uint32_t)-E_INVAL;
        return;
    }
    /* One directory entry covers 4 MiB: drop every translation under it. */
    for (uint32_t k = 0; k < 1024; k++)
        g->live.sw_ops->flush_tlb(g->live.sw, (hc->arg[1] << 22) | (k << 12), false);
    hc->ret = 0;
}

/* NOTIFY: the request's first u32 names the device; the device answers. */
static void hc_notify(struct hv_guest *g, struct hcall *hc)
{
    uint32_t index;
    if (!hv_read(g, hc->arg[0], &index, 4))
        return;
    const struct hv_launcher *l = g->live.launcher;
    if (!l || !l->notify || index >= l->ndevices) {
        hc->ret = (uint32_t)-E_NODEV;
        return;
    }
    uint32_t result = (uint32_t)-E_NODEV;
    l->notify(l->ctx, g, index, hc->arg[0], &result);
    hc->ret = result;
}

static const struct {
    const char *name;
    hcall_fn *fn;
} hcall_table[HV_HC_MAX] = {
    [HV_HC_FLUSH_ASYNC] = { "FLUSH_ASYNC", hc_flush_async },
    [HV_HC_INIT] = { "INIT", hc_init },
    [HV_HC_SHUTDOWN] = { "SHUTDOWN", hc_shutdown },
    [HV_HC_NEW_PGTABLE] = { "NEW_PGTABLE", hc_new_pgtable },
    [HV_HC_FLUSH_TLB] = { "FLUSH_TLB", hc_flush_tlb },
    [HV_HC_LOAD_IDT_ENTRY] = { "LOAD_IDT_ENTRY", hc_load_idt_entry },
    [HV_HC_SET_CLOCKEVENT] = { "SET_CLOCKEVENT", hc_set_clockevent },
    [HV_HC_HALT] = { "HALT", hc_halt },
    [HV_HC_SET_PTE] = { "SET_PTE", hc_set_pte },
    [HV_HC_SET_PGD] = { "SET_PGD", hc_set_pgd },
    [HV_HC_NOTIFY] = { "NOTIFY", hc_notify },
    [HV_HC_SEND_INTERRUPTS] = { "SEND_INTERRUPTS", hc_send_interrupts },
    [HV_HC_WRITE] = { "WRITE", hc_write },
    [HV_HC_EXIT] = { "EXIT", hc_exit },
    [HV_HC_CLOCK] = { "CLOCK", hc_clock },
    [HV_HC_TEST_RESULT] = { "TEST_RESULT", hc_test_result },
};

void hv_do_hypercall(struct hv_guest *g)
{
    struct hv_regs r;
    g->live.sw_ops->get_regs(g->live.sw, &r);
    struct hcall hc = {
        .nr = r.gpr[HV_EAX],
        .arg = { r.gpr[HV_EBX], r.gpr[HV_ECX], r.gpr[HV_EDX], r.gpr[HV_ESI] },
        .ret = (uint32_t)-E_NOSYS,
    };
    if (hc.nr < HV_HC_MAX && hcall_table[hc.nr].fn)
        hcall_table[hc.nr].fn(g, &hc);
    if (g->stop != HV_RUNNING)
        return;
    g->irq_recheck = true;          /* any hypercall may have unblocked an IRQ */
    g->live.sw_ops->get_regs(g->live.sw, &r); /* HALT changed EFLAGS */
    r.gpr[HV_EAX] = hc.ret;
    if (hc.set_edx)
        r.gpr[HV_EDX] = hc.ret_hi;
    g->live.sw_ops->set_regs(g->live.sw, &r);
}
