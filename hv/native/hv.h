/*
 * hv.h: the internal contracts of the hv host.
 *
 * The host core (host*.c) owns guest memory, the run loop, hypercalls and kill
 * reasons.  A switcher (switcher_*.c) only moves the CPU into the guest and back:
 * it runs until the guest traps and reports the trap in a struct hv_trap.  Every
 * guest-visible behaviour is defined once, in the host; the switchers never
 * decide what a trap means.
 *
 * No file here except module.c includes Python.h.  The host talks to its
 * embedder (the Python binding) through struct hv_launcher callbacks.
 */
#ifndef HV_H
#define HV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_PAGE_SIZE 4096u
#define HV_IMAGE_BASE 0x100000u          /* ABI v1: nothing loads below 1 MiB */
#define HV_MEM_MIN (2u << 20)
#define HV_MEM_MAX (3u << 30)
#define HV_REASON_MAX 256
#define HV_EVENTS_MAX 64                /* IRQs devices may have scheduled at once */

#define HV_LIKELY(x) __builtin_expect(!!(x), 1)
#define HV_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* General registers in hardware encoding order. */
enum hv_reg { HV_EAX, HV_ECX, HV_EDX, HV_EBX, HV_ESP, HV_EBP, HV_ESI, HV_EDI };

/* EFLAGS bits (Intel SDM vol. 1, 3.4.3). */
enum {
    HV_CF = 1u << 0, HV_PF = 1u << 2, HV_AF = 1u << 4, HV_ZF = 1u << 6,
    HV_SF = 1u << 7, HV_TF = 1u << 8, HV_IF = 1u << 9, HV_DF = 1u << 10,
    HV_OF = 1u << 11, HV_IOPL = 3u << 12, HV_NT = 1u << 14, HV_AC = 1u << 18,
    HV_ID = 1u << 21,
};
#define HV_FLAGS_FIXED 0x2u               /* bit 1 always reads as one */

/* The guest's register file as the host sees it. */
struct hv_regs {
    uint32_t gpr[8];
    uint32_t eip;
    uint32_t eflags;
};

/* Control register bits (Intel SDM vol. 3, 2.5). */
enum {
    HV_CR0_PE = 1u << 0, HV_CR0_MP = 1u << 1, HV_CR0_EM = 1u << 2, HV_CR0_TS = 1u << 3,
    HV_CR0_ET = 1u << 4, HV_CR0_NE = 1u << 5, HV_CR0_WP = 1u << 16, HV_CR0_AM = 1u << 18,
    HV_CR0_NW = 1u << 29, HV_CR0_CD = 1u << 30, HV_CR0_PG = 1u << 31,
};
enum {
    HV_CR4_PSE = 1u << 4, HV_CR4_PAE = 1u << 5, HV_CR4_PGE = 1u << 7, HV_CR4_OSFXSR = 1u << 9,
    HV_CR4_OSXMMEXCPT = 1u << 10,
};

/* Segment registers in hardware encoding order. */
enum hv_sreg { HV_ES, HV_CS, HV_SS, HV_DS, HV_FS, HV_GS, HV_NSREG };

/* A segment register with its cached descriptor: attr holds bits 8..23 of
 * the descriptor's high word (type, S, DPL, P, AVL, D/B, G). */
struct hv_segment {
    uint16_t sel;
    uint16_t attr;
    uint32_t base;
    uint32_t limit;         /* in bytes, granularity already applied */
};

struct hv_dtable {
    uint32_t base;
    uint16_t limit;
};

/* The system registers: what a trap delivery, the page walker and the
 * debugger need beyond the general registers. */
struct hv_sregs {
    uint32_t cr0, cr2, cr3, cr4;
    struct hv_segment seg[HV_NSREG];
    struct hv_segment tr, ldt;
    struct hv_dtable gdt, idt;
    uint8_t cpl;
    /* The last instruction was an sti that set IF: an interrupt must wait
     * for one more instruction (SDM vol. 2, STI). */
    bool interrupt_shadow;
};

