/*
 * cmos.c - a test kernel that reads the CMOS as kernels do at boot: the RTC
 * status registers and the memory sizes the BIOS left there.  It prints
 * through port 0xE9; QEMU is run with -m 64, as hv's default.
 */
#include "kernel.h"

static void hex2(uint32_t v) { hex(v, 2); }

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
        hex2(regs[k]);
        puts("]=");
        hex2(cmos(regs[k]));
        puts("\n");
    }
    puts("24-hour: ");
    puts((cmos(0x0b) & 0x02) ? "yes\n" : "no\n");
    outb(0x70, 0x40);
    outb(0x71, 0xa5);
    puts("ram byte 0x40 keeps ");
    hex2(cmos(0x40));
    puts("\nkernel: powering off\n");
    power_off();
}

static uint8_t stack[4096] __attribute__((aligned(16), used));
KERNEL_ENTRY(stack, 4096);
