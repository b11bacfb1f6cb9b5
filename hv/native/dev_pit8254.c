/*
 * dev_pit8254.c: channel 0 of the 8254 interval timer (Intel 8254 data
 * sheet), the PC's timer on IRQ 0: ports 0x40 (counter 0) and 0x43 (control).
 *
 * The counter runs at 1,193,182 Hz of the guest clock, so under the virtual
 * clock its interrupts come at exact instruction counts, like SET_CLOCKEVENT's:
 * the host's run loop treats the next terminal count as a deadline
 * (hv_pit_deadline).  Modes 0 (interrupt on terminal count, once), 2 (rate
 * generator) and 3 (square wave) raise IRQ 0 at every terminal count, the
 * last two periodically; the other modes count but raise nothing.  A count
 * is loaded LSB, MSB or LSB then MSB as the control word says (0 means
 * 65536) and starts counting when complete; the latch command freezes the
 * value reads return.  Channels 1 and 2 exist only as far as their control
 * words are accepted.
 */
#include "hv.h"

#define PIT_HZ 1193182u
#define NS 1000000000ull

/* Guest-clock ns at which `ticks` input clocks after `start` have passed. */
static uint64_t tick_time(const struct hv_pit *p, uint64_t ticks)
{
    return p->start_ns + (ticks * NS + PIT_HZ - 1) / PIT_HZ;
}

/* Input clocks since the count was loaded. */
static uint64_t ticks_now(struct hv_guest *g, const struct hv_pit *p)
{
    uint64_t now = hv_guest_clock(g);
    return now > p->start_ns ? (now - p->start_ns) * PIT_HZ / NS : 0;
}

static uint32_t period(const struct hv_pit *p)
{
    return p->reload ? p->reload : 65536u;
}

static uint32_t current_count(struct hv_guest *g, const struct hv_pit *p)
{
    if (!p->counting)
        return p->reload;
    uint64_t t = ticks_now(g, p);
    uint32_t n = period(p);
    if (p->mode == 0)
        return (uint32_t)((n - t % 65536u) & 0xffffu);
    uint32_t left = n - (uint32_t)(t % n);
    if (p->mode == 3)
        left = (left * 2) % n;              /* square wave: counts down by two */
    return left & 0xffffu;
}

static void start(struct hv_guest *g, struct hv_pit *p)
{
    p->counting = true;
    p->start_ns = hv_guest_clock(g);
    p->fired = 0;
    p->armed = p->mode == 0 || p->mode == 2 || p->mode == 3;
    p->next_ns = tick_time(p, period(p));
}

static void pit_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)size;
    struct hv_pit *p = &g->pit;
    uint8_t v = (uint8_t)value;
    if (port == 0x43) {
        if ((v >> 6) != 0)
            return;                         /* channels 1, 2 and read-back: not modelled */
        unsigned access = (v >> 4) & 3;
        if (access == 0) {                  /* latch the count */
            p->latched = true;
            p->latch = (uint16_t)current_count(g, p);
            p->read_msb = false;
            return;
        }
        p->access = (uint8_t)access;
        p->mode = (uint8_t)(((v >> 1) & 7) > 5 ? ((v >> 1) & 3) : ((v >> 1) & 7));
        p->write_msb = false;
        p->read_msb = false;
        p->counting = false;
        p->armed = false;
        return;
    }
    if (port != 0x40)
        return;
    if (p->access == 1) {
        p->reload = v;
    } else if (p->access == 2) {
        p->reload = (uint32_t)v << 8;
    } else if (!p->write_msb) {
        p->reload = (p->reload & 0xff00u) | v;
        p->write_msb = true;
        return;                             /* counting starts with the MSB */
    } else {
        p->reload = (p->reload & 0x00ffu) | ((uint32_t)v << 8);
        p->write_msb = false;
    }
    start(g, p);
}

static uint32_t pit_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)size;
    struct hv_pit *p = &g->pit;
    if (port != 0x40)
        return 0xff;
    uint32_t count = p->latched ? p->latch : current_count(g, p);
    uint32_t byte;
    if (p->access == 1) {
        byte = count & 0xff;
        p->latched = false;
    } else if (p->access == 2) {
        byte = count >> 8;
        p->latched = false;
    } else if (!p->read_msb) {
        byte = count & 0xff;
        p->read_msb = true;
    } else {
        byte = count >> 8;
        p->read_msb = false;
        p->latched = false;
    }
    return byte & 0xff;
}

bool hv_pit_deadline(const struct hv_guest *g, uint64_t *at)
{
    if (!g->pit.armed)
        return false;
    *at = g->pit.next_ns;
    return true;
}

void hv_pit_check(struct hv_guest *g, uint64_t now)
{
    struct hv_pit *p = &g->pit;
    if (!p->armed || now < p->next_ns)
        return;
    hv_irq_raise(g, 0);
    if (p->mode == 0) {
        p->armed = false;
        return;
    }
    /* The next terminal count, from the start, so periods never drift; a
     * guest that slept long takes one interrupt, as an edge-triggered line. */
    uint64_t n = period(p);
    uint64_t k = ticks_now(g, p) / n + 1;
    p->fired = k;
    p->next_ns = tick_time(p, k * n);
}

const struct hv_port_dev hv_dev_pit8254 = { "8254 PIT", 0x40, 0x43, pit_in, pit_out };
