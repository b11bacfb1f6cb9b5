/*
 * conf.h - helpers shared by the conformance guests.
 *
 * Every conformance guest prints deterministic text and exits 0.  The same
 * source runs natively as a static i386 Linux program (the real CPU is the
 * reference) and under hv; the test compares the two outputs byte for byte.
 * So nothing printed may depend on addresses, time or the CPU model.
 *
 * Results are folded into FNV-1a style hashes so that the output stays
 * small; each guest prints one hash line per instruction form (and finer
 * lines where that helps to locate a mismatch) plus a few full lines.
 */
#ifndef CONF_H
#define CONF_H

#include <hv_guest.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* EFLAGS bits (Intel SDM vol. 1, 3.4.3). */
#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_DF 0x400u
#define F_OF 0x800u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)   /* 0x8d5 */
#define F_FIXED 0x002u

/* Operand-size prefix for an instruction written as bytes (P*), and whether
 * the "w" bit of its opcode is set (W*), by operand size. */
#define P8 ""
#define P16 ".byte 0x66\n\t"
#define P32 ""
#define W8 0
#define W16 1
#define W32 1

#define STR_(x) #x
#define STR(x) STR_(x)

/* Load EFLAGS from operand fin before the body, store it to fo after. */
#define FLAGS_IN "pushl %[fin]\n\tpopfl\n\t"
#define FLAGS_OUT "\n\tpushfl\n\tpopl %[fo]"

#define HASH_INIT 0x811c9dc5u

static inline u32 hash_u32(u32 h, u32 v)
{
    for (int i = 0; i < 4; i++) {
        h ^= v & 0xff;
        h *= 0x01000193u;
        v >>= 8;
    }
    return h;
}

/* Total number of individual checks made, printed at the end. */
static unsigned long conf_checks;

static inline u32 check(u32 h, u32 v)
{
    conf_checks++;
    return hash_u32(h, v);
}

/* The sixteen edge values used as operands throughout. */
static const u32 edges[16] = {
    0x0, 0x1, 0x2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
    0x10000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
};

#define EDGES(X, ...) \
    X(0, 0x0, __VA_ARGS__) X(1, 0x1, __VA_ARGS__) X(2, 0x2, __VA_ARGS__) \
    X(3, 0x7f, __VA_ARGS__) X(4, 0x80, __VA_ARGS__) X(5, 0xff, __VA_ARGS__) \
    X(6, 0x100, __VA_ARGS__) X(7, 0x7fff, __VA_ARGS__) X(8, 0x8000, __VA_ARGS__) \
    X(9, 0xffff, __VA_ARGS__) X(10, 0x10000, __VA_ARGS__) \
    X(11, 0x7fffffff, __VA_ARGS__) X(12, 0x80000000, __VA_ARGS__) \
    X(13, 0x80000001, __VA_ARGS__) X(14, 0xfffffffe, __VA_ARGS__) \
    X(15, 0xffffffff, __VA_ARGS__)

static inline int conf_done(const char *name)
{
    printf("%s: %lu checks\n", name, conf_checks);
    return 0;
}

/* Arithmetic flag state number i (0..63): bits 0-5 select CF PF ZF SF OF AF. */
static inline u32 cc_state(int i)
{
    u32 f = F_FIXED;

    if (i & 1) f |= F_CF;
    if (i & 2) f |= F_PF;
    if (i & 4) f |= F_ZF;
    if (i & 8) f |= F_SF;
    if (i & 16) f |= F_OF;
    if (i & 32) f |= F_AF;
    return f;
}

#endif
