/* bignum.c - fixed-capacity unsigned big integers for the exact decimal
 * conversions (hv_bignum.h).  Schoolbook algorithms on 32-bit words; the
 * callers keep every number below the capacity. */
#include <stdint.h>

#include "hv_bignum.h"

static void trim(struct hv_big *b)
{
    while (b->n > 0 && b->w[b->n - 1] == 0)
        b->n--;
}

void hv_big_set(struct hv_big *b, uint64_t v)
{
    b->w[0] = (uint32_t)v;
    b->w[1] = (uint32_t)(v >> 32);
    b->n = 2;
    trim(b);
}

int hv_big_is_zero(const struct hv_big *b)
{
    return b->n == 0;
}

int hv_big_bitlen(const struct hv_big *b)
{
    uint32_t top;
    int bits;

    if (b->n == 0)
        return 0;
    top = b->w[b->n - 1];
    for (bits = 0; top; bits++)
        top >>= 1;
    return (b->n - 1) * 32 + bits;
}

int hv_big_bit(const struct hv_big *b, int i)
{
    if (i < 0 || i / 32 >= b->n)
        return 0;
    return (b->w[i / 32] >> (i % 32)) & 1;
}

void hv_big_shl(struct hv_big *b, int k)
{
    int words = k / 32, bits = k % 32, i;

    if (b->n == 0 || k == 0)
        return;
    b->w[b->n] = 0;
    for (i = b->n; i >= 0; i--) {
        uint32_t hi = b->w[i] << bits;
        if (bits && i > 0)
            hi |= b->w[i - 1] >> (32 - bits);
        b->w[i + words] = hi;
    }
    for (i = 0; i < words; i++)
        b->w[i] = 0;
    b->n += words + 1;
    trim(b);
}

void hv_big_shr(struct hv_big *b, int k)
{
    int words = k / 32, bits = k % 32, i;

    if (words >= b->n) {
        b->n = 0;
        return;
    }
    for (i = 0; i + words < b->n; i++) {
        uint32_t lo = b->w[i + words] >> bits;
        if (bits && i + words + 1 < b->n)
            lo |= b->w[i + words + 1] << (32 - bits);
        b->w[i] = lo;
    }
    b->n -= words;
    trim(b);
}

void hv_big_mul_add(struct hv_big *b, uint32_t m, uint32_t add)
{
    uint64_t carry = add;
    int i;

    for (i = 0; i < b->n; i++) {
        uint64_t t = (uint64_t)b->w[i] * m + carry;
        b->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        b->w[b->n++] = (uint32_t)carry;
}

/* (hi:lo) / d for hi < d, the 64/32 division the x86 does in one divl
 * (the C '/' on a 64-bit value would call the slower __udivdi3). */
static uint32_t div64(uint32_t hi, uint32_t lo, uint32_t d, uint32_t *rem)
{
    uint32_t q, r;

    __asm__("divl %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d));
    *rem = r;
    return q;
}

uint32_t hv_big_div_small(struct hv_big *b, uint32_t d)
{
    uint32_t rem = 0;
    int i;

    for (i = b->n - 1; i >= 0; i--)
        b->w[i] = div64(rem, b->w[i], d, &rem);
    trim(b);
    return rem;
}

uint32_t hv_big_split_at(struct hv_big *b, int from)
{
    int word = from / 32, bits = from % 32;
    uint32_t v = (uint32_t)(hv_big_bits64(b, from));

    if (word < b->n) {
        b->w[word] &= bits ? (1u << bits) - 1 : 0;
        b->n = word + 1;
        trim(b);
    }
    return v;
}

int hv_big_cmp(const struct hv_big *a, const struct hv_big *b)
{
    int i;

    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (i = a->n - 1; i >= 0; i--)
        if (a->w[i] != b->w[i])
            return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

void hv_big_sub(struct hv_big *a, const struct hv_big *b)
{
    uint32_t borrow = 0;
    int i;

    for (i = 0; i < a->n; i++) {
        uint32_t bi = i < b->n ? b->w[i] : 0;
        uint64_t t = (uint64_t)a->w[i] - bi - borrow;
        a->w[i] = (uint32_t)t;
        borrow = (uint32_t)(t >> 63);
    }
    trim(a);
}

uint64_t hv_big_bits64(const struct hv_big *b, int from)
{
    uint64_t v = 0;
    int word, bits, i;

    if (from < 0) {
        if (from <= -64)
            return 0;
        return hv_big_bits64(b, 0) << -from;
    }
    word = from / 32;
    bits = from % 32;
    for (i = 0; i < 3; i++) {    /* three words cover 64 bits at any offset */
        uint64_t w = word + i < b->n ? b->w[word + i] : 0;
        int shift = 32 * i - bits;
        if (shift >= 64)
            break;
        v |= shift >= 0 ? w << shift : w >> -shift;
    }
    return v;
}

int hv_big_any_below(const struct hv_big *b, int below)
{
    int i, word = below / 32;

    for (i = 0; i < word && i < b->n; i++)
        if (b->w[i])
            return 1;
    if (word < b->n && below % 32)
        return (b->w[word] & ((1u << (below % 32)) - 1)) != 0;
    return 0;
}