/* Why a switcher came back to the host. */
enum hv_trap_kind {
    HV_TRAP_NONE,
    HV_TRAP_BUDGET,     /* ran the instructions it was given; nothing happened */
    HV_TRAP_FAULT,      /* CPU exception: vector, error code, cr2; eip = faulting insn */
    HV_TRAP_SOFTINT,    /* int n / int3 / into completed: vector; next_eip = return address */
    HV_TRAP_OUT,        /* out completed: port, size, value */
    HV_TRAP_IN,         /* in completed: host stores the value with set_regs */
    HV_TRAP_HLT,        /* hlt completed */
    HV_TRAP_IRQ_WINDOW, /* sti, popf or iret set IF while the host waits for it */
    HV_TRAP_STOP,       /* the host stopped the guest during the run (a kill) */
    HV_TRAP_UNSUPPORTED,/* something the switcher cannot do yet: `what` says it */
    HV_TRAP_BREAK,      /* the next instruction (eip, not run) is a debugger breakpoint */
    HV_TRAP_FERR,       /* a waiting x87 instruction met a pending unmasked exception
                         * with CR0.NE clear (eip = it, not retired): FERR# */
};

/* Exception vectors we raise (Intel SDM vol. 3, 6.3.1). */
enum {
    HV_VEC_DE = 0, HV_VEC_DB = 1, HV_VEC_BP = 3, HV_VEC_OF = 4, HV_VEC_UD = 6,
    HV_VEC_NM = 7, HV_VEC_DF = 8, HV_VEC_TS = 10, HV_VEC_NP = 11, HV_VEC_SS = 12,
    HV_VEC_GP = 13, HV_VEC_PF = 14, HV_VEC_MF = 16, HV_VEC_AC = 17, HV_VEC_XM = 19, HV_VEC_HYPERCALL = 0x1f,
    HV_VEC_IRQ0 = 32,
};

/* #PF error code bits (SDM vol. 3, 4.7). */
enum { HV_PF_PROT = 1u << 0, HV_PF_WRITE = 1u << 1, HV_PF_USER = 1u << 2 };

struct hv_trap {
    enum hv_trap_kind kind;
    uint32_t vector;
    uint32_t error_code;
    uint32_t cr2;           /* faulting address for #PF */
    uint32_t eip;           /* address of the instruction that trapped */
    uint32_t next_eip;      /* address after it */
    uint16_t port;
    uint8_t size;           /* I/O size in bytes */
    uint8_t nbytes;         /* instruction bytes captured for #UD */
    uint32_t value;         /* I/O value written by out */
    uint8_t bytes[16];
    char what[96];          /* HV_TRAP_UNSUPPORTED: what, for the kill reason */
};

/* ---- segment descriptors (SDM vol. 3, 3.4.5), shared by host and switchers ---- */
enum {
    HV_DESC_ACCESSED = 1u << 8, HV_DESC_RW = 1u << 9, HV_DESC_CONFORMING = 1u << 10,
    HV_DESC_CODE = 1u << 11, HV_DESC_S = 1u << 12, HV_DESC_P = 1u << 15, HV_DESC_DB = 1u << 22,
    HV_DESC_G = 1u << 23,
};

static inline uint32_t hv_desc_base(uint32_t lo, uint32_t hi)
{
    return (hi & 0xff000000u) | ((hi & 0xffu) << 16) | (lo >> 16);
}

static inline uint32_t hv_desc_limit(uint32_t lo, uint32_t hi)
{
    uint32_t limit = (lo & 0xffffu) | (hi & 0xf0000u);
    return (hi & HV_DESC_G) ? (limit << 12) | 0xfffu : limit;
}

static inline unsigned hv_desc_dpl(uint32_t hi)
{
    return (hi >> 13) & 3;
}

/* Base 0 and a 4 GiB limit: the only segments the switchers honour yet. */
/* The attr of struct hv_segment for a descriptor's high word. */
static inline uint16_t hv_desc_attr(uint32_t hi)
{
    return (uint16_t)((hi >> 8) & 0xf0ffu);
}

struct hv_guest;

/*
 * A switcher: one engine that can run the guest.  The host calls these and
 * nothing else.
 */
