/*
 * host_test.h - what the full-host ABI test guests (images/host/) share.
 *
 * Only hv_guest.h is used; the gate stubs are our own.  Every vector 0..255
 * has an entry stub host_stub(vec) that saves the registers and calls
 * host_trap_c(), which records the frame the host built in host_last:
 *   vector, error code (0 for vectors without one), EIP, CS, EFLAGS as pushed,
 *   flags_in = EFLAGS inside the handler (pushf as its first instruction),
 *   depth = host_pre_esp - ESP at handler entry (12 without an error code,
 *           16 with one), when the guest stored ESP in host_pre_esp right
 *           before the trapping instruction,
 *   cr2 (mov %cr2) and the guest_data fields for #PF and IRQs.
 * Then, if host_resume is set, the saved EIP is replaced by it (to skip a
 * faulting instruction) and cleared; host_clear_if clears IF in the saved
 * EFLAGS; host_hook (if set) is called.  The handler returns with iret.
 */
#ifndef HOST_TEST_H
#define HOST_TEST_H

#include <hv_guest.h>

#define GATE_INTR 0xEu
#define GATE_TRAP 0xFu
#define KCODE 0x08u

#define EFL_CF 0x001u
#define EFL_FIXED 0x002u
#define EFL_ZF 0x040u
#define EFL_SF 0x080u
#define EFL_TF 0x100u
#define EFL_IF 0x200u
#define EFL_OF 0x800u
#define EFL_NT 0x4000u

/* guest_data (INIT), one page. */
struct host_gd {
    volatile uint32_t pending;
    volatile uint32_t blocked;
    volatile uint32_t cr2;
    volatile uint32_t reserved;
    volatile uint32_t time_lo;
    volatile uint32_t time_hi;
};

/* The registers the stub saved, then the host's frame. */
struct host_frame {
    uint32_t flags_in;
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector;
    uint32_t err;            /* a 0 pushed by the stub when the CPU pushes none */
    uint32_t eip, cs, eflags;
};

struct host_rec {
    uint32_t count;
    uint32_t vector, err, eip, cs, eflags, flags_in, depth;
    uint32_t cr2, gd_cr2, gd_pending;
    uint64_t gd_time;
};

extern volatile struct host_rec host_last;
extern volatile uint32_t host_resume, host_pre_esp, host_clear_if;
extern volatile uint32_t host_log[32];     /* vectors in the order delivered */
extern volatile uint32_t host_nlog;
extern struct host_gd *volatile host_gd;
extern void (*volatile host_hook)(struct host_frame *f);
extern const uint32_t host_stubs[256];

void host_trap_c(struct host_frame *f);

static inline int host_has_err(uint32_t vec)
{
    return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17;
}

static inline uint32_t gate_lo(uint32_t sel, uint32_t off)
{
    return sel << 16 | (off & 0xffffu);
}

static inline uint32_t gate_hi(uint32_t off, uint32_t type)
{
    return (off & 0xffff0000u) | 1u << 15 | type << 8;
}

/* Install stub `vec` as the handler of `vec` (type GATE_INTR or GATE_TRAP). */
static inline long set_gate(uint32_t vec, uint32_t type)
{
    uint32_t off = host_stubs[vec & 0xff];
    return hv_load_idt_entry(vec, gate_lo(KCODE, off), gate_hi(off, type));
}

static inline long set_gate_sel(uint32_t vec, uint32_t type, uint32_t sel)
{
    uint32_t off = host_stubs[vec & 0xff];
    return hv_load_idt_entry(vec, gate_lo(sel, off), gate_hi(off, type));
}

static inline long clear_gate(uint32_t vec)
{
    return hv_load_idt_entry(vec, 0, 0);
}

static inline uint32_t read_cr(int n)
{
    uint32_t v = 0;
    switch (n) {
    case 0: __asm__ volatile("movl %%cr0, %0" : "=r"(v)); break;
    case 2: __asm__ volatile("movl %%cr2, %0" : "=r"(v)); break;
    case 3: __asm__ volatile("movl %%cr3, %0" : "=r"(v)); break;
    case 4: __asm__ volatile("movl %%cr4, %0" : "=r"(v)); break;
    }
    return v;
}

static inline uint32_t read_eflags(void)
{
    uint32_t v;
    __asm__ volatile("pushfl\n\tpopl %0" : "=r"(v));
    return v;
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }

