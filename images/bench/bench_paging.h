/*
 * bench_paging.h - run a benchmark with paging on: `paging=1` on the command
 * line identity-maps all of guest RAM with 4 KiB pages (or `paging=4m` with
 * 4 MiB pages) and turns paging on before the benchmark starts, so the same
 * image measures the emu's paged path against its flat one.  `segments=1`
 * loads a null selector into FS, which the benchmark never uses: a segment
 * that is not flat, so the emu runs its segmented build (every access adds
 * a base and checks a limit) with paging off.  The Linux build ignores both
 * (there is no command line to read there).
 */
#ifndef BENCH_PAGING_H
#define BENCH_PAGING_H

#include <hv_guest.h>

#ifndef HV_TARGET_LINUX
#define BENCH_PT_RAM_MAX (256u << 20)
static uint32_t bench_pgdir[1024] __attribute__((aligned(4096)));
static uint32_t bench_pt[BENCH_PT_RAM_MAX >> 22][1024] __attribute__((aligned(4096)));

static void bench_paging_from_cmdline(void)
{
    if (hv_cmdline_value("segments"))
        __asm__ volatile("movw %w0, %%fs" :: "r"(0) : "memory");
    const char *mode = hv_cmdline_value("paging");
    struct hv_multiboot_info *mb = hv_multiboot();
    if (!mode || !mb)
        return;
    uint32_t ram = (mb->mem_upper + 1024) << 10;
    if (ram > BENCH_PT_RAM_MAX)
        ram = BENCH_PT_RAM_MAX;
    bool large = mode[0] == '4';
    for (uint32_t t = 0; t < ram >> 22; t++) {
        if (large) {
            bench_pgdir[t] = (t << 22) | 0x83;      /* P, RW, PS */
            continue;
        }
        for (uint32_t k = 0; k < 1024; k++)
            bench_pt[t][k] = (t << 22) | (k << 12) | 0x3;
        bench_pgdir[t] = HV_GPA(bench_pt[t]) | 0x3;
    }
    if (hv_new_pgtable(HV_GPA(bench_pgdir)) != 0)
        hv_exit(99);
}
#else
static void bench_paging_from_cmdline(void)
{
}
#endif

#endif
