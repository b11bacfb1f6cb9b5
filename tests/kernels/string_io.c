/*
 * string_io.c - a test kernel using string port I/O: rep outsb to the debug
 * console and rep insb from it (QEMU's debugcon reads back 0xE9).
 */
#include <stdint.h>

__attribute__((section(".multiboot"), used, aligned(4)))
static const uint32_t multiboot_header[3] = { 0x1BADB002u, 0, -0x1BADB002u };

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }

static void puts(const char *s) { while (*s) outb(0xe9, (uint8_t)*s++); }
static void hex(uint32_t v, int digits)
{
    for (int k = digits - 1; k >= 0; k--)
        outb(0xe9, (uint8_t)"0123456789abcdef"[(v >> (4 * k)) & 0xf]);
}

void kmain(void)
{
    static const char msg[] = "rep outsb: a whole line in one instruction\n";
    const char *p = msg;
    uint32_t n = sizeof(msg) - 1;
    __asm__ volatile("cld\n\trep outsb" : "+S"(p), "+c"(n) : "d"(0xe9) : "memory");
    uint8_t in[4] = { 0 };
    uint8_t *d = in;
    n = 4;
    __asm__ volatile("rep insb" : "+D"(d), "+c"(n) : "d"(0xe9) : "memory");
    puts("rep insb from 0xe9: ");
    for (int k = 0; k < 4; k++)
        hex(in[k], 2);
    puts(n == 0 && d == in + 4 ? " (ecx 0, edi advanced)\n" : " WRONG\n");

    puts("kernel: powering off\n");
    outw(0x604, 0x2000);
    for (;;)
        __asm__ volatile("hlt");
}

static uint8_t stack[8192] __attribute__((aligned(16), used));
__asm__(".globl _start\n_start:\n\tmovl $stack + 8192, %esp\n\tcall kmain\n1:\thlt\n\tjmp 1b\n");
