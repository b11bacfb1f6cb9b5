/*
 * dfault.c - a fault while the host pushes a frame is a double fault (#DF,
 * vector 8, error code 0); a fault while delivering that is a triple fault.
 * Delivery is at ring 0 on the current stack, so a bad stack can never reach
 * a #DF handler; a bad gate selector (0x10) can.  op= picks:
 *   nodf            #DE gate, no #DF gate, ESP outside RAM, divide by 0
 *                   -> unhandled #DF at eip=fault_div
 *   triple          the same with a #DF gate -> triple fault at eip=fault_div
 *   nogate_stack    no #DE gate at all, ESP outside RAM -> unhandled #DE
 *   badsel          #DE gate with selector 0x10, good #DF gate: the #DF handler
 *                   runs with error code 0 and EIP = fault_div
 *   badsel_int      int $0x40 through a gate with selector 0x10: #DF with
 *                   EIP = after_int40 (what the int's frame would have held)
 *   badsel_nodf     #DE gate with selector 0x10, no #DF gate -> unhandled #DF
 *   badsel_both     #DE and #DF gates both with selector 0x10 -> triple fault
 */
#include "host_test.h"

#define FL 0x0293

extern char after_div[];

__attribute__((noinline)) static void divide_by_zero(void)
{
    __asm__ volatile("movl $1, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\t"
                     "pushl $0x293\n\tpopfl\n\t"
                     "movl %%esp, host_pre_esp\n"
                     ".globl fault_div\nfault_div: divl %%ecx\n"
                     ".globl after_div\nafter_div:\n\t"
                     "pushl $2\n\tpopfl"
                     ::: "eax", "ecx", "edx", "memory", "cc");
}

__attribute__((noinline)) static void divide_by_zero_bad_stack(void)
{
    hv_flush();
    __asm__ volatile("movl $1, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\t"
                     "movl $0x80000000, %%esp\n"
                     ".globl fault_div_bad_stack\nfault_div_bad_stack: divl %%ecx\n\t"
                     "ud2"
                     ::: "eax", "ecx", "edx", "memory", "cc");
}

int main(void)
{
    const char *op = host_op();

    printf("op %s\n", op);
    if (is_op(op, "nodf")) {
        set_gate(0, GATE_INTR);
        divide_by_zero_bad_stack();
    } else if (is_op(op, "triple")) {
        set_gate(0, GATE_INTR);
        set_gate(8, GATE_INTR);
        divide_by_zero_bad_stack();
    } else if (is_op(op, "nogate_stack")) {
        set_gate(8, GATE_INTR);
        divide_by_zero_bad_stack();
    } else if (is_op(op, "badsel")) {
        printf("gate %ld\n", set_gate_sel(0, GATE_INTR, 0x10));
        set_gate(8, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_div;
        divide_by_zero();
        print_rec("df");
    } else if (is_op(op, "badsel_int")) {
        printf("gate %ld\n", set_gate_sel(0x40, GATE_TRAP, 0x10));
        set_gate(8, GATE_INTR);
        __asm__ volatile("pushl $0x293\n\tpopfl\n\t"
                         "movl %%esp, host_pre_esp\n"
                         ".globl fault_int40\nfault_int40: int $0x40\n"
                         ".globl after_int40\nafter_int40:\n\t"
                         "pushl $2\n\tpopfl" ::: "memory", "cc");
        print_rec("df");
    } else if (is_op(op, "badsel_nodf")) {
        set_gate_sel(0, GATE_INTR, 0x10);
        hv_flush();
        divide_by_zero();
    } else if (is_op(op, "badsel_both")) {
        set_gate_sel(0, GATE_INTR, 0x10);
        set_gate_sel(8, GATE_INTR, 0x10);
        hv_flush();
        divide_by_zero();
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
