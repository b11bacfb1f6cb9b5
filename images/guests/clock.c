/* clock.c - read the CLOCK hypercall on both sides of some work and report
 * whether time moved forwards.  The raw values are never printed, so the
 * output is the same on every switcher and on every run. */
#include <hv_guest.h>

/* Work the compiler cannot remove: the result is printed. */
static uint32_t busy_work(void)
{
    volatile uint32_t acc = 1;

    for (uint32_t i = 0; i < 100000; i++)
        acc = acc * 1664525u + 1013904223u;
    return acc;
}

int main(void)
{
    uint64_t before = hv_clock();
    uint32_t work = busy_work();
    uint64_t after = hv_clock();

    printf("work: 0x%08x\n", (unsigned)work);
    printf("clock: %s\n", after > before ? "monotonic" : "NOT monotonic");
    return 0;
}