struct hv_switcher_ops {
    const char *name;
    /* Create the engine's state for guest g; return NULL and kill nothing on failure. */
    void *(*create)(struct hv_guest *g);
    void (*destroy)(void *sw);
    /* Run until a trap, or until `budget` instructions have retired. */
    void (*run)(void *sw, uint64_t budget, struct hv_trap *trap);
    void (*get_regs)(void *sw, struct hv_regs *r);
    void (*set_regs)(void *sw, const struct hv_regs *r);
    /* Instructions retired so far (exact). */
    uint64_t (*instructions)(void *sw);
    /* System registers.  set_sregs drops whatever the engine cached that a
     * change of CR0, CR3 or CR4 makes stale (translations, decoded code). */
    void (*get_sregs)(void *sw, struct hv_sregs *s);
    void (*set_sregs)(void *sw, const struct hv_sregs *s);
    /* Forget cached translations: of the page holding vaddr, or all of them. */
    void (*flush_tlb)(void *sw, uint32_t vaddr, bool all);
    /* The host wrote guest-physical [pa, pa+len): drop code decoded from it. */
    void (*mem_written)(void *sw, uint32_t pa, uint32_t len);
    /* Ask to come back (HV_TRAP_IRQ_WINDOW) as soon as the guest sets IF. */
    void (*irq_window)(void *sw, bool want);
    /* The debugger's breakpoints: the guest stops (HV_TRAP_BREAK) before
     * running an instruction at any of these n EIPs, except the first
     * instruction of a run that resumes from such a stop, and the one
     * instruction of a debugger's step (g->debug_step).  n == 0 costs
     * nothing; a change drops decoded code. */
    void (*set_breakpoints)(void *sw, const uint32_t *eips, size_t n);
    /* The debugger's view of the x87 and SSE state (between runs): a 32-bit
     * FNSAVE image, XMM0..7 and MXCSR. */
    void (*get_fpu)(void *sw, uint8_t fnsave[108], uint8_t xmm[128], uint32_t *mxcsr);
    /* ... and the debugger's writes to it (MXCSR's reserved bits are dropped). */
    void (*set_fpu)(void *sw, const uint8_t fnsave[108], const uint8_t xmm[128], uint32_t mxcsr);
    /* Start counting, per decoded block, how often guest code runs (drops
     * decoded code once); nonzero if out of memory.  Never turned off: a
     * machine without it pays nothing. */
    int (*coverage_on)(void *sw);
    /* Read or access watchpoints exist (on) or not: while on, the switcher
     * calls hv_watch_access for every data access the guest makes to a page
     * hv_watch_page names.  Off costs nothing; a change drops cached
     * translations and decoded code. */
    void (*watch_accesses)(void *sw, bool on);
    /* Call fn once per EIP range [start, end) that counting saw: count is
     * how many times a block [start, end) was entered, less how many times
     * a block ending at `end` was left before `start` (so it may be
     * negative).  An instruction ran as many times as the counts of the
     * ranges that hold it add up to. */
    void (*coverage_read)(void *sw, void (*fn)(void *ctx, uint32_t start, uint32_t end,
                                                int64_t count), void *ctx);
    /* Call fn once per conditional jump (Jcc) at the end of a counted
     * block: its EIP, and how often it jumped and fell through.  Several
     * calls may name one EIP (blocks that end at the same Jcc): add them. */
    void (*coverage_branches)(void *sw, void (*fn)(void *ctx, uint32_t eip, uint64_t taken,
                                                    uint64_t not_taken), void *ctx);
    /* Snapshots (host_snapshot.c), between runs: the size of the engine's
     * state, a copy of it into state_size() bytes, and putting such a copy
     * back.  The state is all the guest can see: registers, system
     * registers and descriptor caches, lazy flags, x87, MMX and SSE, the
     * instruction count, the interrupt shadow.  It holds no pointers, so
     * it may go to another engine of the same kind.  restore drops every
     * cached translation and decoded block; the debugger's breakpoints and
     * coverage counts are not part of the state and stay as they are. */
    size_t (*state_size)(void *sw);
    void (*save)(void *sw, void *state);
    void (*restore)(void *sw, const void *state);
};

extern const struct hv_switcher_ops hv_switcher_emu;     /* switcher_emu*.c */
#if defined(__x86_64__)
#define HV_HAVE_BT 1
extern const struct hv_switcher_ops hv_switcher_bt;      /* switcher_bt*.c */
#endif

/* The switchers this build has (host_switchers.c), the emu first, then a
 * NULL; and one of them by name (NULL if there is none). */
extern const struct hv_switcher_ops *const hv_switchers[];
const struct hv_switcher_ops *hv_switcher_find(const char *name);

/*
 * What the embedder gives the host.  All callbacks may be NULL.  They are
 * called from the thread that runs the guest, without the GIL.
 */
struct hv_launcher {
    void *ctx;
    int console_fd;                             /* -1: don't stream to an fd */
    /* Stream console bytes out; return nonzero if that failed for good. */
    int (*console)(void *ctx, const uint8_t *buf, size_t len);
    /* Return nonzero if a signal asks the run to stop (Ctrl-C). */
    int (*check_signals)(void *ctx);
    /* NOTIFY for device `index` (< ndevices) with the request at guest-physical
     * `req`: store the device's answer in *result, or kill the guest. */
    size_t ndevices;
    void (*notify)(void *ctx, struct hv_guest *g, uint32_t index, uint32_t req,
                   uint32_t *result);
};

