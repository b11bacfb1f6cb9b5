/*
 * switcher_emu.h: the software switcher's private contracts.
 *
 * The emu switcher is an IA-32 interpreter for 32-bit protected mode.  Code is decoded once into blocks of `struct insn`, each
 * naming its handler; handlers run one after another by direct threading
 * (each tail-calls the next), and blocks chain to their successors without
 * returning to the dispatcher.  Arithmetic flags are lazy: an ALU op records
 * its operands and result, and EFLAGS bits are computed only when read.
 *
 * Handlers are named after the instruction and its operand forms in Intel
 * notation (Eb, Gv, Iz ...) where that helps.
 */
#ifndef SWITCHER_EMU_H
#define SWITCHER_EMU_H

#include <string.h>

#include "hv.h"

/*
 * Three builds of every handler.  The families are compiled as they are for
 * the flat world of paging off and flat segments (EMU_PAGED 0: an address is
 * a RAM offset, checked against the RAM size); again by switcher_emu_paged.c
 * with EMU_PAGED 1, where every access goes through the soft TLB; and a
 * third time by switcher_emu_segmented.c with EMU_SEG 1 as well, where every
 * access also adds its segment's base and is checked against its limit and
 * type.  The segmented build runs whenever a segment is not flat, with
 * paging on or off.  A block is decoded with the handlers of the mode it
 * runs in, so neither paging nor segmentation costs anything to a guest that
 * does not use it.  EMU(name) is a handler's name in the build being
 * compiled: name, name_pg or name_sg.
 */
#ifndef EMU_SEG
#define EMU_SEG 0
#endif
#if EMU_SEG
#undef EMU_PAGED
#define EMU_PAGED 1
#endif
#ifndef EMU_PAGED
#define EMU_PAGED 0
#endif
#if EMU_SEG
#define EMU(name) name##_sg
#elif EMU_PAGED
#define EMU(name) name##_pg
#else
#define EMU(name) name
#endif

struct cpu;
struct insn;
struct block;

#ifdef HV_NO_TAILCALL
/* Plain dispatch loop: each handler returns the next instruction. */
typedef const struct insn *emu_fn(struct cpu *c, const struct insn *i);
#define OP(name) const struct insn *EMU(name)(struct cpu *c, const struct insn *i)
#define RUN_AT(p) do { (void)c; return (p); } while (0)
#define STOP() return NULL
#else
/* Direct threading: each handler tail-calls the next (a sibling call at -O2). */
typedef void emu_fn(struct cpu *c, const struct insn *i);
#define OP(name) void EMU(name)(struct cpu *c, const struct insn *i)
#define RUN_AT(p) do { const struct insn *n_ = (p); n_->fn(c, n_); return; } while (0)
#define STOP() return
#endif
#define NEXT() RUN_AT(i + 1)

/* A memory operand's base or index register of 8 means "none": r[8] is zero. */
#define REG_NONE 8
#define RM_MEM 0xff

/* insn.pfx bits */
enum { PFX_REP = 1, PFX_REPNE = 2, PFX_LOCK = 4, PFX_OPSIZE = 8 };

struct insn {
    emu_fn *fn;
    union {
        struct block *link[2];  /* cached successors of a control transfer */
        void *stub;             /* a vector instruction's host stub */
    };
    uint32_t eip;           /* this instruction */
    uint32_t next;          /* the one after it */
    uint32_t disp;          /* memory operand displacement */
    uint32_t imm;           /* immediate, or branch target */
    uint32_t imm2;          /* second immediate (enter level, shift count ...) */
    uint8_t base, index, scale;
    uint8_t reg;            /* ModRM.reg (or the register in the opcode) */
    uint8_t rm;             /* ModRM.rm register, or RM_MEM */
    uint8_t size;           /* operand size: 1, 2 or 4 */
    uint8_t op;             /* sub-operation: ALU op, condition, group member */
    uint8_t remain;         /* instructions from here to the end of the block */
    uint8_t pfx;
    uint8_t seg;            /* the memory operand's segment register (HV_DS ...) */
};

struct bt_sites;

struct block {
    uint32_t eip;           /* 0xffffffff once invalidated */
    uint32_t ninsn;
    uint32_t ppage[2];      /* the physical pages its code came from */
    uint32_t npages;        /* how many of ppage are used: 0, 1 or 2 */
    struct block *hash_next;
    struct block *page_next[2];
    /* Coverage on: insns[0].fn is op_cov_enter, which counts a run in cov
     * and goes on with cov_fn, the handler the decoder chose. */
    struct emu_cov *cov;
    emu_fn *cov_fn;
    /* The bt switcher (switcher_bt.c), when it drives this emu: the handler
     * the decoder chose for insns[0] (bt's counting or entry handler runs
     * first), how often the block ran, and its host code (NULL: none). */
    emu_fn *bt_fn;
    uint32_t bt_heat;
    void *bt_code;          /* its entry from C (past the budget check) */
    void *bt_chain;         /* its entry from other blocks' host code */
    struct bt_sites *bt_sites;  /* its host code's jumps to other blocks' (switcher_bt.c) */
    uintptr_t bt_in;        /* the sites jumping to its host code: block | k, then
                             * the next in that block's bt_sites */
    struct insn insns[];
};

/*
 * Coverage (hv run --coverage): how many times each block ran, kept by its
 * guest EIP range [start, end) in a table that outlives flushes of the code
 * cache (a block decoded again finds its old entry).  Off, it costs nothing:
 * only blocks decoded while it is on have the counting first handler.
 */
