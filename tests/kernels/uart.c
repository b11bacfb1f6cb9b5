/*
 * uart.c - a test kernel that talks through COM1 the way drivers do: the
 * usual 16550 init sequence (divisor latch, 8N1, FIFOs), a wait for THRE
 * before each byte, the scratch register and the divisor read back, then it
 * echoes whatever the line brings (nothing, under QEMU with a file chardev)
 * and powers off through ACPI.
 */
#include "kernel.h"

#define COM1 0x3f8

static void putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

static void com1_puts(const char *s) { while (*s) putc(*s++); }

static void com1_hex(uint32_t v)
{
    for (int k = 1; k >= 0; k--)
        putc("0123456789abcdef"[(v >> (4 * k)) & 0xf]);
}

void kmain(void)
{
    outb(COM1 + 1, 0x00);           /* no interrupts */
    outb(COM1 + 3, 0x80);           /* DLAB */
    outb(COM1 + 0, 0x03);           /* 38400 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);           /* 8N1 */
    outb(COM1 + 2, 0xc7);           /* FIFOs on, cleared, 14-byte threshold */
    outb(COM1 + 4, 0x0b);           /* DTR, RTS, OUT2 */
    com1_puts("uart: hello over COM1\r\n");
    outb(COM1 + 7, 0x5a);
    com1_puts("scratch=");
    com1_hex(inb(COM1 + 7));
    outb(COM1 + 3, 0x83);
    com1_puts(" dll=");
    com1_hex(inb(COM1 + 0));
    com1_puts(" dlm=");
    com1_hex(inb(COM1 + 1));
    outb(COM1 + 3, 0x03);
    com1_puts(" lcr=");
    com1_hex(inb(COM1 + 3));
    com1_puts(" iir=");
    com1_hex(inb(COM1 + 2));
    com1_puts(" lsr=");
    com1_hex(inb(COM1 + 5) & 0x61);
    com1_puts("\r\n");
    int n = 0;
    while ((inb(COM1 + 5) & 1) && n < 64) {
        char c = (char)inb(COM1);
        if (n++ == 0)
            com1_puts("received: ");
        putc(c);
    }
    com1_puts(n ? "\r\n" : "no input\r\n");
    com1_puts("kernel: powering off\n");
    power_off();
}

static uint8_t stack[4096] __attribute__((aligned(16), used));
KERNEL_ENTRY(stack, 4096);
