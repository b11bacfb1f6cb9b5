/*
 * irq.c - IRQs, the timer and guest_data (Guest ABI v1, "Interrupts", "The
 * clock and the timer", guest_data).  op= picks:
 *   spin d=N      SET_CLOCKEVENT(N) with IF=0, then spin on guest_data.pending
 *                 in a 3-instruction loop: prints the iterations and the clock
 *                 difference (exact instruction counts), then `sti; nop`
 *                 delivers IRQ 0 with EIP = after_shadow and time_ns = the
 *                 clock at delivery
 *   rearm         SET_CLOCKEVENT(100000) then the spin of d=1000: the second
 *                 call replaces the first, and the timer fires once
 *   blocked       blocked bit 0 keeps IRQ 0 pending with IF=1; clearing it and
 *                 SEND_INTERRUPTS delivers it (EIP = after_send)
 *   nogate        no gate for vector 0x20: the IRQ stays pending; installing
 *                 the gate delivers it at once (EIP = after_gate)
 *   cancel        SET_CLOCKEVENT(0) cancels
 *   popf          popf setting IF delivers at once (EIP = after_popf)
 *   iret          iret setting IF delivers at once (EIP = after_iret)
 *   sti_cli       `sti; cli` delivers nothing; `sti; nop` does (after_shadow2)
 *   mov_ss        `sti; mov %ax, %ss; nop`: the mov to SS holds the IRQ off for
 *                 one more instruction (after_ss_shadow)
 *   send_if0      SEND_INTERRUPTS with IF=0 delivers nothing
 *   clisti        cli/sti and SEND_INTERRUPTS with nothing pending
 *   noinit        the timer without INIT
 *   irq_badsel    the IRQ's gate has selector 0x10: #DF, EIP = after_badsel
 *   periodic      n=N ticks of d=D, re-armed by the handler, while the guest
 *                 computes: prints every tick's time_ns (determinism)
 *   lowest        timer + NOTIFY (device 0 raises IRQ 3 and IRQ 1): after sti
 *                 IRQs are delivered lowest first
 *   lowest_blocked  the same with IRQ 1 blocked: it stays pending
 *   device_later  NOTIFY to a device that schedules IRQ 5 `d=` ns later, then
 *                 HALT: the IRQ wakes it at exactly that time
 */
#include "host_test.h"

static uint32_t t1_v, spins_v, dclock_v, delta_v, ta_v;
static uint32_t req[8] __attribute__((aligned(32)));

#define GD ((struct host_gd *)host_gd_page)

/* SET_CLOCKEVENT(d) and spin until pending bit 0: see the file comment. */
__attribute__((noinline)) static void measure(uint32_t d)
{
    delta_v = d;
    __asm__ volatile("movl $34, %%eax\n\t"
                     "int $0x1f\n\t"
                     "movl %%eax, %[t1]\n\t"
                     "movl %[d], %%ebx\n\t"
                     "movl $9, %%eax\n\t"
                     "int $0x1f\n\t"
                     "movl %[pend], %%esi\n\t"
                     "xorl %%ecx, %%ecx\n"
                     "1:\tincl %%ecx\n\t"
                     "testl $1, (%%esi)\n\t"
                     "jz 1b\n\t"
                     "movl $34, %%eax\n\t"
                     "int $0x1f\n\t"
                     "subl %[t1], %%eax\n\t"
                     "movl %%eax, %[dc]\n\t"
                     "movl %%ecx, %[sp]"
                     : [t1] "+m"(t1_v), [dc] "=m"(dclock_v), [sp] "=m"(spins_v)
                     : [d] "m"(delta_v), [pend] "i"(host_gd_page)
                     : "eax", "ebx", "ecx", "edx", "esi", "memory", "cc");
}

/* Read the clock, then `sti; nop`: IRQ 0 (pending) comes after the nop. */
__attribute__((noinline)) static void shadow_deliver(void)
{
    __asm__ volatile("movl $34, %%eax\n\t"
                     "int $0x1f\n\t"
                     "movl %%eax, %[ta]\n\t"
                     "movl %%esp, host_pre_esp\n\t"
                     "sti\n\t"
                     ".globl shadow_nop\nshadow_nop: nop\n"
                     ".globl after_shadow\nafter_shadow:\n\t"
                     "cli"
                     : [ta] "=m"(ta_v)
                     :
                     : "eax", "edx", "memory", "cc");
}

static void wait_pending(uint32_t bit)
{
    while (!(GD->pending & bit)) {
    }
}

