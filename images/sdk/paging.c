/* paging.c - the frame allocator, the page-table builder and demand paging
 * (hv_paging.h). */
#include <hv_paging.h>

/* A directory entry that points at a page table: every access allowed
 * there, so the PTE alone decides. */
#define PDE_TABLE_FLAGS (HV_PTE_P | HV_PTE_RW | HV_PTE_US)

#define STACK_RESERVE   (1u << 20)

/* ---- Frames. ------------------------------------------------------------------ */

#ifdef HV_TARGET_LINUX
/* No free RAM to take on Linux: a static pool, enough to build tables. */
#define LINUX_POOL_FRAMES 64
static uint8_t linux_pool[LINUX_POOL_FRAMES][HV_PAGE_SIZE] __attribute__((aligned(4096)));
#define POOL_START ((uint32_t)(uintptr_t)linux_pool)
#else
#define POOL_START ((uint32_t)(uintptr_t)hv_image_end)
#endif

static uint32_t frame_next;     /* 0: not started */
static uint32_t frame_limit;    /* 0: not set yet */

/* The top of RAM: from the multiboot memory size, else from the stack
 * pointer (hv starts it at the top of RAM). */
static uint32_t ram_top(void)
{
    struct hv_multiboot_info *mb = hv_multiboot();
    uint32_t esp;

    if (mb && (mb->flags & HV_MB_INFO_MEMORY))
        return 0x100000u + mb->mem_upper * 1024u;
    __asm__ volatile("movl %%esp, %0" : "=r"(esp));
    return (esp + HV_PAGE_SIZE - 1) & HV_PAGE_MASK;
}

uint32_t hv_frame_limit(void)
{
    if (frame_limit == 0) {
#ifdef HV_TARGET_LINUX
        frame_limit = POOL_START + sizeof(linux_pool);
#else
        uint32_t top = ram_top();
        frame_limit = top > STACK_RESERVE ? (top - STACK_RESERVE) & HV_PAGE_MASK : 0;
#endif
    }
    return frame_limit;
}

void hv_frame_set_limit(uint32_t limit)
{
    frame_limit = limit & HV_PAGE_MASK;
}

uint32_t hv_frame_next(void)
{
    if (frame_next == 0)
        frame_next = (POOL_START + HV_PAGE_SIZE - 1) & HV_PAGE_MASK;
    return frame_next;
}

void *hv_frame_alloc(void)
{
    uint32_t frame = hv_frame_next();

    if (frame >= hv_frame_limit() || hv_frame_limit() - frame < HV_PAGE_SIZE)
        return NULL;
    frame_next = frame + HV_PAGE_SIZE;
    memset((void *)(uintptr_t)frame, 0, HV_PAGE_SIZE);
    return (void *)(uintptr_t)frame;
}

void *hv_frame_alloc_n(uint32_t pages)
{
    uint32_t frame = hv_frame_next(), bytes = pages * HV_PAGE_SIZE;

    if (pages == 0 || pages > (1u << 20) || frame >= hv_frame_limit() ||
        hv_frame_limit() - frame < bytes)
        return NULL;
    frame_next = frame + bytes;
    return (void *)(uintptr_t)frame;
}

/* ---- Tables. ------------------------------------------------------------------ */

static uint32_t gpa_of(const uint32_t *pgdir)
{
    return (uint32_t)(uintptr_t)pgdir;
}

uint32_t *hv_pt_new(void)
{
    return hv_frame_alloc();
}

/* The page table for vaddr, made (and announced) if create is set; NULL if
 * there is none, or a 4 MiB page is there. */
static uint32_t *table_for(uint32_t *pgdir, uint32_t vaddr, bool create)
{
    uint32_t index = hv_pde_index(vaddr);
    uint32_t pde = pgdir[index];
    uint32_t *table;

    if (pde & HV_PTE_P)
        return (pde & HV_PTE_PS) ? NULL : (uint32_t *)(uintptr_t)(pde & HV_PAGE_MASK);
    if (!create)
        return NULL;
    table = hv_frame_alloc();
    if (!table)
        return NULL;
    pgdir[index] = (uint32_t)(uintptr_t)table | PDE_TABLE_FLAGS;
    hv_set_pgd(gpa_of(pgdir), index);
    return table;
}

long hv_pt_map(uint32_t *pgdir, uint32_t vaddr, uint32_t paddr, uint32_t flags)
{
    uint32_t *table;
    uint32_t pte;

    if ((vaddr | paddr) & ~HV_PAGE_MASK)
        return -HV_EINVAL;
    if ((pgdir[hv_pde_index(vaddr)] & (HV_PTE_P | HV_PTE_PS)) == (HV_PTE_P | HV_PTE_PS))
        return -HV_EINVAL;
    table = table_for(pgdir, vaddr, true);
    if (!table)
        return -HV_ENOMEM;
    pte = paddr | ((flags & HV_PTE_FLAGS & ~HV_PTE_PS) | HV_PTE_P);
    table[hv_pte_index(vaddr)] = pte;
    hv_set_pte(gpa_of(pgdir), vaddr, pte);
    return 0;
}

long hv_pt_map_large(uint32_t *pgdir, uint32_t vaddr, uint32_t paddr, uint32_t flags)
{
    uint32_t index = hv_pde_index(vaddr);

    if ((vaddr | paddr) & ~HV_LARGE_PAGE_MASK)
        return -HV_EINVAL;
    pgdir[index] = paddr | (flags & HV_PTE_FLAGS) | HV_PTE_P | HV_PTE_PS;
    hv_set_pgd(gpa_of(pgdir), index);
    return 0;
}