struct emu_cov {
    uint32_t start, end;
    uint64_t count;         /* entries into a block [start, end) */
    uint64_t cuts;          /* exits from a block that ends at `end` before
                             * `start`: [start, end) did not run that time */
    uint32_t jcc_eip;       /* the block ends in a Jcc here (0: it does not), */
    uint32_t jcc_target;    /* to there; the next block counted tells ... */
    uint64_t taken, not_taken;  /* ... how it went */
    struct emu_cov *next;
};
/* Coverage on: the block running left part-way, before `from` (a fault, a
 * trap, an exit, a stale block). */
void emu_cov_cut(struct cpu *c, uint32_t from);
#define COV_BITS 14

#define BLOCK_DEAD 0xffffffffu
#define EMU_BP_MAX 256
#define BLOCK_MAX_INSNS 64
#define JCACHE_BITS 14
#define HASH_BITS 16

/*
 * The soft TLB (paging on): direct-mapped by virtual page.  An entry maps
 * the virtual page whose TLB_TAG is `rtag` to the host address of its
 * physical page for reads; `wtag` equals rtag too when writes may go
 * straight there (writable, Dirty already set, and no decoded code on the
 * page, so stores need no SMC check).  Tags are the page number plus one, so
 * zeroed memory is an empty TLB: TLB_NONE (0) never matches.
 */
#define TLB_BITS 12
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_NONE 0u
#define TLB_TAG(va) (((va) >> 12) + 1u)
struct tlb_entry {
    uint32_t rtag, wtag;
    uint8_t *page;
};

/* What the dispatcher must do before it runs more guest code. */
enum { PENDING_TLB = 1, PENDING_CODE = 2 };

/* Lazy flags: cc_op = kind << 2 | log2(size in bytes). */
enum cc_kind {
    CC_EAGER, CC_ADD, CC_ADC, CC_SUB, CC_SBB, CC_LOGIC, CC_INC, CC_DEC, CC_NEG,
    CC_SHL, CC_SHR, CC_SAR,
};
#define ARITH_FLAGS (HV_CF | HV_PF | HV_AF | HV_ZF | HV_SF | HV_OF)

/*
 * A segment register's descriptor cache, with what the segmented handlers
 * check.  An access of sz bytes at linear address a is inside the segment
 * when (a - bias) + sz - 1 <= span as a 64-bit sum, where bias is base plus
 * the lowest valid offset: that covers expand-up and expand-down segments
 * alike, and a span of -1 refuses everything (a null selector, or writes to
 * a read-only segment).
 */
struct emu_seg {
    uint32_t base, bias;
    int64_t rspan, wspan;
    uint32_t limit;         /* in bytes, as the descriptor says */
    uint16_t attr;          /* struct hv_segment's attr */
};

/*
 * The SSE state (switcher_emu_simdhost.c), laid out as the host stubs use
 * it: the guest's XMM registers and MXCSR, and the stub's scratch.
 */
struct emu_simd {
    uint8_t xmm[8][16];
    uint32_t mxcsr;         /* in the host's MXCSR while live, but for its
                             * control bits, which stay right here */
    uint32_t host_mxcsr;    /* the host's, while live */
    uint32_t gpr;           /* a general register operand, in and out */
    uint32_t eflags;        /* RFLAGS after COMISS and the like */
    bool live;
    uint64_t recover;       /* where a host #XM resumes the stub */
};

/* Snapshots (emu_save) copy the machine's state out of this struct: every
 * field before `ram`, the instruction count, and the fields from `cr0` up
 * to `tlb`.  Keep what the guest can see there, and pointers, caches and
 * what belongs to one run or to the debugger outside those stretches. */
struct cpu {
    uint32_t r[9];          /* EAX..EDI, then a zero for absent base/index */
    uint32_t eip;
    uint32_t eflags;        /* system bits always; arithmetic bits when CC_EAGER */
    uint32_t cc_op, cc_a, cc_b, cc_res;
    uint16_t sreg[6];
    struct emu_seg seg[6];
    /* The x87 state as an FNSAVE image (switcher_emu_x87host.c) ... */
    uint8_t x87[108] __attribute__((aligned(16)));
    bool x87_live;          /* ... but in the host's x87 unit during a run */
    bool x87_watch;         /* an exception is unmasked or pending: waiting
                             * instructions must check for #MF */
    uint16_t x87_host_cw;   /* the host's control word, meanwhile */
    uint16_t fpu_cs, fpu_op, fpu_ds;    /* the guest's last x87 instruction */
    uint32_t fpu_ip, fpu_dp;
    struct emu_simd simd;

    uint8_t *ram;
    uint32_t ram_size;
    uint8_t *codemap;       /* per page: nonzero if decoded blocks live there */

    uint64_t icount;        /* instructions retired */
    uint64_t stop_at;       /* leave the guest when icount reaches this */
    struct hv_trap *trap;
    struct block **link_slot; /* successor slot to fill once the target is known */

    /* System state. */
    struct hv_guest *g;
    uint32_t cr0, cr2, cr3, cr4;
    struct hv_dtable gdtr, idtr;
    uint16_t ldtr, tr;
    uint32_t ldt_base, ldt_limit;   /* the LDT that LLDT loaded */
    bool gdt_loaded;        /* LGDT ran: selectors are checked against the GDT */
    uint8_t cpl;            /* 0, or 3 once an iret took the guest to user mode */
    uint64_t tsc_offset;    /* WRMSR 0x10: the TSC is icount + this */
    uint64_t msr_sysenter[3], msr_misc_enable, msr_pat;
    bool paged;             /* CR0.PG: the _pg handlers, if not segmented */
    bool segmented;         /* some segment is not flat, or watch_mem: the _sg handlers */
    bool watch_mem;         /* read or access watchpoints: the TLB reports their pages */
    uint32_t code_base, code_limit; /* the CS that decoded blocks were fetched through */
    bool want_window;       /* the host waits for IF to be set */
    unsigned pending;       /* PENDING_* work for the dispatcher */
    uint64_t shadow_at;     /* icount just after an sti that set IF */
    uint32_t pf_err, pf_addr;   /* the #PF a failed translation found */
    /* (the end of the state snapshots copy) */
    struct tlb_entry tlb[TLB_SIZE];
    uint32_t *vcodemap;     /* paging on: bit per virtual page with decoded code
                             * (allocated when first needed; NULL = assume code) */

