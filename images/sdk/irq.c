/* irq.c - the interrupt dispatcher, the guest_data page, the IRQ mask and
 * sleeping (hv_irq.h).  The entry stubs are in irq_entry.S (hv target). */
#include <hv_irq.h>

#define HV_IRQ_STUB_SIZE 16    /* irq_entry.S: one 16-byte slot per vector */

/* ---- The handler table. --------------------------------------------------- */

struct irq_slot {
    hv_irq_handler fn;
    hv_irq_switch_handler switch_fn;
};

static struct irq_slot irq_table[HV_VECTOR_COUNT];

long hv_irq_register(uint32_t vector, hv_irq_handler fn)
{
    if (vector >= HV_VECTOR_COUNT)
        return -HV_EINVAL;
    irq_table[vector].switch_fn = NULL;
    irq_table[vector].fn = fn;
    return 0;
}

long hv_irq_register_switch(uint32_t vector, hv_irq_switch_handler fn)
{
    if (vector >= HV_VECTOR_COUNT)
        return -HV_EINVAL;
    irq_table[vector].fn = NULL;
    irq_table[vector].switch_fn = fn;
    return 0;
}

struct hv_irq_frame *hv_irq_dispatch(struct hv_irq_frame *f)
{
    const struct irq_slot *slot = &irq_table[f->vector & 0xffu];

