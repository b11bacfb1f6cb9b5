/*
 * host_core.c: a guest's lifetime, its memory, kill reasons and the run loop.
 *
 * A tour in order: hv_guest_create() maps RAM and creates the switcher;
 * hv_read()/hv_write() are the only ways the host touches guest memory;
 * hv_kill() records why a guest died; hv_run() is the loop that alternates
 * between running the guest and servicing what it asked for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"

/* Instructions run between two looks at the clock and at signals.  Small
 * enough that Ctrl-C and timeouts feel immediate, large enough to be free. */
#define HV_SLICE 2000000u
/* How often (seconds) the embedder is asked about signals. */
#define HV_POLL_INTERVAL 0.01
/* Captured console is capped; streaming goes on past the cap. */
#define HV_CONSOLE_CAP (64u << 20)

double hv_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct hv_guest *hv_guest_create(uint32_t ram_size, const struct hv_switcher_ops *ops,
                                 char *err, size_t errlen)
{
    struct hv_guest *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* NORESERVE: a 64 MiB guest that touches 100 KiB costs 100 KiB. */
    void *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        snprintf(err, errlen, "cannot map %u bytes of guest RAM: %s", ram_size, strerror(errno));
        free(g);
        return NULL;
    }
    g->live.ram = ram;
    g->live.ram_size = ram_size;
    g->live.clock = HV_CLOCK_VIRTUAL;
    g->live.serial_fd = g->live.debugcon_fd = -1;
    g->boot_time = hv_monotonic();
    g->live.sw_ops = ops;
    g->live.sw = ops->create(g);
    if (!g->live.sw) {
        snprintf(err, errlen, "cannot create the %s switcher", ops->name);
        munmap(ram, ram_size);
        free(g);
        return NULL;
    }
    return g;
}

void hv_guest_destroy(struct hv_guest *g)
{
    if (!g)
        return;
    hv_set_watchpoints(g, NULL, NULL, NULL, 0);
    if (g->live.sw)
        g->live.sw_ops->destroy(g->live.sw);
    munmap(g->live.ram, g->live.ram_size);
    free(g->live.console);
    for (size_t k = 0; k < g->nresults; k++) {
        struct hv_test_result *r = &g->live.results[k];
        free(r->file);
        free(r->expr);
        free(r->lhs);
        free(r->rhs);
        free(r->message);
    }
    free(g->live.results);
    hv_ram_image_unref(g->live.ram_image);
    free(g);
}

bool hv_read(struct hv_guest *g, uint32_t addr, void *dst, uint32_t len)
{
    const uint8_t *p = hv_gpa(g, addr, len);
    if (!p) {
        memset(dst, 0, len);
        hv_kill(g, "bad read address 0x%08x len %u", addr, len);
        return false;
    }
    memcpy(dst, p, len);
    return true;
}

bool hv_write(struct hv_guest *g, uint32_t addr, const void *src, uint32_t len)
{
    uint8_t *p = hv_gpa(g, addr, len);
    if (!p) {
        hv_kill(g, "bad write address 0x%08x len %u", addr, len);
        return false;
    }
    memcpy(p, src, len);
    g->live.sw_ops->mem_written(g->live.sw, addr, len);
    return true;
}

void hv_kill(struct hv_guest *g, const char *fmt, ...)
{
    /* The first reason is the cause; what follows is usually its echo. */
    if (g->stop != HV_RUNNING)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
    va_end(ap);
    g->stop = HV_STOP_KILLED;
}

static bool console_reserve(struct hv_guest *g, size_t more)
{
    if (g->console_len + more <= g->live.console_cap)
        return true;
    size_t cap = g->live.console_cap ? g->live.console_cap : 4096;
    while (cap < g->console_len + more)
        cap *= 2;
    uint8_t *p = realloc(g->live.console, cap);
    if (!p)
        return false;
    g->live.console = p;
    g->live.console_cap = cap;
    return true;
}

