/*
 * softint.c - software interrupts and traps with no guest gate.
 *   op=int3      cc     -> unhandled #BP, eip = the int3
 *   op=int3long  cd 03  -> unhandled #BP
 *   op=into      into with OF set -> unhandled #OF (into with OF clear runs
 *                first and must not trap)
 *   op=int80     int $0x80 -> unhandled int 0x80
 * The reported EIP is the address of the trapping instruction, which
 * carries a global label fault_<op>.
 */
#include <hv_guest.h>

int main(void)
{
    const char *op = hv_cmdline_value("op");

    printf("trigger %s\n", op ? op : "(none)");
    if (op && strcmp(op, "int3") == 0) {
        __asm__ volatile(".globl fault_int3\nfault_int3: .byte 0xcc");
    } else if (op && strcmp(op, "int3long") == 0) {
        __asm__ volatile(".globl fault_int3long\nfault_int3long: .byte 0xcd, 0x03");
    } else if (op && strcmp(op, "into") == 0) {
        /* OF clear: into falls through. */
        __asm__ volatile("xorl %%eax, %%eax\n\t.byte 0xce" ::: "eax", "cc");
        printf("into with OF clear did not trap\n");
        __asm__ volatile("movl $0x7fffffff, %%eax\n\taddl $1, %%eax\n\t"
                         ".globl fault_into\nfault_into: .byte 0xce"
                         ::: "eax", "cc");
    } else if (op && strcmp(op, "int80") == 0) {
        __asm__ volatile("movl $1, %%eax\n\txorl %%ebx, %%ebx\n\t"
                         ".globl fault_int80\nfault_int80: int $0x80"
                         ::: "eax", "ebx", "memory");
    } else {
        return 2;
    }
    printf("survived %s\n", op);
    return 1;
}