static void busy(uint32_t n)
{
    for (volatile uint32_t k = 0; k < n; k++) {
    }
}

static long send_interrupts_labelled(void)
{
    long r = HV_HC_SEND_INTERRUPTS;
    __asm__ volatile("int $0x1f\n.globl after_send\nafter_send:"
                     : "+a"(r) : : "ebx", "ecx", "edx", "esi", "memory", "cc");
    return r;
}

static volatile uint32_t ticks, nticks, tick_delta;
static volatile uint64_t tick_times[64];

static void tick_hook(struct host_frame *f)
{
    if (f->vector != 0x20)
        return;
    if (ticks < 64)
        tick_times[ticks] = host_last.gd_time;
    ticks++;
    if (ticks < nticks)
        hv_set_clockevent(tick_delta);
}

static void lowest(uint32_t blocked)
{
    long r;
    uint32_t p;

    host_init();
    set_gate(0x20, GATE_INTR);
    set_gate(0x21, GATE_INTR);
    set_gate(0x23, GATE_INTR);
    GD->blocked = blocked;
    hv_set_clockevent(10);
    wait_pending(1);
    req[0] = 0;
    r = hv_notify(HV_GPA(req));
    p = GD->pending;
    __asm__ volatile("sti\n\tnop\n\tcli" ::: "memory");
    printf("notify=%ld pending=%08x\n", r, p);
    printf("order:");
    for (uint32_t k = 0; k < host_nlog; k++)
        printf(" %02x", host_log[k]);
    printf("\npending=%08x\n", GD->pending);
}

