/*
 * string_io.c - a test kernel using string port I/O: rep outsb to the debug
 * console and rep insb from it (QEMU's debugcon reads back 0xE9).
 */
#include "kernel.h"

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
    power_off();
}

static uint8_t stack[8192] __attribute__((aligned(16), used));
KERNEL_ENTRY(stack, 8192);
