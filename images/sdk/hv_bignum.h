/* hv_bignum.h - the unsigned big integers that the SDK's exact decimal
 * conversions use (printf_float.c, strtod.c); internal, not for guests.
 *
 * A number is little-endian 32-bit words with a fixed capacity: enough for
 * the integer part of the largest long double (2^16384) or for 5^5800 times
 * an 800-digit decimal significand, the worst cases of the two users.
 * Nothing here touches floating point, so the conversions do not depend on
 * the FPU's rounding mode. */
#ifndef HV_BIGNUM_H
#define HV_BIGNUM_H

#include <stdint.h>

#define HV_BIG_WORDS 530

struct hv_big {
    int n;    /* words in use; w[n-1] != 0, or n == 0 for zero */
    uint32_t w[HV_BIG_WORDS];
};

void hv_big_set(struct hv_big *b, uint64_t v);
int hv_big_is_zero(const struct hv_big *b);
/* The number of significant bits (0 for zero). */
int hv_big_bitlen(const struct hv_big *b);
int hv_big_bit(const struct hv_big *b, int i);
void hv_big_shl(struct hv_big *b, int k);
void hv_big_shr(struct hv_big *b, int k);
/* b = b * m + add. */
void hv_big_mul_add(struct hv_big *b, uint32_t m, uint32_t add);
/* b = b / d; returns the remainder. */
uint32_t hv_big_div_small(struct hv_big *b, uint32_t d);
/* The bits of b from `from` up (b >> from, assumed to fit 32 bits); then
 * b keeps only its bits below `from`. */
uint32_t hv_big_split_at(struct hv_big *b, int from);
/* -1, 0 or 1 as a < b, a == b, a > b. */
int hv_big_cmp(const struct hv_big *a, const struct hv_big *b);
/* a = a - b, for a >= b. */
void hv_big_sub(struct hv_big *a, const struct hv_big *b);
/* 64 bits of b starting at bit `from` (bits below 0 read as zero). */
uint64_t hv_big_bits64(const struct hv_big *b, int from);
/* Whether any bit of b below `below` is set. */
int hv_big_any_below(const struct hv_big *b, int below);

#endif /* HV_BIGNUM_H */