    struct block *jcache[1u << JCACHE_BITS];
    struct block *hash[1u << HASH_BITS];
    struct block **page_blocks; /* per page: list of blocks that decode from it */
    uint8_t *arena;
    size_t arena_used, arena_size;
    uint64_t flushes;

    /* The debugger's breakpoints (none: nbp == 0, and nothing is checked).
     * Blocks end before each, and a block starting at one is never cached
     * or chained into: the dispatcher stops there (HV_TRAP_BREAK) unless
     * the run resumes from that very stop (bp_icount, bp_eip). */
    uint32_t nbp;
    uint32_t bp[EMU_BP_MAX];
    bool bp_stopped;
    uint64_t bp_icount;
    uint32_t bp_eip;

    struct emu_cov **cov_hash;  /* coverage on: 1 << COV_BITS chains; else NULL */
    size_t cov_n;               /* entries in it */
    struct emu_cov *cov_cur;    /* the block running, if counted */

    union {
        struct block blk;
        uint8_t raw[sizeof(struct block) + (BLOCK_MAX_INSNS + 2) * sizeof(struct insn)];
    } scratch;              /* uncached block for runs that must stop mid-block */

    /* The bt switcher's hooks (NULL under the emu alone, and then free):
     * a block was decoded and cached; every cached block was dropped. */
    void *bt;
    void (*bt_decoded)(struct cpu *c, struct block *b);
    void (*bt_flushed)(struct cpu *c);
    void (*bt_killed)(struct cpu *c, struct block *b);
    uint32_t bt_hostflags;  /* EFLAGS as translated code left them */
    uint64_t bt_left;       /* instructions host code may still count (switcher_bt.h) */
    struct block *bt_exit_block;    /* the block host code left from */
    struct block *bt_exit_owner;    /* with BT_PATCH: the block whose host code it was */
    uint8_t *bt_tab;        /* the tables bt's host code reads (switcher_bt.h) */
    uint8_t bt_simd;        /* 1: host code may run SSE, on the guest's XMM (switcher_bt.h) */
};

/* ---- sizes ---- */
static inline uint32_t sz_mask(int sz) { return sz == 4 ? 0xffffffffu : sz == 2 ? 0xffffu : 0xffu; }
static inline int sz_log(int sz) { return sz == 4 ? 2 : sz == 2 ? 1 : 0; }
static inline uint32_t sz_sign(int sz) { return 1u << (sz * 8 - 1); }
static inline uint32_t sext(uint32_t v, int sz)
{
    return sz == 4 ? v : sz == 2 ? (uint32_t)(int32_t)(int16_t)v : (uint32_t)(int32_t)(int8_t)v;
}

/* ---- registers ---- */
static inline uint32_t getreg(const struct cpu *c, int sz, int n)
{
    if (sz == 4)
        return c->r[n];
    if (sz == 2)
        return c->r[n] & 0xffff;
    return (c->r[n & 3] >> ((n & 4) << 1)) & 0xff;     /* AL CL DL BL AH CH DH BH */
}

static inline void setreg(struct cpu *c, int sz, int n, uint32_t v)
{
    if (sz == 4) {
        c->r[n] = v;
    } else if (sz == 2) {
        c->r[n] = (c->r[n] & 0xffff0000u) | (v & 0xffff);
    } else {
        int sh = (n & 4) << 1;
        c->r[n & 3] = (c->r[n & 3] & ~(0xffu << sh)) | ((v & 0xff) << sh);
    }
}

/* ---- memory ---- */
/* The offset of a memory operand in its segment (what LEA computes). */
static inline uint32_t ea_off(const struct cpu *c, const struct insn *i)
{
    return c->r[i->base] + (c->r[i->index] << i->scale) + i->disp;
}

/* The linear address of offset off in segment s.  Segments are flat outside
 * the segmented build, so there it is the offset itself. */
#if EMU_SEG
#define LIN(s, off) ((uint32_t)(off) + c->seg[s].base)
#else
#define LIN(s, off) ((uint32_t)(off))
#endif

/* The linear address of a memory operand. */
static inline uint32_t ea(const struct cpu *c, const struct insn *i)
{
#if EMU_SEG
    return ea_off(c, i) + c->seg[i->seg].base;
#else
    return ea_off(c, i);
#endif
}

/* Is [a, a+sz) (linear) inside segment s, for a read or a write? */
static inline bool seg_ok(const struct cpu *c, int s, uint32_t a, uint32_t sz, bool write)
{
    const struct emu_seg *e = &c->seg[s];
    return (int64_t)(uint32_t)(a - e->bias) + (int64_t)sz - 1 <= (write ? e->wspan : e->rspan);
}

