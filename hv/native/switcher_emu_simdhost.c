/*
 * switcher_emu_simdhost.c: the emu's MMX, SSE, SSE2, SSE3 and SSSE3 run on
 * the host's own vector unit.
 *
 * The guest's XMM registers and MXCSR live in struct emu_simd; its MMX
 * registers are the x87 registers of the FNSAVE image.  During a run the
 * guest's MXCSR is the host's (the first vector instruction loads it, the
 * end of the run puts the host's back: emu_simd_load/save), as the guest's
 * x87 state is (switcher_emu_x87host.c); the emu's own code uses no
 * floating point.  One guest vector instruction is one call to a stub
 * generated here, at decode time, for that exact encoding: the stub loads
 * the (at most two) XMM registers the instruction names, runs the very same
 * opcode, and stores them back.  A memory operand
 * becomes [rsi] ([esi] on i386), a copy of the guest's bytes; a general
 * register operand becomes EAX, loaded from and stored to the frame; an
 * instruction that names an MMX register runs with the guest's x87 state
 * in the host's x87 (switcher_emu_x87host.c), so the x87/MMX aliasing (TOP,
 * the tag word, the exponent bits) is the CPU's own.  So every result and every MXCSR flag is this
 * CPU's, rounding, DAZ and FTZ included, and identical on every run; the
 * host's MXCSR and x87 control word are put back before the stub returns.
 *
 * Stubs are keyed by their encoding and kept for the life of the process in
 * executable chunks shared by every guest (creating one takes a lock; a
 * decoded instruction keeps its stub's address).
 *
 * A guest that unmasks SIMD exceptions may make the stub's instruction trap
 * on the host (#XM: SIGFPE).  Only then does the stub run under a SIGFPE
 * handler of ours, which resumes the stub at its recovery path (returning
 * from the handler puts back the MXCSR the CPU reported, with the flags of
 * the unmasked exception); the guest then takes #XM itself with its
 * registers as they were.
 */
#define _GNU_SOURCE 1      /* REG_RIP, REG_EIP */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "switcher_emu.h"

#define CHUNK_BYTES (1u << 20)
#define STUB_MAX 192
#define TABLE_BITS 17
#define TABLE_SIZE (1u << TABLE_BITS)

/* The frame's fields, as displacements from the pointer the stub gets
 * (struct emu_simd + 64), so that all are disp8. */
#define F_XMM(r) ((int)(16 * (r)) - 64)
#define F_GPR (offsetof(struct emu_simd, gpr) - 64)
#define F_EFLAGS (offsetof(struct emu_simd, eflags) - 64)

_Static_assert(offsetof(struct emu_simd, xmm) == 0, "xmm first");
_Static_assert(offsetof(struct emu_simd, recover) - 64 < 128, "frame fits disp8");

struct slot {
    uint64_t key;
    emu_simd_stub *stub;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *table;
static unsigned nstubs;
static uint8_t *chunk;
static size_t chunk_used = CHUNK_BYTES;

/* ---- code generation ---- */

struct gen {
    uint8_t b[STUB_MAX];
    unsigned n;
};

static void emit(struct gen *g, unsigned n, const uint8_t *bytes)
{
    memcpy(g->b + g->n, bytes, n);
    g->n += n;
}

#define EMIT(g, ...) do {                                                      \
        static const uint8_t bytes_[] = { __VA_ARGS__ };                       \
        emit((g), sizeof(bytes_), bytes_);                                     \
    } while (0)

static void emit1(struct gen *g, unsigned v)
{
    g->b[g->n++] = (uint8_t)v;
}

/* op [DI + disp8] with ModRM.reg = r (mod 01, r/m 111), after the opcode
 * bytes in op/nop. */
static void emit_di(struct gen *g, unsigned nop, const uint8_t *op, unsigned r, int disp)
{
    emit(g, nop, op);
    emit1(g, 0x40u | r << 3 | 7u);
    emit1(g, (unsigned)disp & 0xffu);
}

static void emit_xmm(struct gen *g, bool store, unsigned r)
{
    static const uint8_t ld[] = { 0xf3, 0x0f, 0x6f }, st[] = { 0xf3, 0x0f, 0x7f };
    emit_di(g, 3, store ? st : ld, r, F_XMM(r));            /* movdqu */
}

static void emit_entry(struct gen *g)
{
#if defined(__x86_64__)
    EMIT(g, 0xf3, 0x0f, 0x1e, 0xfa);                        /* endbr64 */
#else
    /* cdecl: keep EDI and ESI; the frame and the operand arrive on the
     * stack. */
    EMIT(g, 0x57, 0x56, 0x8b, 0x7c, 0x24, 0x0c, 0x8b, 0x74, 0x24, 0x10);
#endif
}

