/*
 * switcher_emu.c: the software switcher's dispatcher and code cache.
 *
 * Guest code is decoded once into blocks (switcher_emu_decode.c).  Blocks
 * live in one arena; when it fills up, every block is dropped at once.  A
 * block is found by its start address through a direct-mapped jump cache in
 * front of a hash table.  Each page of guest RAM that holds decoded code is
 * marked in `codemap`, so a store there invalidates exactly that page's
 * blocks (self-modifying code works).
 *
 * Instruction counting is exact: entering a block adds its length, and an
 * exit part-way through subtracts the instructions that did not retire.
 *
 * With paging on, blocks are found by virtual address and decoded with the
 * paged handlers; they are tied to the physical pages their bytes came from
 * (so a store through any alias invalidates them), and the virtual pages
 * they were fetched through are marked in `vcodemap`, so that a remapping of
 * such a page (SET_PTE, INVLPG) drops the code decoded under the old one.
 *
 * Coverage counts block entries without touching the paths above: a block
 * decoded while it is on starts with op_cov_enter, which bumps the block's
 * counter and runs the real first handler.  Chained jumps land on that
 * handler like any other, so every entry is counted; blocks decoded into
 * the scratch space (budget ends, breakpoints) are counted by the
 * dispatcher.  A block left part-way (a fault, a trap, an exit) records a
 * cut: its instructions from the one that did not retire to its end did not
 * run that time, and the counts of [that one, end) go down by one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "switcher_emu.h"

#define ARENA_SIZE (32u << 20)
#define VPAGES (1u << 20)
#define CR0_BOOT (HV_CR0_PE | HV_CR0_ET)
#define BLOCK_BYTES(n) (sizeof(struct block) + ((size_t)(n) + 1) * sizeof(struct insn))

static uint32_t hhash(uint32_t eip)
{
    return (eip * 0x9e3779b1u) >> (32 - HASH_BITS);
}

static void *emu_create(struct hv_guest *g)
{
    struct cpu *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    size_t pages = g->live.ram_size / HV_PAGE_SIZE + 1;
    c->g = g;
    c->ram = g->live.ram;
    c->ram_size = g->live.ram_size;
    c->codemap = calloc(pages, 1);
    c->page_blocks = calloc(pages, sizeof(struct block *));
    c->arena = malloc(ARENA_SIZE);      /* untouched pages cost nothing */
    c->arena_size = ARENA_SIZE;
    if (!c->codemap || !c->page_blocks || !c->arena) {
        free(c->codemap);
        free(c->page_blocks);
        free(c->arena);
        free(c);
        return NULL;
    }
    c->cr0 = CR0_BOOT;
    c->shadow_at = UINT64_MAX;          /* the TLB starts empty: calloc zeroed it */
    for (int k = 0; k < HV_NSREG; k++)     /* Guest ABI v1: flat CS 0x08, data 0x10 */
        emu_seg_set(c, k, k == HV_CS ? 0x08 : 0x10, 0, 0xffffffffu,
                    k == HV_CS ? EMU_ATTR_CODE0 : EMU_ATTR_DATA0);
    emu_seg_loaded(c);
    c->pending = 0;
    c->eflags = HV_FLAGS_FIXED;
    emu_x87_init(c);
    emu_simd_init(c);
    return c;
}

