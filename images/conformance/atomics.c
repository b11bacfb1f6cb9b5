/*
 * atomics.c - xchg, xadd, cmpxchg, cmpxchg8b and lock-prefixed arithmetic.
 *
 * xchg in all its forms (86/87 register and memory, the 90+r short forms,
 * 16-bit), xadd and cmpxchg at 8/16/32 bits with register and memory
 * destinations (success and failure), cmpxchg8b (success and failure: only
 * ZF changes, the other flags are compared for preservation), and the lock
 * prefix on every read-modify-write instruction that accepts it.  A single
 * CPU cannot observe atomicity, so what is checked is that the prefix is
 * accepted and the result, memory and flags are those of the plain form.
 */
#include "conf.h"

#define LOGIC (F_CF | F_PF | F_ZF | F_SF | F_OF)

static const u32 flags_in[2] = {0x002, 0x8d7};

/* Two results and the flags of one execution. */
struct res {
    u32 x, y, fl;
};

typedef struct res (*pair_fn)(u32 a, u32 b, u32 fin);

/* a in ECX, b in EDX; also a memory copy at (%esi) holding a. */
#define BODY_RR(body)                                                           \
    {                                                                           \
        struct res r;                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+c"(a), "+d"(b), [fo] "=r"(fo)                      \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        r.x = a;                                                                \
        r.y = b;                                                                \
        r.fl = fo;                                                              \
        return r;                                                               \
    }

#define BODY_MR(body)                                                           \
    {                                                                           \
        struct res r;                                                           \
        u32 fo, m = a;                                                          \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+d"(b), [fo] "=r"(fo)                               \
                         : "S"(&m), [fin] "r"(fin)                              \
                         : "cc", "memory");                                     \
        r.x = m;                                                                \
        r.y = b;                                                                \
        r.fl = fo;                                                              \
        return r;                                                               \
    }

#define PFN(name) static struct res name(u32 a, u32 b, u32 fin)

static inline u32 rol8(u32 x) { return (x << 8) | (x >> 24); }
static inline u32 ror8(u32 x) { return (x >> 8) | (x << 24); }

/* ---- xchg: 86/87 /r (reg-reg both ways, memory), 90+r. ----------------- */

#define XCHG(sz)                                                                \
    PFN(xchg##sz##_rr) BODY_RR(P##sz ".byte 0x86+" STR(W##sz) ", 0xd1")         \
    PFN(xchg##sz##_rr2) BODY_RR(P##sz ".byte 0x86+" STR(W##sz) ", 0xca")        \
    PFN(xchg##sz##_mr) BODY_MR(P##sz ".byte 0x86+" STR(W##sz) ", 0x16")         \
    PFN(xchg##sz##_lmr) BODY_MR(".byte 0xf0\n\t" P##sz ".byte 0x86+" STR(W##sz) ", 0x16")

XCHG(8)
XCHG(16)
XCHG(32)
PFN(xchg8_hraw) BODY_RR(".byte 0x86, 0xf5")           /* xchg dh, ch */
PFN(xchg8_hi)
{
    struct res r = xchg8_hraw(rol8(a), rol8(b), fin);

    r.x = ror8(r.x);
    r.y = ror8(r.y);
    return r;
}
PFN(xchg8_hl) BODY_RR(".byte 0x86, 0xd5")             /* xchg dl, ch */

/* 90+r: EAX with ECX, EDX, EBX, EBP, ESI, EDI (ESP would lose the stack). */
static void run_xchg_short(void)
{
    u32 h = HASH_INIT;

    for (int i = 0; i < 16; i++) {
        u32 a = edges[i], c = 0x11111111 ^ a, d = 0x22222222, b = 0x33333333;
        u32 s = 0x66666666, di = 0x77777777, bp = 0x55555555;

        __asm__ volatile(".byte 0x91, 0x92, 0x93, 0x96, 0x97"
                         : "+a"(a), "+c"(c), "+d"(d), "+b"(b), "+S"(s), "+D"(di));
        h = check(h, a);
        h = check(h, c ^ (d << 1) ^ (b << 2) ^ (s << 3) ^ (di << 4));
        __asm__ volatile("pushl %%ebp\n\tmovl %1, %%ebp\n\t.byte 0x95\n\t"
                         "movl %%ebp, %1\n\tpopl %%ebp"
                         : "+a"(a), "+D"(bp));
        h = check(h, a ^ (bp << 1));
        __asm__ volatile(".byte 0x66, 0x91\n\t.byte 0x66, 0x97\n\t.byte 0x90"
                         : "+a"(a), "+c"(c), "+D"(di));
        h = check(h, a ^ (c << 1) ^ (di << 2));
    }
    printf("xchg 90+r %08x\n", h);
}

/* ---- xadd 0f c0/c1, cmpxchg 0f b0/b1 (accumulator in EAX). ------------- */

#define XADD(sz)                                                                \
    PFN(xadd##sz##_rr) BODY_RR(P##sz ".byte 0x0f, 0xc0+" STR(W##sz) ", 0xd1")   \
    PFN(xadd##sz##_mr) BODY_MR(P##sz ".byte 0x0f, 0xc0+" STR(W##sz) ", 0x16")   \
    PFN(xadd##sz##_lmr)                                                         \
    BODY_MR(".byte 0xf0\n\t" P##sz ".byte 0x0f, 0xc0+" STR(W##sz) ", 0x16")

XADD(8)
XADD(16)
XADD(32)

/* cmpxchg: accumulator EAX = acc, destination ECX or (%esi) = a, source EDX
 * = b.  Returns destination, accumulator, flags. */
typedef struct res (*cx_fn)(u32 acc, u32 a, u32 b, u32 fin);

#define CXFN(name) static struct res name(u32 acc, u32 a, u32 b, u32 fin)

#define BODY_CXR(body)                                                          \
    {                                                                           \
        struct res r;                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(acc), "+c"(a), [fo] "=r"(fo)                    \
                         : "d"(b), [fin] "r"(fin)                               \
                         : "cc");                                               \
        r.x = a;                                                                \
        r.y = acc;                                                              \
        r.fl = fo;                                                              \
        return r;                                                               \
    }

#define BODY_CXM(body)                                                          \
    {                                                                           \
        struct res r;                                                           \
        u32 fo, m = a;                                                          \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(acc), [fo] "=r"(fo)                             \
                         : "d"(b), "S"(&m), [fin] "r"(fin)                      \
                         : "cc", "memory");                                     \
        r.x = m;                                                                \
        r.y = acc;                                                              \
        r.fl = fo;                                                              \
        return r;                                                               \
    }

#define CMPXCHG(sz)                                                             \
    CXFN(cx##sz##_r) BODY_CXR(P##sz ".byte 0x0f, 0xb0+" STR(W##sz) ", 0xd1")    \
    CXFN(cx##sz##_m) BODY_CXM(P##sz ".byte 0x0f, 0xb0+" STR(W##sz) ", 0x16")    \
    CXFN(cx##sz##_lm)                                                           \
    BODY_CXM(".byte 0xf0\n\t" P##sz ".byte 0x0f, 0xb0+" STR(W##sz) ", 0x16")

CMPXCHG(8)
CMPXCHG(16)
CMPXCHG(32)

/* ---- lock prefix on read-modify-write memory forms. --------------------- */

#define LOCKED(nm, sz) PFN(lock_##nm##sz) BODY_MR("lock " #nm STR(SFX##sz) " %%" STR(RD##sz) ", (%%esi)")
#define SFX8 b
#define SFX16 w
#define SFX32 l
#define RD8 dl
#define RD16 dx
#define RD32 edx

#define LOCKED_UN(nm, sz) PFN(lock_##nm##sz) BODY_MR("lock " #nm STR(SFX##sz) " (%%esi)")

#define LOCKED3(nm) LOCKED(nm, 8) LOCKED(nm, 16) LOCKED(nm, 32)
#define LOCKED_UN3(nm) LOCKED_UN(nm, 8) LOCKED_UN(nm, 16) LOCKED_UN(nm, 32)

LOCKED3(add)
LOCKED3(adc)
LOCKED3(sub)
LOCKED3(sbb)
LOCKED3(and)
LOCKED3(or)
LOCKED3(xor)
LOCKED_UN3(inc)
LOCKED_UN3(dec)
LOCKED_UN3(neg)
LOCKED_UN3(not)
/* Same operations unlocked, for comparison inside the listing. */
#define PLAIN(nm, sz) PFN(plain_##nm##sz) BODY_MR(#nm STR(SFX##sz) " %%" STR(RD##sz) ", (%%esi)")
#define PLAIN_UN(nm, sz) PFN(plain_##nm##sz) BODY_MR(#nm STR(SFX##sz) " (%%esi)")
#define PLAIN3(nm) PLAIN(nm, 8) PLAIN(nm, 16) PLAIN(nm, 32)
#define PLAIN_UN3(nm) PLAIN_UN(nm, 8) PLAIN_UN(nm, 16) PLAIN_UN(nm, 32)

PLAIN3(add)
PLAIN3(adc)
PLAIN3(sub)
PLAIN3(sbb)
PLAIN3(and)
PLAIN3(or)
PLAIN3(xor)
PLAIN_UN3(inc)
PLAIN_UN3(dec)
PLAIN_UN3(neg)
PLAIN_UN3(not)

/* lock bts/btr/btc with register and immediate offsets (16, 32 bits). */
PFN(lock_bts32) BODY_MR("lock btsl %%edx, (%%esi)")
PFN(lock_btr32) BODY_MR("lock btrl %%edx, (%%esi)")
PFN(lock_btc32) BODY_MR("lock btcl %%edx, (%%esi)")
PFN(lock_bts16) BODY_MR("lock btsw %%dx, (%%esi)")
PFN(lock_btr16) BODY_MR("lock btrw %%dx, (%%esi)")
PFN(lock_btc16) BODY_MR("lock btcw %%dx, (%%esi)")
PFN(lock_btsi) BODY_MR("lock btsl $13, (%%esi)")
PFN(lock_btri) BODY_MR("lock btrl $31, (%%esi)")
PFN(lock_btci) BODY_MR("lock btcl $3, (%%esi)")
/* lock with the 80/81/83 immediate forms. */
PFN(lock_addi8) BODY_MR("lock addb $0x81, (%%esi)")
PFN(lock_subi32) BODY_MR("lock subl $0x12345678, (%%esi)")
PFN(lock_xori16) BODY_MR("lock xorw $0x7fff, (%%esi)")
PFN(lock_ori83) BODY_MR("lock orl $-3, (%%esi)")

/* ---- Driver. -------------------------------------------------------------- */

struct op {
    const char *name;
    pair_fn fn;
    u32 mask;       /* defined flags; 0 for none */
    u32 bmask;      /* for bit offsets: keep the register offset in range */
};

static const struct op pair_ops[] = {
    {"xchg8 rr", xchg8_rr, F_ARITH, ~0u},
    {"xchg8 rr2", xchg8_rr2, F_ARITH, ~0u},
    {"xchg8 hi", xchg8_hi, F_ARITH, ~0u},
    {"xchg8 hl", xchg8_hl, F_ARITH, ~0u},
    {"xchg8 mr", xchg8_mr, F_ARITH, ~0u},
    {"xchg8 lock", xchg8_lmr, F_ARITH, ~0u},
    {"xchg16 rr", xchg16_rr, F_ARITH, ~0u},
    {"xchg16 rr2", xchg16_rr2, F_ARITH, ~0u},
    {"xchg16 mr", xchg16_mr, F_ARITH, ~0u},
    {"xchg16 lock", xchg16_lmr, F_ARITH, ~0u},
    {"xchg32 rr", xchg32_rr, F_ARITH, ~0u},
    {"xchg32 rr2", xchg32_rr2, F_ARITH, ~0u},
    {"xchg32 mr", xchg32_mr, F_ARITH, ~0u},
    {"xchg32 lock", xchg32_lmr, F_ARITH, ~0u},
    {"xadd8 rr", xadd8_rr, F_ARITH, ~0u},
    {"xadd8 mr", xadd8_mr, F_ARITH, ~0u},
    {"xadd8 lock", xadd8_lmr, F_ARITH, ~0u},
    {"xadd16 rr", xadd16_rr, F_ARITH, ~0u},
    {"xadd16 mr", xadd16_mr, F_ARITH, ~0u},
    {"xadd16 lock", xadd16_lmr, F_ARITH, ~0u},
    {"xadd32 rr", xadd32_rr, F_ARITH, ~0u},
    {"xadd32 mr", xadd32_mr, F_ARITH, ~0u},
    {"xadd32 lock", xadd32_lmr, F_ARITH, ~0u},
#define LP(nm, mask)                                                            \
    {"lock " #nm "8", lock_##nm##8, mask, ~0u},                                 \
    {"plain " #nm "8", plain_##nm##8, mask, ~0u},                               \
    {"lock " #nm "16", lock_##nm##16, mask, ~0u},                               \
    {"plain " #nm "16", plain_##nm##16, mask, ~0u},                             \
    {"lock " #nm "32", lock_##nm##32, mask, ~0u},                               \
    {"plain " #nm "32", plain_##nm##32, mask, ~0u}
    LP(add, F_ARITH), LP(adc, F_ARITH), LP(sub, F_ARITH), LP(sbb, F_ARITH),
    LP(and, LOGIC), LP(or, LOGIC), LP(xor, LOGIC), LP(inc, F_ARITH), LP(dec, F_ARITH),
    LP(neg, F_ARITH), LP(not, F_ARITH),
    /* Register bit offsets kept within the dword (bmask). */
    {"lock bts32", lock_bts32, F_CF | F_ZF, 31},
    {"lock btr32", lock_btr32, F_CF | F_ZF, 31},
    {"lock btc32", lock_btc32, F_CF | F_ZF, 31},
    {"lock bts16", lock_bts16, F_CF | F_ZF, 15},
    {"lock btr16", lock_btr16, F_CF | F_ZF, 15},
    {"lock btc16", lock_btc16, F_CF | F_ZF, 15},
    {"lock bts imm", lock_btsi, F_CF | F_ZF, ~0u},
    {"lock btr imm", lock_btri, F_CF | F_ZF, ~0u},
    {"lock btc imm", lock_btci, F_CF | F_ZF, ~0u},
    {"lock add imm8", lock_addi8, F_ARITH, ~0u},
    {"lock sub imm32", lock_subi32, F_ARITH, ~0u},
    {"lock xor imm16", lock_xori16, LOGIC, ~0u},
    {"lock or imm8s", lock_ori83, LOGIC, ~0u},
};

static void run_pairs(void)
{
    for (unsigned i = 0; i < sizeof(pair_ops) / sizeof(pair_ops[0]); i++) {
        const struct op *op = &pair_ops[i];
        u32 h = HASH_INIT;

        for (int ai = 0; ai < 16; ai++) {
            for (int bi = 0; bi < 16; bi++) {
                for (int fi = 0; fi < 2; fi++) {
                    u32 b = op->bmask == ~0u ? edges[bi] : edges[bi] & op->bmask;
                    struct res r = op->fn(edges[ai], b, flags_in[fi]);

                    h = check(h, hash_u32(r.x ^ ((r.fl & op->mask) << 20), r.y));
                }
            }
        }
        {
            struct res r = op->fn(0x7fffffff, 0x80000001 & op->bmask, 0x003);
            printf("%-16s %08x  7fffffff,80000001 -> %08x %08x fl=%03x\n", op->name, h, r.x,
                   r.y, r.fl & op->mask);
        }
    }
}

struct cx_op {
    const char *name;
    cx_fn fn;
    u32 opmask;
};

static const struct cx_op cx_ops[] = {
    {"cmpxchg8 r", cx8_r, 0xff},       {"cmpxchg8 m", cx8_m, 0xff},
    {"cmpxchg8 lock", cx8_lm, 0xff},   {"cmpxchg16 r", cx16_r, 0xffff},
    {"cmpxchg16 m", cx16_m, 0xffff},   {"cmpxchg16 lock", cx16_lm, 0xffff},
    {"cmpxchg32 r", cx32_r, ~0u},      {"cmpxchg32 m", cx32_m, ~0u},
    {"cmpxchg32 lock", cx32_lm, ~0u},
};

static void run_cmpxchg(void)
{
    for (unsigned i = 0; i < sizeof(cx_ops) / sizeof(cx_ops[0]); i++) {
        const struct cx_op *op = &cx_ops[i];
        u32 hs = HASH_INIT, hf = HASH_INIT;
        unsigned ns = 0;

        for (int ai = 0; ai < 16; ai++) {
            for (int bi = 0; bi < 16; bi++) {
                for (int fi = 0; fi < 2; fi++) {
                    u32 a = edges[ai], fin = flags_in[fi];
                    /* Equal in the operand bits (upper bits differ): succeeds. */
                    struct res r = op->fn(a ^ ~op->opmask, a, edges[bi], fin);

                    hs = check(hs, hash_u32(r.x ^ ((r.fl & F_ARITH) << 20), r.y));
                    ns += (r.fl & F_ZF) != 0;
                    /* Accumulator = the other edge: fails unless equal. */
                    r = op->fn(edges[bi] ^ 0x5a5a5a5a, a, 0xc3c3c3c3, fin);
                    hf = check(hf, hash_u32(r.x ^ ((r.fl & F_ARITH) << 20), r.y));
                }
            }
        }
        printf("%-16s succ %08x (%u zf) fail %08x\n", op->name, hs, ns, hf);
    }
}

/* ---- cmpxchg8b (0f c7 /1) --------------------------------------------- */

static u32 g_fin, g_fo;

static struct res cx8b(u64 *m, u64 expect, u64 repl, int locked, u64 *got)
{
    u32 eax = (u32)expect, edx = (u32)(expect >> 32);
    u32 ebx = (u32)repl, ecx = (u32)(repl >> 32);
    struct res r;

    /* Flags go through absolute memory operands: all registers are busy. */
    if (locked)
        __asm__ volatile("pushl %[fin]\n\tpopfl\n\tlock cmpxchg8b (%%esi)\n\t"
                         "pushfl\n\tpopl %[fo]"
                         : "+a"(eax), "+d"(edx), [fo] "=m"(g_fo)
                         : "b"(ebx), "c"(ecx), "S"(m), [fin] "m"(g_fin)
                         : "cc", "memory");
    else
        __asm__ volatile("pushl %[fin]\n\tpopfl\n\tcmpxchg8b (%%esi)\n\t"
                         "pushfl\n\tpopl %[fo]"
                         : "+a"(eax), "+d"(edx), [fo] "=m"(g_fo)
                         : "b"(ebx), "c"(ecx), "S"(m), [fin] "m"(g_fin)
                         : "cc", "memory");
    *got = ((u64)edx << 32) | eax;
    r.x = (u32)*m;
    r.y = (u32)(*m >> 32);
    r.fl = g_fo;
    return r;
}

static void run_cmpxchg8b(void)
{
    static const u64 vals[] = {
        0, 1, 0xffffffffULL, 0x100000000ULL, 0xffffffffffffffffULL, 0x8000000000000000ULL,
        0x123456789abcdef0ULL, 0x00000001ffffffffULL,
    };
    u32 h = HASH_INIT;

    for (int locked = 0; locked < 2; locked++) {
        for (unsigned i = 0; i < 8; i++) {
            for (unsigned j = 0; j < 8; j++) {
                for (int fi = 0; fi < 2; fi++) {
                    u64 m = vals[i], got;
                    struct res r;

                    g_fin = flags_in[fi];
                    /* Expect vals[j]: succeeds only when i == j. */
                    r = cx8b(&m, vals[j], ~vals[i] ^ 0x0102030405060708ULL, locked, &got);
                    h = check(h, hash_u32(hash_u32(r.x ^ (r.fl & F_ARITH), r.y),
                                          (u32)got ^ (u32)(got >> 32)));
                    if (fi == 1 && (j == i || j == i + 1) && i < 3)
                        printf("cmpxchg8b%s m=%016llx exp=%016llx -> m=%08x%08x "
                               "edx:eax=%016llx fl=%03x\n",
                               locked ? " lock" : "", (unsigned long long)vals[i],
                               (unsigned long long)vals[j], r.y, r.x,
                               (unsigned long long)got, r.fl & F_ARITH);
                }
            }
        }
    }
    printf("cmpxchg8b %08x\n", h);
}

int main(void)
{
    run_xchg_short();
    run_pairs();
    run_cmpxchg();
    run_cmpxchg8b();
    return conf_done("atomics");
}
