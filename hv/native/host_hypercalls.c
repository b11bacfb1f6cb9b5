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

enum { E_BADF = 9, E_INVAL = 22, E_NOSYS = 38 };

struct hcall {
    uint32_t nr;
    uint32_t arg[4];
    uint32_t ret;           /* goes to EAX */
    uint32_t ret_hi;        /* goes to EDX when set_edx */
    bool set_edx;
};

typedef void hcall_fn(struct hv_guest *g, struct hcall *hc);

uint64_t hv_guest_clock(struct hv_guest *g)
{
    /* The emu's virtual clock: one instruction is one nanosecond, so the same
     * image always sees the same times. */
    return g->sw_ops->instructions(g->sw);
}

static void hc_flush_async(struct hv_guest *g, struct hcall *hc)
{
    (void)g;
    hc->ret = 0;            /* no async ring yet, so it is always drained */
}

static void hc_init(struct hv_guest *g, struct hcall *hc)
{
    /* Register only: the page is used once interrupts and the timer land. */
    if (!hv_gpa(g, hc->arg[0], HV_PAGE_SIZE)) {
        hv_kill(g, "bad guest_data address 0x%08x", hc->arg[0]);
        return;
    }
    g->guest_data = hc->arg[0];
    hc->ret = 0;
}

/* Copy a NUL-terminated guest string of at most max-1 bytes. */
static void read_guest_string(struct hv_guest *g, uint32_t addr, char *dst, size_t max)
{
    size_t n = 0;
    while (n + 1 < max) {
        const uint8_t *p = hv_gpa(g, addr + (uint32_t)n, 1);
        if (!p) {
            hv_kill(g, "bad read address 0x%08x len 1", addr + (uint32_t)n);
            break;
        }
        if (*p == 0)
            break;
        dst[n++] = (char)*p;
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
    if (!p) {
        hv_kill(g, "bad write address 0x%08x len %u", addr, len);
        return;
    }
    hv_console_write(g, p, len);
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
    if (hc->arg[1] && !hv_read(g, hc->arg[1], rec, sizeof(rec)))
        return;
    if (g->nresults >= HV_TEST_RESULTS_MAX) {
        hv_kill(g, "more than %u test results", HV_TEST_RESULTS_MAX);
        return;
    }
    if (g->nresults == g->results_cap) {
        size_t cap = g->results_cap ? 2 * g->results_cap : 4;
        struct hv_test_result *p = realloc(g->results, cap * sizeof(*p));
        if (!p) {
            hv_kill(g, "out of host memory for test results");
            return;
        }
        g->results = p;
        g->results_cap = cap;
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
    g->results[g->nresults++] = r;
    hc->ret = 0;
}

/* Hypercalls of ABI v1 whose machinery (interrupts, timer, paging) is not
 * built yet.  They stop the guest loudly rather than pretend to work. */
static void hc_not_yet(struct hv_guest *g, struct hcall *hc);

static const struct {
    const char *name;
    hcall_fn *fn;
} hcall_table[HV_HC_MAX] = {
    [HV_HC_FLUSH_ASYNC] = { "FLUSH_ASYNC", hc_flush_async },
    [HV_HC_INIT] = { "INIT", hc_init },
    [HV_HC_SHUTDOWN] = { "SHUTDOWN", hc_shutdown },
    [HV_HC_NEW_PGTABLE] = { "NEW_PGTABLE", hc_not_yet },
    [HV_HC_FLUSH_TLB] = { "FLUSH_TLB", hc_not_yet },
    [HV_HC_LOAD_IDT_ENTRY] = { "LOAD_IDT_ENTRY", hc_not_yet },
    [HV_HC_SET_CLOCKEVENT] = { "SET_CLOCKEVENT", hc_not_yet },
    [HV_HC_HALT] = { "HALT", hc_not_yet },
    [HV_HC_SET_PTE] = { "SET_PTE", hc_not_yet },
    [HV_HC_SET_PGD] = { "SET_PGD", hc_not_yet },
    [HV_HC_NOTIFY] = { "NOTIFY", hc_not_yet },
    [HV_HC_SEND_INTERRUPTS] = { "SEND_INTERRUPTS", hc_not_yet },
    [HV_HC_WRITE] = { "WRITE", hc_write },
    [HV_HC_EXIT] = { "EXIT", hc_exit },
    [HV_HC_CLOCK] = { "CLOCK", hc_clock },
    [HV_HC_TEST_RESULT] = { "TEST_RESULT", hc_test_result },
};

static void hc_not_yet(struct hv_guest *g, struct hcall *hc)
{
    hv_kill(g, "not supported yet: %s", hcall_table[hc->nr].name);
}

void hv_do_hypercall(struct hv_guest *g)
{
    struct hv_regs r;
    g->sw_ops->get_regs(g->sw, &r);
    struct hcall hc = {
        .nr = r.gpr[HV_EAX],
        .arg = { r.gpr[HV_EBX], r.gpr[HV_ECX], r.gpr[HV_EDX], r.gpr[HV_ESI] },
        .ret = (uint32_t)-E_NOSYS,
    };
    if (hc.nr < HV_HC_MAX && hcall_table[hc.nr].fn)
        hcall_table[hc.nr].fn(g, &hc);
    if (g->stop != HV_RUNNING)
        return;
    r.gpr[HV_EAX] = hc.ret;
    if (hc.set_edx)
        r.gpr[HV_EDX] = hc.ret_hi;
    g->sw_ops->set_regs(g->sw, &r);
}
