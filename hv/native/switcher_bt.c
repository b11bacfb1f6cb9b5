/*
 * switcher_bt.c: the `bt` switcher, a binary translator from 32-bit x86
 * guest code to x86-64 host code (issue 13), behind the same ops as the emu.
 *
 * The rule that makes bt correct from its first line: everything bt does
 * not translate runs in the emu, the reference interpreter, exactly as it
 * would under `HV_SWITCHER=emu`.  bt owns an emu and keeps the guest's
 * state where the emu keeps it, so registers, lazy flags, the soft TLB, the
 * instruction count, breakpoints, coverage and snapshots are the emu's own
 * and cannot drift apart.
 *
 * Translation (on unless HV_BT_TRANSLATE=0) is tiered: a block the emu
 * decoded and cached first runs bt's counting handler; after BT_HOT runs
 * the instructions at its start that the translator knows become host code
 * (switcher_bt_x86.c) and the block's first handler becomes bt's entry.
 * That enters the host code, which runs on from block to block while they
 * have host code and the budget allows, and on leaving, goes on as the
 * emu's handlers would: with the first instruction of the block it left
 * that did not run, or the successor of its branch.  The emu counted the
 * first block when it entered it (it enters a block only when the whole
 * block fits in the budget), and host code counts every block it enters
 * by the same rule, so the count stays exact; a block the emu drops
 * (self-modifying code, a flush) is never entered again, since its entry
 * handler lives in the block, chains check its EIP, and the direct jumps
 * a chain became (bt_link) are undone when it goes (bt_killed).  No
 * mapping of the code buffer is writable and executable at once (W^X,
 * bt_map).  What is translated: docs/switchers.md, "Status".
 *
 * A snapshot of a bt machine is the emu's state; it is tagged with the
 * switcher that took it (host_snapshot.c), so it goes back into a bt machine.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv.h"

#ifdef HV_HAVE_BT

#include "switcher_bt.h"

#define BT_HOT 32                       /* runs of a block before it is translated
                                         * (HV_BT_HOT=N changes it; tests use 1, 2) */
#define BT_CODE_SIZE (16u << 20)        /* host code buffer (reserved, filled lazily) */
#define BT_CODE_MAX 16384               /* host code of one block, at most */
#define BT_SITES_MAX (BT_CODE_SIZE / 64)  /* blocks with host code, at most */
#define BT_RETS_LISTED 256              /* RET slots filled that a flush empties one by one */

/* A translated block's sites (outside struct block, which the emu keeps
 * small: its size costs the emu's own runs). */
struct bt_sites {
    uint8_t *at[BT_SITES];      /* its host code's jumps to other blocks' (BT_PATCH) */
    uint8_t *back[BT_SITES];    /* a Jcc site's first target (NULL: a NOP site) */
    uintptr_t in_next[BT_SITES];    /* the next in the bt_in list after site k */
};

struct bt {
    struct hv_guest *g;
    void *emu;                  /* the reference engine: every block starts there */
    uint8_t *code;              /* BT_CODE_SIZE bytes, read+execute (bt_map) ... */
    uint8_t *wcode;             /* ... and their read+write view (NULL: flips) */
    unsigned forks;             /* bt_forks when the views were made */
    size_t code_used;
    uint32_t hot;                   /* BT_HOT, or HV_BT_HOT */
    bool stats;                     /* HV_BT_STATS=1: the figures below on stderr at the end */
    uint64_t translated, refused;   /* blocks: translated, or found untranslatable */
    uint64_t inlined;               /* blocks whose code is also in another's (parts) */
    uint64_t entries, native;       /* runs of host code; instructions it ran */
    uint64_t patched;               /* branch sites made direct jumps */
    bool simd;                      /* some host code runs SSE instructions */
    bool broken;                    /* a flip failed: host code is never entered again */
    struct bt_host host;            /* what the host CPU does (bt_probe_host) */
    struct bt_shared shared;        /* the entry and exit at the buffer's start */
    bt_enter_fn *enter;
    uint8_t *tab;                   /* c->bt_tab, made at the first translation */
    uint32_t ret_filled[BT_RETS_LISTED];    /* the BT_TAB_RET slots filled, ... */
    uint32_t rets_filled;           /* ... how many (more than listed: any) */
    struct bt_sites *sites;         /* BT_SITES_MAX of them, made with tab ... */
    size_t sites_used;              /* ... and taken in turn until a flush */
    uint8_t buf[BT_CODE_MAX];       /* one block's host code, before it is installed */
};