static void stream_out(struct hv_guest *g, const uint8_t *buf, size_t len)
{
    const struct hv_launcher *l = g->live.launcher;
    if (!l || len == 0)
        return;
    if (l->console_fd >= 0) {
        while (len > 0) {
            ssize_t n = write(l->console_fd, buf, len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return;     /* a closed stdout must not kill the guest */
            buf += n;
            len -= (size_t)n;
        }
    } else if (l->console) {
        l->console(l->ctx, buf, len);
    }
}

void hv_console_flush(struct hv_guest *g)
{
    if (g->streamed < g->console_len) {
        stream_out(g, g->live.console + g->streamed, g->console_len - g->streamed);
        g->streamed = g->console_len;
    }
}

void hv_console_write(struct hv_guest *g, const uint8_t *buf, size_t len)
{
    if (!g->console_truncated && g->console_len + len <= HV_CONSOLE_CAP &&
        console_reserve(g, len)) {
        memcpy(g->live.console + g->console_len, buf, len);
        g->console_len += len;
        return;
    }
    /* Past the cap the bytes still stream, they are just not kept. */
    g->console_truncated = true;
    hv_console_flush(g);
    stream_out(g, buf, len);
}

void hv_chardev_put(struct hv_guest *g, int fd, uint8_t byte)
{
    if (fd < 0) {
        hv_console_write(g, &byte, 1);
        if (byte == '\n')
            hv_console_flush(g);
        return;
    }
    while (write(fd, &byte, 1) < 0 && errno == EINTR)
        ;                   /* a failed write must not kill the guest */
}

/* Step 3 of the loop: the clock and the embedder's signals. */
static void check_limits(struct hv_guest *g)
{
    if (HV_UNLIKELY(__atomic_load_n(&g->live.debug_interrupt, __ATOMIC_RELAXED))) {
        __atomic_store_n(&g->live.debug_interrupt, 0, __ATOMIC_RELAXED);
        g->stop = HV_STOP_DEBUG;    /* the debugger asked (gdb's Ctrl-C) */
        g->live.debug_reason = HV_DEBUG_INTERRUPT;
        return;
    }
    double now = hv_monotonic();
    if (g->live.deadline > 0 && now >= g->live.deadline) {
        hv_kill(g, "timeout");
        return;
    }
    if (now - g->live.last_poll < HV_POLL_INTERVAL)
        return;
    g->live.last_poll = now;
    const struct hv_launcher *l = g->live.launcher;
    if (l && l->check_signals && l->check_signals(l->ctx)) {
        if (g->stop == HV_RUNNING) {
            snprintf(g->reason, sizeof(g->reason), "interrupted");
            g->stop = HV_STOP_SIGNAL;
        }
    }
}

/* How many instructions the switcher may run before we look around again. */
static uint64_t next_budget(struct hv_guest *g)
{
    uint64_t budget = HV_SLICE;
    if (g->live.max_instructions) {
        uint64_t done = g->live.sw_ops->instructions(g->live.sw);
        if (done >= g->live.max_instructions)
            return 0;
        if (g->live.max_instructions - done < budget)
            budget = g->live.max_instructions - done;
    }
    if (HV_UNLIKELY(g->live.debug_stop_at)) {
        uint64_t done = g->live.sw_ops->instructions(g->live.sw);
        if (g->live.debug_stop_at - done < budget)
            budget = g->live.debug_stop_at - done;  /* hv_run pauses before it is 0 */
    }
    if (g->step_one || g->live.debug_step || g->live.nwatch) {
        g->step_one = false;
        return 1;           /* just the instruction in an sti shadow, or a debugger's step */
    }
    return hv_timer_budget(g, budget);
}

bool hv_set_watchpoints(struct hv_guest *g, const uint32_t *addr, const uint32_t *len,
                        const enum hv_watch_kind *kind, uint32_t n)
{
    for (uint32_t k = 0; k < g->live.nwatch; k++)
        free(g->live.watch[k].old);
    free(g->live.watch);
    g->live.watch = NULL;
    g->live.nwatch = 0;
    bool accesses = false;
    if (n) {
        g->live.watch = calloc(n, sizeof(*g->live.watch));
        if (!g->live.watch)
            n = 0;
    }
    for (uint32_t k = 0; k < n; k++) {
        struct hv_watch *w = &g->live.watch[g->live.nwatch];
        w->addr = addr[k];
        w->len = len[k];
        w->kind = kind[k];
        if (w->kind == HV_WATCH_WRITE) {
            w->old = calloc(len[k] ? len[k] : 1, 1);
            if (!w->old) {
                hv_set_watchpoints(g, NULL, NULL, NULL, 0);
                return false;
            }
            hv_debug_copy(g, w->addr, w->old, w->len, false);  /* unmapped bytes read as 0 */
        } else {
            accesses = true;
        }
        g->live.nwatch++;
    }
    if ((accesses || g->live.watch_accesses) && g->live.sw_ops && g->live.sw)
        g->live.sw_ops->watch_accesses(g->live.sw, accesses); /* (which pages they are may change) */
    g->live.watch_accesses = accesses;
    g->watch_touched = false;
    if (g->live.sw_ops && g->live.sw)
        g->watch_icount = g->live.sw_ops->instructions(g->live.sw);
    return g->live.nwatch == n;
}

/* Does [a, a+alen) meet [b, b+blen)?  (A zero length is one byte.) */
static bool ranges_meet(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
    uint64_t a_end = (uint64_t)a + (alen ? alen : 1), b_end = (uint64_t)b + (blen ? blen : 1);
    return a < b_end && b < a_end;
}

bool hv_watch_page(const struct hv_guest *g, uint32_t vpage)
{
    for (uint32_t k = 0; k < g->live.nwatch; k++) {
        const struct hv_watch *w = &g->live.watch[k];
        if (w->kind != HV_WATCH_WRITE && ranges_meet(vpage << 12, HV_PAGE_SIZE, w->addr, w->len))
            return true;
    }
    return false;
}

void hv_watch_access(struct hv_guest *g, uint32_t va, uint32_t len, bool write)
{
    if (g->watch_touched)
        return;             /* the first one an instruction touches is the one */
    for (uint32_t k = 0; k < g->live.nwatch; k++) {
        const struct hv_watch *w = &g->live.watch[k];
        if ((w->kind & (write ? HV_WATCH_WRITE : HV_WATCH_READ)) && w->kind != HV_WATCH_WRITE &&
            ranges_meet(va, len, w->addr, w->len)) {
            g->watch_touched = true;
            g->watch_touched_addr = w->addr;
            g->watch_touched_kind = w->kind;
            return;
        }
    }
}

/* Did a write watchpoint's bytes change?  Then they are its new "old", and
 * it is watch_hit. */
static bool watch_changed(struct hv_guest *g)
{
    uint8_t now[256];
    for (uint32_t k = 0; k < g->live.nwatch; k++) {
        struct hv_watch *w = &g->live.watch[k];
        if (w->kind != HV_WATCH_WRITE)
            continue;
        for (uint32_t off = 0; off < w->len; off += sizeof(now)) {
            uint32_t n = w->len - off < sizeof(now) ? w->len - off : sizeof(now);
            memset(now, 0, n);
            hv_debug_copy(g, w->addr + off, now, n, false);
            if (memcmp(now, w->old + off, n) != 0) {
                hv_debug_copy(g, w->addr, w->old, w->len, false);
                g->live.watch_hit = w->addr;
                g->live.watch_hit_kind = HV_WATCH_WRITE;
                return true;
            }
        }
    }
    return false;
}

/* Did the instruction that just ran, and retired, touch a read or access
 * watchpoint?  (One that faulted did not complete its access.) */
static bool watch_touched(struct hv_guest *g)
{
    uint64_t now = g->live.sw_ops->instructions(g->live.sw);
    bool hit = g->watch_touched && now != g->watch_icount;
    if (hit) {
        g->live.watch_hit = g->watch_touched_addr;
        g->live.watch_hit_kind = g->watch_touched_kind;
    }
    g->watch_touched = false;
    g->watch_icount = now;
    return hit;
}

/* A debugger's single step, or one instruction under watchpoints, ran:
 * finish a hypercall it made (so that EXIT exits now, and what it wrote is
 * seen), then pause if that was a step or a watched range changed. */
static void debug_step_done(struct hv_guest *g)
{
    if (g->hcall_pending && g->stop == HV_RUNNING) {
        g->hcall_pending = false;
        hv_do_hypercall(g);
    }
    if (g->stop != HV_RUNNING && g->stop != HV_STOP_DEBUG)
        return;
    bool touched = g->live.nwatch && watch_touched(g);
    bool changed = g->live.nwatch && watch_changed(g);  /* a write wins: it is said last */
    if (touched || changed) {
        g->stop = HV_STOP_DEBUG;
        g->live.debug_reason = HV_DEBUG_WATCH;
    } else if (g->live.debug_step && g->stop == HV_RUNNING) {
        g->stop = HV_STOP_DEBUG;
        g->live.debug_reason = HV_DEBUG_STEP;
    }
}

/*
 * The run loop, `while the guest lives`.  Each pass: service a hypercall the
 * guest made (NOTIFY calls the launcher's devices from there); check signals
 * and the wall clock; raise the timer's IRQ if its deadline has come; wait
 * while halted; deliver a pending interrupt if the guest can take it; enter
 * the guest for a budget that ends exactly at the next timer deadline; and
 * handle the trap that brought it back.
 */
void hv_run(struct hv_guest *g)
{
    g->live.last_poll = hv_monotonic();
    while (g->stop == HV_RUNNING) {
        if (g->hcall_pending) {
            g->hcall_pending = false;
            hv_do_hypercall(g);
            if (g->stop != HV_RUNNING)
                break;
        }

        check_limits(g);
        if (g->stop != HV_RUNNING)
            break;

        hv_timer_check(g);
        if (g->halted) {
            hv_halt_wait(g);
            if (g->stop != HV_RUNNING)
                break;
        }
        if (g->irq_recheck || g->halted)
            hv_irq_poll(g);
        if (g->stop != HV_RUNNING)
            break;
        if (g->halted)
            continue;       /* still asleep: the next deadline or a signal ends it */

        if (HV_UNLIKELY(g->live.debug_stop_at) &&
            g->live.sw_ops->instructions(g->live.sw) >= g->live.debug_stop_at) {
            g->stop = HV_STOP_DEBUG;    /* the debugger's instruction count */
            g->live.debug_reason = HV_DEBUG_STOP_AT;
            break;
        }
        uint64_t budget = next_budget(g);
        if (budget == 0) {
            hv_kill(g, "timeout");
            break;
        }
        struct hv_trap trap;
        g->live.sw_ops->run(g->live.sw, budget, &trap);
        hv_handle_trap(g, &trap);
        if (HV_UNLIKELY(g->live.debug_step || g->live.nwatch))
            debug_step_done(g);
    }
    hv_console_flush(g);
}
