/*
 * hv_irq.h - interrupts, exceptions and the timer for hv guests (Guest ABI
 * v1, "the full host").
 *
 *     #include <hv_irq.h>
 *
 *     static volatile unsigned ticks;
 *
 *     static void on_timer(struct hv_irq_frame *f)
 *     {
 *         (void)f;
 *         ticks++;
 *     }
 *
 *     int main(void)
 *     {
 *         hv_irq_register(HV_IRQ_VECTOR(HV_IRQ_TIMER), on_timer);
 *         hv_irq_install(HV_IRQ_VECTOR(HV_IRQ_TIMER), HV_GATE_INTERRUPT);
 *         hv_timer_oneshot(1000000);      // IRQ 0 in 1 ms
 *         hv_halt();                      // sleeps until it arrives
 *         printf("ticks: %u\n", ticks);   // 1
 *         return 0;
 *     }
 *
 * What is here:
 *   - gate descriptors: hv_gate_lo/hi, hv_set_gate, hv_clear_gate;
 *   - the SDK's entry stubs (irq_entry.S): one per vector, each saving the
 *     general registers into a struct hv_irq_frame and calling the handler
 *     registered for the vector (hv_irq_register), or a handler that may
 *     switch to another saved frame (hv_irq_register_switch: a scheduler);
 *   - the guest_data page (struct hv_guest_data; INIT) and the IRQ mask in it
 *     (hv_irq_block / hv_irq_unblock);
 *   - the interrupt flag: hv_irq_enable/disable/save/restore;
 *   - the one-shot timer and sleeping: hv_timer_oneshot, hv_sleep_ns.
 *
 * The static inline parts cost nothing until used.  The rest lives in the
 * SDK archive (irq.c, irq_entry.S) and is linked only into guests that call
 * it.
 *
 * On the Linux target (-DHV_TARGET_LINUX) everything compiles: the hypercall
 * based calls return -HV_ENOSYS (no gate is ever installed, no interrupt
 * ever arrives), the interrupt-flag helpers do nothing, and hv_read_cr2()
 * and hv_read_cr3() return 0.
 */
#ifndef HV_IRQ_H
#define HV_IRQ_H

#include <hv_guest.h>

/* ---- Vectors. ------------------------------------------------------------ */

/* CPU exceptions (vectors 0..31). */
#define HV_VEC_DE    0      /* divide error */
#define HV_VEC_DB    1      /* debug */
#define HV_VEC_NMI   2
#define HV_VEC_BP    3      /* int3 */
#define HV_VEC_OF    4      /* into */
#define HV_VEC_BR    5      /* bound */
#define HV_VEC_UD    6      /* invalid opcode */
#define HV_VEC_NM    7      /* device not available */
#define HV_VEC_DF    8      /* double fault (error code 0) */
#define HV_VEC_TS    10     /* invalid TSS (error code) */
#define HV_VEC_NP    11     /* segment not present (error code) */
#define HV_VEC_SS    12     /* stack fault (error code) */
#define HV_VEC_GP    13     /* general protection (error code) */
#define HV_VEC_PF    14     /* page fault (error code; address in CR2) */
#define HV_VEC_MF    16     /* x87 error */
#define HV_VEC_AC    17     /* alignment check (error code) */

/* The vectors for which the CPU pushes an error code.  The entry stubs of
 * exactly these vectors expect one on the stack; every other stub pushes a
 * 0 in its place, so struct hv_irq_frame has the same layout for all. */
#define HV_VEC_HAS_ERROR_CODE(v) \
    ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17)

/* IRQ n (0..31) is delivered to vector 32 + n.  IRQ 0 is the timer. */
#define HV_IRQ_BASE          32
#define HV_IRQ_COUNT         32
#define HV_IRQ_VECTOR(n)     (HV_IRQ_BASE + (n))
#define HV_IRQ_TIMER         0

#define HV_VECTOR_COUNT      256

/* ---- Gate descriptors (LOAD_IDT_ENTRY). ---------------------------------- */

#define HV_GATE_INTERRUPT    0xE    /* 32-bit interrupt gate: clears IF on entry */
#define HV_GATE_TRAP         0xF    /* 32-bit trap gate: leaves IF as it was */
#define HV_KERNEL_CS         0x08   /* the flat code segment every gate uses */