static void cov_free(struct cpu *c)
{
    if (!c->cov_hash)
        return;
    for (size_t h = 0; h < (1u << COV_BITS); h++)
        for (struct emu_cov *e = c->cov_hash[h], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(c->cov_hash);
}

static void emu_destroy(void *sw)
{
    struct cpu *c = sw;
    cov_free(c);
    free(c->codemap);
    free(c->page_blocks);
    free(c->vcodemap);
    free(c->arena);
    free(c);
}

static void flush_all(struct cpu *c)
{
    memset(c->jcache, 0, sizeof(c->jcache));
    memset(c->hash, 0, sizeof(c->hash));
    size_t pages = c->ram_size / HV_PAGE_SIZE + 1;
    memset(c->codemap, 0, pages);
    memset(c->page_blocks, 0, pages * sizeof(struct block *));
    if (c->vcodemap)
        memset(c->vcodemap, 0, VPAGES / 8);
    c->arena_used = 0;
    c->link_slot = NULL;
    c->flushes++;
    if (c->bt_flushed)
        c->bt_flushed(c);
}

static struct block *page_next(const struct block *b, uint32_t page)
{
    return b->page_next[page == b->ppage[0] ? 0 : 1];
}

static void decode(struct cpu *c, uint32_t eip, struct block *b, unsigned max_insns)
{
    if (c->segmented)
        emu_decode_block_sg(c, eip, b, max_insns);
    else if (c->paged)
        emu_decode_block_pg(c, eip, b, max_insns);
    else
        emu_decode_block(c, eip, b, max_insns);
}

static void mark_vpage(struct cpu *c, uint32_t vpage)
{
    if (!c->vcodemap)
        c->vcodemap = calloc(VPAGES / 32, sizeof(uint32_t));
    if (c->vcodemap)
        c->vcodemap[vpage >> 5] |= 1u << (vpage & 31);
}

/* Without a map (out of memory) every page may hold code: flushes are
 * merely more frequent. */
static bool vpage_has_code(const struct cpu *c, uint32_t vpage)
{
    return !c->vcodemap || ((c->vcodemap[vpage >> 5] >> (vpage & 31)) & 1);
}

/* ---- coverage ---- */

static struct emu_cov *cov_entry(struct cpu *c, uint32_t start, uint32_t end)
{
    struct emu_cov **head = &c->cov_hash[(start * 0x9e3779b1u) >> (32 - COV_BITS)];
    for (struct emu_cov *e = *head; e; e = e->next)
        if (e->start == start && e->end == end)
            return e;
    struct emu_cov *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;        /* that block goes uncounted */
    e->start = start;
    e->end = end;
    e->next = *head;
    *head = e;
    c->cov_n++;
    return e;
}

/* The block that ran before one starting at eip ended in a Jcc: which way
 * did it go?  (Anything else in between, an interrupt say, lands elsewhere.) */
static inline void cov_edge(struct emu_cov *prev, uint32_t eip)
{
    if (prev && prev->jcc_eip) {
        if (eip == prev->jcc_target)
            prev->taken++;
        else if (eip == prev->end)
            prev->not_taken++;
    }
}

/* The first handler of every block decoded with coverage on. */
static OP(op_cov_enter)
{
    struct block *b = (struct block *)((char *)i - offsetof(struct block, insns));
    cov_edge(c->cov_cur, b->eip);
    c->cov_cur = b->cov;
    b->cov->count++;
#ifdef HV_NO_TAILCALL
    return b->cov_fn(c, i);
#else
    b->cov_fn(c, i);
#endif
}

static bool is_jcc(emu_fn *fn)
{
    return fn == op_jcc || fn == op_jcc_pg || fn == op_jcc_sg;
}

static void cov_wrap(struct cpu *c, struct block *b)
{
    if (!b->ninsn || !(b->cov = cov_entry(c, b->eip, b->insns[b->ninsn].eip)))
        return;
    const struct insn *last = &b->insns[b->ninsn - 1];
    if (is_jcc(last->fn)) {         /* (a fused compare leaves the Jcc's fn alone) */
        b->cov->jcc_eip = last->eip;
        b->cov->jcc_target = last->imm;
    }
    b->cov_fn = b->insns[0].fn;
    b->insns[0].fn = op_cov_enter;
}

/* A scratch block runs once and is never chained into: count it here. */
static void cov_scratch(struct cpu *c, const struct block *b)
{
    struct emu_cov *e = b->ninsn ? cov_entry(c, b->eip, b->insns[b->ninsn].eip) : NULL;
    cov_edge(c->cov_cur, b->eip);
    if (e)
        e->count++;
    c->cov_cur = e;
}

void emu_cov_cut(struct cpu *c, uint32_t from)
{
    const struct emu_cov *e = c->cov_cur;
    c->cov_cur = NULL;      /* it did not end in its Jcc, if it has one */
    if (!e || from < e->start || from >= e->end)
        return;             /* not that block's, or all of it ran */
    struct emu_cov *cut = cov_entry(c, from, e->end);
    if (cut)
        cut->cuts++;
}

static int emu_coverage_on(void *sw)
{
    struct cpu *c = sw;
    if (c->cov_hash)
        return 0;
    c->cov_hash = calloc(1u << COV_BITS, sizeof(*c->cov_hash));
    if (!c->cov_hash)
        return -1;
    flush_all(c);           /* blocks decoded before would not count */
    return 0;
}

static void emu_coverage_read(void *sw, void (*fn)(void *ctx, uint32_t start, uint32_t end,
                                                  int64_t count), void *ctx)
{
    const struct cpu *c = sw;
    if (!c->cov_hash)
        return;
    for (size_t h = 0; h < (1u << COV_BITS); h++)
        for (const struct emu_cov *e = c->cov_hash[h]; e; e = e->next)
            if (e->count || e->cuts)
                fn(ctx, e->start, e->end, (int64_t)(e->count - e->cuts));
}

static void emu_coverage_branches(void *sw, void (*fn)(void *ctx, uint32_t eip, uint64_t taken,
                                                      uint64_t not_taken), void *ctx)
{
    const struct cpu *c = sw;
    if (!c->cov_hash)
        return;
    for (size_t h = 0; h < (1u << COV_BITS); h++)
        for (const struct emu_cov *e = c->cov_hash[h]; e; e = e->next)
            if (e->taken || e->not_taken)
                fn(ctx, e->jcc_eip, e->taken, e->not_taken);
}

static struct block *translate(struct cpu *c, uint32_t eip)
{
    if (c->arena_size - c->arena_used < BLOCK_BYTES(BLOCK_MAX_INSNS))
        flush_all(c);
    struct block *b = (struct block *)(c->arena + c->arena_used);
    decode(c, eip, b, BLOCK_MAX_INSNS);
    c->arena_used += (BLOCK_BYTES(b->ninsn) + 15) & ~(size_t)15;

    uint32_t h = hhash(eip);
    b->hash_next = c->hash[h];
    c->hash[h] = b;
    for (uint32_t k = 0; k < b->npages; k++) {
        uint32_t p = b->ppage[k];
        b->page_next[k] = c->page_blocks[p];
        c->page_blocks[p] = b;
        if (!c->codemap[p] && emu_uses_tlb(c))
            emu_tlb_drop_writes(c, p);
        c->codemap[p] = 1;
    }
    if (c->paged) {
        uint32_t base = c->seg[HV_CS].base;     /* vcodemap is by linear page */
        mark_vpage(c, (base + eip) >> 12);
        mark_vpage(c, (base + b->insns[b->ninsn].eip - 1) >> 12);
    }
    if (HV_UNLIKELY(c->cov_hash != NULL))
        cov_wrap(c, b);
    else if (c->bt_decoded)
        c->bt_decoded(c, b);
    return b;
}

struct block *emu_lookup(struct cpu *c, uint32_t eip)
{
    struct block **slot = &c->jcache[jhash(eip)];
    struct block *b = *slot;
    if (b && b->eip == eip)
        return b;
    for (b = c->hash[hhash(eip)]; b; b = b->hash_next)
        if (b->eip == eip)
            break;
    if (!b) {
        if (emu_uses_tlb(c)) {
            /* An instruction fetch that faults is never cached (see the
             * decoder): decode it into the scratch block and run it there. */
            b = &c->scratch.blk;
            decode(c, eip, b, 1);
            if (b->insns[0].fn == op_fetch_fault_pg || b->insns[0].fn == op_fetch_fault_sg) {
                c->cov_cur = NULL;      /* no counted block runs */
                return b;
            }
        }
        b = translate(c, eip);
    }
    *slot = b;
    return b;
}



static void kill_block(struct cpu *c, struct block *b)
{
    uint32_t eip = b->eip;
    struct block **pp = &c->hash[hhash(eip)];
    while (*pp && *pp != b)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = b->hash_next;
    if (c->jcache[jhash(eip)] == b)
        c->jcache[jhash(eip)] = NULL;
    b->eip = BLOCK_DEAD;
    if (c->bt_killed)
        c->bt_killed(c, b);
    /* Anything still running or chained into it stops before the old code. */
    for (uint32_t k = 0; k <= b->ninsn; k++)
        b->insns[k].fn = op_stale;
}

/* A store hit a page with decoded code: drop that page's blocks. */
void emu_smc(struct cpu *c, uint32_t a, uint32_t len)
{
    uint32_t npages = c->ram_size / HV_PAGE_SIZE;
    for (uint32_t p = a >> 12; p <= (a + len - 1) >> 12 && p < npages; p++) {
        if (!c->codemap[p])
            continue;
        for (struct block *b = c->page_blocks[p]; b; b = page_next(b, p))
            if (b->eip != BLOCK_DEAD)
                kill_block(c, b);
        c->page_blocks[p] = NULL;
        c->codemap[p] = 0;
    }
}

const struct insn *emu_fault_ret(struct cpu *c, const struct insn *i, uint32_t vec, uint32_t err,
                                 uint32_t cr2)
{
    struct hv_trap *t = c->trap;
    t->kind = HV_TRAP_FAULT;
    t->vector = vec;
    t->error_code = err;
    t->cr2 = cr2;
    t->eip = i->eip;
    t->next_eip = i->next;
    c->eip = i->eip;
    c->icount -= i->remain;         /* the faulting instruction did not retire */
    if (HV_UNLIKELY(c->cov_hash != NULL))
        emu_cov_cut(c, i->eip);
    return NULL;
}

void emu_raise_ud(struct cpu *c, const struct insn *i, unsigned nbytes)
{
    struct hv_trap *t = c->trap;
    emu_fault_ret(c, i, HV_VEC_UD, 0, 0);
    unsigned n = nbytes < sizeof(t->bytes) ? nbytes : sizeof(t->bytes);
    for (unsigned k = 0; k < n; k++) {
        uint32_t ppage;
        const uint8_t *p = emu_fetch_ptr(c, i->eip + k, &ppage);
        if (!p)
            break;
        t->bytes[t->nbytes++] = *p;
    }
}

void emu_unsupported(struct cpu *c, const struct insn *i, const char *fmt, ...)
{
    struct hv_trap *t = c->trap;
    emu_fault_ret(c, i, 0, 0, 0);
    t->kind = HV_TRAP_UNSUPPORTED;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->what, sizeof(t->what), fmt, ap);
    va_end(ap);
}