static inline uint32_t ld_host(const uint8_t *p, int sz)
{
    if (sz == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    if (sz == 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    return *p;
}

static inline void st_host(uint8_t *p, int sz, uint32_t v)
{
    if (sz == 4) {
        memcpy(p, &v, 4);
    } else if (sz == 2) {
        uint16_t w = (uint16_t)v;
        memcpy(p, &w, 2);
    } else {
        *p = (uint8_t)v;
    }
}

/* Little-endian fields of state images (FNSAVE, FXSAVE). */
static inline uint32_t le16(const uint8_t *p) { return (uint32_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }
static inline void put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, v);
    put_le16(p + 2, v >> 16);
}

void emu_smc(struct cpu *c, uint32_t a, uint32_t len);

/* The soft TLB (switcher_emu_tlb.c).  A fill that fails leaves the #PF in
 * pf_err/pf_addr (or the host has killed the guest). */
bool emu_tlb_fill(struct cpu *c, uint32_t a, uint32_t sz, bool write);
uint32_t emu_ld_slow(struct cpu *c, uint32_t a, int sz);
void emu_st_slow(struct cpu *c, uint32_t a, int sz, uint32_t v);
/* Host pointer for the code byte at virtual va (fetch), or NULL with the #PF
 * in pf_err/pf_addr. */
const uint8_t *emu_fetch_ptr(struct cpu *c, uint32_t va, uint32_t *ppage);

#if EMU_PAGED
static inline struct tlb_entry *tlb_of(struct cpu *c, uint32_t a)
{
    return &c->tlb[(a >> 12) & (TLB_SIZE - 1)];
}

/* The entry maps a's page and the access stays inside it. */
static inline bool tlb_hit(uint32_t tag, uint32_t a, uint32_t sz)
{
    return tag == TLB_TAG(a) && (a & 0xfffu) <= HV_PAGE_SIZE - sz;
}

/* May sz bytes at virtual a be read (written)?  Fills the TLB. */
static inline bool mem_ok(struct cpu *c, uint32_t a, uint32_t sz)
{
    if (HV_LIKELY(tlb_hit(tlb_of(c, a)->rtag, a, sz)))
        return true;
    return emu_tlb_fill(c, a, sz, false);
}

static inline bool mem_okw(struct cpu *c, uint32_t a, uint32_t sz)
{
    if (HV_LIKELY(tlb_hit(tlb_of(c, a)->wtag, a, sz)))
        return true;
    return emu_tlb_fill(c, a, sz, true);
}

static inline uint32_t ld(struct cpu *c, uint32_t a, int sz)
{
    const struct tlb_entry *e = tlb_of(c, a);
    if (HV_LIKELY(tlb_hit(e->rtag, a, (uint32_t)sz)))
        return ld_host(e->page + (a & 0xfffu), sz);
    return emu_ld_slow(c, a, sz);
}

static inline void st(struct cpu *c, uint32_t a, int sz, uint32_t v)
{
    const struct tlb_entry *e = tlb_of(c, a);
    if (HV_LIKELY(tlb_hit(e->wtag, a, (uint32_t)sz)))
        st_host(e->page + (a & 0xfffu), sz, v);
    else
        emu_st_slow(c, a, sz, v);
}
#else
static inline bool mem_ok(const struct cpu *c, uint32_t a, uint32_t sz)
{
    return a <= c->ram_size - sz;           /* ram_size >= 2 MiB, so no wrap */
}

#define mem_okw mem_ok

static inline uint32_t ld(const struct cpu *c, uint32_t a, int sz)
{
    return ld_host(c->ram + a, sz);
}

static inline void st(struct cpu *c, uint32_t a, int sz, uint32_t v)
{
    st_host(c->ram + a, sz, v);
    /* A write to a page that holds decoded code invalidates that code. */
    if (HV_UNLIKELY(c->codemap[a >> 12] | c->codemap[(a + sz - 1) >> 12]))
        emu_smc(c, a, (uint32_t)sz);
}
#endif

/* ---- leaving the guest ---- */
const struct insn *emu_fault_ret(struct cpu *c, const struct insn *i, uint32_t vec, uint32_t err,
                                 uint32_t cr2);
const struct insn *emu_trap_ret(struct cpu *c, const struct insn *i, enum hv_trap_kind kind,
                                uint32_t vector);

/* Raise #UD for instruction i, showing its first nbytes bytes. */
void emu_raise_ud(struct cpu *c, const struct insn *i, unsigned nbytes);

/* Stop at instruction i (which does not retire) with HV_TRAP_UNSUPPORTED:
 * something this switcher cannot do yet, said in printf style. */
void emu_unsupported(struct cpu *c, const struct insn *i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Leave after instruction i retired, continuing at eip (the next pass of the
 * dispatcher runs it, after any PENDING_* work). */
const struct insn *emu_exit_at(struct cpu *c, const struct insn *i, enum hv_trap_kind kind,
                               uint32_t eip);

/* Raise an exception for instruction i (which does not retire) and leave. */
#define FAULT(vec, err, cr2) do { emu_fault_ret(c, i, (vec), (err), (cr2)); STOP(); } while (0)
/* The #PF for a failed access at addr: with paging off, addr left RAM; with
 * paging on, the translation said where and why. */
#if EMU_PAGED
#define PF(addr) FAULT(HV_VEC_PF, c->pf_err, c->pf_addr)
#define PFW(addr) PF(addr)
#else
/* Outside RAM behaves like a page that is not present. */
#define PF(addr) FAULT(HV_VEC_PF, 0, (addr))
#define PFW(addr) FAULT(HV_VEC_PF, HV_PF_WRITE, (addr))
#endif
static inline const struct insn *pf_ret(struct cpu *c, const struct insn *i, uint32_t a,
                                        bool write)
{
#if EMU_PAGED
    (void)a;
    (void)write;
    return emu_fault_ret(c, i, HV_VEC_PF, c->pf_err, c->pf_addr);
#else
    return emu_fault_ret(c, i, HV_VEC_PF, write ? HV_PF_WRITE : 0, a);
#endif
}

/* Check an access of sz bytes at linear a through segment s (see CHECK_SEG
 * below), for handlers that return false once instruction i has faulted. */
static inline bool access_ok(struct cpu *c, const struct insn *i, int s, uint32_t a, uint32_t sz,
                             bool write)
{
#if EMU_SEG
    if (HV_UNLIKELY(!seg_ok(c, s, a, sz, write))) {
        emu_fault_ret(c, i, s == HV_SS ? HV_VEC_SS : HV_VEC_GP, 0, 0);
        return false;
    }
#else
    (void)s;
#endif
    if (HV_LIKELY(write ? mem_okw(c, a, sz) : mem_ok(c, a, sz)))
        return true;
    pf_ret(c, i, a, write);
    return false;
}

/* Check an access of sz bytes at linear address a before reading (CHECK_LIN)
 * or before any write (CHECKW_LIN, also for read-modify-write): #PF if the
 * page may not be used so. */
#define CHECK_LIN(a, sz) do { if (HV_UNLIKELY(!mem_ok(c, (a), (sz)))) PF(a); } while (0)
#define CHECKW_LIN(a, sz) do { if (HV_UNLIKELY(!mem_okw(c, (a), (sz)))) PFW(a); } while (0)

/* The same through segment s first: outside its limit, or a kind of access
 * it does not allow, is #GP(0), or #SS(0) for the stack segment (SDM vol. 3,
 * 5.3).  The other builds have only flat segments, so only the page counts. */
#if EMU_SEG
#define SEG_FAULT(s) FAULT((s) == HV_SS ? HV_VEC_SS : HV_VEC_GP, 0, 0)
#define CHECK_SEG(s, a, sz) do {                                               \
        if (HV_UNLIKELY(!seg_ok(c, (s), (a), (sz), false))) SEG_FAULT(s);      \
        CHECK_LIN(a, sz);                                                      \
    } while (0)
#define CHECKW_SEG(s, a, sz) do {                                              \
        if (HV_UNLIKELY(!seg_ok(c, (s), (a), (sz), true))) SEG_FAULT(s);       \
        CHECKW_LIN(a, sz);                                                     \
    } while (0)
