/*
 * switcher_emu.h: the software switcher's private contracts.
 *
 * The emu switcher is an IA-32 interpreter for 32-bit protected mode with
 * flat segments.  Code is decoded once into blocks of `struct insn`, each
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

struct cpu;
struct insn;
struct block;

#ifdef HV_NO_TAILCALL
/* Plain dispatch loop: each handler returns the next instruction. */
typedef const struct insn *emu_fn(struct cpu *c, const struct insn *i);
#define OP(name) const struct insn *name(struct cpu *c, const struct insn *i)
#define RUN_AT(p) do { (void)c; return (p); } while (0)
#define STOP() return NULL
#else
/* Direct threading: each handler tail-calls the next (a sibling call at -O2). */
typedef void emu_fn(struct cpu *c, const struct insn *i);
#define OP(name) void name(struct cpu *c, const struct insn *i)
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
    struct block *link[2];  /* cached successors of a control transfer */
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
};

struct block {
    uint32_t eip;           /* 0xffffffff once invalidated */
    uint32_t ninsn;
    uint32_t page;          /* first guest page of its code */
    uint32_t npages;        /* 1 or 2 */
    struct block *hash_next;
    struct block *page_next[2];
    struct insn insns[];
};

#define BLOCK_DEAD 0xffffffffu
#define BLOCK_MAX_INSNS 64
#define JCACHE_BITS 14
#define HASH_BITS 16

/* Lazy flags: cc_op = kind << 2 | log2(size in bytes). */
enum cc_kind {
    CC_EAGER, CC_ADD, CC_ADC, CC_SUB, CC_SBB, CC_LOGIC, CC_INC, CC_DEC, CC_NEG,
    CC_SHL, CC_SHR, CC_SAR,
};
#define ARITH_FLAGS (HV_CF | HV_PF | HV_AF | HV_ZF | HV_SF | HV_OF)

struct cpu {
    uint32_t r[9];          /* EAX..EDI, then a zero for absent base/index */
    uint32_t eip;
    uint32_t eflags;        /* system bits always; arithmetic bits when CC_EAGER */
    uint32_t cc_op, cc_a, cc_b, cc_res;
    uint16_t sreg[6];

    uint8_t *ram;
    uint32_t ram_size;
    uint8_t *codemap;       /* per page: nonzero if decoded blocks live there */

    uint64_t icount;        /* instructions retired */
    uint64_t stop_at;       /* leave the guest when icount reaches this */
    struct hv_trap *trap;
    struct block **link_slot; /* successor slot to fill once the target is known */

    struct block *jcache[1u << JCACHE_BITS];
    struct block *hash[1u << HASH_BITS];
    struct block **page_blocks; /* per page: list of blocks that decode from it */
    uint8_t *arena;
    size_t arena_used, arena_size;
    uint64_t flushes;

    union {
        struct block blk;
        uint8_t raw[sizeof(struct block) + (BLOCK_MAX_INSNS + 2) * sizeof(struct insn)];
    } scratch;              /* uncached block for runs that must stop mid-block */
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
static inline uint32_t ea(const struct cpu *c, const struct insn *i)
{
    return c->r[i->base] + (c->r[i->index] << i->scale) + i->disp;
}

static inline bool mem_ok(const struct cpu *c, uint32_t a, uint32_t sz)
{
    return a <= c->ram_size - sz;           /* ram_size >= 2 MiB, so no wrap */
}

static inline uint32_t ld(const struct cpu *c, uint32_t a, int sz)
{
    const uint8_t *p = c->ram + a;
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

void emu_smc(struct cpu *c, uint32_t a, uint32_t len);

static inline void st(struct cpu *c, uint32_t a, int sz, uint32_t v)
{
    uint8_t *p = c->ram + a;
    if (sz == 4) {
        memcpy(p, &v, 4);
    } else if (sz == 2) {
        uint16_t w = (uint16_t)v;
        memcpy(p, &w, 2);
    } else {
        *p = (uint8_t)v;
    }
    /* A write to a page that holds decoded code invalidates that code. */
    if (HV_UNLIKELY(c->codemap[a >> 12] | c->codemap[(a + sz - 1) >> 12]))
        emu_smc(c, a, (uint32_t)sz);
}

/* ---- leaving the guest ---- */
const struct insn *emu_fault_ret(struct cpu *c, const struct insn *i, uint32_t vec, uint32_t err,
                                 uint32_t cr2);
const struct insn *emu_trap_ret(struct cpu *c, const struct insn *i, enum hv_trap_kind kind,
                                uint32_t vector);

/* Raise an exception for instruction i (which does not retire) and leave. */
#define FAULT(vec, err, cr2) do { emu_fault_ret(c, i, (vec), (err), (cr2)); STOP(); } while (0)
#define PF(addr) FAULT(HV_VEC_PF, 0, (addr))
/* Check a data access of sz bytes at a: #PF when it leaves RAM. */
#define CHECK(a, sz) do { if (HV_UNLIKELY(!mem_ok(c, (a), (sz)))) PF(a); } while (0)

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

/* ---- the stack ---- */
#define PUSH(sz, v) do {                                                       \
        uint32_t sp_ = c->r[HV_ESP] - (sz);                                    \
        CHECK(sp_, (sz));                                                      \
        st(c, sp_, (sz), (v));                                                 \
        c->r[HV_ESP] = sp_;                                                    \
    } while (0)

#define POP(sz, dst) do {                                                      \
        uint32_t sp_ = c->r[HV_ESP];                                           \
        CHECK(sp_, (sz));                                                      \
        (dst) = ld(c, sp_, (sz));                                              \
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

#define WRITE_E(sz, v, a) do {                                                 \
        if (i->rm != RM_MEM)                                                   \
            setreg(c, (sz), i->rm, (v));                                       \
        else                                                                   \
            st(c, (a), (sz), (v));                                             \
    } while (0)

/* ---- decoder (switcher_emu_decode.c) ---- */
/* Decode up to max_insns instructions at eip into b (room for max_insns + 1).
 * Returns the number of guest pages the block's code touches (1 or 2). */
void emu_decode_block(struct cpu *c, uint32_t eip, struct block *b, unsigned max_insns);

/* ---- handlers, one family per file ---- */
#define H(name) OP(name);
#include "switcher_emu_ops.h"
#undef H

#endif