#define EMU_OPS hv_switcher_emu

static struct block *block_of(const struct insn *i)
{
    return (struct block *)((char *)i - offsetof(struct block, insns));
}

/* Run handler fn on insn i, as the last thing a handler does. */
#ifdef HV_NO_TAILCALL
#define RUN_FN(fn, ins) return (fn)(c, (ins))
#else
#define RUN_FN(fn, ins) do { (fn)(c, (ins)); return; } while (0)
#endif

/* Where the next block's host code goes. */
static size_t bt_next_at(const struct bt *t)
{
    return (t->code_used + 15) & ~(size_t)15;
}

/* Forks of this process seen by this process (the child's handler counts
 * them): views of the code buffer made before a fork are not the child's
 * (bt_map). */
static unsigned bt_forks;
static pthread_once_t bt_fork_once = PTHREAD_ONCE_INIT;

static void bt_forked(void)
{
    bt_forks++;
}

static void bt_fork_watch(void)
{
    pthread_atfork(NULL, NULL, bt_forked);
}

/* Write len bytes of host code at `to`, in the buffer: through the
 * writable view, or (flips) with its pages writable only meanwhile.  False,
 * and bt broken, if they stay writable or unwritten; false in a fork's
 * child before it has views of its own (bt_run: it drops all host code
 * before it runs any, so an undone jump, bt_killed, need not be written). */
static bool bt_write(struct bt *t, uint8_t *to, const void *src, size_t len)
{
    size_t at = (size_t)(to - t->code);
    if (HV_UNLIKELY(t->forks != bt_forks))
        return false;
    if (t->wcode) {
        memcpy(t->wcode + at, src, len);
        return true;
    }
    size_t lo = at & ~(size_t)(HV_PAGE_SIZE - 1);
    size_t hi = (at + len + HV_PAGE_SIZE - 1) & ~(size_t)(HV_PAGE_SIZE - 1);
    if (mprotect(t->code + lo, hi - lo, PROT_READ | PROT_WRITE)) {
        t->broken = true;
        return false;
    }
    memcpy(to, src, len);
    if (mprotect(t->code + lo, hi - lo, PROT_READ | PROT_EXEC)) {
        t->broken = true;       /* these pages hold other blocks' code: never enter any */
        return false;
    }
    return true;
}

/* Copy len bytes of host code into the buffer at bt_next_at. */
static void *bt_install(struct bt *t, const uint8_t *src, size_t len)
{
    size_t at = bt_next_at(t);
    if (at + len > BT_CODE_SIZE || !bt_write(t, t->code + at, src, len))
        return NULL;
    t->code_used = at + len;
    return t->code + at;
}

/* Make a site go to `to`: a NOP site (back NULL) jmp <to>, a Jcc's rel32
 * (at site, going to back) one to `to`. */
static bool bt_jump(struct bt *t, uint8_t *site, const uint8_t *back, const uint8_t *to)
{
    uint8_t jmp[BT_SITE_LEN] = { 0xe9 };
    if (back) {
        int32_t rel = (int32_t)(to - (site + 4));
        return bt_write(t, site, &rel, 4);
    }
    int32_t rel = (int32_t)(to - (site + BT_SITE_LEN));
    memcpy(jmp + 1, &rel, 4);
    return bt_write(t, site, jmp, sizeof(jmp));
}

/* Part x's branch (its instruction n) went to the block in its successor
 * slot k, which has host code (BT_PATCH): site s of the host code of
 * `owner` (x's, or that of a block whose code holds x's) goes straight to
 * that block's chain entry from now on, and is listed in that block's bt_in
 * to be undone when the emu drops it. */
static void bt_link(struct bt *t, struct block *owner, unsigned s, struct block *x, uint32_t n,
                    unsigned k)
{
    const struct insn *j = &x->insns[n];
    struct block *nb = j->link[k];
    struct bt_sites *os = owner->bt_sites;
    uint8_t *site = s < BT_SITES ? os->at[s] : NULL;
    uint32_t target = k ? j->next : j->imm;
    if (!site || !nb || nb->eip != target || !nb->bt_chain || owner->eip == BLOCK_DEAD)
        return;
    if (!bt_jump(t, site, os->back[s], nb->bt_chain))
        return;
    os->in_next[s] = nb->bt_in;
    nb->bt_in = (uintptr_t)owner | s;   /* (blocks are 16-byte aligned) */
    t->patched++;
}