/* Where the guest's clock comes from. */
enum hv_clock {
    HV_CLOCK_VIRTUAL,   /* instructions retired + time skipped in halt: deterministic */
    HV_CLOCK_HOST,      /* CLOCK_MONOTONIC since the boot; halt really sleeps */
};

/* What a debugger's watchpoint watches: bits of HV_WATCH_READ|HV_WATCH_WRITE. */
enum hv_watch_kind { HV_WATCH_WRITE = 1, HV_WATCH_READ = 2, HV_WATCH_ACCESS = 3 };

/* COM1's registers (dev_uart16550.c); its input is in struct hv_live. */
struct hv_uart {
    uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
    bool thre_pending, irq_level;
};

/* The bytes COM1 receives: the embedder's, kept alive for the run; `pos`
 * of them were read. */
struct hv_serial_in {
    const uint8_t *buf;
    size_t len, pos;
};

/* One 8259A (dev_pic8259.c). */
struct hv_pic {
    uint8_t irr, imr, isr, base;
    uint8_t init_step;      /* 2, 3, 4: the ICW expected next on the data port; 0: none */
    bool need_icw4, single, auto_eoi, read_isr;
    uint8_t lowest;         /* the line of lowest priority (7 until rotated) */
    bool rotate_aeoi, special_mask, poll;
};

/* Channel 0 of the 8254 (dev_pit8254.c). */
struct hv_pit {
    uint32_t reload;        /* the count loaded; 0 means 65536 */
    uint8_t mode, access;   /* access: 1 LSB, 2 MSB, 3 LSB then MSB */
    bool write_msb, read_msb, latched, counting, armed;
    uint16_t latch;
    uint64_t start_ns, next_ns, fired;
};

/* One IDT gate installed with LOAD_IDT_ENTRY. */
struct hv_gate {
    uint32_t offset;
    uint16_t sel;
    uint8_t type;           /* 0xE interrupt gate, 0xF trap gate */
    uint8_t dpl;
    bool present;
};

/* How a run ended. */
enum hv_stop {
    HV_RUNNING,
    HV_STOP_EXIT,       /* guest exited with `status` */
    HV_STOP_KILLED,     /* killed with `reason` */
    HV_STOP_RESTART,    /* guest asked to be booted again from scratch */
    HV_STOP_SIGNAL,     /* the embedder saw a signal */
    HV_STOP_DEBUG,      /* paused for the debugger (debug_reason): the run may go on */
};

/*
 * The whole machine state, except guest RAM and the switcher's, lives in
 * struct hv_guest and is saved by value (host_snapshot.c).  What a restore
 * leaves as it is sits apart in struct hv_live, the first member: where this
 * guest's memory and engine are, the current run's limits and settings,
 * where its output goes, and the debugger's.  A snapshot is everything after
 * it, and a restore copies that back and never touches the live part.  A new
 * field that is a pointer, or that belongs to one run or to the debugger
 * rather than to the machine, goes in struct hv_live.
 */
struct hv_live {
    uint8_t *ram;
    uint32_t ram_size;

    const struct hv_switcher_ops *sw_ops;
    void *sw;

    /* Limits of the current run. */
    uint64_t max_instructions;      /* 0 = none */
    double deadline;                /* monotonic seconds; 0 = none */
    double last_poll;

    /* The console's buffer (what it holds, console_len, is the machine's). */
    uint8_t *console;
    size_t console_cap;

    const struct hv_launcher *launcher;

    /* The debugger (hv/gdbstub.py): stop after one instruction, or when
     * debug_interrupt is set (from any thread); why the run paused. */
    bool debug_step;
    int debug_interrupt;            /* read and written with __atomic builtins */
    enum hv_debug_reason { HV_DEBUG_NONE, HV_DEBUG_STEP, HV_DEBUG_BREAK,
                           HV_DEBUG_INTERRUPT, HV_DEBUG_WATCH, HV_DEBUG_STOP_AT } debug_reason;
    uint64_t debug_stop_at;         /* nonzero: pause once this many instructions retired */
    /* Watchpoints (hv_set_watchpoints): while there are any, the guest runs
     * one instruction at a time.  After each, the bytes under a write
     * watchpoint are compared; a read or access watchpoint is hit when the
     * switcher reports an access to it (hv_watch_access) by an instruction
     * that retired.  watch_hit is the address of the one that stopped the
     * guest, watch_hit_kind its kind. */
    struct hv_watch { uint32_t addr, len; enum hv_watch_kind kind; uint8_t *old; } *watch;
    uint32_t nwatch, watch_hit;
    enum hv_watch_kind watch_hit_kind;
    bool watch_accesses;            /* some are read or access watchpoints */