static inline int is_op(const char *op, const char *name)
{
    return op && strcmp(op, name) == 0;
}

static inline void print_rec(const char *what)
{
    printf("%s: count=%u vec=%02x err=%08x eip=%08x cs=%08x eflags=%08x in=%08x depth=%u\n",
           what, host_last.count, host_last.vector, host_last.err, host_last.eip,
           host_last.cs, host_last.eflags, host_last.flags_in, host_last.depth);
}

/* A decimal u32 from the command line, or dflt. */
static inline uint32_t cmdline_u32(const char *key, uint32_t dflt)
{
    const char *v = hv_cmdline_value(key);
    uint32_t n = 0;
    if (!v || *v < '0' || *v > '9')
        return dflt;
    while (*v >= '0' && *v <= '9')
        n = n * 10 + (uint32_t)(*v++ - '0');
    return n;
}

/* The op=... word of the command line ("" without one), NUL-terminated. */
static inline const char *host_op(void)
{
    static char op[32];
    const char *v = hv_cmdline_value("op");
    size_t k = 0;
    for (; v && v[k] && v[k] != ' ' && k + 1 < sizeof(op); k++)
        op[k] = v[k];
    op[k] = 0;
    return op;
}

/* ---- definitions: each guest is one translation unit ---- */

volatile struct host_rec host_last;
volatile uint32_t host_resume, host_pre_esp, host_clear_if;
volatile uint32_t host_log[32];
volatile uint32_t host_nlog;
struct host_gd *volatile host_gd;
void (*volatile host_hook)(struct host_frame *f);
uint32_t host_gd_page[1024] __attribute__((aligned(4096)));

/* INIT with host_gd_page; the handler then records its fields. */
static inline long host_init(void)
{
    long r = hv_init(HV_GPA(host_gd_page));
    host_gd = (struct host_gd *)host_gd_page;
    return r;
}

__asm__(".text\n"
        ".altmacro\n"
        ".macro HOST_STUB vec\n"
        "  .balign 16\n"
        "  host_stub_\\vec:\n"
        "  .if (\\vec == 8) || ((\\vec >= 10) && (\\vec <= 14)) || (\\vec == 17)\n"
        "  .else\n"
        "    pushl $0\n"
        "  .endif\n"
        "  pushl $\\vec\n"
        "  jmp host_trap_common\n"
        "  .pushsection .rodata\n"
        "  .long host_stub_\\vec\n"
        "  .popsection\n"
        ".endm\n"
        ".pushsection .rodata\n"
        ".balign 4\n"
        ".globl host_stubs\n"
        "host_stubs:\n"
        ".popsection\n"
        ".set host_i, 0\n"
        ".rept 256\n"
        "  HOST_STUB %host_i\n"
        "  .set host_i, host_i + 1\n"
        ".endr\n"
        ".noaltmacro\n"
        ".balign 16\n"
        "host_trap_common:\n\t"
        "pushal\n\t"
        "pushfl\n\t"
        "cld\n\t"
        "pushl %esp\n\t"
        "call host_trap_c\n\t"
        "addl $8, %esp\n\t"
        "popal\n\t"
        "addl $8, %esp\n\t"
        "iret\n");

void host_trap_c(struct host_frame *f)
{
    uint32_t entry_esp = host_has_err(f->vector) ? (uint32_t)(uintptr_t)&f->err
                                                 : (uint32_t)(uintptr_t)&f->eip;
    host_last.count++;
    host_last.vector = f->vector;
    host_last.err = f->err;
    host_last.eip = f->eip;
    host_last.cs = f->cs;
    host_last.eflags = f->eflags;
    host_last.flags_in = f->flags_in;
    host_last.depth = host_pre_esp ? host_pre_esp - entry_esp : 0;
    host_pre_esp = 0;
    host_last.cr2 = read_cr(2);
    if (host_gd) {
        host_last.gd_cr2 = host_gd->cr2;
        host_last.gd_pending = host_gd->pending;
        host_last.gd_time = (uint64_t)host_gd->time_hi << 32 | host_gd->time_lo;
    }
    if (host_nlog < 32)
        host_log[host_nlog++] = f->vector;
    if (host_resume) {
        f->eip = host_resume;
        host_resume = 0;
    }
    if (host_clear_if)
        f->eflags &= ~EFL_IF;
    if (host_hook)
        host_hook(f);
}

#endif /* HOST_TEST_H */
