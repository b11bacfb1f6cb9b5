/*
 * uart.c - a test kernel that talks through COM1 the way drivers do: the
 * usual 16550 init sequence (divisor latch, 8N1, FIFOs), a wait for THRE
 * before each byte, the scratch register and the divisor read back, then it
 * echoes whatever the line brings (nothing, under QEMU with a file chardev)
 * and powers off through ACPI.
 */
#include <stdint.h>

#define COM1 0x3f8

__attribute__((section(".multiboot"), used, aligned(4)))
static const uint32_t multiboot_header[3] = { 0x1BADB002u, 0, -0x1BADB002u };

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

static void puts(const char *s) { while (*s) putc(*s++); }

static void hex(uint32_t v)
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
    puts("uart: hello over COM1\r\n");
    outb(COM1 + 7, 0x5a);
    puts("scratch=");
    hex(inb(COM1 + 7));
    outb(COM1 + 3, 0x83);
    puts(" dll=");
    hex(inb(COM1 + 0));
    puts(" dlm=");
    hex(inb(COM1 + 1));
    outb(COM1 + 3, 0x03);
    puts(" lcr=");
    hex(inb(COM1 + 3));
    puts(" iir=");
    hex(inb(COM1 + 2));
    puts(" lsr=");
    hex(inb(COM1 + 5) & 0x61);
    puts("\r\n");
    int n = 0;
    while ((inb(COM1 + 5) & 1) && n < 64) {
        char c = (char)inb(COM1);
        if (n++ == 0)
            puts("received: ");
        putc(c);
    }
    puts(n ? "\r\n" : "no input\r\n");
    puts("kernel: powering off\n");
    outw(0x604, 0x2000);
    for (;;)
        __asm__ volatile("hlt");
}

static uint8_t stack[4096] __attribute__((aligned(16), used));
__asm__(".globl _start\n_start:\n\tmovl $stack + 4096, %esp\n\tcall kmain\n1:\thlt\n\tjmp 1b\n");