#else
#define CHECK_SEG(s, a, sz) CHECK_LIN(a, sz)
#define CHECKW_SEG(s, a, sz) CHECKW_LIN(a, sz)
#endif

/* A memory operand at a = ea(c, i), in the instruction's segment. */
#define CHECK(a, sz) CHECK_SEG(i->seg, a, sz)
#define CHECKW(a, sz) CHECKW_SEG(i->seg, a, sz)
/* The stack: a is linear, from SP_LIN(esp). */
#define SP_LIN(sp) LIN(HV_SS, sp)
#define CHECK_SS(a, sz) CHECK_SEG(HV_SS, a, sz)
#define CHECKW_SS(a, sz) CHECKW_SEG(HV_SS, a, sz)

/* ---- lazy flags (switcher_emu_flags.c) ---- */
uint32_t emu_flags(const struct cpu *c);            /* full EFLAGS */
void emu_set_flags(struct cpu *c, uint32_t f);      /* write EFLAGS (arith + system) */
bool emu_cond_slow(const struct cpu *c, int cc);
int emu_cf_slow(const struct cpu *c);

/* CF, with the common producers answered inline (INC/DEC and ADC need it). */
static inline int emu_cf(const struct cpu *c)
{
    uint32_t kind = c->cc_op >> 2;
    if (kind == CC_SUB)
        return c->cc_a < c->cc_b;
    if (kind == CC_LOGIC)
        return 0;
    if (kind == CC_ADD)
        return c->cc_res < c->cc_a;
    return emu_cf_slow(c);
}

static inline void set_cc(struct cpu *c, int kind, int sz, uint32_t a, uint32_t b, uint32_t r)
{
    c->cc_op = (uint32_t)(kind << 2 | sz_log(sz));
    c->cc_a = a;
    c->cc_b = b;
    c->cc_res = r;
}

/* Condition codes in jcc order: O NO B AE E NE BE A S NS P NP L GE LE G. */
static inline bool emu_cond(const struct cpu *c, int cc)
{
    uint32_t kind = c->cc_op >> 2;
    if (HV_LIKELY(kind == CC_SUB)) {
        int sz = 1 << (c->cc_op & 3);
        uint32_t a = c->cc_a, b = c->cc_b;
        bool v;
        switch (cc >> 1) {
        case 1: v = a < b; break;
        case 2: v = a == b; break;
        case 3: v = a <= b; break;
        case 4: v = (c->cc_res & sz_sign(sz)) != 0; break;
        case 6: v = (int32_t)sext(a, sz) < (int32_t)sext(b, sz); break;
        case 7: v = (int32_t)sext(a, sz) <= (int32_t)sext(b, sz); break;
        default: return emu_cond_slow(c, cc);
        }
        return v ^ (cc & 1);
    }
    if (kind == CC_LOGIC) {
        int sz = 1 << (c->cc_op & 3);
        bool zf = c->cc_res == 0, sf = (c->cc_res & sz_sign(sz)) != 0;
        bool v;
        switch (cc >> 1) {
        case 0: case 1: v = false; break;
        case 2: case 3: v = zf; break;
        case 4: case 6: v = sf; break;
        case 7: v = zf || sf; break;
        default: return emu_cond_slow(c, cc);
        }
        return v ^ (cc & 1);
    }
    return emu_cond_slow(c, cc);
}

