/*
 * lar_lsl.c - a test kernel that asks LAR, LSL, VERR and VERW about every
 * kind of selector in its GDT (ring-0 and ring-3 code and data, an
 * execute-only code segment, a small data segment, a TSS, a not-present
 * segment, the null selector, one past the limit) and prints ZF and the
 * values.  QEMU is the oracle.
 */
#include "kernel.h"

static uint64_t gdt[10] __attribute__((aligned(8)));
static uint32_t tss[26];

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
    power_off();
}

static uint8_t stack[8192] __attribute__((aligned(16), used));
KERNEL_ENTRY(stack, 8192);
