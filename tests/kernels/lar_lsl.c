/*
 * lar_lsl.c - a test kernel that asks LAR, LSL, VERR and VERW about every
 * kind of selector in its GDT (ring-0 and ring-3 code and data, an
 * execute-only code segment, a small data segment, a TSS, a not-present
 * segment, the null selector, one past the limit) and prints ZF and the
 * values.  QEMU is the oracle.
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

static uint64_t gdt[10] __attribute__((aligned(8)));
static uint32_t tss[26];

static uint64_t segment(uint32_t base, uint32_t limit, uint32_t access, uint32_t flags)
{
    return (limit & 0xffffu) | ((uint64_t)(base & 0xffffffu) << 16) |
           ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
           ((uint64_t)flags << 52) | ((uint64_t)(base >> 24) << 56);
}

void kmain(void)
{
    /* Accessed already set: the CPU sets it when ljmp loads CS; QEMU does not. */
    gdt[1] = segment(0, 0xfffff, 0x9b, 0xc);        /* 0x08 code, ring 0 */
    gdt[2] = segment(0, 0xfffff, 0x92, 0xc);        /* 0x10 data, ring 0 */
    gdt[3] = segment(0, 0xfffff, 0xfa, 0xc);        /* 0x18 code, ring 3 */
    gdt[4] = segment(0, 0xfffff, 0xf2, 0xc);        /* 0x20 data, ring 3 */
    gdt[5] = segment((uint32_t)tss, sizeof(tss) - 1, 0x89, 0);      /* 0x28 TSS */
    gdt[6] = segment(0, 0xfffff, 0x12, 0xc);        /* 0x30 data, not present */
    gdt[7] = segment(0, 0xfffff, 0x98, 0xc);        /* 0x38 code, execute-only */
    gdt[8] = segment(0x1000, 0x0fff, 0x90, 0x4);    /* 0x40 data, read-only, 4 KiB */
    gdt[9] = segment(0, 0xfffff, 0x9e, 0xc);        /* 0x48 conforming code */
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {
        sizeof(gdt) - 1, (uint32_t)gdt };
    __asm__ volatile("lgdt %0\n\tljmp $0x08, $1f\n1:\n\tmovw $0x10, %%ax\n\tmovw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\tmovw %%ax, %%ss" :: "m"(gdtr) : "eax", "memory");
    static const uint16_t sels[] = { 0x00, 0x08, 0x10, 0x1b, 0x23, 0x28, 0x30, 0x38, 0x40, 0x4b,
                                     0x13, 0x50 };
    for (unsigned k = 0; k < sizeof(sels) / sizeof(sels[0]); k++) {
        uint32_t sel = sels[k], ar = 0xdeadbeef, lim = 0xdeadbeef;
        uint8_t zar, zlim, zr, zw;
        __asm__ volatile("lar %2, %0\n\tsetz %1" : "+r"(ar), "=q"(zar) : "r"(sel) : "cc");
        __asm__ volatile("lsl %2, %0\n\tsetz %1" : "+r"(lim), "=q"(zlim) : "r"(sel) : "cc");
        __asm__ volatile("verr %w1\n\tsetz %0" : "=q"(zr) : "r"(sel) : "cc");
        __asm__ volatile("verw %w1\n\tsetz %0" : "=q"(zw) : "r"(sel) : "cc");
        puts("sel ");
        hex(sel, 4);
        puts(": lar ");
        hex(zar, 1);
        puts(" ");
        hex(ar, 8);
        puts(" lsl ");
        hex(zlim, 1);
        puts(" ");
        hex(lim, 8);
        puts(" verr ");
        hex(zr, 1);
        puts(" verw ");
        hex(zw, 1);
        puts("\n");
    }
    puts("kernel: powering off\n");
    outw(0x604, 0x2000);
    for (;;)
        __asm__ volatile("hlt");
}

static uint8_t stack[8192] __attribute__((aligned(16), used));
__asm__(".globl _start\n_start:\n\tmovl $stack + 8192, %esp\n\tcall kmain\n1:\thlt\n\tjmp 1b\n");
