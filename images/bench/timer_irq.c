/* timer_irq.c - benchmark: timer interrupts delivered per second.  The IRQ 0
 * handler re-arms a one-shot timer `delta=` ns ahead (default 1000) until
 * `n=` interrupts (default 100000) have arrived; the main loop either HALTs
 * between them (`mode=halt`, the default) or spins (`mode=spin`).  Prints
 * the count.  The Linux build has no timer and prints the same line. */
#include <hv_guest.h>

static volatile unsigned ticks;
static unsigned want = 100000, delta = 1000;

void timer_irq_c(void)
{
    if (++ticks < want)
        hv_set_clockevent(delta);
}

#ifndef HV_TARGET_LINUX
__asm__(".text\n.globl timer_irq_entry\ntimer_irq_entry:\n"
        "    pusha\n    cld\n    call timer_irq_c\n    popa\n    iret\n");
extern void timer_irq_entry(void);
#endif

static unsigned arg(const char *key, unsigned dflt)
{
    const char *v = hv_cmdline_value(key);
    return v ? (unsigned)strtoul(v, NULL, 10) : dflt;
}

int main(void)
{
    want = arg("n", want);
    delta = arg("delta", delta);
    const char *mode = hv_cmdline_value("mode");
    bool spin = mode && strcmp(mode, "spin") == 0;
#ifndef HV_TARGET_LINUX
    uint32_t off = (uint32_t)(uintptr_t)timer_irq_entry;
    hv_load_idt_entry(32, (0x08u << 16) | (off & 0xffff), (off & 0xffff0000u) | 0x8e00);
    hv_set_clockevent(delta);
    if (spin) {
        __asm__ volatile("sti");
        while (ticks < want)
            ;
    } else {
        while (ticks < want)
            hv_halt();
    }
#else
    ticks = want;
    (void)spin;
#endif
    printf("%u timer interrupts\n", ticks);
    return 0;
}
