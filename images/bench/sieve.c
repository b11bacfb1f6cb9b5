/* sieve.c - benchmark: Sieve of Eratosthenes over 4,000,000 bytes (.bss),
 * run 5 times.  Tight loops of strided byte stores, then a counting pass.
 * Expected output: "primes below 4000000: 283146 (5 passes)". */
#include <hv_guest.h>

#include "bench_paging.h"

#define SIEVE_SIZE 4000000u
#define PASSES 5

static unsigned char composite[SIEVE_SIZE];
static volatile unsigned bench_size = SIEVE_SIZE;

static unsigned __attribute__((noinline)) sieve(unsigned size)
{
    unsigned count = 0;

    memset(composite, 0, size);
    for (unsigned i = 2; i * i < size; i++) {
        if (composite[i])
            continue;
        for (unsigned j = i * i; j < size; j += i)
            composite[j] = 1;
    }
    for (unsigned i = 2; i < size; i++)
        count += !composite[i];
    return count;
}

int main(void)
{
    bench_paging_from_cmdline();
    unsigned size = bench_size;
    unsigned count = 0;

    for (int pass = 0; pass < PASSES; pass++) {
        unsigned c = sieve(size);
        if (pass > 0 && c != count) {
            printf("sieve: pass %d counted %u, pass 0 counted %u\n", pass, c, count);
            return 1;
        }
        count = c;
    }
    printf("primes below %u: %u (%d passes)\n", size, count, PASSES);
    return 0;
}
