/*
 * dev_pic8259.c: the two 8259A interrupt controllers of a PC (Intel 8259A
 * data sheet): the master at 0x20/0x21 (IRQ 0-7), the slave at 0xA0/0xA1
 * (IRQ 8-15) cascaded on the master's IR2.
 *
 * The guest programs each with ICW1..ICW4 (the vector base in ICW2, auto-EOI
 * in ICW4), masks lines with OCW1, and with OCW2 ends interrupts
 * (non-specific or specific EOI) and rotates priorities (rotate on EOI, set
 * priority, rotate in auto-EOI mode).  OCW3 picks IRR or ISR for reads, sets
 * or clears the special mask mode (in-service lines that are masked stop
 * blocking lower ones) and polls: the next read of the command port is the
 * acknowledge, 0x80 | line, or 0 with nothing pending.  Lines are
 * edge-triggered; priorities start fixed, IRQ 0 highest.
 *
 * A request stays latched in IRR until it is acknowledged, and the host
 * acknowledges in the same step as it finds it, so the spurious IRQ 7 (15)
 * of a request that went away before INTA cannot arise; an acknowledge with
 * nothing pending would give that vector, with no bit in service.
 *
 * Once the guest has sent ICW1 to the master, device IRQs 0..15 go through
 * here (host_irq.c asks hv_pic_peek/hv_pic_ack); before that the paravirt
 * rules of Guest ABI v1 apply.
 */
#include "hv.h"

static void pic_reset_for_init(struct hv_pic *p, uint8_t icw1)
{
    p->imr = 0;
    p->isr = 0;
    p->irr = 0;
    p->read_isr = false;
    p->auto_eoi = false;
    p->lowest = 7;
    p->rotate_aeoi = false;
    p->special_mask = false;
    p->poll = false;
    p->need_icw4 = icw1 & 1;
    p->single = (icw1 >> 1) & 1;
    p->init_step = 2;
}

/* A line's rank: 0 for the highest priority, 7 for p->lowest. */
static unsigned rank(const struct hv_pic *p, unsigned line)
{
    return (line - p->lowest - 1u) & 7u;
}

/* The line of highest priority among `bits`, or -1. */
static int highest(const struct hv_pic *p, uint8_t bits)
{
    if (!bits)
        return -1;
    for (unsigned k = 0; k < 8; k++) {
        unsigned line = (p->lowest + 1u + k) & 7u;
        if (bits & (1u << line))
            return (int)line;
    }
    return -1;
}

/* OCW2: R, SL, EOI in bits 7..5, the line in bits 2..0. */
static void pic_ocw2(struct hv_pic *p, uint8_t ocw2)
{
    unsigned cmd = ocw2 >> 5, line = ocw2 & 7u;
    int top;
    switch (cmd) {
    case 1:                                 /* non-specific EOI */
    case 5:                                 /* ... and rotate */
        top = highest(p, p->isr);
        if (top >= 0) {
            p->isr &= (uint8_t)~(1u << top);
            if (cmd == 5)
                p->lowest = (uint8_t)top;
        }
        break;
    case 3:                                 /* specific EOI */
    case 7:                                 /* ... and rotate */
        p->isr &= (uint8_t)~(1u << line);
        if (cmd == 7)
            p->lowest = (uint8_t)line;
        break;
    case 6:                                 /* set priority */
        p->lowest = (uint8_t)line;
        break;
    case 4:                                 /* rotate in auto-EOI mode: set */
    case 0:                                 /* ... clear */
        p->rotate_aeoi = cmd == 4;
        break;
    default:                                /* 2: no operation */
        break;
    }
}

static void pic_command(struct hv_guest *g, struct hv_pic *p, uint8_t v)
{
    if (v & 0x10) {
        pic_reset_for_init(p, v);
        g->pic_active = true;
    } else if (v & 0x08) {                  /* OCW3 */
        if (v & 0x40)
            p->special_mask = v & 0x20;
        if (v & 0x04)
            p->poll = true;
        if (v & 0x02)
            p->read_isr = v & 0x01;         /* read IRR (10) or ISR (11) */
    } else {
        pic_ocw2(p, v);
    }
    g->irq_recheck = true;
}

