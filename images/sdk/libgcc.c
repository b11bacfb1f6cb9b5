/*
 * libgcc.c - the arithmetic helpers GCC calls instead of emitting code.
 *
 * i386 has no 64-bit divide, so `a / b` and `a % b` on 64-bit operands
 * become calls to __udivdi3 and friends, which normally live in libgcc.
 * There is no 32-bit libgcc on the build machines, so the SDK has its own.
 * Nothing here may use a 64-bit `/` or `%`: that would call itself.
 *
 * Division by zero executes a real `div` by zero, so it raises #DE just as
 * a 32-bit division would (and SIGFPE on the Linux target).
 *
 * The -ftrapv helpers and complex multiplication and division are archive
 * members of their own (libgcc_trapv.c, libgcc_complex.c).
 */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
int64_t __divmoddi4(int64_t a, int64_t b, int64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t a, int64_t b);
int64_t __moddi3(int64_t a, int64_t b);
int __popcountsi2(uint32_t v);
int __popcountdi2(uint64_t v);
int __paritysi2(uint32_t v);
int __paritydi2(uint64_t v);
int __ctzdi2(uint64_t v);
int __clzdi2(uint64_t v);
int __ffsdi2(int64_t v);
int __clrsbsi2(int32_t v);
int __clrsbdi2(int64_t v);

/* hi:lo / d with the `divl` instruction.  Requires hi < d (so the quotient
 * fits in 32 bits); d == 0 raises #DE. */
static uint32_t divl(uint32_t hi, uint32_t lo, uint32_t d, uint32_t *rem)
{
    uint32_t q, r;

    __asm__("divl %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d) : "cc");
    *rem = r;
    return q;
}

/* Divisor below 2^32: schoolbook division with two 32-bit digits. */
static uint64_t udivmod_small(uint64_t n, uint32_t d, uint64_t *rem)
{
    uint32_t r;
    uint32_t q_hi = divl(0, (uint32_t)(n >> 32), d, &r);
    uint32_t q_lo = divl(r, (uint32_t)n, d, &r);

    if (rem)
        *rem = r;
    return ((uint64_t)q_hi << 32) | q_lo;
}

/* Divisor of 2^32 or more: the quotient fits in 32 bits, so shift-and-
 * subtract needs at most 32 steps (the divisor is lined up with n first). */
static uint64_t udivmod_large(uint64_t n, uint64_t d, uint64_t *rem)
{
    int shift;
    uint32_t q = 0;

    if (n < d) {
        if (rem)
            *rem = n;
        return 0;
    }
    shift = __builtin_clz((uint32_t)(d >> 32)) - __builtin_clz((uint32_t)(n >> 32));
    d <<= shift;
    for (; shift >= 0; shift--) {
        q <<= 1;
        if (n >= d) {
            n -= d;
            q |= 1;
        }
        d >>= 1;
    }
    if (rem)
        *rem = n;
    return q;
}

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem)
{
    if ((d >> 32) == 0)
        return udivmod_small(n, (uint32_t)d, rem);
    return udivmod_large(n, d, rem);
}

uint64_t __udivdi3(uint64_t n, uint64_t d)
{
    return __udivmoddi4(n, d, 0);
}

uint64_t __umoddi3(uint64_t n, uint64_t d)
{
    uint64_t r;

    __udivmoddi4(n, d, &r);
    return r;
}

/* C rounds toward zero: the quotient is negative when the signs differ and
 * the remainder takes the sign of the dividend.  INT64_MIN / -1 wraps. */
int64_t __divmoddi4(int64_t a, int64_t b, int64_t *rem)
{
    uint64_t ua = a < 0 ? 0 - (uint64_t)a : (uint64_t)a;
    uint64_t ub = b < 0 ? 0 - (uint64_t)b : (uint64_t)b;
    uint64_t r;
    uint64_t q = __udivmoddi4(ua, ub, &r);

    if ((a < 0) != (b < 0))
        q = 0 - q;
    if (a < 0)
        r = 0 - r;
    if (rem)
        *rem = (int64_t)r;
    return (int64_t)q;
}

int64_t __divdi3(int64_t a, int64_t b)
{
    return __divmoddi4(a, b, 0);
}

int64_t __moddi3(int64_t a, int64_t b)
{
    int64_t r;

    __divmoddi4(a, b, &r);
    return r;
}

/* __builtin_popcount without a POPCNT instruction calls these. */
int __popcountsi2(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0f0f0f0fu;
    return (int)((v * 0x01010101u) >> 24);
}

int __popcountdi2(uint64_t v)
{
    return __popcountsi2((uint32_t)v) + __popcountsi2((uint32_t)(v >> 32));
}

/* __builtin_parity*: 1 when an odd number of bits are set. */
int __paritysi2(uint32_t v)
{
    return __popcountsi2(v) & 1;
}

int __paritydi2(uint64_t v)
{
    return __popcountdi2(v) & 1;
}

/* The 64-bit bit scans gcc calls on i386 (results are undefined for 0,
 * like the builtins; we answer 64). */
int __ctzdi2(uint64_t v)
{
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    if (lo)
        return __builtin_ctz(lo);
    return hi ? 32 + __builtin_ctz(hi) : 64;
}

int __clzdi2(uint64_t v)
{
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    if (hi)
        return __builtin_clz(hi);
    return lo ? 32 + __builtin_clz(lo) : 64;
}

int __ffsdi2(int64_t v)
{
    return v ? __ctzdi2((uint64_t)v) + 1 : 0;
}

/* __builtin_clrsb*: how many bits after the sign bit repeat it. */
int __clrsbsi2(int32_t v)
{
    uint32_t u = (uint32_t)(v < 0 ? ~v : v);

    return u ? __builtin_clz(u) - 1 : 31;
}

int __clrsbdi2(int64_t v)
{
    uint64_t u = (uint64_t)(v < 0 ? ~v : v);

    return u ? __clzdi2(u) - 1 : 63;
}