int main(void)
{
    const char *op = host_op();

    printf("op %s\n", op);
    if (is_op(op, "spin") || is_op(op, "rearm")) {
        uint32_t d = cmdline_u32("d", 1000);
        printf("init %ld\n", host_init());
        set_gate(0x20, GATE_INTR);
        if (is_op(op, "rearm"))
            hv_set_clockevent(100000);
        measure(d);
        uint32_t c0 = host_last.count, p0 = GD->pending;
        shadow_deliver();
        printf("spin: spins=%u dclock=%u count=%u pending=%08x\n", spins_v, dclock_v, c0, p0);
        print_rec("irq");
        printf("time=%u gd_pending=%08x pending=%08x\n",
               (uint32_t)(host_last.gd_time - ta_v), host_last.gd_pending, GD->pending);
        if (is_op(op, "rearm")) {
            sti();
            busy(150000);
            cli();
            printf("after: count=%u pending=%08x\n", host_last.count, GD->pending);
        }
    } else if (is_op(op, "blocked")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        GD->blocked = 1;
        hv_set_clockevent(100);
        sti();
        wait_pending(1);
        busy(1000);
        uint32_t c0 = host_last.count, p0 = GD->pending;
        GD->blocked = 0;
        long r = send_interrupts_labelled();
        cli();
        printf("blocked: count=%u pending=%08x\n", c0, p0);
        printf("send=%ld\n", r);
        print_rec("irq");
        printf("pending=%08x\n", GD->pending);
    } else if (is_op(op, "nogate")) {
        host_init();
        hv_set_clockevent(100);
        sti();
        wait_pending(1);
        busy(500);
        long r = hv_send_interrupts();
        uint32_t c0 = host_last.count, p0 = GD->pending;
        uint32_t off = host_stubs[0x20];
        long nr = HV_HC_LOAD_IDT_ENTRY;
        __asm__ volatile("int $0x1f\n.globl after_gate\nafter_gate:"
                         : "+a"(nr)
                         : "b"(0x20), "c"(gate_lo(KCODE, off)), "d"(gate_hi(off, GATE_INTR))
                         : "esi", "memory", "cc");
        uint32_t c1 = host_last.count;
        hv_send_interrupts();
        cli();
        printf("nogate: send=%ld count=%u pending=%08x\n", r, c0, p0);
        printf("gate=%ld count=%u\n", nr, c1);
        print_rec("irq");
        printf("pending=%08x\n", GD->pending);
    } else if (is_op(op, "cancel")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        long r1 = hv_set_clockevent(500);
        long r2 = hv_set_clockevent(0);
        sti();
        busy(3000);
        cli();
        printf("cancel: %ld %ld count=%u pending=%08x\n", r1, r2, host_last.count, GD->pending);
    } else if (is_op(op, "popf")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(50);
        wait_pending(1);
        __asm__ volatile("movl %%esp, host_pre_esp\n\t"
                         "pushl $0x202\n\tpopfl\n"
                         ".globl after_popf\nafter_popf:\n\t"
                         "nop\n\tcli" ::: "memory", "cc");
        print_rec("irq");
    } else if (is_op(op, "iret")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(50);
        wait_pending(1);
        __asm__ volatile("movl %%esp, host_pre_esp\n\t"
                         "pushl $0x202\n\tpushl $8\n\tpushl $after_iret\n\t"
                         "iret\n"
                         ".globl after_iret\nafter_iret:\n\t"
                         "nop\n\tcli" ::: "memory", "cc");
        print_rec("irq");
    } else if (is_op(op, "sti_cli")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(50);
        wait_pending(1);
        __asm__ volatile("sti\n\tcli" ::: "memory");
        uint32_t c0 = host_last.count, p0 = GD->pending;
        __asm__ volatile("sti\n\tnop\n"
                         ".globl after_shadow2\nafter_shadow2:\n\t"
                         "cli" ::: "memory");
        printf("sti;cli: count=%u pending=%08x\n", c0, p0);
        print_rec("irq");
    } else if (is_op(op, "mov_ss")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(50);
        wait_pending(1);
        __asm__ volatile("movw %%ss, %%ax\n\tsti\n\tmovw %%ax, %%ss\n\tnop\n"
                         ".globl after_ss_shadow\nafter_ss_shadow:\n\t"
                         "cli" ::: "eax", "memory");
        print_rec("irq");
    } else if (is_op(op, "send_if0")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(50);
        wait_pending(1);
        long r = hv_send_interrupts();
        uint32_t c0 = host_last.count, p0 = GD->pending;
        shadow_deliver();
        printf("send with IF=0: send=%ld count=%u pending=%08x\n", r, c0, p0);
        print_rec("irq");
    } else if (is_op(op, "clisti")) {
        host_init();
        set_gate(0x20, GATE_INTR);
        __asm__ volatile("cli\n\tsti\n\tnop\n\tcli\n\tsti\n\tnop\n\tnop" ::: "memory");
        long r = hv_send_interrupts();
        cli();
        printf("clisti: send=%ld count=%u pending=%08x\n", r, host_last.count, GD->pending);
    } else if (is_op(op, "noinit")) {
        set_gate(0x20, GATE_INTR);
        hv_set_clockevent(100);
        sti();
        for (uint32_t k = 0; k < 100000 && !host_last.count; k++) {
        }
        cli();
        printf("noinit: count=%u vec=%02x\n", host_last.count, host_last.vector);
    } else if (is_op(op, "irq_badsel")) {
        host_init();
        set_gate_sel(0x20, GATE_INTR, 0x10);
        set_gate(8, GATE_INTR);
        hv_set_clockevent(50);
        wait_pending(1);
        host_clear_if = 1;
        __asm__ volatile("movl %%esp, host_pre_esp\n\t"
                         "sti\n\tnop\n"
                         ".globl after_badsel\nafter_badsel:\n\t"
                         "cli" ::: "memory");
        host_clear_if = 0;
        print_rec("df");
    } else if (is_op(op, "periodic")) {
        uint32_t x = 1, loops = 0;
        nticks = cmdline_u32("n", 20);
        tick_delta = cmdline_u32("d", 5000);
        host_init();
        set_gate(0x20, GATE_INTR);
        host_hook = tick_hook;
        hv_set_clockevent(tick_delta);
        sti();
        while (ticks < nticks) {
            x = x * 1103515245u + 12345u;
            loops++;
        }
        cli();
        for (uint32_t k = 0; k < nticks && k < 64; k++)
            printf("tick %u at %u\n", k, (uint32_t)tick_times[k]);
        printf("loops=%u x=%08x clock=%u\n", loops, x, (uint32_t)hv_clock());
    } else if (is_op(op, "device_later")) {
        host_init();
        set_gate(0x25, GATE_INTR);
        req[0] = 0;
        uint64_t t0 = hv_clock();
        long r = hv_notify(HV_GPA(req));
        uint32_t p = GD->pending;
        long h = hv_halt();
        uint64_t t1 = host_last.gd_time;
        printf("notify=%ld pending_after_notify=%08x halt=%ld vec=%02x n=%u\n", r, p, h,
               host_last.vector, host_last.count);
        printf("waited=%u\n", (uint32_t)(t1 - t0));
    } else if (is_op(op, "lowest")) {
        lowest(0);
    } else if (is_op(op, "lowest_blocked")) {
        lowest(2);
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