static void pic_data(struct hv_guest *g, struct hv_pic *p, uint8_t v)
{
    switch (p->init_step) {
    case 2:
        p->base = v & 0xf8;
        p->init_step = p->single ? (p->need_icw4 ? 4 : 0) : 3;
        break;
    case 3:
        p->init_step = p->need_icw4 ? 4 : 0;    /* ICW3: the cascade wiring is fixed */
        break;
    case 4:
        p->auto_eoi = (v >> 1) & 1;
        p->init_step = 0;
        break;
    default:
        p->imr = v;                         /* OCW1 */
        break;
    }
    g->irq_recheck = true;
}

static struct hv_pic *chip(struct hv_guest *g, uint16_t port)
{
    return &g->pic[port >= 0xa0];
}

static void pic_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)size;
    if (port & 1)
        pic_data(g, chip(g, port), (uint8_t)value);
    else
        pic_command(g, chip(g, port), (uint8_t)value);
}

void hv_pic_raise(struct hv_guest *g, unsigned irq)
{
    g->pic[irq >= 8].irr |= (uint8_t)(1u << (irq & 7));
    g->irq_recheck = true;
}

/* The line chip p would interrupt with now, or -1: the unmasked request
 * of highest priority, if that is above every line in service (in the
 * special mask mode, every unmasked line in service). */
static int pick(const struct hv_pic *p, uint8_t irr)
{
    int line = highest(p, irr & (uint8_t)~p->imr);
    if (line < 0)
        return -1;
    uint8_t busy = p->special_mask ? p->isr & (uint8_t)~p->imr : p->isr;
    int top = highest(p, busy);
    if (top >= 0 && rank(p, (unsigned)top) <= rank(p, (unsigned)line))
        return -1;
    return line;
}

static uint8_t master_irr(const struct hv_guest *g)
{
    return g->pic[0].irr | (pick(&g->pic[1], g->pic[1].irr) >= 0 ? 0x04 : 0);
}

int hv_pic_peek(struct hv_guest *g)
{
    int line = pick(&g->pic[0], master_irr(g));
    if (line < 0)
        return -1;
    if (line == 2) {
        int s = pick(&g->pic[1], g->pic[1].irr);
        if (s >= 0 && !(g->pic[0].irr & 0x04))
            return g->pic[1].base + s;
    }
    return g->pic[0].base + line;
}

/* The acknowledge cycle: the line leaves IRR and enters ISR (unless the
 * chip ends interrupts by itself, rotating if told to). */
static void take(struct hv_pic *p, int line)
{
    if (line < 0)
        return;
    p->irr &= (uint8_t)~(1u << line);
    if (!p->auto_eoi)
        p->isr |= (uint8_t)(1u << line);
    else if (p->rotate_aeoi)
        p->lowest = (uint8_t)line;
}

int hv_pic_ack(struct hv_guest *g)
{
    int line = pick(&g->pic[0], master_irr(g));
    if (line < 0)
        return g->pic[0].base + 7;          /* spurious: nothing goes in service */
    if (line == 2 && !(g->pic[0].irr & 0x04)) {
        int s = pick(&g->pic[1], g->pic[1].irr);
        take(&g->pic[1], s);
        take(&g->pic[0], 2);
        return g->pic[1].base + (s < 0 ? 7 : s);
    }
    take(&g->pic[0], line);
    return g->pic[0].base + line;
}

/* A read in poll mode: the acknowledge, as a byte. */
static uint32_t pic_poll_read(struct hv_guest *g, struct hv_pic *p)
{
    p->poll = false;
    bool master = p == &g->pic[0];
    int line = pick(p, master ? master_irr(g) : p->irr);
    if (line < 0)
        return 0;
    take(p, line);              /* the slave behind line 2 is polled on its own */
    g->irq_recheck = true;
    return 0x80u | (uint32_t)line;
}

static uint32_t pic_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)size;
    struct hv_pic *p = chip(g, port);
    if (port & 1)
        return p->imr;
    if (p->poll)
        return pic_poll_read(g, p);
    return p->read_isr ? p->isr : p->irr;
}

const struct hv_port_dev hv_dev_pic_master = { "8259A PIC (master)", 0x20, 0x21, pic_in, pic_out };
const struct hv_port_dev hv_dev_pic_slave = { "8259A PIC (slave)", 0xa0, 0xa1, pic_in, pic_out };