#define HV_EFLAGS_IF         0x200u
#define HV_EFLAGS_RESERVED   0x2u   /* bit 1 always reads as 1 */

/* The low word of a gate: selector << 16 | offset & 0xffff. */
static inline uint32_t hv_gate_lo(uint32_t selector, uint32_t offset)
{
    return (selector & 0xffffu) << 16 | (offset & 0xffffu);
}

/* The high word of a present gate: offset & 0xffff0000 | P << 15 |
 * DPL << 13 | type << 8. */
static inline uint32_t hv_gate_hi(uint32_t offset, uint32_t type, uint32_t dpl)
{
    return (offset & 0xffff0000u) | 1u << 15 | (dpl & 3u) << 13 | (type & 0x1fu) << 8;
}

/* Point `vector` straight at `handler` (no SDK stub: the handler itself
 * must save what it uses and end with iret).  type is HV_GATE_INTERRUPT or
 * HV_GATE_TRAP.  Returns 0, or -HV_EINVAL for vector 0x1f, a vector above
 * 255 or another type. */
static inline long hv_set_gate(uint32_t vector, void (*handler)(void), uint32_t type)
{
    uint32_t offset = (uint32_t)(uintptr_t)handler;

    return hv_load_idt_entry(vector, hv_gate_lo(HV_KERNEL_CS, offset),
                             hv_gate_hi(offset, type, 0));
}

/* Remove the gate of `vector` (P = 0): the vector is unhandled again. */
static inline long hv_clear_gate(uint32_t vector)
{
    return hv_load_idt_entry(vector, 0, 0);
}

/* ---- The interrupt flag (EFLAGS.IF). ------------------------------------- */

#ifndef HV_TARGET_LINUX

/* sti: interrupts are delivered from the instruction after the next one on
 * (the interrupt shadow), as on a PC. */
static inline void hv_irq_enable(void)
{
    __asm__ volatile("sti" ::: "memory");
}

/* cli: interrupts stay pending until IF is set again. */
static inline void hv_irq_disable(void)
{
    __asm__ volatile("cli" ::: "memory");
}

/* The current EFLAGS. */
static inline uint32_t hv_eflags(void)
{
    uint32_t flags;

    __asm__ volatile("pushfl\n\tpopl %0" : "=r"(flags) : : "memory");
    return flags;
}

/* Disable interrupts and return the previous EFLAGS, for hv_irq_restore. */
static inline uint32_t hv_irq_save(void)
{
    uint32_t flags;

    __asm__ volatile("pushfl\n\tpopl %0\n\tcli" : "=r"(flags) : : "memory");
    return flags;
}

/* Put IF back as hv_irq_save found it. */
static inline void hv_irq_restore(uint32_t flags)
{
    if (flags & HV_EFLAGS_IF)
        __asm__ volatile("sti" ::: "memory");
}

/* The faulting address of the last #PF (mov %cr2).  guest_data.cr2 has the
 * same value once hv_guest_data_init() has registered the page. */
static inline uint32_t hv_read_cr2(void)
{
    uint32_t cr2;

    __asm__ volatile("movl %%cr2, %0" : "=r"(cr2));
    return cr2;
}

/* mov %cr3: the physical address of the page directory in use. */
static inline uint32_t hv_read_cr3(void)
{
    uint32_t cr3;

    __asm__ volatile("movl %%cr3, %0" : "=r"(cr3));
    return cr3;
}

#else /* HV_TARGET_LINUX: no interrupt ever arrives, so there is nothing to mask. */

static inline void hv_irq_enable(void) {}
static inline void hv_irq_disable(void) {}
static inline uint32_t hv_eflags(void)
{
    uint32_t flags;

    __asm__ volatile("pushfl\n\tpopl %0" : "=r"(flags) : : "memory");
    return flags;
}
static inline uint32_t hv_irq_save(void) { return hv_eflags(); }
static inline void hv_irq_restore(uint32_t flags) { (void)flags; }

/* No page fault, no paging: both read as 0. */
static inline uint32_t hv_read_cr2(void) { return 0; }
static inline uint32_t hv_read_cr3(void) { return 0; }