static void emit_exit(struct gen *g, bool fault)
{
    if (fault)
        EMIT(g, 0xb8, 0x01, 0x00, 0x00, 0x00);              /* mov eax, 1 */
    else
        EMIT(g, 0x31, 0xc0);                                /* xor eax, eax */
#if defined(__i386__)
    EMIT(g, 0x5e, 0x5f);                                    /* pop esi; pop edi */
#endif
    EMIT(g, 0xc3);
}

static void generate(struct gen *g, const struct emu_simd_enc *e, unsigned *recover)
{
    emit_entry(g);
    for (unsigned k = 0; k < e->nxmm; k++)
        emit_xmm(g, false, e->xmm[k]);
    if (e->flags & (SIMD_GPR_IN | SIMD_GPR_OUT))
        EMIT(g, 0x8b, 0x47, (uint8_t)F_GPR);                /* mov eax, [di+gpr] */
    if (e->flags & SIMD_MASKMOV) {
        /* MASKMOVQ and MASKMOVDQU store through [DI]: point it at [SI]. */
#if defined(__x86_64__)
        EMIT(g, 0x57, 0x48, 0x89, 0xf7);                    /* push rdi; mov rdi, rsi */
#else
        EMIT(g, 0x57, 0x89, 0xf7);
#endif
        emit(g, e->len, e->bytes);
        EMIT(g, 0x5f);                                      /* pop rdi */
    } else {
        emit(g, e->len, e->bytes);
    }
    if (e->flags & SIMD_GPR_OUT)
        EMIT(g, 0x89, 0x47, (uint8_t)F_GPR);                /* mov [di+gpr], eax */
    if (e->flags & SIMD_FLAGS_OUT)
        EMIT(g, 0x9c, 0x58, 0x89, 0x47, (uint8_t)F_EFLAGS); /* pushf; pop ax; mov */
    for (unsigned k = 0; k < e->nxmm; k++)
        emit_xmm(g, true, e->xmm[k]);
    emit_exit(g, false);
    /* Where the SIGFPE handler resumes: the instruction did not complete,
     * the guest's XMM registers are unchanged. */
    *recover = g->n;
    emit_exit(g, true);
}

static uint64_t enc_key(const struct emu_simd_enc *e)
{
    uint64_t k = e->flags;
    for (unsigned n = 0; n < e->len; n++)
        k = k * 0x100000001b3ull ^ e->bytes[n];
    for (unsigned n = 0; n < e->nxmm; n++)
        k = k * 0x100000001b3ull ^ (0x100u | e->xmm[n]);
    return (k * 0x9e3779b97f4a7c15ull) | 1;                 /* 0 marks a free slot */
}

/* The key is a hash, so the slot also keeps the encoding to compare. */
struct stub_head {
    struct emu_simd_enc enc;
    uint32_t recover;
};

static emu_simd_stub *stub_code(struct stub_head *h)
{
    emu_simd_stub *s;
    uint8_t *at = (uint8_t *)(h + 1);
    memcpy(&s, &at, sizeof(s));
    return s;
}

static bool same_enc(const struct emu_simd_enc *a, const struct emu_simd_enc *b)
{
    return a->len == b->len && a->nxmm == b->nxmm && a->flags == b->flags &&
           !memcmp(a->bytes, b->bytes, a->len) && !memcmp(a->xmm, b->xmm, a->nxmm);
}

static struct stub_head *head_of(emu_simd_stub *s)
{
    uint8_t *at;
    memcpy(&at, &s, sizeof(at));
    return (struct stub_head *)(at - sizeof(struct stub_head));
}

emu_simd_stub *emu_simd_stub_for(const struct emu_simd_enc *e)
{
    uint64_t key = enc_key(e);
    emu_simd_stub *found = NULL;
    pthread_mutex_lock(&lock);
    if (!table)
        table = calloc(TABLE_SIZE, sizeof(*table));
    if (!table)
        goto out;
    unsigned at = (unsigned)(key >> (64 - TABLE_BITS));
    for (;;) {
        struct slot *s = &table[at];
        if (!s->key)
            break;
        if (s->key == key && same_enc(&head_of(s->stub)->enc, e)) {
            found = s->stub;
            goto out;
        }
        at = (at + 1) & (TABLE_SIZE - 1);
    }
    if (nstubs >= TABLE_SIZE / 4 * 3)
        goto out;                       /* full: the caller stops the guest */
    size_t need = sizeof(struct stub_head) + STUB_MAX;
    need = (need + 15) & ~(size_t)15;
    if (chunk_used + need > CHUNK_BYTES) {
        void *m = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            goto out;
        chunk = m;
        chunk_used = 0;
    }
    struct stub_head *h = (struct stub_head *)(chunk + chunk_used);
    struct gen g = { .n = 0 };
    unsigned recover;
    generate(&g, e, &recover);
    h->enc = *e;
    h->recover = recover;
    memcpy(h + 1, g.b, g.n);
    chunk_used += (sizeof(struct stub_head) + g.n + 15) & ~(size_t)15;
    __builtin___clear_cache((char *)(h + 1), (char *)(h + 1) + g.n);
    found = stub_code(h);
    table[at].key = key;
    table[at].stub = found;
    nstubs++;
out:
    pthread_mutex_unlock(&lock);
    return found;
}