const struct insn *emu_exit_at(struct cpu *c, const struct insn *i, enum hv_trap_kind kind,
                               uint32_t eip)
{
    struct hv_trap *t = c->trap;
    t->kind = kind;
    t->eip = i->eip;
    t->next_eip = i->next;
    c->eip = eip;
    c->icount -= i->remain - 1u;
    if (HV_UNLIKELY(c->cov_hash != NULL))
        emu_cov_cut(c, i->next);
    return NULL;
}

const struct insn *emu_trap_ret(struct cpu *c, const struct insn *i, enum hv_trap_kind kind,
                                uint32_t vector)
{
    struct hv_trap *t = c->trap;
    t->kind = kind;
    t->vector = vector;
    t->eip = i->eip;
    t->next_eip = i->next;
    c->eip = i->next;
    c->icount -= i->remain - 1u;    /* this one retired; the rest of the block did not */
    if (HV_UNLIKELY(c->cov_hash != NULL))
        emu_cov_cut(c, i->next);
    return NULL;
}

static void enter_block(struct cpu *c, const struct block *b)
{
#ifdef HV_NO_TAILCALL
    for (const struct insn *i = b->insns; i;)
        i = i->fn(c, i);
#else
    b->insns[0].fn(c, b->insns);
#endif
}

/* Drop what a change of the paging state made stale (never mid-block). */
static void do_pending(struct cpu *c)
{
    if (c->pending & PENDING_TLB)
        emu_tlb_flush(c);
    if (c->pending & PENDING_CODE)
        flush_all(c);
    c->pending = 0;
}

