/* demand_paging.c - paging on, with memory mapped at first touch.
 *
 * The first 16 MiB (the image, the page tables and every frame the SDK's
 * allocator hands out) are identity-mapped with 4 MiB pages and the top
 * 64 KiB of RAM (the stack) with 4 KiB pages.  16..20 MiB is left unmapped:
 * the #PF handler maps a fresh zeroed frame at each first touch (SET_PTE
 * through hv_pf_map_zero) and counts the faults.  The guest writes 768
 * pages, reads 256 more (which must read as zero), checks the data and the
 * Accessed/Dirty bits the host set, unmaps one page and touches it again. */
#include <hv_paging.h>

#define IDENTITY_END  0x01000000u    /* 16 MiB */
#define REGION_START  0x01000000u
#define REGION_END    0x01400000u    /* 20 MiB: 1024 pages */
#define WRITE_PAGES   768u
#define REGION_PAGES  ((REGION_END - REGION_START) / HV_PAGE_SIZE)
#define SHOW_FAULTS   3u

static uint32_t *pgdir;
static volatile uint32_t faults, write_faults, read_faults;    /* the handler counts */

static bool on_fault(uint32_t cr2, uint32_t error, struct hv_irq_frame *f)
{
    (void)f;
    if ((error & HV_PF_PROTECTION) || cr2 < REGION_START || cr2 >= REGION_END)
        return false;    /* not ours: the default handler reports it */
    if (faults < SHOW_FAULTS)
        printf("  fault %u: cr2=0x%08x error=%u (%s, not present)\n", (unsigned)faults + 1,
               (unsigned)cr2, (unsigned)error, error & HV_PF_WRITE ? "write" : "read");
    if (hv_pf_map_zero(pgdir, cr2, HV_PTE_RW) < 0)
        return false;
    faults++;
    if (error & HV_PF_WRITE)
        write_faults++;
    else
        read_faults++;
    return true;
}

/* Where page i is touched: a different offset in each page, so cr2 shows
 * the exact address. */
static volatile uint32_t *word_of_page(uint32_t i)
{
    return (volatile uint32_t *)(uintptr_t)(REGION_START + i * HV_PAGE_SIZE + (i * 8u) % HV_PAGE_SIZE);
}

static uint32_t pattern(uint32_t i)
{
    return i * 0x9e3779b9u + 1;
}

static int check(bool ok, const char *what)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

int main(void)
{
    uint32_t *pte;
    uint32_t nonzero = 0, mismatches = 0;
    int failed = 0;
    long r;

    printf("demand paging: identity 0..16 MiB (4 MiB pages) and the stack, "
           "16..20 MiB on demand\n");
    r = hv_guest_data_init();    /* so the handler reads cr2 from guest_data */
    if (r < 0) {
        printf("INIT failed: %ld\n", r);
        return 1;
    }
    pgdir = hv_pt_new();
    hv_frame_set_limit(IDENTITY_END);    /* every frame stays identity-mapped */
    r = hv_pt_identity(pgdir, 0, IDENTITY_END, HV_PTE_RW | HV_PTE_PS);
    if (r == 0)
        r = hv_pt_identity_stack(pgdir, 64u << 10, HV_PTE_RW);
    if (r == 0)
        r = hv_pf_install(on_fault);
    if (r == 0)
        r = hv_paging_enable(pgdir);
    if (r < 0) {
        printf("setting up paging failed: %ld\n", r);
        return 1;
    }
    printf("paging on: pgdir at 0x%08x, cr3=0x%08x\n", (unsigned)(uintptr_t)pgdir,
           (unsigned)hv_read_cr3());

    printf("writing %u pages\n", (unsigned)WRITE_PAGES);
    for (uint32_t i = 0; i < WRITE_PAGES; i++)
        *word_of_page(i) = pattern(i);
    printf("  %u faults\n", (unsigned)faults);

    printf("reading %u pages that were never written\n", (unsigned)(REGION_PAGES - WRITE_PAGES));
    for (uint32_t i = WRITE_PAGES; i < REGION_PAGES; i++)
        nonzero += *word_of_page(i) != 0;
    printf("  %u faults in all\n", (unsigned)faults);

    printf("verifying\n");
    for (uint32_t i = 0; i < WRITE_PAGES; i++)
        mismatches += *word_of_page(i) != pattern(i);

    failed |= check(faults == REGION_PAGES, "one fault per page");
    failed |= check(write_faults == WRITE_PAGES && read_faults == REGION_PAGES - WRITE_PAGES,
                    "write and read faults");
    failed |= check(mismatches == 0, "written data reads back");
    failed |= check(nonzero == 0, "fresh pages read as zero");
    failed |= check(hv_pt_translate(pgdir, REGION_START) != 0xffffffffu &&
                    hv_pt_translate(pgdir, REGION_START) < IDENTITY_END,
                    "frames come from the identity-mapped pool");

    pte = hv_pt_lookup(pgdir, REGION_START);
    printf("pte of 0x%08x: A=%u D=%u\n", (unsigned)REGION_START, !!(*pte & HV_PTE_A),
           !!(*pte & HV_PTE_D));
    failed |= check((*pte & (HV_PTE_A | HV_PTE_D)) == (HV_PTE_A | HV_PTE_D), "written page is dirty");
    pte = hv_pt_lookup(pgdir, REGION_START + WRITE_PAGES * HV_PAGE_SIZE);
    printf("pte of 0x%08x: A=%u D=%u\n", (unsigned)(REGION_START + WRITE_PAGES * HV_PAGE_SIZE),
           !!(*pte & HV_PTE_A), !!(*pte & HV_PTE_D));
    failed |= check((*pte & (HV_PTE_A | HV_PTE_D)) == HV_PTE_A, "read page is clean");

    printf("unmapping page 5 and reading it again\n");
    hv_pt_unmap(pgdir, REGION_START + 5 * HV_PAGE_SIZE);
    failed |= check(*word_of_page(5) == 0 && faults == REGION_PAGES + 1,
                    "the page faulted in again, zeroed");

    printf("%u page faults, %u frames used\n", (unsigned)faults,
           (unsigned)((hv_frame_next() - (uint32_t)(uintptr_t)pgdir) / HV_PAGE_SIZE));
    return failed;
}
