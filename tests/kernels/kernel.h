/*
 * kernel.h - what the test kernels share: a multiboot header without flags
 * (QEMU and hv load the ELF by its program headers), port I/O, a console on
 * QEMU's debugcon (port 0xE9), GDT and IDT descriptor builders, lidt, ACPI
 * poweroff, and
 * KERNEL_ENTRY(stack, bytes): _start sets up that stack and calls kmain().
 * Written as kernels for QEMU are written; nothing here knows about hv.
 */
#ifndef TEST_KERNEL_H
#define TEST_KERNEL_H

#include <stdint.h>

__attribute__((section(".multiboot"), used, aligned(4)))
static const uint32_t multiboot_header[3] = { 0x1BADB002u, 0, -0x1BADB002u };

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void puts(const char *s) { while (*s) outb(0xe9, (uint8_t)*s++); }

static inline void hex(uint32_t v, int digits)
{
    for (int k = digits - 1; k >= 0; k--)
        outb(0xe9, (uint8_t)"0123456789abcdef"[(v >> (4 * k)) & 0xf]);
}

/* A code or data segment descriptor (SDM vol. 3, 3.4.5). */
static inline uint64_t segment(uint32_t base, uint32_t limit, uint32_t access, uint32_t flags)
{
    return (limit & 0xffffu) | ((uint64_t)(base & 0xffffffu) << 16) |
           ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
           ((uint64_t)flags << 52) | ((uint64_t)(base >> 24) << 56);
}

/* An interrupt or trap gate to fn through code selector sel (SDM vol. 3,
 * 6.11); access is P | DPL | type: 0x8e an interrupt gate, 0x8f a trap gate,
 * 0xef a trap gate ring 3 may use. */
static inline uint64_t gate(void (*fn)(void), uint16_t sel, uint32_t access)
{
    uint32_t off = (uint32_t)fn;
    return (off & 0xffffu) | ((uint64_t)sel << 16) | ((uint64_t)access << 40) |
           ((uint64_t)(off >> 16) << 48);
}

/* lidt of the table idt, `bytes` long. */
static inline void load_idt(const uint64_t *idt, uint32_t bytes)
{
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) r = {
        (uint16_t)(bytes - 1), (uint32_t)idt };
    __asm__ volatile("lidt %0" :: "m"(r) : "memory");
}

/* QEMU's ACPI poweroff (PM1a control at 0x604): exit status 0. */
__attribute__((noreturn)) static inline void power_off(void)
{
    outw(0x604, 0x2000);
    for (;;)
        __asm__ volatile("hlt");
}

#define KERNEL_ENTRY(stack, bytes)                                              \
    __asm__(".globl _start\n_start:\n\tmovl $" #stack " + " #bytes ", %esp\n\t" \
            "call kmain\n1:\thlt\n\tjmp 1b\n")

#endif
