/*
 * host_clock.c: the guest's clock, its one-shot timer, and halt.
 *
 * Under the virtual clock (the default) time is the instruction count plus
 * whatever was skipped while the guest was halted, so the timer fires at an
 * exact instruction count: the run loop asks the switcher for a budget that
 * ends precisely at the deadline (hv_timer_budget).  A halted guest costs no
 * host time: the clock jumps straight to the next deadline.  Under the host
 * clock, time is CLOCK_MONOTONIC since the boot and halt really sleeps, in
 * short naps so that Ctrl-C and the timeout still stop the run at once.
 * Devices may schedule IRQs on the same clock (a disk that completes after
 * its latency); those deadlines count like the timer's.
 */
#define _GNU_SOURCE
#include <time.h>

#include "hv.h"

/* Longest nap of a halted guest under the host clock: how soon Ctrl-C acts. */
#define HOST_NAP_NS 10000000u
/* Under the host clock a slice of this many instructions per remaining
 * microsecond keeps the timer's lateness small. */
#define HOST_INSNS_PER_US 64u
#define HOST_MIN_SLICE 256u

uint64_t hv_guest_clock(struct hv_guest *g)
{
    if (g->live.clock == HV_CLOCK_HOST) {
        double t = hv_monotonic() - g->boot_time;
        return t > 0 ? (uint64_t)(t * 1e9) : 0;
    }
    return g->live.sw_ops->instructions(g->live.sw) + g->skipped_ns;
}

void hv_timer_set(struct hv_guest *g, uint32_t delta_ns)
{
    g->timer_armed = delta_ns != 0;
    g->timer_deadline = hv_guest_clock(g) + delta_ns;
}

bool hv_irq_schedule(struct hv_guest *g, unsigned n, uint64_t delay_ns)
{
    if (delay_ns == 0) {
        hv_irq_raise(g, n);
        return true;
    }
    if (g->nevents >= HV_EVENTS_MAX)
        return false;
    g->events[g->nevents++] = (struct hv_irq_event){ hv_guest_clock(g) + delay_ns, n };
    return true;
}

/* The next moment something will raise an IRQ by itself: false if none. */
static bool next_deadline(const struct hv_guest *g, uint64_t *at)
{
    bool any = g->timer_armed;
    uint64_t t = g->timer_deadline, pit;
    if (hv_pit_deadline(g, &pit) && (!any || pit < t)) {
        t = pit;
        any = true;
    }
    for (uint32_t k = 0; k < g->nevents; k++) {
        if (!any || g->events[k].at < t)
            t = g->events[k].at;
        any = true;
    }
    *at = t;
    return any;
}

void hv_timer_check(struct hv_guest *g)
{
    uint64_t now = hv_guest_clock(g);
    if (g->timer_armed && now >= g->timer_deadline) {
        g->timer_armed = false;
        hv_irq_raise(g, 0);
    }
    hv_pit_check(g, now);
    uint32_t kept = 0;
    for (uint32_t k = 0; k < g->nevents; k++) {
        if (now >= g->events[k].at)
            hv_irq_raise(g, g->events[k].irq);
        else
            g->events[kept++] = g->events[k];
    }
    g->nevents = kept;
}

uint64_t hv_timer_budget(struct hv_guest *g, uint64_t budget)
{
    uint64_t at;
    if (!next_deadline(g, &at))
        return budget;
    uint64_t now = hv_guest_clock(g);
    uint64_t left = at > now ? at - now : 0;
    if (g->live.clock == HV_CLOCK_HOST) {
        left = left / 1000 * HOST_INSNS_PER_US;
        if (left < HOST_MIN_SLICE)
            left = HOST_MIN_SLICE;
    } else if (left == 0) {
        left = 1;           /* hv_timer_check runs first, so this cannot happen */
    }
    return left < budget ? left : budget;
}

static void nap(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    nanosleep(&ts, NULL);   /* EINTR is fine: the run loop looks at signals next */
}

void hv_halt_wait(struct hv_guest *g)
{
    if (hv_irq_deliverable(g)) {
        hv_guest_data_sync(g, true);
        return;             /* hv_irq_poll delivers it and ends the halt */
    }
    uint64_t at;
    if (!next_deadline(g, &at)) {
        hv_kill(g, "halted with no interrupt source at eip=0x%08x", g->halt_eip);
        return;
    }
    uint64_t now = hv_guest_clock(g);
    if (g->live.clock == HV_CLOCK_VIRTUAL) {
        if (at > now)
            g->skipped_ns += at - now;
    } else if (at > now) {
        uint64_t left = at - now;
        nap(left < HOST_NAP_NS ? left : HOST_NAP_NS);
    }
    hv_timer_check(g);
    hv_guest_data_sync(g, true);
}