    /* How the run was set up. */
    enum hv_clock clock;
    bool qemu_exit;                 /* port 0xF4: QEMU's status (v << 1) | 1 */
    int serial_fd, debugcon_fd;     /* where COM1 / port 0xE9 output goes; -1: the console */
    struct hv_serial_in serial_in;  /* what COM1 receives (dev_uart16550.c) */

    /* The test results' array (nresults of them are the machine's). */
    struct hv_test_result *results;
    size_t results_cap;

    /* The RAM of the last snapshot taken or restored: the next snapshot
     * shares the pages that still hold the same bytes (host_snapshot.c). */
    struct hv_ram_image *ram_image;
};

struct hv_guest {
    struct hv_live live;            /* first: see struct hv_live */

    enum hv_stop stop;
    int status;
    char reason[HV_REASON_MAX];

    /* Console: everything is captured; `streamed` bytes went out already. */
    size_t console_len, streamed;
    bool console_truncated;

    /* Hypercall waiting to be serviced by the run loop. */
    bool hcall_pending;
    uint32_t hcall_eip;             /* address of its int $0x1f */
    uint32_t guest_data;            /* gpa registered by INIT */
    bool has_guest_data;

    /* Interrupts and traps (host_irq.c). */
    struct hv_gate idt[256];
    uint32_t irq_pending;           /* bit n: IRQ n raised, not yet delivered */
    bool irq_recheck;               /* something changed: look for a delivery */
    bool irq_window;                /* the switcher comes back when IF is set */
    bool step_one;                  /* run one instruction (an sti shadow) first */
    /* A watchpoint the instruction now running touched (see live.watch). */
    bool watch_touched;
    uint32_t watch_touched_addr;
    enum hv_watch_kind watch_touched_kind;
    uint64_t watch_icount;          /* instructions retired before it */

    /* The clock, the timer and halt (host_clock.c). */
    uint64_t skipped_ns;            /* virtual clock: time jumped over in halt */
    double boot_time;               /* host clock: CLOCK_MONOTONIC at boot */
    bool timer_armed;
    uint64_t timer_deadline;        /* guest-clock ns */
    /* IRQs devices scheduled for later (bus.raise_irq(n, delay)), in the
     * order they were asked for. */
    struct hv_irq_event { uint64_t at; uint32_t irq; } events[HV_EVENTS_MAX];
    uint32_t nevents;
    bool halted;
    uint32_t halt_eip;              /* the hlt or int $0x1f that halted */

    /* Port devices (dev_*.c). */
    struct hv_uart uart;
    struct hv_pic pic[2];           /* master, slave */
    bool pic_active;                /* the guest initialised the PIC: IRQs 0-15 go there */
    uint8_t ferr;                   /* HV_FERR_*: the x87 error line (dev_ferr.c) */
    struct hv_pit pit;
    uint8_t cmos[128], cmos_index;  /* dev_rtc.c */
    bool cmos_ready;

    /* Test results reported with TEST_RESULT, in order (in live.results). */
    size_t nresults;
};

/* One TEST_RESULT report; strings are host copies (NULL when absent). */
enum hv_outcome { HV_TEST_PASS = 0, HV_TEST_FAIL = 1, HV_TEST_SKIP = 2 };
struct hv_test_result {
    enum hv_outcome outcome;
    uint32_t line;
    char *file, *expr, *lhs, *rhs, *message;
};
#define HV_TEST_RESULTS_MAX 65536
#define HV_TEST_STRING_MAX 1024

/* ---- host_core.c: lifetime, memory, kill, run loop ---- */

/* Create a guest with `ram_size` bytes of lazily mapped RAM.  Returns NULL and
 * fills err (a message for the embedder) on failure. */
struct hv_guest *hv_guest_create(uint32_t ram_size, const struct hv_switcher_ops *ops,
                                 char *err, size_t errlen);
void hv_guest_destroy(struct hv_guest *g);

/* Host pointer for guest-physical [addr, addr+len), or NULL if any byte lies
 * outside RAM.  addr + len is computed so that it cannot wrap. */