/* The emu drops b: the sites that jump to its host code go back to NOPs
 * (their slot checks then see that b is gone). */
static void bt_killed(struct cpu *c, struct block *b)
{
    struct bt *t = c->bt;
    for (uintptr_t in = b->bt_in; in; ) {
        struct block *x = (struct block *)(in & ~(uintptr_t)15);
        unsigned s = (unsigned)(in & 15);
        struct bt_sites *xs = x->bt_sites;
        if (xs->back[s])
            bt_jump(t, xs->at[s], xs->back[s], xs->back[s]);
        else
            bt_write(t, xs->at[s], bt_site_nop, BT_SITE_LEN);
        in = xs->in_next[s];
        xs->in_next[s] = 0;
    }
    b->bt_in = 0;
}

/* The first handler of a translated block. */
static OP(op_bt_enter)
{
    struct block *b = block_of(i);
    struct bt *t = c->bt;
    if (HV_UNLIKELY(c->paged | c->segmented | t->broken))
        RUN_FN(b->bt_fn, i);
    if (c->cc_op != CC_EAGER)   /* host code keeps them in EFLAGS */
        emu_set_flags(c, emu_flags(c));
    /* SSE in host code as the emu's op_simd runs it: with the guest's MXCSR
     * in the host's, where no instruction can fault (#UD, #NM) or trap (#XM,
     * every exception masked), and nothing changes that in host code. */
    c->bt_simd = t->simd && !(c->cr0 & (HV_CR0_EM | HV_CR0_TS)) && (c->cr4 & HV_CR4_OSFXSR) &&
                 (c->simd.mxcsr & MXCSR_MASKS) == MXCSR_MASKS;
    if (c->bt_simd && !c->simd.live)
        emu_simd_load(c);
    uint64_t left = c->stop_at - c->icount;     /* the emu counted b: it fit */
    if (left > BT_LEFT_MAX)
        left = BT_LEFT_MAX;
    c->bt_left = left;
    uint32_t r = t->enter(c, b->bt_code);
    struct block *x = c->bt_exit_block;
    c->icount += left - c->bt_left;             /* the blocks entered after b */
    c->eflags = (c->eflags & ~ARITH_FLAGS) | (c->bt_hostflags & ARITH_FLAGS);
    if (HV_UNLIKELY(t->stats)) {
        t->entries++;
        t->native += b->ninsn + (left - c->bt_left);
    }
    uint32_t n = r & BT_COUNT_MASK;
    if (r & BT_BUDGET) {        /* as GOTO_AT stops when x does not fit */
        c->eip = x->eip;
        STOP();
    }
    if (r & BT_BRANCH) {        /* as op_jcc, op_jmp and op_ret go on (flat: no CS limit) */
        if (r & BT_INDIRECT) {
            /* The RET's host code looks its target up in BT_TAB_RET next time. */
            struct block *nb = c->jcache[jhash(c->eip)];
            if (nb && nb->eip == c->eip && nb->bt_chain) {
                uint32_t k = c->eip & (BT_RET_SLOTS - 1);
                ((struct block **)(t->tab + BT_TAB_RET))[k] = nb;
                if (t->rets_filled < BT_RETS_LISTED)
                    t->ret_filled[t->rets_filled] = k;
                if (t->rets_filled <= BT_RETS_LISTED)
                    t->rets_filled++;       /* (saturated: it never wraps to "few") */
            }
            GOTO_INDIRECT(c->eip);
        }
        const struct insn *j = &x->insns[n];
        if (r & BT_PATCH)
            bt_link(t, c->bt_exit_owner, r >> BT_SITE_SHIFT, x, n, r & BT_TAKEN ? 0 : 1);
        if (r & BT_TAKEN)
            GOTO_AT(j, j->imm, 0);
        GOTO_AT(j, j->next, 1);
    }
    if (n == 0)                 /* stopped before the first: the emu's own handler */
        RUN_FN(x->bt_fn, &x->insns[0]);
    RUN_AT(&x->insns[n]);
}

