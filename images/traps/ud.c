/*
 * ud.c - invalid opcodes (#UD).  op=ud2 runs 0f 0b; op=0f04 runs the
 * undefined two-byte opcode 0f 04; op=lockreg puts a lock prefix on an add
 * whose destination is a register (f0 01 c8), which the CPU refuses.
 * Each has a global label fault_<op>.
 */
#include <hv_guest.h>

int main(void)
{
    const char *op = hv_cmdline_value("op");

    printf("trigger %s\n", op ? op : "(none)");
    if (op && strcmp(op, "ud2") == 0)
        __asm__ volatile(".globl fault_ud2\nfault_ud2: .byte 0x0f, 0x0b");
    else if (op && strcmp(op, "0f04") == 0)
        __asm__ volatile(".globl fault_0f04\nfault_0f04: .byte 0x0f, 0x04");
    else if (op && strcmp(op, "lockreg") == 0)
        __asm__ volatile(".globl fault_lockreg\nfault_lockreg: .byte 0xf0, 0x01, 0xc8"
                         ::: "eax", "cc");
    else
        return 2;
    printf("survived %s\n", op);
    return 1;
}