/* The dispatcher is at a breakpoint: stop before it (false), or, resuming
 * from that stop or in a debugger's single step (its one instruction is the
 * first), run the block there uncached, so that nothing chains into it and
 * the next arrival stops again. */
static bool at_break(struct cpu *c, struct hv_trap *t)
{
    bool resume = c->bp_stopped && c->bp_icount == c->icount && c->bp_eip == c->eip;
    if (!resume && !c->g->live.debug_step) {
        t->kind = HV_TRAP_BREAK;
        t->eip = t->next_eip = c->eip;
        c->bp_stopped = true;
        c->bp_icount = c->icount;
        c->bp_eip = c->eip;
        return false;
    }
    c->bp_stopped = false;
    c->link_slot = NULL;
    struct block *b = &c->scratch.blk;
    uint64_t left = c->stop_at - c->icount;
    decode(c, c->eip, b, left < BLOCK_MAX_INSNS ? (unsigned)left : BLOCK_MAX_INSNS);
    if (c->cov_hash)
        cov_scratch(c, b);
    c->icount += b->ninsn;
    enter_block(c, b);
    return true;
}

static void emu_run(void *sw, uint64_t budget, struct hv_trap *t)
{
    struct cpu *c = sw;
    memset(t, 0, sizeof(*t));
    c->trap = t;
    c->stop_at = c->icount + budget;
    while (t->kind == HV_TRAP_NONE) {
        if (HV_UNLIKELY(c->pending))
            do_pending(c);
        if (c->g->stop != HV_RUNNING) {
            t->kind = HV_TRAP_STOP;     /* a page walk killed the guest */
            break;
        }
        if (c->icount >= c->stop_at) {
            t->kind = HV_TRAP_BUDGET;
            break;
        }
        if (HV_UNLIKELY(c->nbp) && emu_bp_has(c, c->eip)) {
            if (!at_break(c, t))
                break;
            continue;
        }
        struct block *b = emu_lookup(c, c->eip);
        if (c->link_slot) {
            if (b != &c->scratch.blk)
                *c->link_slot = b;
            c->link_slot = NULL;
        }
        if (c->icount + b->ninsn > c->stop_at) {
            /* Too long for what is left of the budget: decode just enough,
             * into a block that is never cached. */
            b = &c->scratch.blk;
            decode(c, c->eip, b, (unsigned)(c->stop_at - c->icount));
            if (HV_UNLIKELY(c->cov_hash != NULL))
                cov_scratch(c, b);
        }
        c->icount += b->ninsn;
        enter_block(c, b);
    }
    c->link_slot = NULL;
    if (c->x87_live)
        emu_x87_save(c);        /* the guest's x87 state leaves the host's unit */
    if (c->simd.live)
        emu_simd_save(c);       /* and its MXCSR */
}

