/* scheduler.c - a preemptive round-robin scheduler driven by the timer.
 *
 * Four tasks, each on its own stack, run pure compute loops and print a
 * line after each step; none of them ever yields.  IRQ 0, re-armed for
 * every time slice (SLICE_NS), preempts the running task: the switch
 * handler saves the interrupted task's frame and resumes the next task's
 * (hv_irq_register_switch).  A task that finishes leaves through `int
 * $0x40`, the same handler.  When all are done the handler resumes main(),
 * which has been HALTed since the start, and main prints a summary.
 *
 * Everything depends only on instruction counts, so under the virtual
 * clock (1 instruction = 1 ns) the transcript is the same on every run. */
#include <hv_irq.h>

#define NTASKS       4
#define STEPS        5
#define SLICE_NS     50000u
#define STACK_SIZE   8192
#define YIELD_VECTOR 0x40

struct task {
    char name;
    uint32_t work;                  /* loop iterations per step */
    uint32_t acc;                   /* what the loops compute */
    uint32_t steps;
    uint32_t slices;                /* times it was given the CPU */
    bool done;
    struct hv_irq_frame *frame;     /* where it resumes */
};

static struct task tasks[NTASKS];
static uint8_t stacks[NTASKS][STACK_SIZE] __attribute__((aligned(16)));
static struct hv_irq_frame *main_frame;
static int current = -1;            /* -1: main() */
static uint32_t timer_irqs, switches;

/* A step's worth of arithmetic; the empty asm keeps each iteration real. */
static uint32_t compute(uint32_t acc, uint32_t iterations)
{
    for (uint32_t i = 0; i < iterations; i++) {
        acc = acc * 1103515245u + 12345u;
        acc ^= acc >> 13;
        __asm__ volatile("" : "+r"(acc));
    }
    return acc;
}

static int task_main(void *arg)
{
    struct task *t = arg;

    for (uint32_t step = 1; step <= STEPS; step++) {
        t->acc = compute(t->acc, t->work);
        t->steps = step;
        /* The console buffer is shared: no preemption inside printf. */
        uint32_t flags = hv_irq_save();
        printf("task %c step %u acc=0x%08x\n", t->name, (unsigned)step, (unsigned)t->acc);
        hv_irq_restore(flags);
    }
    return 0;
}

/* Where a task goes when task_main returns: mark it done and give up the
 * CPU for good. */
static void task_exit(int status)
{
    (void)status;
    hv_irq_disable();
    tasks[current].done = true;
    __asm__ volatile("int %0" : : "i"(YIELD_VECTOR) : "memory");
    for (;;) {
        /* never resumed */
    }
}

/* IRQ 0 and the yield vector: save the interrupted context, pick the next
 * unfinished task after it, or main() when none is left. */
static struct hv_irq_frame *schedule(struct hv_irq_frame *f)
{
    int start = current < 0 ? 0 : current + 1;

    if (f->vector == HV_IRQ_VECTOR(HV_IRQ_TIMER))
        timer_irqs++;
    if (current < 0)
        main_frame = f;
    else
        tasks[current].frame = f;

    for (int k = 0; k < NTASKS; k++) {
        int next = (start + k) % NTASKS;
        if (tasks[next].done)
            continue;
        if (next != current)
            switches++;
        current = next;
        tasks[next].slices++;
        hv_timer_oneshot(SLICE_NS);
        return tasks[next].frame;
    }
    current = -1;
    hv_timer_cancel();
    return main_frame;
}

static bool all_done(void)
{
    for (int i = 0; i < NTASKS; i++)
        if (!tasks[i].done)
            return false;
    return true;
}

int main(void)
{
    long r;

    printf("scheduler: %d tasks, %u steps each, time slice %u ns\n", NTASKS, STEPS,
           (unsigned)SLICE_NS);
    for (int i = 0; i < NTASKS; i++) {
        struct task *t = &tasks[i];
        t->name = (char)('A' + i);
        t->work = 4000 + 3000 * (uint32_t)i;
        t->acc = 0x1234u * (uint32_t)(i + 1);
        t->frame = hv_irq_frame_new(stacks[i] + STACK_SIZE, task_main, t, task_exit);
    }
    hv_irq_register_switch(HV_IRQ_VECTOR(HV_IRQ_TIMER), schedule);
    hv_irq_register_switch(YIELD_VECTOR, schedule);
    r = hv_irq_install(HV_IRQ_VECTOR(HV_IRQ_TIMER), HV_GATE_INTERRUPT);
    if (r == 0)
        r = hv_irq_install(YIELD_VECTOR, HV_GATE_INTERRUPT);
    if (r < 0) {
        printf("installing the gates failed: %ld\n", r);
        return 1;
    }

    /* main() only waits: the first tick switches to task A, and main
     * resumes here when every task is done. */
    hv_irq_disable();
    hv_timer_oneshot(SLICE_NS);
    while (!all_done())
        hv_halt();
    hv_irq_disable();

    printf("all tasks done\n");
    for (int i = 0; i < NTASKS; i++)
        printf("task %c: %u steps, %u slices, acc=0x%08x\n", tasks[i].name,
               (unsigned)tasks[i].steps, (unsigned)tasks[i].slices, (unsigned)tasks[i].acc);
    printf("timer interrupts: %u, context switches: %u\n", (unsigned)timer_irqs,
           (unsigned)switches);
    return 0;
}
