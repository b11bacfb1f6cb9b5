/*
 * halt.c - HALT (hypercall 10) and the hlt instruction (Guest ABI v1, "Halt").
 * op= picks:
 *   timer        SET_CLOCKEVENT(d) then HALT: the handler runs with EIP =
 *                after_halt, HALT returns 0, time_ns = the deadline (prints
 *                time_ns - t0; t0 = the clock 4 instructions before SET retired)
 *   pending      IRQ 0 already pending with IF=0: HALT delivers it at once
 *   none         HALT with nothing armed -> halted with no interrupt source
 *   cancelled    armed then cancelled -> the same kill
 *   hlt_timer    sti; hlt with the timer armed: wakes, EIP = after_hlt
 *   hlt_off      cli; hlt (timer armed) -> hlt with interrupts off
 *   hlt_none     sti; hlt with nothing armed -> halted with no interrupt source
 *   sleep        ten HALTs of one virtual second each
 */
#include "host_test.h"

#define GD ((struct host_gd *)host_gd_page)

static uint32_t t0_v, t1_v, d_v, r_v;

int main(void)
{
    const char *op = host_op();

    printf("op %s\n", op);
    host_init();
    if (is_op(op, "timer")) {
        set_gate(0x20, GATE_INTR);
        d_v = cmdline_u32("d", 1000000);
        __asm__ volatile("movl $34, %%eax\n\tint $0x1f\n\t"
                         "movl %%eax, %[t0]\n\t"
                         "movl %[d], %%ebx\n\t"
                         "movl $9, %%eax\n\t"
                         "int $0x1f\n\t"
                         "movl $10, %%eax\n\t"
                         "int $0x1f\n"
                         ".globl after_halt\nafter_halt:\n\t"
                         "movl %%eax, %[r]\n\t"
                         "movl $34, %%eax\n\tint $0x1f\n\t"
                         "movl %%eax, %[t1]"
                         : [t0] "=m"(t0_v), [t1] "=m"(t1_v), [r] "=m"(r_v)
                         : [d] "m"(d_v)
                         : "eax", "ebx", "ecx", "edx", "esi", "memory", "cc");
        uint32_t if_after = read_eflags() & EFL_IF;
        cli();
        print_rec("irq");
        printf("halt=%d time=%u after=%u if=%x\n", (int)r_v,
               (uint32_t)(host_last.gd_time - t0_v), GD->time_lo - t0_v, if_after);
        printf("elapsed>=d: %d\n", t1_v - t0_v >= d_v);
    } else if (is_op(op, "pending")) {
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(50);
        while (!(GD->pending & 1)) {
        }
        uint32_t c0 = host_last.count;
        long nr = HV_HC_HALT;
        __asm__ volatile("int $0x1f\n.globl after_halt2\nafter_halt2:"
                         : "+a"(nr) : : "ebx", "ecx", "edx", "esi", "memory", "cc");
        cli();
        printf("before: count=%u halt=%ld\n", c0, nr);
        print_rec("irq");
    } else if (is_op(op, "none") || is_op(op, "cancelled")) {
        set_gate(0x20, GATE_INTR);
        if (is_op(op, "cancelled")) {
            hv_set_clockevent(1000);
            hv_set_clockevent(0);
        }
        hv_flush();
        __asm__ volatile("movl $10, %%eax\n"
                         ".globl fault_halt\nfault_halt: int $0x1f"
                         ::: "eax", "memory", "cc");
        printf("survived\n");
        return 1;
    } else if (is_op(op, "hlt_timer")) {
        set_gate(0x20, GATE_INTR);
        d_v = cmdline_u32("d", 100000);
        __asm__ volatile("movl $34, %%eax\n\tint $0x1f\n\t"
                         "movl %%eax, %[t0]\n\t"
                         "movl %[d], %%ebx\n\t"
                         "movl $9, %%eax\n\t"
                         "int $0x1f\n\t"
                         "sti\n"
                         ".globl fault_hlt\nfault_hlt: hlt\n"
                         ".globl after_hlt\nafter_hlt:\n\t"
                         "cli"
                         : [t0] "=m"(t0_v)
                         : [d] "m"(d_v)
                         : "eax", "ebx", "ecx", "edx", "esi", "memory", "cc");
        print_rec("irq");
        printf("time=%u after=%u\n", (uint32_t)(host_last.gd_time - t0_v), GD->time_lo - t0_v);
    } else if (is_op(op, "hlt_off")) {
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(1000);
        hv_flush();
        __asm__ volatile("cli\n.globl fault_hlt_off\nfault_hlt_off: hlt" ::: "memory");
        printf("survived\n");
        return 1;
    } else if (is_op(op, "hlt_none")) {
        set_gate(0x20, GATE_INTR);
        hv_flush();
        __asm__ volatile("sti\n.globl fault_hlt_none\nfault_hlt_none: hlt" ::: "memory");
        printf("survived\n");
        return 1;
    } else if (is_op(op, "sleep")) {
        set_gate(0x20, GATE_INTR);
        uint64_t start = hv_clock();
        for (int k = 0; k < 10; k++) {
            hv_set_clockevent(1000000000u);
            hv_halt();
        }
        cli();
        uint64_t slept = hv_clock() - start;
        printf("sleep: count=%u slept=%u ms ok=%d\n", host_last.count,
               (uint32_t)(slept / 1000000u), slept >= 10000000000ull);
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