static void emu_get_regs(void *sw, struct hv_regs *r)
{
    const struct cpu *c = sw;
    memcpy(r->gpr, c->r, sizeof(r->gpr));
    r->eip = c->eip;
    r->eflags = emu_flags(c);
}

static void emu_set_regs(void *sw, const struct hv_regs *r)
{
    struct cpu *c = sw;
    memcpy(c->r, r->gpr, sizeof(r->gpr));
    c->r[REG_NONE] = 0;
    c->eip = r->eip;
    emu_set_flags(c, r->eflags);
    c->link_slot = NULL;
}

static uint64_t emu_instructions(void *sw)
{
    return ((const struct cpu *)sw)->icount;
}

/* ---- system state ---- */

#define CR4_KNOWN (HV_CR4_PSE | HV_CR4_PGE | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 8) | \
                   (1u << 9) | (1u << 10))

bool emu_cr_valid(unsigned n, uint32_t v)
{
    switch (n) {
    case 0:
        if ((v & HV_CR0_PG) && !(v & HV_CR0_PE))
            return false;
        return !((v & HV_CR0_NW) && !(v & HV_CR0_CD));
    case 4:
        return !(v & ~CR4_KNOWN);       /* VME, PVI and PAE are not supported */
    default:
        return true;
    }
}

void emu_set_cr(struct cpu *c, unsigned n, uint32_t v)
{
    uint32_t old0 = c->cr0, old3 = c->cr3, old4 = c->cr4;
    switch (n) {
    case 0: c->cr0 = v | HV_CR0_ET; break;
    case 2: c->cr2 = v; break;
    case 3: c->cr3 = v; break;
    default: c->cr4 = v; break;
    }
    bool was = old0 & HV_CR0_PG, now = c->cr0 & HV_CR0_PG;
    bool mmu = ((old0 ^ c->cr0) & (HV_CR0_PG | HV_CR0_WP)) || ((old4 ^ c->cr4) & HV_CR4_PSE) ||
               (n == 3 && now);         /* a CR3 write flushes, even of the same value */
    (void)old3;
    if (mmu) {
        c->pending |= PENDING_TLB;
        if (was || now)
            c->pending |= PENDING_CODE;
    }
    c->paged = now;
}

/* ---- segments ---- */

