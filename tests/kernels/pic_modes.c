/*
 * pic_modes.c - a test kernel that drives the 8259A pair by polling, with
 * interrupts off: requests from the PIT (IRQ 0, mode 0 one-shots) and from
 * COM1 (IRQ 4, the transmitter-empty interrupt), read back in the order the
 * PIC acknowledges them under fixed priority, after "set priority", after a
 * rotating EOI, and in the special mask mode; plus IRR and ISR reads and a
 * poll with nothing pending.  Prints through port 0xE9.
 */
#include "kernel.h"

static uint8_t read_irr(void) { outb(0x20, 0x0a); return inb(0x20); }
static uint8_t read_isr(void) { outb(0x20, 0x0b); return inb(0x20); }
static uint8_t poll(void) { outb(0x20, 0x0c); return inb(0x20); }

static void show(const char *what, uint8_t v)
{
    puts(what);
    puts(": ");
    hex(v, 2);
    puts("\n");
}

/* IRQ 0: channel 0 in mode 0 counts 100 and raises it; wait for IRR. */
static void request_timer(void)
{
    outb(0x43, 0x30);
    outb(0x40, 100);
    outb(0x40, 0);
    for (unsigned k = 0; k < 1000000 && !(read_irr() & 1); k++)
        __asm__ volatile("" ::: "memory");
}

/* IRQ 4: enabling the transmitter-empty interrupt raises it at once. */
static void request_uart(void)
{
    outb(0x3f9, 0x00);
    outb(0x3f9, 0x02);
}

void kmain(void)
{
    __asm__ volatile("cli");
    outb(0x20, 0x11); outb(0xa0, 0x11);     /* ICW1: edge, cascade, ICW4 */
    outb(0x21, 0x20); outb(0xa1, 0x28);     /* ICW2 */
    outb(0x21, 0x04); outb(0xa1, 0x02);     /* ICW3 */
    outb(0x21, 0x01); outb(0xa1, 0x01);     /* ICW4 */
    outb(0x21, 0xea); outb(0xa1, 0xff);     /* IRQ 0, 2 and 4 */
    outb(0x3fc, 0x08);                      /* COM1: OUT2 routes its interrupt */

    request_uart();
    request_timer();
    show("irr with both", read_irr());
    show("poll, fixed priority", poll());
    show("isr", read_isr());
    show("irr", read_irr());
    outb(0x20, 0x20);                       /* non-specific EOI */
    show("poll", poll());
    show("isr", read_isr());
    outb(0x20, 0x20);
    show("isr after eoi", read_isr());

    request_uart();
    request_timer();
    outb(0x20, 0xc3);                       /* set priority: 3 lowest, so 4 highest */
    show("poll after set priority 3", poll());
    outb(0x20, 0x64);                       /* specific EOI 4 */
    show("poll", poll());
    outb(0x20, 0x60);                       /* specific EOI 0 */
    show("isr", read_isr());

    outb(0x20, 0xc7);                       /* back to IRQ 0 highest */
    request_uart();
    request_timer();
    show("poll, fixed again", poll());
    outb(0x20, 0xa0);                       /* rotate on non-specific EOI: 0 lowest */
    request_timer();
    show("poll after rotating", poll());
    show("isr", read_isr());
    outb(0x20, 0x20);
    show("poll", poll());
    outb(0x20, 0x20);

    outb(0x20, 0xc7);
    request_uart();
    request_timer();
    show("poll", poll());                   /* IRQ 0 in service, no EOI */
    show("poll blocked by isr", poll());
    show("irr", read_irr());
    outb(0x21, 0xeb);                       /* mask IRQ 0 */
    outb(0x20, 0x68);                       /* special mask mode on */
    show("poll in special mask mode", poll());
    show("isr", read_isr());
    outb(0x20, 0x64);
    outb(0x20, 0x60);
    outb(0x20, 0x48);                       /* special mask mode off */
    outb(0x21, 0xea);
    show("isr at the end", read_isr());
    show("poll with nothing pending", poll());

    puts("kernel: powering off\n");
    power_off();
}

uint8_t kstack[8192] __attribute__((aligned(16)));
KERNEL_ENTRY(kstack, 8192);
