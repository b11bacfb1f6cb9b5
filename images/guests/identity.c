/* identity.c - print what CPUID says about the CPU, and read the TSC.
 * Under hv the TSC and the clock are virtual, so two runs print the same. */
#include <hv_guest.h>

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf));
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

int main(void)
{
    uint32_t r[4];
    char vendor[13] = { 0 };

    cpuid(0, r);
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    printf("max leaf %u vendor '%s'\n", r[0], vendor);

    cpuid(1, r);
    printf("leaf 1: eax %08x ecx %08x edx %08x\n", r[0], r[2], r[3]);

    cpuid(0x40000000, r);
    char sig[13] = { 0 };
    memcpy(sig, &r[1], 4);
    memcpy(sig + 4, &r[2], 4);
    memcpy(sig + 8, &r[3], 4);
    printf("hypervisor leaf max %08x signature '%s'\n", r[0], sig);

    uint64_t t0 = rdtsc(), t1 = rdtsc();
    printf("tsc %llu then %llu\n", (unsigned long long)t0, (unsigned long long)t1);
    printf("clock %llu\n", (unsigned long long)hv_clock());
    return 0;
}