/* ALU operations in x86 group-1 order, then TEST. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP, ALU_TEST };

static inline __attribute__((always_inline)) uint32_t
alu(struct cpu *c, int op, int sz, uint32_t a, uint32_t b)
{
    uint32_t m = sz_mask(sz), r;
    switch (op) {
    case ALU_ADD:
        r = (a + b) & m;
        set_cc(c, CC_ADD, sz, a, b, r);
        return r;
    case ALU_ADC:
        r = (a + b + (uint32_t)emu_cf(c)) & m;
        set_cc(c, CC_ADC, sz, a, b, r);
        return r;
    case ALU_SBB:
        r = (a - b - (uint32_t)emu_cf(c)) & m;
        set_cc(c, CC_SBB, sz, a, b, r);
        return r;
    case ALU_SUB:
    case ALU_CMP:
        r = (a - b) & m;
        set_cc(c, CC_SUB, sz, a, b, r);
        return r;
    case ALU_OR:
        r = a | b;
        break;
    case ALU_XOR:
        r = a ^ b;
        break;
    default:            /* AND, TEST */
        r = a & b;
        break;
    }
    set_cc(c, CC_LOGIC, sz, 0, 0, r);
    return r;
}

/* ---- debugger breakpoints ---- */
static inline bool emu_bp_has(const struct cpu *c, uint32_t eip)
{
    for (uint32_t k = 0; k < c->nbp; k++)
        if (c->bp[k] == eip)
            return true;
    return false;
}

/* ---- control transfer ---- */
struct block *emu_lookup(struct cpu *c, uint32_t eip);

static inline uint32_t jhash(uint32_t eip) { return (eip ^ (eip >> JCACHE_BITS)) & ((1u << JCACHE_BITS) - 1); }

/* Continue at `target`, through successor slot k of this instruction when it
 * still points at the right block, else via the jump cache, else back to the
 * dispatcher (which fills the slot). */
#define GOTO(target, k) GOTO_AT(i, target, k)
#define GOTO_AT(ins, target, k) do {                                           \
        uint32_t t_ = (target);                                                \
        c->eip = t_;                                                           \
        struct block *nb_ = (ins)->link[k];                                    \
        if (HV_LIKELY(nb_ && nb_->eip == t_)) {                                \
            if (HV_LIKELY(c->icount + nb_->ninsn <= c->stop_at)) {             \
                c->icount += nb_->ninsn;                                       \
                RUN_AT(nb_->insns);                                            \
            }                                                                  \
            STOP();                                                            \
        }                                                                      \
        c->link_slot = (struct block **)(uintptr_t)&(ins)->link[k];           \
        STOP();                                                                \
    } while (0)

#define GOTO_INDIRECT(target) do {                                             \
        uint32_t t_ = (target);                                                \
        c->eip = t_;                                                           \
        struct block *nb_ = c->jcache[jhash(t_)];                              \
        if (HV_LIKELY(nb_ && nb_->eip == t_ &&                                 \
                      c->icount + nb_->ninsn <= c->stop_at)) {                 \
            c->icount += nb_->ninsn;                                           \
            RUN_AT(nb_->insns);                                                \
        }                                                                      \
        STOP();                                                                \
    } while (0)

/* A near branch to t past the CS limit is #GP(0) at the branch, which does
 * not happen (SDM vol. 2, JMP); only the segmented build has such limits. */
#if EMU_SEG
#define CS_LIMIT_AT(ins, t) do {                                               \
        if (HV_UNLIKELY((t) > c->seg[HV_CS].limit)) {                          \
            emu_fault_ret(c, (ins), HV_VEC_GP, 0, 0);                          \
            STOP();                                                            \
        }                                                                      \
    } while (0)
#else
#define CS_LIMIT_AT(ins, t) do { } while (0)
#endif
#define CS_LIMIT(t) CS_LIMIT_AT(i, t)

/* ---- the stack ---- */
#define PUSH(sz, v) do {                                                       \
        uint32_t sp_ = c->r[HV_ESP] - (sz), la_ = SP_LIN(sp_);                 \
        CHECKW_SS(la_, (sz));                                                  \
        st(c, la_, (sz), (v));                                                 \
        c->r[HV_ESP] = sp_;                                                    \
    } while (0)

#define POP(sz, dst) do {                                                      \
        uint32_t sp_ = c->r[HV_ESP], la_ = SP_LIN(sp_);                        \
        CHECK_SS(la_, (sz));                                                   \
        (dst) = ld(c, la_, (sz));                                              \
        c->r[HV_ESP] = sp_ + (sz);                                             \
    } while (0)

/* ---- operand access for generic handlers ---- */
/* Read the E operand (register or memory); a is set to its address. */
#define READ_E(sz, v, a) do {                                                  \
        if (i->rm != RM_MEM) {                                                 \
            (v) = getreg(c, (sz), i->rm);                                      \
        } else {                                                               \
            (a) = ea(c, i);                                                    \
            CHECK((a), (sz));                                                  \
            (v) = ld(c, (a), (sz));                                            \
        }                                                                      \
    } while (0)

/* READ_E for an operand that is written back: the write is checked first. */
#define READ_EW(sz, v, a) do {                                                 \
        if (i->rm != RM_MEM) {                                                 \
            (v) = getreg(c, (sz), i->rm);                                      \
        } else {                                                               \
            (a) = ea(c, i);                                                    \
            CHECKW((a), (sz));                                                 \
            (v) = ld(c, (a), (sz));                                            \
        }                                                                      \
    } while (0)

#define WRITE_E(sz, v, a) do {                                                 \
        if (i->rm != RM_MEM)                                                   \
            setreg(c, (sz), i->rm, (v));                                       \
        else                                                                   \
            st(c, (a), (sz), (v));                                             \
    } while (0)

/* ---- system state (switcher_emu.c) ---- */
/* Paging on or a segment not flat: the _pg or _sg handlers, and the TLB. */
static inline bool emu_uses_tlb(const struct cpu *c)
{
    return c->paged || c->segmented;
}