static inline uint8_t *hv_gpa(const struct hv_guest *g, uint32_t addr, uint32_t len)
{
    if (len > g->live.ram_size || addr > g->live.ram_size - len)
        return NULL;
    return g->live.ram + addr;
}

/* Checked copies between guest RAM and the host.  On a bad range the guest is
 * killed ("bad read address ..."), a read fills `dst` with zeroes, and false
 * is returned, so callers need no error path of their own. */
bool hv_read(struct hv_guest *g, uint32_t addr, void *dst, uint32_t len);
bool hv_write(struct hv_guest *g, uint32_t addr, const void *src, uint32_t len);

/* Kill the guest.  Only the first reason is kept; later calls do nothing. */
void hv_kill(struct hv_guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append console output (captured, and streamed through the launcher). */
void hv_console_write(struct hv_guest *g, const uint8_t *buf, size_t len);
void hv_console_flush(struct hv_guest *g);
/* A character device's byte: to its own file (fd >= 0) or to the console. */
void hv_chardev_put(struct hv_guest *g, int fd, uint8_t byte);

/* Run the guest until it exits, is killed, or a signal arrives. */
void hv_run(struct hv_guest *g);
/* Replace the watchpoints with n ranges [addr[k], addr[k]+len[k]) of the
 * given kinds (guest-virtual addresses); false (and none set) if out of
 * memory. */
bool hv_set_watchpoints(struct hv_guest *g, const uint32_t *addr, const uint32_t *len,
                        const enum hv_watch_kind *kind, uint32_t n);
/* For the switcher, while g->watch_accesses: does virtual page vpage hold
 * part of a read or access watchpoint?  (Every data access to such a page
 * must then be reported.)  And the report: the running instruction reads
 * (or writes) len bytes at virtual address va. */
bool hv_watch_page(const struct hv_guest *g, uint32_t vpage);
void hv_watch_access(struct hv_guest *g, uint32_t va, uint32_t len, bool write);

double hv_monotonic(void);

/* ---- host_snapshot.c: saving a whole machine and putting it back ---- */

/* Guest RAM page by page, shared between the snapshots of a machine: a
 * NULL page is all zeroes. */
struct hv_ram_page {
    uint32_t refs;
    uint8_t data[HV_PAGE_SIZE];
};
struct hv_ram_image {
    uint32_t refs, npages;
    size_t own;                     /* pages this image added (not shared) */
    struct hv_ram_page *page[];
};

/* A machine at one instant, between runs: RAM, the host's state (clock,
 * timer, IRQs, halt, a pending hypercall, gates, devices), the console and
 * test results so far, and the switcher's state. */
struct hv_snapshot {
    const struct hv_switcher_ops *sw_ops;
    uint32_t ram_size;
    uint64_t instructions;
    struct hv_ram_image *ram;
    struct hv_guest guest;          /* by value; its pointers are not used */
    uint8_t *console;               /* guest.console_len bytes */
    struct hv_test_result *results; /* guest.nresults deep copies */
    size_t sw_size;
    uint8_t *sw_state;
};

/* Take a snapshot of g (not running); NULL if out of memory.  It compares
 * all of RAM with the last snapshot's (a few ms for 64 MiB) and keeps the
 * pages that changed: the run loop pays nothing for it. */
struct hv_snapshot *hv_snapshot_take(struct hv_guest *g);
/* Put g back as it was when s was taken: s may come from another guest with
 * the same RAM size and switcher.  False (g unchanged) if out of memory.
 * The debugger's breakpoints and watchpoints stay set (the watched bytes
 * are read again), and so do the current run's settings. */
bool hv_snapshot_restore(struct hv_guest *g, const struct hv_snapshot *s);
void hv_snapshot_free(struct hv_snapshot *s);
/* The bytes s holds that no other snapshot shares (pages it added, state,
 * console, results). */
size_t hv_snapshot_bytes(const struct hv_snapshot *s);
void hv_ram_image_unref(struct hv_ram_image *img);

/* ---- host_paging.c: the guest page-table walker ---- */

/* What an access is, for the walk's permission checks. */
enum { HV_ACC_WRITE = 1u << 0, HV_ACC_USER = 1u << 1, HV_ACC_FETCH = 1u << 2 };
/* A debugger's look (HV_ACC_PEEK with hv_pt_walk): no permission checks, no
 * Accessed or Dirty bits set, and an entry outside RAM is a fault, not a kill. */
enum { HV_ACC_PEEK = 1u << 3 };

/* The paging state a walk needs (from the switcher's CR0, CR3, CR4). */
struct hv_mmu {
    uint32_t cr0, cr3, cr4;
};

enum hv_walk {
    HV_WALK_OK,
    HV_WALK_FAULT,      /* a #PF: *info is its error code */
    HV_WALK_KILLED,     /* an entry maps outside RAM: the guest was killed */
};

/* The translation may be cached for writes: writable, and Dirty already set. */
#define HV_XLATE_WRITABLE 1u

/*
 * Translate guest-virtual va for `access` through the 2-level IA-32 tables,
 * setting Accessed (and, for a write, Dirty) as the CPU does.  On OK, *pa is
 * the physical address and *info holds HV_XLATE_* flags.  With paging off
 * the address is physical and is not checked against RAM.
 */
enum hv_walk hv_pt_walk(struct hv_guest *g, const struct hv_mmu *m, uint32_t va,
                        unsigned access, uint32_t *pa, uint32_t *info);

/* The switcher's current paging state. */
void hv_mmu_get(struct hv_guest *g, struct hv_mmu *m);

/* A guest-virtual access made by the host (hypercall arguments, frames).
 * Returns false on a fault: then *fault_addr and *fault_err describe the #PF
 * (err HV_PF_* bits; an access outside RAM with paging off reports err 0). */
bool hv_vcopy(struct hv_guest *g, uint32_t va, void *buf, uint32_t len, bool write,
              uint32_t *fault_addr, uint32_t *fault_err);

/* Like hv_read and hv_write but guest-virtual: a fault kills the guest with
 * "bad read address ..." or "bad write address ..." naming va and len. */
bool hv_vread(struct hv_guest *g, uint32_t va, void *dst, uint32_t len);
bool hv_vwrite(struct hv_guest *g, uint32_t va, const void *src, uint32_t len);
/* The debugger's access to guest-virtual (linear) memory: changes nothing
 * but the bytes written, kills nothing, and returns how many bytes it
 * copied before the first address that does not translate. */
uint32_t hv_debug_copy(struct hv_guest *g, uint32_t va, void *buf, uint32_t len, bool write);

/* ---- host_irq.c: gates, delivery, IRQs ---- */

/* LOAD_IDT_ENTRY: 0, or -22 for what the ABI refuses. */
int hv_set_gate(struct hv_guest *g, uint32_t vector, uint32_t lo, uint32_t hi);

/* Raise IRQ n (0..31): pending from now on. */
void hv_irq_raise(struct hv_guest *g, unsigned n);

/* Deliver a CPU exception or software interrupt through its gate.  Returns
 * false if the vector has no gate (the caller decides how to die).  A fault
 * while delivering becomes #DF, then a triple fault (kill). */
bool hv_deliver(struct hv_guest *g, uint32_t vector, bool has_error, uint32_t error,
                uint32_t return_eip, uint32_t origin_eip, bool software);

/* Deliver the lowest pending IRQ if IF and the guest allow it now; ask the
 * switcher for an IF window if only IF is in the way. */
void hv_irq_poll(struct hv_guest *g);

/* Some unblocked IRQ with a gate is pending. */
bool hv_irq_deliverable(struct hv_guest *g);

/* Write guest_data.pending / time_ns (when INIT registered the page). */
void hv_guest_data_sync(struct hv_guest *g, bool time);

/* ---- host_ports.c and dev_*.c: the port-I/O bus and its devices ---- */

/* A device on the port bus: ports first..last.  in returns the value read
 * (masked to the access size by the bus); either may be NULL. */
struct hv_port_dev {
    const char *name;
    uint16_t first, last;
    uint32_t (*in)(struct hv_guest *g, uint16_t port, unsigned size);
    void (*out)(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value);
};

extern const struct hv_port_dev hv_dev_debugcon, hv_dev_debug_exit;   /* dev_debug.c */
extern const struct hv_port_dev hv_dev_acpi_pm, hv_dev_kbd_reset, hv_dev_rcr;  /* dev_power.c */
extern const struct hv_port_dev hv_dev_uart16550;                   /* dev_uart16550.c */
extern const struct hv_port_dev hv_dev_pic_master, hv_dev_pic_slave;  /* dev_pic8259.c */
extern const struct hv_port_dev hv_dev_pit8254;                     /* dev_pit8254.c */
extern const struct hv_port_dev hv_dev_rtc;                         /* dev_rtc.c */
extern const struct hv_port_dev hv_dev_ferr;                        /* dev_ferr.c */
/* The x87's error line, CR0.NE clear (dev_ferr.c): FERR# asserted (IRQ 13
 * raised), then IGNNE# once the guest writes port 0xF0. */
enum { HV_FERR_IDLE, HV_FERR_ASSERTED, HV_FERR_IGNNE };
void hv_ferr_assert(struct hv_guest *g);

/* The PIT's next terminal count (false if it raises nothing), and raising
 * IRQ 0 once the clock has reached it (dev_pit8254.c). */
bool hv_pit_deadline(const struct hv_guest *g, uint64_t *at);
void hv_pit_check(struct hv_guest *g, uint64_t now);

/* The PIC's side of interrupt delivery (dev_pic8259.c): raise a line, look
 * at the vector it would deliver (-1: none), and acknowledge it. */
void hv_pic_raise(struct hv_guest *g, unsigned irq);
int hv_pic_peek(struct hv_guest *g);
int hv_pic_ack(struct hv_guest *g);

void hv_port_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value);
uint32_t hv_port_in(struct hv_guest *g, uint16_t port, unsigned size);

