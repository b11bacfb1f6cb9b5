/* sleeper.c - HALT for 10 seconds of guest time with the one-shot timer.
 *
 * Five sleeps of 1 s (arm the timer, HALT until IRQ 0), then one of 5 s
 * with hv_sleep_ns, which needs two one-shots (a one-shot is at most
 * 2^32 - 1 ns, about 4.29 s).  Under the virtual clock the halted time is
 * skipped, so this takes milliseconds of host time, and the clock values
 * it prints are the same on every run. */
#include <hv_irq.h>

static volatile uint32_t ticks;

static void on_timer(struct hv_irq_frame *f)
{
    (void)f;
    ticks++;
}

static void print_time(const char *what, uint64_t ns)
{
    printf("%s%llu.%09llu s\n", what, (unsigned long long)(ns / HV_NS_PER_SEC),
           (unsigned long long)(ns % HV_NS_PER_SEC));
}

int main(void)
{
    uint64_t start, now, slept;
    long r;

    r = hv_irq_attach(HV_IRQ_VECTOR(HV_IRQ_TIMER), on_timer);
    if (r < 0) {
        printf("installing the timer gate failed: %ld\n", r);
        return 1;
    }
    start = hv_clock();
    print_time("clock before: ", start);

    for (int i = 1; i <= 5; i++) {
        hv_irq_disable();           /* no tick between arming and HALT */
        hv_timer_oneshot(HV_NS_PER_SEC);
        hv_halt();                  /* returns after on_timer, IF set */
        now = hv_clock();
        printf("sleep %d (1 s): ticks=%u, ", i, (unsigned)ticks);
        print_time("clock ", now);
    }

    printf("sleep 6 (5 s, two one-shots)\n");
    r = hv_sleep_ns(5ull * HV_NS_PER_SEC);
    now = hv_clock();
    printf("hv_sleep_ns: %ld, ticks=%u\n", r, (unsigned)ticks);
    print_time("clock after: ", now);

    slept = now - start;
    print_time("slept ", slept);
    if (r < 0 || slept < 10ull * HV_NS_PER_SEC || ticks != 7) {
        printf("expected 10 s of sleep and 7 ticks\n");
        return 1;
    }
    printf("slept 10 s in %u timer interrupts\n", (unsigned)ticks);
    return 0;
}