void emu_seg_set(struct cpu *c, int s, uint16_t sel, uint32_t base, uint32_t limit,
                 uint16_t attr)
{
    struct emu_seg *e = &c->seg[s];
    unsigned type = attr & 0xf;
    bool usable = (attr & EMU_ATTR_P) && (attr & EMU_ATTR_S), code = type & 8;
    uint32_t lo = 0;
    int64_t span = limit;
    if (!code && (type & 4)) {
        /* Expand-down: the valid offsets are above the limit, up to 64 KiB or
         * 4 GiB by the B bit (SDM vol. 3, 3.4.5.1). */
        uint32_t top = (attr & EMU_ATTR_DB) ? 0xffffffffu : 0xffffu;
        lo = limit + 1;
        span = (lo == 0 || lo > top) ? -1 : (int64_t)(top - lo);
    }
    c->sreg[s] = sel;
    e->base = base;
    e->bias = base + lo;
    e->limit = limit;
    e->attr = attr;
    e->rspan = usable && (!code || (type & 2)) ? span : -1;
    e->wspan = usable && !code && (type & 2) ? span : -1;
}

/* Flat: what the flat and paged builds assume, base 0 and every offset
 * readable (and writable, for data).  Those builds do not refuse writes
 * through a CS override, which a CPU would. */
static bool seg_flat(const struct emu_seg *e, bool code)
{
    return e->bias == 0 && e->rspan == 0xffffffffu && (code || e->wspan == 0xffffffffu);
}

void emu_seg_loaded(struct cpu *c)
{
    bool segmented = false;
    for (int k = 0; k < HV_NSREG; k++)
        segmented |= !seg_flat(&c->seg[k], k == HV_CS);
    /* Watching reads takes every access through the TLB: the slowest build
     * has one, whether paging is on or off. */
    segmented |= c->watch_mem;
    const struct emu_seg *cs = &c->seg[HV_CS];
    if (segmented != c->segmented || cs->base != c->code_base || cs->limit != c->code_limit) {
        /* Decoded blocks belong to the other build, or to another code
         * segment: drop them (and the TLB, filled only in the slow build). */
        c->pending |= PENDING_TLB | PENDING_CODE;
        c->code_base = cs->base;
        c->code_limit = cs->limit;
    }
    c->segmented = segmented;
}

void emu_set_cpl(struct cpu *c, unsigned cpl)
{
    if (c->cpl != cpl) {
        c->cpl = (uint8_t)cpl;
        c->pending |= PENDING_TLB;      /* entries were checked for the other level */
    }
}

void emu_invlpg(struct cpu *c, uint32_t va)
{
    emu_tlb_flush_page(c, va);
    if (c->paged && vpage_has_code(c, va >> 12))
        c->pending |= PENDING_CODE;
}

static void emu_get_sregs(void *sw, struct hv_sregs *s)
{
    const struct cpu *c = sw;
    memset(s, 0, sizeof(*s));
    s->cr0 = c->cr0;
    s->cr2 = c->cr2;
    s->cr3 = c->cr3;
    s->cr4 = c->cr4;
    for (int k = 0; k < HV_NSREG; k++) {
        s->seg[k].sel = c->sreg[k];
        s->seg[k].base = c->seg[k].base;
        s->seg[k].limit = c->seg[k].limit;
        s->seg[k].attr = c->seg[k].attr;
    }
    s->gdt = c->gdtr;
    s->idt = c->idtr;
    s->ldt.sel = c->ldtr;
    s->tr.sel = c->tr;
    s->cpl = c->cpl;
    s->interrupt_shadow = c->icount == c->shadow_at;
}

static void emu_set_sregs(void *sw, const struct hv_sregs *s)
{
    struct cpu *c = sw;
    if (s->cr0 != c->cr0)
        emu_set_cr(c, 0, s->cr0);
    if (s->cr4 != c->cr4)
        emu_set_cr(c, 4, s->cr4);
    if (s->cr3 != c->cr3)
        emu_set_cr(c, 3, s->cr3);
    c->cr2 = s->cr2;
    for (int k = 0; k < HV_NSREG; k++)
        emu_seg_set(c, k, s->seg[k].sel, s->seg[k].base, s->seg[k].limit, s->seg[k].attr);
    emu_seg_loaded(c);
    c->gdtr = s->gdt;
    c->idtr = s->idt;
    emu_set_cpl(c, s->cpl);
    do_pending(c);
}

static void emu_flush_tlb(void *sw, uint32_t vaddr, bool all)
{
    struct cpu *c = sw;
    if (all) {
        c->pending |= PENDING_TLB | (c->paged ? PENDING_CODE : 0);
    } else {
        emu_invlpg(c, vaddr);
    }
    do_pending(c);
}

static void emu_mem_written(void *sw, uint32_t pa, uint32_t len)
{
    struct cpu *c = sw;
    if (len)
        emu_smc(c, pa, len);
}