/* What an empty BT_TAB_RET slot holds: a block no target matches (a RET
 * to BLOCK_DEAD finds it, without host code), so host code need not test
 * for none. */
static struct block bt_no_block = { .eip = BLOCK_DEAD };

/* Every slot empty; or, when few were filled since (t->ret_filled lists
 * them), those (a flush at every run of a kept machine need not write the
 * whole 512 KiB). */
static void bt_no_ret_targets(struct bt *t)
{
    struct block **slot = (struct block **)(t->tab + BT_TAB_RET);
    if (t->rets_filled <= BT_RETS_LISTED) {
        for (uint32_t n = 0; n < t->rets_filled; n++)
            slot[t->ret_filled[n]] = &bt_no_block;
    } else {
        for (uint32_t k = 0; k < BT_RET_SLOTS; k++)
            slot[k] = &bt_no_block;
    }
    t->rets_filled = 0;
}

/* No store from host code reaches the page (its pairs included). */
static void no_stores(uint8_t *tab, uint32_t page)
{
    tab[BT_TAB_STORE + page] = 0;
    tab[BT_TAB_STORE2 + page] = 0;
    tab[BT_TAB_STORE2 + page + 1] = 0;
}

/* Stores go to the emu on the pages of b's code (the emu's codemap marks
 * them too).  Host code checks a store by the page of its last byte only
 * (switcher_bt_x86.c), so a store that starts in the last 3 bytes of a page
 * and ends in the next must find that next page marked when those bytes
 * hold code of b. */
static void mark_code(struct bt *t, const struct block *b)
{
    for (uint32_t k = 0; k < b->npages; k++)
        no_stores(t->tab, b->ppage[k]);
    if (b->npages && b->ninsn &&
        ((b->insns[b->ninsn].eip - 1) & (HV_PAGE_SIZE - 1)) >= HV_PAGE_SIZE - 3)
        no_stores(t->tab, b->ppage[b->npages - 1] + 1);
}

/* Table `one` (BT_TAB_LOAD, BT_TAB_STORE) and its pairs' table `two`: 1 on
 * RAM's pages, nothing else known. */
static void ram_pages_ok(uint8_t *tab, uint32_t one, uint32_t two, uint32_t ram_pages)
{
    memset(tab + one, 1, ram_pages);
    if (ram_pages)
        memset(tab + two + 1, 1, ram_pages - 1);
}

/* The tables of switcher_bt.h, made when the first block gets hot: a
 * machine that translates nothing never pays for their 4.5 MiB. */
static bool bt_make_tables(struct bt *t, struct cpu *c)
{
    uint8_t *tab = calloc(1, BT_TAB_SIZE);
    struct bt_sites *sites = calloc(BT_SITES_MAX, sizeof(*sites));
    if (!tab || !sites) {
        free(tab);
        free(sites);
        return false;
    }
    t->sites = sites;
    uint32_t ram_pages = (uint32_t)(c->ram_size / HV_PAGE_SIZE);
    ram_pages_ok(tab, BT_TAB_LOAD, BT_TAB_LOAD2, ram_pages);     /* the rest 0: not RAM */
    ram_pages_ok(tab, BT_TAB_STORE, BT_TAB_STORE2, ram_pages);
    for (unsigned v = 0; v < 256; v += 16)
        tab[BT_TAB_ALIGN16 + v] = 1;
    t->tab = c->bt_tab = tab;
    t->rets_filled = BT_RETS_LISTED + 1;     /* (all of them) */
    bt_no_ret_targets(t);
    for (uint32_t p = 0; p < ram_pages; p++)       /* the blocks of each page in codemap */
        for (struct block *b = c->page_blocks[p]; b; b = b->page_next[p == b->ppage[0] ? 0 : 1])
            mark_code(t, b);
    return true;
}

