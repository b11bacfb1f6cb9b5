/*
 * dev_uart16550.c: COM1, a 16550A UART at 0x3F8 (National Semiconductor
 * PC16550D data sheet; the registers as QEMU's `serial` presents them).
 *
 * Transmitting is instant: a byte written to THR goes to the console, and LSR
 * always says the transmitter is empty, so the usual "wait for THRE, then
 * write" loop never waits.  Received bytes come from the run's serial input
 * (hv run --serial-in FILE), one per read of RBR, with LSR.DR set while any
 * are left; that is as deterministic as the input itself.  The divisor
 * latch, LCR, MCR and the scratch register keep what is written to them.
 * Interrupts go to IRQ 4 when MCR.OUT2 is set (as a PC wires it): received
 * data (IER bit 0) while input is waiting, and the transmitter empty (IER
 * bit 1) after IER enables it and after every byte sent, until IIR has
 * reported it.  IIR gives the cause, received data first.
 */
#include "hv.h"

enum {
    RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7,
};
#define LCR_DLAB 0x80u
#define LSR_DR 0x01u
#define LSR_THRE 0x20u
#define LSR_TEMT 0x40u
#define IIR_NONE 0x01u
#define IIR_FIFO 0xc0u          /* FIFOs enabled: a 16550A */
#define MCR_LOOP 0x10u
#define MCR_OUT2 0x08u
#define IER_RDA 0x01u
#define IER_THRE 0x02u
#define IIR_RDA 0x04u
#define IIR_THRE 0x02u
#define UART_IRQ 4

static struct hv_uart *uart(struct hv_guest *g)
{
    return &g->uart;
}

/* The serial input is kept across a snapshot restore: it is in g->live. */
static struct hv_serial_in *input(struct hv_guest *g)
{
    return &g->live.serial_in;
}

static bool waiting(const struct hv_serial_in *in)
{
    return in->pos < in->len;
}

/* The interrupt the UART has now: IIR_RDA, IIR_THRE or IIR_NONE. */
static uint8_t cause(const struct hv_uart *u, const struct hv_serial_in *in)
{
    if ((u->ier & IER_RDA) && waiting(in))
        return IIR_RDA;
    if ((u->ier & IER_THRE) && u->thre_pending)
        return IIR_THRE;
    return IIR_NONE;
}

/* The IRQ line follows the cause (through OUT2); the PIC sees its rising edges. */
static void update_irq(struct hv_guest *g, struct hv_uart *u)
{
    bool level = cause(u, input(g)) != IIR_NONE && (u->mcr & MCR_OUT2);
    if (level && !u->irq_level)
        hv_irq_raise(g, UART_IRQ);
    u->irq_level = level;
}

static void uart_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)size;
    struct hv_uart *u = uart(g);
    uint8_t v = (uint8_t)value;
    switch (port - 0x3f8) {
    case RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
        } else {
            if (!(u->mcr & MCR_LOOP))
                hv_chardev_put(g, g->live.serial_fd, v);
            /* Sent at once: THR is empty again, a new edge for the interrupt. */
            u->thre_pending = true;
            u->irq_level = false;
        }
        break;
    case IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
        } else {
            if ((v & IER_THRE) && !(u->ier & IER_THRE))
                u->thre_pending = true;
            u->ier = v & 0x0f;
        }
        break;
    case IIR_FCR:
        u->fcr = v;
        break;
    case LCR:
        u->lcr = v;
        break;
    case MCR:
        u->mcr = v & 0x1f;
        break;
    case SCR:
        u->scr = v;
        break;
    default:
        break;              /* LSR and MSR are read-only */
    }
    update_irq(g, u);
}

static uint32_t uart_read(struct hv_uart *u, struct hv_serial_in *in, uint16_t port)
{
    bool have = waiting(in);
    switch (port - 0x3f8) {
    case RBR_THR:
        if (u->lcr & LCR_DLAB)
            return u->dll;
        return have ? in->buf[in->pos++] : 0;
    case IER:
        return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case IIR_FCR: {
        uint8_t why = cause(u, in);
        if (why == IIR_THRE)
            u->thre_pending = false;        /* reading IIR acknowledges it */
        return why | ((u->fcr & 1) ? IIR_FIFO : 0);
    }
    case LCR:
        return u->lcr;
    case MCR:
        return u->mcr;
    case LSR:
        return LSR_THRE | LSR_TEMT | (have ? LSR_DR : 0);
    case MSR:
        /* CTS, DSR and DCD asserted (in loopback, they follow MCR). */
        return (u->mcr & MCR_LOOP) ? (uint32_t)((u->mcr & 0x0c) << 4 | (u->mcr & 0x03) << 4)
                                   : 0xb0u;
    default:
        return u->scr;
    }
}

static uint32_t uart_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)size;
    struct hv_uart *u = uart(g);
    uint32_t v = uart_read(u, input(g), port);
    update_irq(g, u);
    return v;
}

const struct hv_port_dev hv_dev_uart16550 = { "16550 UART (COM1)", 0x3f8, 0x3ff, uart_in, uart_out };