#endif /* HV_TARGET_LINUX */

/* True when EFLAGS.IF is set (always false on the Linux target's view: the
 * flag is the process's, and interrupts never come). */
static inline bool hv_irq_enabled(void)
{
#ifdef HV_TARGET_LINUX
    return false;
#else
    return (hv_eflags() & HV_EFLAGS_IF) != 0;
#endif
}

/* ---- The entry stubs and the dispatcher (irq.c, irq_entry.S). ------------ */

/*
 * What an SDK entry stub saves, lowest address first: the registers in
 * pushal order, the vector, the error code (0 where the CPU pushes none),
 * then the frame the host pushed for the delivery (EIP, CS, EFLAGS).
 *
 * A handler may change any field and the stub restores what it finds: eax
 * to return a value, eip to resume elsewhere, eflags to change IF on iret.
 * `esp` is pushal's copy and is ignored on restore; the stack pointer of
 * the interrupted code is hv_irq_frame_sp(f) (delivery is at ring 0 on the
 * current stack, so no SS:ESP is pushed).
 *
 * Software `int n` never pushes an error code, so `int $8`, `int $10` ...
 * `int $14` and `int $17` through an SDK stub would take EIP for the error
 * code and return to garbage.  Don't raise those vectors with `int`.
 */
struct hv_irq_frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;    /* pushal */
    uint32_t vector;
    uint32_t error_code;
    uint32_t eip, cs, eflags;                            /* pushed by the host */
};

_Static_assert(sizeof(struct hv_irq_frame) == 52, "hv_irq_frame is 13 words");
_Static_assert(offsetof(struct hv_irq_frame, vector) == 32, "hv_irq_frame.vector");
_Static_assert(offsetof(struct hv_irq_frame, eip) == 40, "hv_irq_frame.eip");

/* The interrupted code's stack pointer: just above the host's frame. */
static inline uint32_t hv_irq_frame_sp(const struct hv_irq_frame *f)
{
    return (uint32_t)(uintptr_t)(&f->eflags + 1);
}

/* A handler for one vector.  It runs with IF clear behind an interrupt gate,
 * as it was behind a trap gate. */
typedef void (*hv_irq_handler)(struct hv_irq_frame *f);

/* A handler that may switch context: it returns the frame to resume, f
 * itself or a frame saved earlier (another task's; or one made with
 * hv_irq_frame_new).  The stub restores the registers from that frame and
 * irets through it, on that frame's stack. */
typedef struct hv_irq_frame *(*hv_irq_switch_handler)(struct hv_irq_frame *f);

/* Register fn for vector 0..255 (NULL: back to the default).  Registering
 * does not install a gate; hv_irq_install does.  Returns 0 or -HV_EINVAL. */
long hv_irq_register(uint32_t vector, hv_irq_handler fn);
long hv_irq_register_switch(uint32_t vector, hv_irq_switch_handler fn);

/* Install the SDK stub of `vector` as its gate (LOAD_IDT_ENTRY).  type is
 * HV_GATE_INTERRUPT or HV_GATE_TRAP.  Returns 0 or the host's error
 * (-HV_EINVAL for 0x1f, a vector above 255 or a bad type). */
long hv_irq_install(uint32_t vector, uint32_t type);

/* hv_irq_register + hv_irq_install(vector, HV_GATE_INTERRUPT). */
long hv_irq_attach(uint32_t vector, hv_irq_handler fn);

/* Install the stubs for the CPU exceptions 0..31 (interrupt gates), so a
 * fault reaches its handler, or the default one, which prints it. */
long hv_irq_install_exceptions(void);

/* The address of the stub for `vector` (hv target), for a hand-made gate. */
void (*hv_irq_stub(uint32_t vector))(void);

/* What a stub calls (irq.c).  Returns the frame to resume. */
struct hv_irq_frame *hv_irq_dispatch(struct hv_irq_frame *f);

/* The handler of an unregistered vector: prints
 *     hv: unhandled vector 14 at eip=0x00100a3c error=0x00000002 cr2=0x01000000
 * (error for vectors with an error code, cr2 for #PF) and exits with status
 * 3.  Handlers may call it for what they don't handle. */