long hv_pt_unmap(uint32_t *pgdir, uint32_t vaddr)
{
    uint32_t index = hv_pde_index(vaddr);
    uint32_t pde = pgdir[index];
    uint32_t *table;

    if (!(pde & HV_PTE_P))
        return -HV_EINVAL;
    if (pde & HV_PTE_PS) {
        pgdir[index] = 0;
        hv_set_pgd(gpa_of(pgdir), index);
        return 0;
    }
    table = (uint32_t *)(uintptr_t)(pde & HV_PAGE_MASK);
    if (!(table[hv_pte_index(vaddr)] & HV_PTE_P))
        return -HV_EINVAL;
    table[hv_pte_index(vaddr)] = 0;
    hv_set_pte(gpa_of(pgdir), vaddr & HV_PAGE_MASK, 0);
    return 0;
}

long hv_pt_identity(uint32_t *pgdir, uint32_t start, uint32_t end, uint32_t flags)
{
    /* 64-bit, so that a range ending at 4 GiB (end = 0) works. */
    uint64_t addr = start & HV_PAGE_MASK;
    uint64_t stop = end ? ((uint64_t)end + HV_PAGE_SIZE - 1) & HV_PAGE_MASK : 1ull << 32;

    while (addr < stop) {
        long r;

        if ((flags & HV_PTE_PS) && (addr & ~(uint64_t)HV_LARGE_PAGE_MASK) == 0 &&
            stop - addr >= HV_LARGE_PAGE_SIZE) {
            r = hv_pt_map_large(pgdir, (uint32_t)addr, (uint32_t)addr, flags);
            addr += HV_LARGE_PAGE_SIZE;
        } else {
            r = hv_pt_map(pgdir, (uint32_t)addr, (uint32_t)addr, flags & ~HV_PTE_PS);
            addr += HV_PAGE_SIZE;
        }
        if (r < 0)
            return r;
    }
    return 0;
}

long hv_pt_identity_stack(uint32_t *pgdir, uint32_t bytes, uint32_t flags)
{
    uint32_t top = ram_top();
    uint32_t size = (bytes + HV_PAGE_SIZE - 1) & HV_PAGE_MASK;

    if (size > top)
        size = top;
    return hv_pt_identity(pgdir, top - size, top, flags & ~HV_PTE_PS);
}

uint32_t *hv_pt_lookup(uint32_t *pgdir, uint32_t vaddr)
{
    uint32_t *pde = &pgdir[hv_pde_index(vaddr)];
    uint32_t *table;

    if ((*pde & (HV_PTE_P | HV_PTE_PS)) == (HV_PTE_P | HV_PTE_PS))
        return pde;
    table = table_for(pgdir, vaddr, false);
    return table ? &table[hv_pte_index(vaddr)] : NULL;
}

uint32_t hv_pt_translate(uint32_t *pgdir, uint32_t vaddr)
{
    uint32_t *entry = hv_pt_lookup(pgdir, vaddr);

    if (!entry || !(*entry & HV_PTE_P))
        return 0xffffffffu;
    if ((*entry & HV_PTE_PS) && entry == &pgdir[hv_pde_index(vaddr)])
        return (*entry & HV_LARGE_PAGE_MASK) | (vaddr & ~HV_LARGE_PAGE_MASK);
    return (*entry & HV_PAGE_MASK) | (vaddr & ~HV_PAGE_MASK);
}

/* ---- Paging on. ------------------------------------------------------------------ */

static uint32_t *paging_pgdir;

long hv_paging_enable(uint32_t *pgdir)
{
    long r = hv_new_pgtable(gpa_of(pgdir));

    if (r == 0)
        paging_pgdir = pgdir;
    return r;
}

uint32_t *hv_paging_pgdir(void)
{
    return paging_pgdir;
}

/* ---- Page faults. ---------------------------------------------------------------- */

static hv_pf_handler pf_handler;

static void pf_entry(struct hv_irq_frame *f)
{
    uint32_t cr2;

#ifdef HV_TARGET_LINUX
    cr2 = 0;    /* never reached: no fault is delivered on Linux */
#else
    cr2 = hv_guest_data_ready() ? hv_guest_data()->cr2 : hv_read_cr2();
#endif
    if (!pf_handler || !pf_handler(cr2, f->error_code, f))
        hv_irq_default(f);
}

long hv_pf_install(hv_pf_handler fn)
{
    pf_handler = fn;
    return hv_irq_attach(HV_VEC_PF, pf_entry);
}

long hv_pf_map_zero(uint32_t *pgdir, uint32_t vaddr, uint32_t flags)
{
    void *frame = hv_frame_alloc();

    if (!frame)
        return -HV_ENOMEM;
    return hv_pt_map(pgdir, vaddr & HV_PAGE_MASK, (uint32_t)(uintptr_t)frame, flags);
}

static uint32_t *demand_pgdir;
static uint32_t demand_start, demand_end, demand_flags, demand_count;

static bool demand_fault(uint32_t cr2, uint32_t error, struct hv_irq_frame *f)
{
    (void)f;
    if ((error & HV_PF_PROTECTION) || cr2 < demand_start || cr2 - demand_start >= demand_end - demand_start)
        return false;
    if (hv_pf_map_zero(demand_pgdir, cr2, demand_flags) < 0)
        return false;
    demand_count++;
    return true;
}

long hv_pf_demand(uint32_t *pgdir, uint32_t start, uint32_t end, uint32_t flags)
{
    if (end <= start)
        return -HV_EINVAL;
    demand_pgdir = pgdir;
    demand_start = start & HV_PAGE_MASK;
    demand_end = end;
    demand_flags = flags;
    return hv_pf_install(demand_fault);
}

uint32_t hv_pf_demand_faults(void)
{
    return demand_count;
}