/* ---- running a stub ---- */

/* The stub this thread runs under the SIGFPE handler, if any. */
static __thread const uint8_t *fpe_lo, *fpe_hi;
static __thread struct emu_simd *fpe_frame;

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sig_users;
static struct sigaction sig_old;

static void on_sigfpe(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
#if defined(__x86_64__)
    uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
    uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_EIP];
#endif
    const uint8_t *p;
    memcpy(&p, &ip, sizeof(p));
    if (fpe_frame && p >= fpe_lo && p < fpe_hi) {
        struct emu_simd *f = fpe_frame;
        uintptr_t to = (uintptr_t)f->recover;
#if defined(__x86_64__)
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)to;
#else
        uc->uc_mcontext.gregs[REG_EIP] = (greg_t)to;
#endif
        return;
    }
    /* Not ours: let the previous disposition have it (the instruction runs
     * again and traps once more). */
    sigaction(SIGFPE, &sig_old, NULL);
    (void)sig;
    (void)si;
}

static void sig_take(void)
{
    pthread_mutex_lock(&sig_lock);
    if (sig_users++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_sigfpe;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGFPE, &sa, &sig_old);
    }
    pthread_mutex_unlock(&sig_lock);
}

static void sig_give(void)
{
    pthread_mutex_lock(&sig_lock);
    if (--sig_users == 0)
        sigaction(SIGFPE, &sig_old, NULL);
    pthread_mutex_unlock(&sig_lock);
}

bool emu_simd_run_trapping(struct cpu *c, emu_simd_stub *stub, void *mem)
{
    struct stub_head *h = head_of(stub);
    const uint8_t *lo = (const uint8_t *)(h + 1);
    struct emu_simd *f = &c->simd;
    f->recover = (uint64_t)(uintptr_t)(lo + h->recover);
    sig_take();
    fpe_lo = lo;
    fpe_hi = lo + STUB_MAX;
    fpe_frame = f;
    int r = stub((uint8_t *)f + 64, mem);
    fpe_frame = NULL;
    sig_give();
    return r == 0;
}

void emu_simd_load(struct cpu *c)
{
    __asm__ volatile("stmxcsr %0\n\tldmxcsr %1" : "=m"(c->simd.host_mxcsr) : "m"(c->simd.mxcsr));
    c->simd.live = true;
}

void emu_simd_save(struct cpu *c)
{
    __asm__ volatile("stmxcsr %0\n\tldmxcsr %1" : "=m"(c->simd.mxcsr) : "m"(c->simd.host_mxcsr));
    c->simd.live = false;
}

uint32_t emu_simd_mxcsr(const struct cpu *c)
{
    uint32_t m = c->simd.mxcsr;
    if (c->simd.live)
        __asm__ volatile("stmxcsr %0" : "=m"(m));
    return m;
}

void emu_simd_set_mxcsr(struct cpu *c, uint32_t m)
{
    c->simd.mxcsr = m;
    if (c->simd.live)
        __asm__ volatile("ldmxcsr %0" :: "m"(c->simd.mxcsr));
}

/* MXCSR_MASK: the bits LDMXCSR and FXRSTOR accept, as FXSAVE reports it
 * (0xffbf when it reports 0, SDM vol. 1, 11.6.6). */
uint32_t emu_mxcsr_mask(void)
{
    static uint32_t mask;
    if (!mask) {
        static uint8_t area[512] __attribute__((aligned(16)));
        uint32_t m;
        __asm__ volatile("fxsave %0" : "=m"(area));
        memcpy(&m, area + 28, 4);
        mask = m ? m : 0xffbfu;
    }
    return mask;
}

void emu_simd_init(struct cpu *c)
{
    memset(&c->simd, 0, sizeof(c->simd));
    c->simd.mxcsr = 0x1f80;             /* the power-up value */
}
