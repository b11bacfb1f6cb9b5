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

/* Why a switcher came back to the host. */
enum hv_trap_kind {
    HV_TRAP_NONE,
    HV_TRAP_BUDGET,     /* ran the instructions it was given; nothing happened */
    HV_TRAP_FAULT,      /* CPU exception: vector, error code, cr2; eip = faulting insn */
    HV_TRAP_SOFTINT,    /* int n / int3 / into completed: vector; next_eip = return address */
    HV_TRAP_OUT,        /* out completed: port, size, value */
    HV_TRAP_IN,         /* in completed: host stores the value with set_regs */
    HV_TRAP_HLT,        /* hlt completed */
};

/* Exception vectors we raise (Intel SDM vol. 3, 6.3.1). */
enum {
    HV_VEC_DE = 0, HV_VEC_DB = 1, HV_VEC_BP = 3, HV_VEC_OF = 4, HV_VEC_UD = 6,
    HV_VEC_GP = 13, HV_VEC_PF = 14, HV_VEC_HYPERCALL = 0x1f,
};

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
};

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
};

extern const struct hv_switcher_ops hv_switcher_emu;

/* Find a switcher by name; NULL if there is none. */
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
};

/* How a run ended. */
enum hv_stop {
    HV_RUNNING,
    HV_STOP_EXIT,       /* guest exited with `status` */
    HV_STOP_KILLED,     /* killed with `reason` */
    HV_STOP_RESTART,    /* guest asked to be booted again from scratch */
    HV_STOP_SIGNAL,     /* the embedder saw a signal */
};

struct hv_guest {
    uint8_t *ram;
    uint32_t ram_size;

    const struct hv_switcher_ops *sw_ops;
    void *sw;

    enum hv_stop stop;
    int status;
    char reason[HV_REASON_MAX];

    /* Limits of the current run. */
    uint64_t max_instructions;      /* 0 = none */
    double deadline;                /* monotonic seconds; 0 = none */
    double last_poll;

    /* Console: everything is captured; `streamed` bytes went out already. */
    uint8_t *console;
    size_t console_len, console_cap, streamed;
    bool console_truncated;

    const struct hv_launcher *launcher;

    /* Hypercall waiting to be serviced by the run loop. */
    bool hcall_pending;
    uint32_t guest_data;            /* gpa registered by INIT, 0 if none */

    /* Test results reported with TEST_RESULT, in order. */
    struct hv_test_result *results;
    size_t nresults, results_cap;
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
    if (len > g->ram_size || addr > g->ram_size - len)
        return NULL;
    return g->ram + addr;
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

/* Run the guest until it exits, is killed, or a signal arrives. */
void hv_run(struct hv_guest *g);

double hv_monotonic(void);

/* ---- host_boot.c: loading and the ABI v1 entry state ---- */

/* Copy an image segment into RAM and zero the rest of memsz.  Returns false
 * (and writes err) if it does not fit. */
bool hv_load_segment(struct hv_guest *g, uint32_t paddr, const void *data, uint32_t filesz,
                     uint32_t memsz, char *err, size_t errlen);
/* Set the entry registers and write the multiboot info block. */
bool hv_boot(struct hv_guest *g, uint32_t entry, const char *cmdline, size_t cmdline_len,
             char *err, size_t errlen);

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
