/*
 * fpu.c - x87 faults.  The command line picks one:
 *   op=ts       CR0.TS set: an x87 instruction raises #NM (lazy FPU switching)
 *   op=em       CR0.EM set: #NM too
 *   op=wait_ts  CR0.MP and CR0.TS set: FWAIT raises #NM
 *   op=mf       CR0.NE set and the zero-divide exception unmasked: fdiv by
 *               zero leaves it pending, and the next waiting instruction
 *               (fld1) raises #MF
 *   op=nomf     the same with ZE masked: no fault, the result is +inf
 *   op=irq13    CR0.NE clear: the pending zero divide asserts FERR#, IRQ 13's
 *               handler writes port 0xF0 and clears the exception (FNCLEX),
 *               and the waiting instruction then runs
 *   op=ignne    the same, but the handler leaves the exception pending: with
 *               IGNNE# asserted, x87 instructions run anyway
 *   op=frozen   CR0.NE clear and interrupts off: FERR# cannot be answered
 * Each faulting instruction carries a global label fault_<op>.
 */
#include <hv_guest.h>
#include <hv_irq.h>

static int is(const char *op, const char *name)
{
    return op && strcmp(op, name) == 0;
}

static void set_cr0(uint32_t set)
{
    uint32_t cr0;
    __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
    cr0 |= set;
    __asm__ volatile("movl %0, %%cr0" :: "r"(cr0) : "memory");
}

static void cr0_clear(uint32_t clear)
{
    uint32_t cr0;
    __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
    cr0 &= ~clear;
    __asm__ volatile("movl %0, %%cr0" :: "r"(cr0) : "memory");
}

static volatile int irq13_clears, irq13_count;

static void on_irq13(struct hv_irq_frame *f)
{
    uint16_t sw;
    (void)f;
    __asm__ volatile("fnstsw %0" : "=m"(sw));
    irq13_count++;
    printf("irq13: status %04x\n", sw);
    __asm__ volatile("outb %%al, $0xf0" :: "a"(0));     /* IGNNE# */
    if (irq13_clears)
        __asm__ volatile("fnclex");
}

static int legacy(const char *op)
{
    static const double zero = 0.0;
    uint16_t cw = 0x037b, sw = 0;
    cr0_clear(1u << 5);                     /* CR0.NE: the MS-DOS compatible way */
    irq13_clears = is(op, "irq13");
    hv_irq_attach(HV_IRQ_VECTOR(13), on_irq13);
    if (!is(op, "frozen"))
        hv_irq_enable();
    __asm__ volatile("fninit\n\tfldcw %1\n\tfld1\n\tfdivl %2\n\t"
                     ".globl fault_frozen\nfault_frozen: fld1\n\tfstp %%st(0)\n\t"
                     "fld1\n\tfaddp\n\tfnstsw %0\n\tfstp %%st(0)"
                     : "=m"(sw) : "m"(cw), "m"(zero) : "memory");
    printf("after: status %04x, %d interrupt(s)\n", sw, irq13_count);
    return 0;
}

int main(void)
{
    const char *op = hv_cmdline_value("op");
    static const double zero = 0.0;
    uint16_t cw = 0x037b, sw = 0;           /* ZE (bit 2) unmasked */

    printf("trigger %s\n", op ? op : "(none)");
    if (is(op, "ts")) {
        set_cr0(1u << 3);
        __asm__ volatile(".globl fault_ts\nfault_ts: fld1\n\tfstp %%st(0)" ::: "memory");
    } else if (is(op, "em")) {
        set_cr0(1u << 2);
        __asm__ volatile(".globl fault_em\nfault_em: fldz\n\tfstp %%st(0)" ::: "memory");
    } else if (is(op, "wait_ts")) {
        set_cr0((1u << 1) | (1u << 3));
        __asm__ volatile(".globl fault_wait_ts\nfault_wait_ts: fwait" ::: "memory");
    } else if (is(op, "mf") || is(op, "nomf")) {
        set_cr0(1u << 5);
        if (is(op, "nomf"))
            cw = 0x037f;
        __asm__ volatile("fninit\n\tfldcw %1\n\tfld1\n\tfdivl %2\n\tfnstsw %0\n\t"
                         ".globl fault_mf\nfault_mf: fld1\n\tfstp %%st(0)\n\tfstp %%st(0)"
                         : "=m"(sw) : "m"(cw), "m"(zero) : "memory");
        printf("no fault: status %04x\n", sw);
        return 0;
    } else if (is(op, "irq13") || is(op, "ignne") || is(op, "frozen")) {
        return legacy(op);
    } else {
        return 2;
    }
    printf("survived %s\n", op);
    return 1;
}