    if (slot->switch_fn)
        return slot->switch_fn(f);
    if (slot->fn) {
        slot->fn(f);
        return f;
    }
    hv_irq_default(f);
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "coprocessor segment overrun", "#TS", "#NP", "#SS", "#GP", "#PF", "reserved",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void hv_irq_default(struct hv_irq_frame *f)
{
    uint32_t v = f->vector & 0xffu;

    printf("hv: unhandled vector %u", (unsigned)v);
    if (v < 32 && exception_names[v])
        printf(" (%s)", exception_names[v]);
    else if (v >= HV_IRQ_BASE && v < HV_IRQ_BASE + HV_IRQ_COUNT)
        printf(" (IRQ %u)", (unsigned)(v - HV_IRQ_BASE));
    printf(" at eip=0x%08x", (unsigned)f->eip);
    if (HV_VEC_HAS_ERROR_CODE(v))
        printf(" error=0x%08x", (unsigned)f->error_code);
#ifndef HV_TARGET_LINUX
    if (v == HV_VEC_PF)
        printf(" cr2=0x%08x", (unsigned)hv_read_cr2());
#endif
    printf("\n");
    hv_exit(3);
}

/* ---- The stubs and the gates. ---------------------------------------------- */

#ifndef HV_TARGET_LINUX
extern char hv_irq_stubs[];
extern char hv_irq_task_return[];

static void task_exit_default(int status)
{
    hv_exit(status);
}

void (*hv_irq_stub(uint32_t vector))(void)
{
    if (vector >= HV_VECTOR_COUNT)
        return NULL;
    return (void (*)(void))(hv_irq_stubs + HV_IRQ_STUB_SIZE * vector);
}
#else
void (*hv_irq_stub(uint32_t vector))(void)
{
    (void)vector;
    return NULL;
}
#endif

long hv_irq_install(uint32_t vector, uint32_t type)
{
    void (*stub)(void) = hv_irq_stub(vector);

    if (vector >= HV_VECTOR_COUNT)
        return -HV_EINVAL;
#ifdef HV_TARGET_LINUX
    (void)stub;
    (void)type;
    return -HV_ENOSYS;
#else
    return hv_set_gate(vector, stub, type);
#endif
}

long hv_irq_attach(uint32_t vector, hv_irq_handler fn)
{
    long r = hv_irq_register(vector, fn);

    return r < 0 ? r : hv_irq_install(vector, HV_GATE_INTERRUPT);
}

long hv_irq_install_exceptions(void)
{
    long first_error = 0;

    for (uint32_t v = 0; v < 32; v++) {
        if (v == HV_HYPERCALL_VECTOR)
            continue;
        long r = hv_irq_install(v, HV_GATE_INTERRUPT);
        if (r < 0 && first_error == 0)
            first_error = r;
    }
    return first_error;
}

/* ---- New contexts. ---------------------------------------------------------- */

struct hv_irq_frame *hv_irq_frame_new(void *stack_top, int (*entry)(void *), void *arg,
                                      void (*exit_fn)(int))
{
#ifdef HV_TARGET_LINUX
    (void)stack_top; (void)entry; (void)arg; (void)exit_fn;
    return NULL;
#else
    /* From the top down: exit_fn, arg (16-byte aligned, as the SysV ABI
     * wants at a call), the return address (the trampoline), the frame. */
    uint32_t *args = (uint32_t *)(((uintptr_t)stack_top & ~(uintptr_t)15) - 16);
    uint32_t *ret = args - 1;
    struct hv_irq_frame *f = (struct hv_irq_frame *)ret - 1;

    args[0] = (uint32_t)(uintptr_t)arg;
    args[1] = (uint32_t)(uintptr_t)(exit_fn ? exit_fn : task_exit_default);
    *ret = (uint32_t)(uintptr_t)hv_irq_task_return;
    memset(f, 0, sizeof(*f));
    f->eip = (uint32_t)(uintptr_t)entry;
    f->cs = HV_KERNEL_CS;
    f->eflags = HV_EFLAGS_IF | HV_EFLAGS_RESERVED;
    f->esp = (uint32_t)(uintptr_t)ret;    /* for show: popal ignores it */
    return f;
#endif
}

/* ---- guest_data and the IRQ mask. ------------------------------------------- */

static union {
    struct hv_guest_data data;
    uint8_t page[4096];
} guest_data_page __attribute__((aligned(4096)));

static bool guest_data_registered;

volatile struct hv_guest_data *hv_guest_data(void)
{
    return &guest_data_page.data;
}

bool hv_guest_data_ready(void)
{
    return guest_data_registered;
}

long hv_guest_data_init(void)
{
    long r;

    if (guest_data_registered)
        return 0;
    r = hv_init(HV_GPA(&guest_data_page));
    if (r == 0)
        guest_data_registered = true;
    return r;
}

long hv_irq_block(uint32_t irq)
{
    long r;

    if (irq >= HV_IRQ_COUNT)
        return -HV_EINVAL;
    r = hv_guest_data_init();
    if (r < 0)
        return r;
    hv_guest_data()->blocked |= 1u << irq;
    return 0;
}

long hv_irq_unblock(uint32_t irq)
{
    long r;

    if (irq >= HV_IRQ_COUNT)
        return -HV_EINVAL;
    r = hv_guest_data_init();
    if (r < 0)
        return r;
    hv_guest_data()->blocked &= ~(1u << irq);
    return hv_send_interrupts();
}

/* ---- Sleeping. ----------------------------------------------------------------- */

static void sleep_tick(struct hv_irq_frame *f)
{
    (void)f;    /* waking up is all it is for */
}

long hv_sleep_ns(uint64_t ns)
{
    const uint32_t timer = HV_IRQ_VECTOR(HV_IRQ_TIMER);
    uint32_t flags;
    uint64_t deadline;
    long r = 0;

#ifdef HV_TARGET_LINUX
    (void)timer; (void)flags; (void)deadline; (void)ns; (void)sleep_tick;
    return -HV_ENOSYS;
#endif
    if (!irq_table[timer].fn && !irq_table[timer].switch_fn) {
        hv_irq_register(timer, sleep_tick);
        r = hv_irq_install(timer, HV_GATE_INTERRUPT);
        if (r < 0) {
            hv_irq_register(timer, NULL);
            return r;
        }
    }
    /* IF stays clear between arming and HALT, so the timer cannot fire
     * before the guest sleeps; HALT sets IF itself. */
    flags = hv_irq_save();
    deadline = hv_clock() + ns;
    for (;;) {
        uint64_t now = hv_clock();
        uint64_t left;

        if (now >= deadline)
            break;
        left = deadline - now;
        r = hv_set_clockevent(left > HV_TIMER_MAX_NS ? HV_TIMER_MAX_NS : (uint32_t)left);
        if (r < 0)
            break;
        r = hv_halt();    /* returns after the handler, with IF set */
        hv_irq_disable();
        if (r < 0)
            break;
    }
    if (r >= 0)
        r = 0;
    hv_timer_cancel();
    hv_irq_restore(flags);
    return r;
}
