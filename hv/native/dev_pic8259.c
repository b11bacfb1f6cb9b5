/*
 * dev_pic8259.c: the two 8259A interrupt controllers of a PC (Intel 8259A
 * data sheet): the master at 0x20/0x21 (IRQ 0-7), the slave at 0xA0/0xA1
 * (IRQ 8-15) cascaded on the master's IR2.
 *
 * The guest programs each with ICW1..ICW4 (the vector base in ICW2, auto-EOI
 * in ICW4), masks lines with OCW1, ends interrupts with OCW2 (non-specific
 * or specific EOI; the rotate variants end them the same way, without
 * rotating priorities), and picks IRR or ISR for reads with OCW3.  Lines are
 * edge-triggered with fixed priority, IRQ 0 highest.
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
    p->need_icw4 = icw1 & 1;
    p->single = (icw1 >> 1) & 1;
    p->init_step = 2;
}

static void pic_eoi(struct hv_pic *p, uint8_t ocw2)
{
    unsigned cmd = ocw2 >> 5;
    if (cmd == 1 || cmd == 5) {             /* non-specific EOI (rotating too) */
        if (p->isr)
            p->isr &= (uint8_t)(p->isr - 1);     /* the highest-priority one: lowest bit */
    } else if (cmd == 3 || cmd == 7) {      /* specific EOI */
        p->isr &= (uint8_t)~(1u << (ocw2 & 7));
    }
}

static void pic_command(struct hv_guest *g, struct hv_pic *p, uint8_t v)
{
    if (v & 0x10) {
        pic_reset_for_init(p, v);
        g->pic_active = true;
    } else if (v & 0x08) {
        if (v & 0x02)
            p->read_isr = v & 0x01;         /* OCW3: read IRR (10) or ISR (11) */
    } else {
        pic_eoi(p, v);
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

static uint32_t pic_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)size;
    struct hv_pic *p = chip(g, port);
    if (port & 1)
        return p->imr;
    return p->read_isr ? p->isr : p->irr;
}

void hv_pic_raise(struct hv_guest *g, unsigned irq)
{
    g->pic[irq >= 8].irr |= (uint8_t)(1u << (irq & 7));
    g->irq_recheck = true;
}

/* The line chip p would interrupt with now, or -1 (priority: lowest first,
 * and only above the highest line in service). */
static int pick(const struct hv_pic *p, uint8_t irr)
{
    uint8_t ready = irr & (uint8_t)~p->imr;
    if (!ready)
        return -1;
    int line = __builtin_ctz(ready);
    if (p->isr && __builtin_ctz(p->isr) <= line)
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
 * chip ends interrupts by itself); returns the vector. */
static void take(struct hv_pic *p, int line)
{
    p->irr &= (uint8_t)~(1u << line);
    if (!p->auto_eoi)
        p->isr |= (uint8_t)(1u << line);
}

int hv_pic_ack(struct hv_guest *g)
{
    int line = pick(&g->pic[0], master_irr(g));
    if (line < 0)
        return -1;
    if (line == 2 && !(g->pic[0].irr & 0x04)) {
        int s = pick(&g->pic[1], g->pic[1].irr);
        take(&g->pic[1], s);
        take(&g->pic[0], 2);
        g->pic[0].irr &= (uint8_t)~0x04u;
        return g->pic[1].base + s;
    }
    take(&g->pic[0], line);
    return g->pic[0].base + line;
}

const struct hv_port_dev hv_dev_pic_master = { "8259A PIC (master)", 0x20, 0x21, pic_in, pic_out };
const struct hv_port_dev hv_dev_pic_slave = { "8259A PIC (slave)", 0xa0, 0xa1, pic_in, pic_out };