/* The first handler of a cached block until it is hot. */
static OP(op_bt_count)
{
    struct block *b = block_of(i);
    struct bt *t = c->bt;
    if (++b->bt_heat < t->hot || c->paged || c->segmented)
        RUN_FN(b->bt_fn, i);
    b->insns[0].fn = b->bt_fn;  /* unless it is translated below */
    if (!t->tab && !bt_make_tables(t, c)) {
        t->refused++;
        RUN_FN(b->bt_fn, i);
    }
    struct bt_out out;
    size_t at = bt_next_at(t);
    size_t cap = at < BT_CODE_SIZE ? BT_CODE_SIZE - at : 0;
    bt_translate(c, b, &t->host, t->buf, cap < sizeof(t->buf) ? cap : sizeof(t->buf),
                 t->code + at, t->code + t->shared.exit, &out);
    if (!out.ninsn) {           /* nothing translatable, or no room left */
        t->refused++;
        if (cap < sizeof(t->buf))   /* maybe it did not fit: start again, between blocks */
            c->pending |= PENDING_CODE;
        RUN_FN(b->bt_fn, i);
    }
    void *code = t->sites_used < BT_SITES_MAX ? bt_install(t, t->buf, out.len) : NULL;
    if (!code) {
        if (t->broken)          /* from now on bt only interprets */
            c->bt_decoded = NULL;
        c->pending |= PENDING_CODE; /* the buffer is full: start again, between blocks */
        RUN_FN(b->bt_fn, i);
    }
    t->translated++;
    t->inlined += out.parts - 1;
    t->simd |= out.simd;
    b->bt_code = (uint8_t *)code + out.go;
    b->bt_chain = (uint8_t *)code + out.chain;
    struct bt_sites *bs = b->bt_sites = &t->sites[t->sites_used++];
    for (unsigned k = 0; k < BT_SITES; k++) {
        bs->at[k] = out.site[k] ? (uint8_t *)code + out.site[k] : NULL;
        bs->back[k] = out.site_back[k] ? (uint8_t *)code + out.site_back[k] : NULL;
        bs->in_next[k] = 0;
    }
    b->insns[0].fn = op_bt_enter;
    RUN_FN(op_bt_enter, i);
}

static void bt_decoded(struct cpu *c, struct block *b)
{
    struct bt *t = c->bt;
    if (t->tab)
        mark_code(t, b);
    b->bt_fn = b->insns[0].fn;
    b->bt_heat = 0;
    b->bt_code = NULL;
    b->bt_chain = NULL;
    b->bt_sites = NULL;
    b->bt_in = 0;
    if (b->ninsn >= 2 && !c->paged && !c->segmented)
        b->insns[0].fn = op_bt_count;
}

/* The emu dropped every block: their host code goes too. */
static void bt_flushed(struct cpu *c)
{
    struct bt *t = c->bt;
    t->code_used = t->shared.len;   /* the shared entry and exit stay */
    t->sites_used = 0;
    if (t->tab) {               /* no page holds decoded code now; no RET target is known */
        ram_pages_ok(t->tab, BT_TAB_STORE, BT_TAB_STORE2, (uint32_t)(c->ram_size / HV_PAGE_SIZE));
        bt_no_ret_targets(t);
    }
}

/* The host code keeps flags with LAHF/SAHF, optional in 64-bit mode, and
 * finds pages with BMI2's RORX, which leaves EFLAGS alone. */
static bool translation_wanted(const struct bt_host *h)
{
    const char *v = getenv("HV_BT_TRANSLATE");
    if (v && strcmp(v, "0") == 0)
        return false;
    return h->usable;
}

/* The code buffer's views go (not a child's inherited ones: it has none,
 * and something else may be mapped there now). */
static void bt_unmap(struct bt *t)
{
    if (t->forks == bt_forks) {
        if (t->code)
            munmap(t->code, BT_CODE_SIZE);
        if (t->wcode)
            munmap(t->wcode, BT_CODE_SIZE);
    }
    t->code = t->wcode = NULL;
}

