/* stdlib_ext.c - the stdlib.h functions beyond stdlib.c's parsing and exit:
 * div and friends, rand/srand, atol/atoll and getenv (an archive member). */
#include <hv_guest.h>
#include <stdlib.h>

div_t div(int num, int den)
{
    div_t r = { num / den, num % den };
    return r;
}

ldiv_t ldiv(long num, long den)
{
    ldiv_t r = { num / den, num % den };
    return r;
}

lldiv_t lldiv(long long num, long long den)
{
    lldiv_t r = { num / den, num % den };
    return r;
}

/* A 64-bit linear congruential generator (Knuth's MMIX constants); rand()
 * returns its top 31 bits.  The sequence for a seed is the same on every
 * run and both targets (but not glibc's). */
static uint64_t rand_state = 1;

void srand(unsigned seed)
{
    rand_state = seed;
}

int rand(void)
{
    rand_state = rand_state * 6364136223846793005ull + 1442695040888963407ull;
    return (int)(rand_state >> 33);
}

long atol(const char *s)
{
    return strtol(s, NULL, 10);
}

long long atoll(const char *s)
{
    return strtoll(s, NULL, 10);
}

/* A guest has no environment. */
char *getenv(const char *name)
{
    (void)name;
    return NULL;
}
