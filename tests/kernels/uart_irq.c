/*
 * uart_irq.c - a test kernel driving COM1 by interrupts: the PIC remapped,
 * IRQ 4 unmasked, MCR.OUT2 on.  Enabling the transmitter-empty interrupt
 * raises one at once (THR is empty); the handler reads IIR, prints the cause
 * and turns it off.  If input is waiting, it then enables the receive
 * interrupt and sleeps in hlt until the handler has taken four bytes
 * (under QEMU with a file chardev nothing comes, so it skips that).
 */
#include "kernel.h"

#define COM1 0x3f8

static void hex2(uint32_t v) { hex(v, 2); }

static uint64_t idt[256] __attribute__((aligned(8)));
static volatile unsigned thre_irqs, rx_count;
static volatile char rx[8];

void on_com1(void)
{
    uint8_t iir = inb(COM1 + 2);
    if ((iir & 0x0f) == 0x02) {
        thre_irqs++;
        puts("com1 irq: transmitter empty, iir=");
        hex2(iir);
        puts("\n");
        outb(COM1 + 1, inb(COM1 + 1) & ~0x02);
    } else if ((iir & 0x0f) == 0x04) {
        while ((inb(COM1 + 5) & 1) && rx_count < sizeof(rx))
            rx[rx_count++] = (char)inb(COM1);
    }
    outb(0x20, 0x20);
}

void com1_stub(void);
__asm__(".globl com1_stub\ncom1_stub:\n\tpushal\n\tcld\n\tcall on_com1\n\tpopal\n\tiret\n");

void kmain(void)
{
    uint16_t cs;
    __asm__ volatile("movw %%cs, %0" : "=r"(cs));
    idt[0x24] = gate(com1_stub, cs, 0x8e);
    load_idt(idt, sizeof(idt));
    outb(0x20, 0x11); outb(0xa0, 0x11);
    outb(0x21, 0x20); outb(0xa1, 0x28);
    outb(0x21, 0x04); outb(0xa1, 0x02);
    outb(0x21, 0x01); outb(0xa1, 0x01);
    outb(0x21, 0xef); outb(0xa1, 0xff);     /* only IRQ 4 */

    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);
    outb(COM1 + 2, 0xc7);
    outb(COM1 + 4, 0x0b);                   /* DTR, RTS, OUT2: IRQs reach the PIC */
    __asm__ volatile("sti");
    outb(COM1 + 1, 0x02);                   /* transmitter-empty interrupt */
    for (volatile int k = 0; k < 1000 && !thre_irqs; k++)
        ;
    puts("thre interrupts: ");
    hex2(thre_irqs);
    puts("\n");
    if (inb(COM1 + 5) & 1) {
        outb(COM1 + 1, 0x01);               /* received-data interrupt */
        while (rx_count < 4)
            __asm__ volatile("hlt");
        puts("received by interrupt: ");
        for (unsigned k = 0; k < rx_count; k++)
            outb(0xe9, (uint8_t)rx[k]);
        puts("\n");
    }
    __asm__ volatile("cli");
    puts("kernel: powering off\n");
    power_off();
}

static uint8_t stack[8192] __attribute__((aligned(16), used));
KERNEL_ENTRY(stack, 8192);