/* Would MOV CRn, v be accepted (else #GP(0))? */
bool emu_cr_valid(unsigned n, uint32_t v);
/* Write CRn and note what the dispatcher must drop (PENDING_*). */
void emu_set_cr(struct cpu *c, unsigned n, uint32_t v);
/* Forget the translation of va's page (and code decoded under it). */
void emu_invlpg(struct cpu *c, uint32_t va);
void emu_tlb_flush(struct cpu *c);
void emu_tlb_flush_page(struct cpu *c, uint32_t va);
/* Code was just decoded from physical page ppage: no store may bypass the
 * SMC check there any longer. */
void emu_tlb_drop_writes(struct cpu *c, uint32_t ppage);

/* Load segment register sreg with sel, checked as for code running at
 * privilege level cpl (switcher_emu_seg.c); false once instruction i has
 * faulted or stopped the guest. */
bool EMU(emu_load_segment)(struct cpu *c, const struct insn *i, int sreg, uint32_t sel);
bool EMU(emu_load_segment_at)(struct cpu *c, const struct insn *i, int sreg, uint32_t sel,
                              unsigned cpl);
void EMU(emu_drop_inner_segments)(struct cpu *c);
/* Set segment register s and its descriptor cache; attr as in struct
 * hv_segment (0 for an unusable, null data segment).  Then emu_seg_loaded()
 * decides which build runs; if that or the code segment changed, it sets
 * PENDING_* and the instruction must leave its block (NEXT_AFTER_LOAD). */
void emu_seg_set(struct cpu *c, int s, uint16_t sel, uint32_t base, uint32_t limit,
                 uint16_t attr);
void emu_seg_loaded(struct cpu *c);
/* A far transfer to offset off has just loaded CS (old: what it held): an
 * offset past the new limit undoes the load and faults, #GP(0) at the
 * transfer itself (SDM vol. 2, JMP, CALL, RET, IRET). */
static inline bool emu_far_target_ok(struct cpu *c, const struct insn *i, uint16_t old_sel,
                                     const struct emu_seg *old, uint32_t off)
{
    if (HV_LIKELY(off <= c->seg[HV_CS].limit))
        return true;
    emu_seg_set(c, HV_CS, old_sel, old->base, old->limit, old->attr);
    emu_seg_loaded(c);
    emu_fault_ret(c, i, HV_VEC_GP, 0, 0);
    return false;
}
#define EMU_ATTR_P 0x80u
#define EMU_ATTR_S 0x10u
#define EMU_ATTR_DB 0x4000u
#define EMU_ATTR_CODE0 0xc09bu      /* flat 32-bit code, ring 0, accessed */
#define EMU_ATTR_DATA0 0xc093u      /* flat writable data, ring 0, accessed */

/* Go on after a segment load, by way of the dispatcher if it must first
 * drop decoded code. */
#define NEXT_AFTER_LOAD() do {                                                 \
        if (HV_UNLIKELY(c->pending)) {                                         \
            emu_exit_at(c, i, HV_TRAP_NONE, i->next);                          \
            STOP();                                                            \
        }                                                                      \
        NEXT();                                                                \
    } while (0)
#define GOTO_AFTER_LOAD(target) do {                                           \
        uint32_t g_ = (target);                                                \
        if (HV_UNLIKELY(c->pending)) {                                         \
            emu_exit_at(c, i, HV_TRAP_NONE, g_);                               \
            STOP();                                                            \
        }                                                                      \
        GOTO_INDIRECT(g_);                                                     \
    } while (0)

/* Change the privilege level (the TLB is per privilege level). */
void emu_set_cpl(struct cpu *c, unsigned cpl);

/* Instructions only ring 0 may run: #GP(0) elsewhere. */
#define PRIVILEGED() do { if (HV_UNLIKELY(c->cpl != 0)) FAULT(HV_VEC_GP, 0, 0); } while (0)
/* Instructions IOPL guards (cli, sti, in, out): #GP(0) when CPL > IOPL. */
#define IOPL_CHECK() do {                                                      \
        if (HV_UNLIKELY(c->cpl > ((c->eflags >> 12) & 3))) FAULT(HV_VEC_GP, 0, 0); \
    } while (0)

/* ---- x87 (switcher_emu_x87host.c, switcher_emu_x87.c) ---- */
/* Run x87 opcode esc (0..7 for D8..DF) with ModRM modrm on the image, a
 * memory operand (if any) at mem; returns the RFLAGS arithmetic bits after
 * it (FCOMI). */
uint32_t emu_x87_exec(struct cpu *c, unsigned esc, unsigned modrm, void *mem);
void emu_x87_init(struct cpu *c);
/* Put the image into the host's x87 (x87_live), and back (the end of a
 * run, or before C code reads the image). */
void emu_x87_load(struct cpu *c);
void emu_x87_save(struct cpu *c);
/* The guest's FIP..FDS to or from a 32-bit FNSTENV image. */
void emu_x87_put_pointers(const struct cpu *c, uint8_t *env);
void emu_x87_get_pointers(struct cpu *c, const uint8_t *env);
/* A waiting instruction meets a pending unmasked exception: go on (none),
 * stop (#MF, or FERR# with CR0.NE clear), or run it ignoring the exception
 * (IGNNE#: between emu_x87_hold and emu_x87_unhold). */
enum { X87_WAIT_GO, X87_WAIT_STOP, X87_WAIT_IGNORE };
int emu_x87_wait(struct cpu *c, const struct insn *i);
uint32_t emu_x87_hold(struct cpu *c);
void emu_x87_unhold(struct cpu *c, uint32_t held);
/* insn.imm of an x87 instruction: memory operand size, and what it does.
 * Control instructions leave FIP and the opcode alone (SDM vol. 1, 8.1.8);
 * the FN* ones do not wait for a pending exception either. */
enum {
    X87_READ = 1u << 8, X87_WRITE = 1u << 9, X87_CONTROL = 1u << 10,
    X87_FLAGS = 1u << 11, X87_STSW_AX = 1u << 12, X87_NOWAIT = 1u << 13,
};

