/*
 * cmos.c - a test kernel that reads the CMOS as kernels do at boot: the RTC
 * status registers and the memory sizes the BIOS left there.  It prints
 * through port 0xE9; QEMU is run with -m 64, as hv's default.
 */
#include <stdint.h>

__attribute__((section(".multiboot"), used, aligned(4)))
static const uint32_t multiboot_header[3] = { 0x1BADB002u, 0, -0x1BADB002u };

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void puts(const char *s) { while (*s) outb(0xe9, (uint8_t)*s++); }
static void hex(uint32_t v)
{
    outb(0xe9, (uint8_t)"0123456789abcdef"[(v >> 4) & 0xf]);
    outb(0xe9, (uint8_t)"0123456789abcdef"[v & 0xf]);
}

static uint8_t cmos(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

void kmain(void)
{
    static const uint8_t regs[] = { 0x0a, 0x0d, 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35 };
    for (unsigned k = 0; k < sizeof(regs); k++) {
        puts("cmos[");
        hex(regs[k]);
        puts("]=");
        hex(cmos(regs[k]));
        puts("\n");
    }
    puts("24-hour: ");
    puts((cmos(0x0b) & 0x02) ? "yes\n" : "no\n");
    outb(0x70, 0x40);
    outb(0x71, 0xa5);
    puts("ram byte 0x40 keeps ");
    hex(cmos(0x40));
    puts("\nkernel: powering off\n");
    outw(0x604, 0x2000);
    for (;;)
        __asm__ volatile("hlt");
}

static uint8_t stack[4096] __attribute__((aligned(16), used));
__asm__(".globl _start\n_start:\n\tmovl $stack + 4096, %esp\n\tcall kmain\n1:\thlt\n\tjmp 1b\n");