/* ---- host_clock.c: the clock, the timer, halt ---- */

/* SET_CLOCKEVENT: arm (delta > 0) or cancel (0) the one-shot timer. */
void hv_timer_set(struct hv_guest *g, uint32_t delta_ns);
/* A device's IRQ n, delay_ns from now on the guest clock (0: now).  False if
 * HV_EVENTS_MAX are already waiting. */
bool hv_irq_schedule(struct hv_guest *g, unsigned n, uint64_t delay_ns);
/* Raise IRQ 0 if the timer's deadline has come, and every scheduled device
 * IRQ whose time has come. */
void hv_timer_check(struct hv_guest *g);
/* Instructions the switcher may run before the timer's deadline (virtual
 * clock), or a slice that keeps host-clock deadlines close. */
uint64_t hv_timer_budget(struct hv_guest *g, uint64_t budget);
/* The guest is halted: wait (or skip time) until an interrupt can be taken;
 * kill it if nothing can ever end the wait. */
void hv_halt_wait(struct hv_guest *g);

/* ---- host_boot.c: loading and the ABI v1 entry state ---- */

/* Copy an image segment into RAM and zero the rest of memsz.  Returns false
 * (and writes err) if it does not fit. */
bool hv_load_segment(struct hv_guest *g, uint32_t paddr, const void *data, uint32_t filesz,
                     uint32_t memsz, char *err, size_t errlen);