/* A BT_CODE_SIZE mapping that a fork's child does not inherit, or NULL. */
static uint8_t *bt_map_one(int fd, int prot, int flags)
{
    void *p = mmap(NULL, BT_CODE_SIZE, prot, flags | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (madvise(p, BT_CODE_SIZE, MADV_DONTFORK)) {
        munmap(p, BT_CODE_SIZE);
        return NULL;
    }
    return p;
}

/* Map the code buffer, W^X: two views of one memory file, read+execute
 * (host code runs there) and read+write (bt writes there), so a write is a
 * plain copy; or, where that cannot be had or HV_BT_WX=mprotect, one
 * read+execute mapping made read+write for each write and back (flips, two
 * system calls a write).  A fork's child inherits neither view: the views
 * are shared memory, and a child writing host code into its parent's would
 * change what the parent runs; the child makes its own (bt_run).  Then the
 * shared entry and exit.  False: no buffer, bt only interprets. */
static bool bt_map(struct bt *t)
{
    t->code = t->wcode = NULL;
    t->forks = bt_forks;
    const char *wx = getenv("HV_BT_WX");
    int fd = wx && strcmp(wx, "mprotect") == 0 ? -1 : memfd_create("hv-bt-code", MFD_CLOEXEC);
    if (fd >= 0) {
        if (ftruncate(fd, BT_CODE_SIZE) == 0) {
            t->code = bt_map_one(fd, PROT_READ | PROT_EXEC, MAP_SHARED);
            t->wcode = bt_map_one(fd, PROT_READ | PROT_WRITE, MAP_SHARED);
            if (!t->code || !t->wcode)
                bt_unmap(t);
        }
        close(fd);
    }
    if (!t->code)
        t->code = bt_map_one(-1, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS);
    if (!t->code)
        return false;
    t->code_used = 0;
    bt_emit_shared(t->buf, sizeof(t->buf), &t->shared);
    t->enter = t->shared.len ? bt_install(t, t->buf, t->shared.len) : NULL;
    if (!t->enter) {
        bt_unmap(t);
        return false;
    }
    return true;
}

static void *bt_create(struct hv_guest *g)
{
    struct bt *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->g = g;
    t->emu = EMU_OPS.create(g);
    if (!t->emu) {
        free(t);
        return NULL;
    }
    bt_probe_host(&t->host);
    if (translation_wanted(&t->host)) {
        pthread_once(&bt_fork_once, bt_fork_watch);
        if (bt_map(t)) {
            const char *hot = getenv("HV_BT_HOT");
            t->hot = hot && atoi(hot) > 0 ? (uint32_t)atoi(hot) : BT_HOT;
            const char *stats = getenv("HV_BT_STATS");
            t->stats = stats && strcmp(stats, "1") == 0;
            struct cpu *c = t->emu;
            c->bt = t;
            c->bt_decoded = bt_decoded;
            c->bt_flushed = bt_flushed;
            c->bt_killed = bt_killed;
        }
    }
    return t;
}

static void bt_destroy(void *sw)
{
    struct bt *t = sw;
    if (t->stats)
        fprintf(stderr, "hv bt: %llu blocks translated (%llu more inlined in them), %llu refused, "
                "%llu branches made direct, %llu runs of host code, "
                "%llu instructions in them, %llu in all; host: logic ops %s AF, "
                "AF and OF as the emu's after SHL %s, SHR %s, SAR %s, ROL %s, ROR %s; "
                "host code written %s\n",
                (unsigned long long)t->translated, (unsigned long long)t->inlined,
                (unsigned long long)t->refused,
                (unsigned long long)t->patched, (unsigned long long)t->entries, (unsigned long long)t->native,
                (unsigned long long)EMU_OPS.instructions(t->emu),
                t->host.logic_af_clear ? "clear" : "keep",
                t->host.shift_as_emu[4] ? "yes" : "no", t->host.shift_as_emu[5] ? "yes" : "no",
                t->host.shift_as_emu[7] ? "yes" : "no", t->host.shift_as_emu[0] ? "yes" : "no",
                t->host.shift_as_emu[1] ? "yes" : "no",
                t->wcode ? "through a second mapping" : "with mprotect flips");
    EMU_OPS.destroy(t->emu);
    free(t->tab);
    free(t->sites);
    bt_unmap(t);
    free(t);
}

static void bt_run(void *sw, uint64_t budget, struct hv_trap *trap)
{
    struct bt *t = sw;
    if (HV_UNLIKELY(t->code && t->forks != bt_forks)) {
        /* A fork's child, with a machine its parent made: its blocks' host
         * code is not mapped here.  New views, and the emu drops every block
         * (with their host code) before it runs one. */
        struct cpu *c = t->emu;
        c->pending |= PENDING_CODE;
        if (!bt_map(t))
            c->bt_decoded = NULL;   /* from now on bt only interprets */
    }
    EMU_OPS.run(t->emu, budget, trap);
}

/* Everything else is the emu's, on the emu's state. */
static void bt_get_regs(void *sw, struct hv_regs *r)
{
    EMU_OPS.get_regs(((struct bt *)sw)->emu, r);
}

static void bt_set_regs(void *sw, const struct hv_regs *r)
{
    EMU_OPS.set_regs(((struct bt *)sw)->emu, r);
}

static uint64_t bt_instructions(void *sw)
{
    return EMU_OPS.instructions(((struct bt *)sw)->emu);
}

static void bt_get_sregs(void *sw, struct hv_sregs *s)
{
    EMU_OPS.get_sregs(((struct bt *)sw)->emu, s);
}

static void bt_set_sregs(void *sw, const struct hv_sregs *s)
{
    EMU_OPS.set_sregs(((struct bt *)sw)->emu, s);
}

static void bt_flush_tlb(void *sw, uint32_t vaddr, bool all)
{
    EMU_OPS.flush_tlb(((struct bt *)sw)->emu, vaddr, all);
}

static void bt_mem_written(void *sw, uint32_t pa, uint32_t len)
{
    EMU_OPS.mem_written(((struct bt *)sw)->emu, pa, len);
}

static void bt_irq_window(void *sw, bool want)
{
    EMU_OPS.irq_window(((struct bt *)sw)->emu, want);
}

static void bt_set_breakpoints(void *sw, const uint32_t *eips, size_t n)
{
    EMU_OPS.set_breakpoints(((struct bt *)sw)->emu, eips, n);
}

static void bt_get_fpu(void *sw, uint8_t fnsave[108], uint8_t xmm[128], uint32_t *mxcsr)
{
    EMU_OPS.get_fpu(((struct bt *)sw)->emu, fnsave, xmm, mxcsr);
}

static void bt_set_fpu(void *sw, const uint8_t fnsave[108], const uint8_t xmm[128],
                       uint32_t mxcsr)
{
    EMU_OPS.set_fpu(((struct bt *)sw)->emu, fnsave, xmm, mxcsr);
}

static int bt_coverage_on(void *sw)
{
    return EMU_OPS.coverage_on(((struct bt *)sw)->emu);
}

static void bt_watch_accesses(void *sw, bool on)
{
    EMU_OPS.watch_accesses(((struct bt *)sw)->emu, on);
}

static void bt_coverage_read(void *sw, void (*fn)(void *ctx, uint32_t start, uint32_t end,
                                                  int64_t count), void *ctx)
{
    EMU_OPS.coverage_read(((struct bt *)sw)->emu, fn, ctx);
}

static void bt_coverage_branches(void *sw, void (*fn)(void *ctx, uint32_t eip, uint64_t taken,
                                                      uint64_t not_taken), void *ctx)
{
    EMU_OPS.coverage_branches(((struct bt *)sw)->emu, fn, ctx);
}

static size_t bt_state_size(void *sw)
{
    return EMU_OPS.state_size(((struct bt *)sw)->emu);
}

static void bt_save(void *sw, void *state)
{
    EMU_OPS.save(((struct bt *)sw)->emu, state);
}

static void bt_restore(void *sw, const void *state)
{
    EMU_OPS.restore(((struct bt *)sw)->emu, state);
}

const struct hv_switcher_ops hv_switcher_bt = {
    .name = "bt",
    .create = bt_create,
    .destroy = bt_destroy,
    .run = bt_run,
    .get_regs = bt_get_regs,
    .set_regs = bt_set_regs,
    .instructions = bt_instructions,
    .get_sregs = bt_get_sregs,
    .set_sregs = bt_set_sregs,
    .flush_tlb = bt_flush_tlb,
    .mem_written = bt_mem_written,
    .irq_window = bt_irq_window,
    .set_breakpoints = bt_set_breakpoints,
    .get_fpu = bt_get_fpu,
    .set_fpu = bt_set_fpu,
    .coverage_on = bt_coverage_on,
    .watch_accesses = bt_watch_accesses,
    .coverage_read = bt_coverage_read,
    .coverage_branches = bt_coverage_branches,
    .state_size = bt_state_size,
    .save = bt_save,
    .restore = bt_restore,
};

#endif