__attribute__((noreturn)) void hv_irq_default(struct hv_irq_frame *f);

/*
 * A fresh frame for a new context (a task): resuming it starts
 * entry(arg) on the stack that ends at stack_top, with interrupts enabled.
 * If entry returns, exit_fn(its return value) is called (exit_fn must not
 * return; NULL: hv_exit).  The frame sits at the top of that stack; return
 * it from a switch handler to start the task.
 */
struct hv_irq_frame *hv_irq_frame_new(void *stack_top, int (*entry)(void *), void *arg,
                                      void (*exit_fn)(int));

/* ---- guest_data (INIT). --------------------------------------------------- */

/* The shared page registered with INIT (little-endian, guest-physical). */
struct hv_guest_data {
    uint32_t pending;    /* host: bit n = IRQ n raised and not yet delivered */
    uint32_t blocked;    /* guest: bit n = do not deliver IRQ n */
    uint32_t cr2;        /* host: the address of the last #PF */
    uint32_t reserved;   /* 0 */
    uint64_t time_ns;    /* host: the clock at the last delivery or HALT return */
};

_Static_assert(offsetof(struct hv_guest_data, pending) == 0, "guest_data.pending");
_Static_assert(offsetof(struct hv_guest_data, blocked) == 4, "guest_data.blocked");
_Static_assert(offsetof(struct hv_guest_data, cr2) == 8, "guest_data.cr2");
_Static_assert(offsetof(struct hv_guest_data, reserved) == 12, "guest_data.reserved");
_Static_assert(offsetof(struct hv_guest_data, time_ns) == 16, "guest_data.time_ns");
_Static_assert(sizeof(struct hv_guest_data) == 24, "guest_data is 24 bytes");

/* The SDK's guest_data page (a page-aligned 4 KiB page in .bss).  It stays
 * unregistered until hv_guest_data_init(); until then the host ignores it. */
volatile struct hv_guest_data *hv_guest_data(void);

/* Register the page with INIT (once; later calls return 0 at once).  With
 * paging on, the page must be identity-mapped: INIT takes its physical
 * address.  Returns 0 or the host's error. */
long hv_guest_data_init(void);

/* True once hv_guest_data_init() has registered the page. */
bool hv_guest_data_ready(void);

/* Block or unblock IRQ n (0..31) by its bit in guest_data.blocked
 * (registering the page first if needed).  Unblocking makes the
 * SEND_INTERRUPTS hypercall, so an IRQ that was held back is delivered at
 * once if IF is set.  Returns 0 or a negative error. */
long hv_irq_block(uint32_t irq);
long hv_irq_unblock(uint32_t irq);

/* guest_data.pending: the IRQs raised and not yet delivered (0 before INIT). */
static inline uint32_t hv_irq_pending(void)
{
    return hv_guest_data()->pending;
}

/* ---- The timer and sleeping. ---------------------------------------------- */

/* The longest one-shot: SET_CLOCKEVENT takes a u32 of nanoseconds. */
#define HV_TIMER_MAX_NS      0xffffffffu
#define HV_NS_PER_SEC        1000000000u

/* Arm the one-shot timer: IRQ 0 becomes pending ns nanoseconds from now
 * (under the virtual clock: after exactly ns more instructions, unless the
 * guest halts).  Re-arming replaces the old deadline; ns = 0 cancels, as in
 * the ABI.  Returns 0 (-HV_ENOSYS on the Linux target). */
static inline long hv_timer_oneshot(uint32_t ns)
{
    return hv_set_clockevent(ns);
}

/* Disarm the timer. */
static inline long hv_timer_cancel(void)
{
    return hv_set_clockevent(0);
}

/*
 * HALT until ns nanoseconds have passed on hv_clock(), in one-shots of at
 * most HV_TIMER_MAX_NS.  If vector 32 (IRQ 0) has no handler yet, it
 * registers a silent one and installs the stub.  The timer is left disarmed
 * and IF as it was.  Other IRQs that wake the guest are delivered as usual;
 * the sleep goes on until its deadline.  Returns 0 (-HV_ENOSYS on Linux).
 */
long hv_sleep_ns(uint64_t ns);

#endif /* HV_IRQ_H */