static void emu_irq_window(void *sw, bool want)
{
    ((struct cpu *)sw)->want_window = want;
}

static void emu_set_breakpoints(void *sw, const uint32_t *eips, size_t n)
{
    struct cpu *c = sw;
    c->nbp = 0;
    for (size_t k = 0; k < n && c->nbp < EMU_BP_MAX; k++)
        if (!emu_bp_has(c, eips[k]))
            c->bp[c->nbp++] = eips[k];
    flush_all(c);           /* blocks decoded before may run past the new ones */
}

static void emu_watch_accesses(void *sw, bool on)
{
    struct cpu *c = sw;
    c->watch_mem = on;
    emu_seg_loaded(c);
    flush_all(c);
    emu_tlb_flush(c);       /* pages with watchpoints now (or no longer) miss it */
}

static void emu_get_fpu(void *sw, uint8_t fnsave[108], uint8_t xmm[128], uint32_t *mxcsr)
{
    const struct cpu *c = sw;
    memcpy(fnsave, c->x87, 108);    /* emu_run leaves the image up to date */
    memcpy(xmm, c->simd.xmm, 128);
    *mxcsr = emu_simd_mxcsr(c);
}

static void emu_set_fpu(void *sw, const uint8_t fnsave[108], const uint8_t xmm[128],
                        uint32_t mxcsr)
{
    struct cpu *c = sw;
    memcpy(c->x87, fnsave, 108);    /* the next run loads it into the host's x87 */
    emu_x87_rewatch(c);
    memcpy(c->simd.xmm, xmm, 128);
    emu_simd_set_mxcsr(c, mxcsr & emu_mxcsr_mask());
}

/* ---- snapshots: two stretches of struct cpu and the instruction count ---- */

#define STATE_REGS offsetof(struct cpu, ram)
#define STATE_SYS_AT offsetof(struct cpu, cr0)
#define STATE_SYS (offsetof(struct cpu, tlb) - STATE_SYS_AT)

static size_t emu_state_size(void *sw)
{
    (void)sw;
    return STATE_REGS + STATE_SYS + sizeof(uint64_t);
}

static void emu_save(void *sw, void *state)
{
    const struct cpu *c = sw;
    uint8_t *p = state;
    memcpy(p, c, STATE_REGS);       /* between runs the x87 and MXCSR are in there */
    memcpy(p + STATE_REGS, (const uint8_t *)c + STATE_SYS_AT, STATE_SYS);
    memcpy(p + STATE_REGS + STATE_SYS, &c->icount, sizeof(c->icount));
}

static void emu_restore(void *sw, const void *state)
{
    struct cpu *c = sw;
    const uint8_t *p = state;
    bool watch_mem = c->watch_mem;  /* the debugger's, as now */
    memcpy(c, p, STATE_REGS);
    memcpy((uint8_t *)c + STATE_SYS_AT, p + STATE_REGS, STATE_SYS);
    memcpy(&c->icount, p + STATE_REGS + STATE_SYS, sizeof(c->icount));
    c->x87_live = c->simd.live = false;
    c->watch_mem = watch_mem;
    emu_seg_loaded(c);      /* which build runs follows from both */
    /* RAM changed under every decoded block and translation. */
    c->pending = 0;
    flush_all(c);
    emu_tlb_flush(c);
    c->cov_cur = NULL;
    c->bp_stopped = false;  /* a breakpoint right here stops the next run, as at a boot */
}

const struct hv_switcher_ops hv_switcher_emu = {
    .name = "emu",
    .create = emu_create,
    .destroy = emu_destroy,
    .run = emu_run,
    .get_regs = emu_get_regs,
    .set_regs = emu_set_regs,
    .instructions = emu_instructions,
    .get_sregs = emu_get_sregs,
    .set_sregs = emu_set_sregs,
    .flush_tlb = emu_flush_tlb,
    .mem_written = emu_mem_written,
    .irq_window = emu_irq_window,
    .set_breakpoints = emu_set_breakpoints,
    .get_fpu = emu_get_fpu,
    .set_fpu = emu_set_fpu,
    .coverage_on = emu_coverage_on,
    .watch_accesses = emu_watch_accesses,
    .coverage_read = emu_coverage_read,
    .coverage_branches = emu_coverage_branches,
    .state_size = emu_state_size,
    .save = emu_save,
    .restore = emu_restore,
};