/* An unmasked x87 exception waits in the status word: the next waiting
 * x87 instruction, or MMX instruction, takes #MF. */
static inline uint32_t emu_x87_sw(const struct cpu *c)
{
    if (c->x87_live) {
        uint16_t sw;
        __asm__ volatile("fnstsw %0" : "=m"(sw));
        return sw;
    }
    return le16(c->x87 + 4);
}

static inline void emu_x87_cw_sw(const struct cpu *c, uint32_t *cw, uint32_t *sw)
{
    if (c->x87_live) {
        uint16_t w, v;
        __asm__ volatile("fnstcw %0\n\tfnstsw %1" : "=m"(w), "=m"(v));
        *cw = w;
        *sw = v;
    } else {
        *cw = le16(c->x87);
        *sw = le16(c->x87 + 4);
    }
}

static inline bool emu_x87_pending(const struct cpu *c)
{
    uint32_t cw, sw;
    emu_x87_cw_sw(c, &cw, &sw);
    return (sw & 0x80u) || (sw & ~cw & 0x3fu);
}

/* Only a control instruction (or FXRSTOR) can unmask an exception or leave
 * one pending while all are masked: x87_watch is worked out again after
 * each, and spares every other waiting instruction the check. */
static inline void emu_x87_rewatch(struct cpu *c)
{
    uint32_t cw, sw;
    emu_x87_cw_sw(c, &cw, &sw);
    c->x87_watch = (cw & 0x3fu) != 0x3fu || (sw & 0x80u);
    if (c->g->ferr == HV_FERR_IGNNE && !(sw & 0x80u) && !(sw & ~cw & 0x3fu))
        c->g->ferr = HV_FERR_IDLE;      /* nothing pending: FERR# and IGNNE# drop */
}

/* ---- MMX and SSE (switcher_emu_simdhost.c, switcher_emu_simd.c) ---- */
/* What a stub runs: the instruction's bytes as the host executes them (a
 * memory operand as [rsi], a general register as EAX), the XMM registers
 * it names, and SIMD_* stub flags. */
struct emu_simd_enc {
    uint8_t bytes[8];
    uint8_t len;
    uint8_t nxmm;
    uint8_t xmm[2];
    uint16_t flags;
};
enum {
    SIMD_GPR_IN = 2, SIMD_GPR_OUT = 4, SIMD_FLAGS_OUT = 8, SIMD_MASKMOV = 16,
};
/* A stub: 0 when the instruction ran, 1 after a host #XM (run_trapping). */
typedef int emu_simd_stub(void *frame, void *mem);
/* The stub for an encoding (made once per process), or NULL if there is no
 * room left for more. */
emu_simd_stub *emu_simd_stub_for(const struct emu_simd_enc *e);
/* Run a stub that may raise an unmasked SIMD exception on the host; false
 * if it did, with MXCSR's flags as the CPU set them. */
bool emu_simd_run_trapping(struct cpu *c, emu_simd_stub *stub, void *mem);
uint32_t emu_mxcsr_mask(void);
void emu_simd_init(struct cpu *c);
#define MXCSR_MASKS 0x1f80u     /* every SIMD exception masked */
/* Make the guest's MXCSR the host's for the rest of the run, and back. */
void emu_simd_load(struct cpu *c);
void emu_simd_save(struct cpu *c);
uint32_t emu_simd_mxcsr(const struct cpu *c);
void emu_simd_set_mxcsr(struct cpu *c, uint32_t m);
/* insn.imm2 of a vector instruction (switcher_emu_decode.c's table, plus
 * what the decoder worked out). */
enum {
    SI_SIZE = 0x1f,         /* memory operand bytes, 0 for register-only */
    SI_ALIGN = 1u << 5,     /* a 16-byte memory operand must be aligned */
    SI_STORE = 1u << 6,     /* the memory operand is written, not read */
    SI_REGONLY = 1u << 7, SI_MEMONLY = 1u << 8,
    SI_IMM = 1u << 13, SI_FLAGS = 1u << 14, SI_GIN = 1u << 15, SI_GOUT = 1u << 16,
    SI_GROUP = 1u << 17, SI_NOMODRM = 1u << 18, SI_MASKMOV = 1u << 19,
    SI_XMM = 1u << 20,      /* names an XMM register: CR4.OSFXSR, CR0.EM, TS */
    SI_MMX = 1u << 21,      /* names an MMX register: CR0.EM, TS, pending x87 */
};
enum { SIMD_K_NONE, SIMD_K_X, SIMD_K_M, SIMD_K_G };
#define SI_REGK(e) (((e) >> 9) & 3u)
#define SI_RMK(e) (((e) >> 11) & 3u)

/* ---- decoder (switcher_emu_decode.c) ---- */
/* Decode up to max_insns instructions at eip into b (room for max_insns + 1),
 * with the handlers of the current mode (emu_decode_block_pg when paged,
 * emu_decode_block_sg when segmented). */
void emu_decode_block(struct cpu *c, uint32_t eip, struct block *b, unsigned max_insns);
void emu_decode_block_pg(struct cpu *c, uint32_t eip, struct block *b, unsigned max_insns);
void emu_decode_block_sg(struct cpu *c, uint32_t eip, struct block *b, unsigned max_insns);

/* ---- handlers, one family per file ---- */
#define H(name) OP(name);
#include "switcher_emu_ops.h"
#undef H
#if !EMU_PAGED
/* The dispatcher (a flat file) recognises these handlers of the TLB builds. */
emu_fn op_fetch_fault_pg, op_fetch_fault_sg, op_jcc_pg, op_jcc_sg;
#endif

#endif