/* Set the entry registers and write the multiboot info block (with the
 * module table the loader placed at mods_addr, when mods_count > 0). */
bool hv_boot(struct hv_guest *g, uint32_t entry, const char *cmdline, size_t cmdline_len,
             uint32_t mods_addr, uint32_t mods_count, char *err, size_t errlen);

/* Where the multiboot info block lives (below 1 MiB, never under an image). */
#define HV_MB_INFO 0x9000u
#define HV_MB_MMAP 0x9400u
#define HV_MB_CMDLINE 0x9800u
#define HV_MB_CMDLINE_MAX 0x6000u
#define HV_MB_MAGIC 0x2BADB002u

/* ---- host_hypercalls.c ---- */

/* ABI v1 hypercall numbers. */
enum {
    HV_HC_FLUSH_ASYNC = 0, HV_HC_INIT = 1, HV_HC_SHUTDOWN = 2, HV_HC_NEW_PGTABLE = 4,
    HV_HC_FLUSH_TLB = 5, HV_HC_LOAD_IDT_ENTRY = 6, HV_HC_SET_CLOCKEVENT = 9,
    HV_HC_HALT = 10, HV_HC_SET_PTE = 14, HV_HC_SET_PGD = 15, HV_HC_NOTIFY = 17,
    HV_HC_SEND_INTERRUPTS = 19, HV_HC_WRITE = 32, HV_HC_EXIT = 33, HV_HC_CLOCK = 34,
    HV_HC_TEST_RESULT = 35,
    HV_HC_MAX = 64,
};

/* Service the hypercall in the guest's registers (int $0x1f already retired). */
void hv_do_hypercall(struct hv_guest *g);

/* Guest's notion of "now" in ns: virtual (instruction count) under emu. */
uint64_t hv_guest_clock(struct hv_guest *g);

/* ---- host_trap.c ---- */

/* Decide what a trap means for the guest (the host's half of every exit). */
void hv_handle_trap(struct hv_guest *g, const struct hv_trap *t);

#endif
