/* crc32.c - benchmark: the standard reflected CRC-32 (polynomial 0xEDB88320,
 * as in zlib), table-driven, one byte at a time, over 16 MiB of data that an
 * LCG writes into .bss.  Loads, shifts, xors and table lookups.
 * The expected output is printed by the native .linux build of this file. */
#include <hv_guest.h>

#include "bench_paging.h"

#define DATA_SIZE (16u << 20)

static uint32_t crc_table[256];
static uint32_t data_words[DATA_SIZE / 4];
static volatile uint32_t bench_seed = 12345;

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[i] = c;
    }
}

static void __attribute__((noinline)) fill(uint32_t seed)
{
    /* Numerical Recipes' LCG; the high bits are the good ones, so each word
     * takes the upper half of two steps. */
    uint32_t x = seed;
    for (uint32_t i = 0; i < DATA_SIZE / 4; i++) {
        x = x * 1664525u + 1013904223u;
        uint32_t hi = x >> 16;
        x = x * 1664525u + 1013904223u;
        data_words[i] = (x & 0xFFFF0000u) | hi;
    }
}

static uint32_t __attribute__((noinline)) crc32(const unsigned char *p, uint32_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

int main(void)
{
    bench_paging_from_cmdline();
    /* The classic check value: CRC-32("123456789") = 0xCBF43926. */
    make_table();
    uint32_t check = crc32((const unsigned char *)"123456789", 9);
    if (check != 0xCBF43926u) {
        printf("crc32: check value %08x, want cbf43926\n", check);
        return 1;
    }
    fill(bench_seed);
    printf("crc32 of %u MiB: %08x\n", DATA_SIZE >> 20,
           crc32((const unsigned char *)data_words, DATA_SIZE));
    return 0;
}
