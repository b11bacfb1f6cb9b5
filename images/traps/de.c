/*
 * de.c - divide errors (#DE).  The command line picks one:
 *   op=div8|div16|div32      divide by zero
 *   op=idiv8|idiv16|idiv32   signed INT_MIN / -1 (quotient overflow)
 *   op=quot32                unsigned quotient too big (EDX:EAX = 2^32, / 1)
 * Each faulting instruction carries a global label fault_<op>, so the test
 * can check that the kill reason names exactly its address.
 */
#include <hv_guest.h>

static int is(const char *op, const char *name)
{
    return op && strcmp(op, name) == 0;
}

int main(void)
{
    const char *op = hv_cmdline_value("op");

    printf("trigger %s\n", op ? op : "(none)");
    if (is(op, "div8"))
        __asm__ volatile("movl $0x1234, %%eax\n\txorl %%ecx, %%ecx\n\t"
                         ".globl fault_div8\nfault_div8: divb %%cl"
                         ::: "eax", "ecx", "cc");
    else if (is(op, "div16"))
        __asm__ volatile("movl $0x1234, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\t"
                         ".globl fault_div16\nfault_div16: divw %%cx"
                         ::: "eax", "ecx", "edx", "cc");
    else if (is(op, "div32"))
        __asm__ volatile("movl $0x1234, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\t"
                         ".globl fault_div32\nfault_div32: divl %%ecx"
                         ::: "eax", "ecx", "edx", "cc");
    else if (is(op, "idiv8"))
        __asm__ volatile("movl $0xff80, %%eax\n\tmovl $0xff, %%ecx\n\t"
                         ".globl fault_idiv8\nfault_idiv8: idivb %%cl"
                         ::: "eax", "ecx", "cc");
    else if (is(op, "idiv16"))
        __asm__ volatile("movl $0x8000, %%eax\n\tmovl $0xffff, %%edx\n\tmovl $0xffff, %%ecx\n\t"
                         ".globl fault_idiv16\nfault_idiv16: idivw %%cx"
                         ::: "eax", "ecx", "edx", "cc");
    else if (is(op, "idiv32"))
        __asm__ volatile("movl $0x80000000, %%eax\n\tcltd\n\tmovl $-1, %%ecx\n\t"
                         ".globl fault_idiv32\nfault_idiv32: idivl %%ecx"
                         ::: "eax", "ecx", "edx", "cc");
    else if (is(op, "quot32"))
        __asm__ volatile("xorl %%eax, %%eax\n\tmovl $1, %%edx\n\tmovl $1, %%ecx\n\t"
                         ".globl fault_quot32\nfault_quot32: divl %%ecx"
                         ::: "eax", "ecx", "edx", "cc");
    else
        return 2;
    printf("survived %s\n", op);
    return 1;
}
