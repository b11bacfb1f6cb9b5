/*
 * hv_paging.h - building IA-32 page tables and paging on demand (Guest ABI
 * v1, "Paging").
 *
 *     #include <hv_paging.h>
 *
 *     int main(void)
 *     {
 *         uint32_t *pgdir = hv_pt_new();
 *
 *         // the first 16 MiB (image, page tables, frames) and the stack
 *         hv_frame_set_limit(16u << 20);
 *         hv_pt_identity(pgdir, 0, 16u << 20, HV_PTE_RW | HV_PTE_PS);
 *         hv_pt_identity_stack(pgdir, 64u << 10, HV_PTE_RW);
 *         hv_pf_demand(pgdir, 0x40000000u, 0x40400000u, HV_PTE_RW);
 *         hv_paging_enable(pgdir);
 *
 *         ((volatile uint32_t *)0x40000000u)[0] = 42;  // mapped at first touch
 *         return 0;
 *     }
 *
 * Tables are the IA-32 two-level format: a page directory of 1024 PDEs,
 * each 0 or the physical address of a page table of 1024 PTEs (4 KiB pages)
 * or, with HV_PTE_PS, of a 4 MiB page.  Every helper that changes an entry
 * tells the host with SET_PGD (a directory entry) or SET_PTE (a table
 * entry), as the ABI requires, so the host's cached translations stay right.
 *
 * Pointers and physical addresses: the helpers reach a table through the
 * physical address in its PDE, as a pointer.  That works with paging off,
 * and with paging on as long as the tables and frames are identity-mapped
 * (virtual == physical), which is why the frame pool (from hv_image_end up
 * to hv_frame_limit()) should be identity-mapped too.  A pgdir argument is
 * a pointer to the directory; its physical address is the same number.
 *
 * On the Linux target the builder works on ordinary memory (a static pool
 * of frames), the host notifications return -HV_ENOSYS and are ignored, and
 * hv_paging_enable() returns -HV_ENOSYS.
 */
#ifndef HV_PAGING_H
#define HV_PAGING_H

#include <hv_irq.h>

#define HV_PAGE_SIZE         4096u
#define HV_LARGE_PAGE_SIZE   0x400000u    /* 4 MiB (PDE with PS) */
#define HV_PAGE_MASK         0xfffff000u  /* the frame address in an entry */
#define HV_LARGE_PAGE_MASK   0xffc00000u

/* Entry flags (PDE and PTE). */
#define HV_PTE_P             0x001u  /* present */
#define HV_PTE_RW            0x002u  /* writable (supervisor writes fault without it: WP = 1) */
#define HV_PTE_US            0x004u  /* user */
#define HV_PTE_PWT           0x008u
#define HV_PTE_PCD           0x010u
#define HV_PTE_A             0x020u  /* accessed: set by the host */
#define HV_PTE_D             0x040u  /* dirty: set by the host (PTE, or a 4 MiB PDE) */
#define HV_PTE_PS            0x080u  /* in a PDE: a 4 MiB page */
#define HV_PTE_G             0x100u
#define HV_PTE_FLAGS         0xfffu

/* #PF error code bits. */
#define HV_PF_PROTECTION     0x1u    /* 0: the page was not present */
#define HV_PF_WRITE          0x2u    /* 0: a read (or fetch) */
#define HV_PF_USER           0x4u    /* always 0 at ring 0 */

#define HV_ENOMEM            12

static inline uint32_t hv_pde_index(uint32_t vaddr) { return vaddr >> 22; }
static inline uint32_t hv_pte_index(uint32_t vaddr) { return (vaddr >> 12) & 0x3ffu; }

/* ---- Frames: a bump allocator over free RAM. -------------------------------- */

/* A zeroed, page-aligned 4 KiB frame, or NULL when the pool is used up.
 * The pool starts at hv_image_end and ends at hv_frame_limit(); frames are
 * never freed. */
void *hv_frame_alloc(void);
/* `pages` contiguous frames (not zeroed), or NULL; the SDK's malloc grows
 * its heap with these. */
void *hv_frame_alloc_n(uint32_t pages);

/* The end of the pool: by default the top of RAM (from the multiboot memory
 * size) less 1 MiB kept for the stack, which starts at the top of RAM. */
uint32_t hv_frame_limit(void);

/* Change the end of the pool (rounded down to a page), e.g. to keep every
 * frame inside an identity-mapped range. */
void hv_frame_set_limit(uint32_t limit);

/* The next frame hv_frame_alloc would return (the pool's low-water mark). */
uint32_t hv_frame_next(void);

/* ---- Building tables. --------------------------------------------------------- */

/* A new, empty page directory (a zeroed frame), or NULL. */
uint32_t *hv_pt_new(void);

/* Map the 4 KiB page at vaddr to the frame at paddr with flags (HV_PTE_P is
 * added), making its page table if needed (SET_PGD), then SET_PTE.
 * Returns 0, -HV_EINVAL (vaddr or paddr not page aligned, or a 4 MiB page
 * covers vaddr), or -HV_ENOMEM (no frame for the table). */
long hv_pt_map(uint32_t *pgdir, uint32_t vaddr, uint32_t paddr, uint32_t flags);

/* Map the 4 MiB page at vaddr (4 MiB aligned, like paddr) with a PDE that
 * has PS set, then SET_PGD.  A page table that was there is dropped (its
 * frame is not reused).  Returns 0 or -HV_EINVAL. */
long hv_pt_map_large(uint32_t *pgdir, uint32_t vaddr, uint32_t paddr, uint32_t flags);

/* Remove the mapping of vaddr: its PTE (SET_PTE), or the whole 4 MiB page
 * if a large page covers it (SET_PGD).  Returns 0, or -HV_EINVAL if nothing
 * mapped it. */
long hv_pt_unmap(uint32_t *pgdir, uint32_t vaddr);

/* Map [start, end) to itself (both rounded out to pages).  With HV_PTE_PS
 * in flags, every 4 MiB-aligned 4 MiB inside the range is one large page
 * and the rest are 4 KiB pages; without it, all are 4 KiB pages.  Returns 0
 * or the first error. */
long hv_pt_identity(uint32_t *pgdir, uint32_t start, uint32_t end, uint32_t flags);

/* Identity-map the top `bytes` of RAM, where the stack starts (ESP = top of
 * RAM at entry), with 4 KiB pages. */
long hv_pt_identity_stack(uint32_t *pgdir, uint32_t bytes, uint32_t flags);

/* The entry that maps vaddr: a pointer to its PTE, or to the PDE when a
 * 4 MiB page maps it (HV_PTE_PS set in *entry).  NULL when there is no page
 * table for vaddr.  The entry may be 0 (not mapped).  After changing it by
 * hand, call hv_set_pte (or hv_set_pgd for a PDE). */
uint32_t *hv_pt_lookup(uint32_t *pgdir, uint32_t vaddr);

/* The physical address vaddr maps to, or -1 (all ones) if it is unmapped. */
uint32_t hv_pt_translate(uint32_t *pgdir, uint32_t vaddr);

/* ---- Paging on. ------------------------------------------------------------------ */

/* NEW_PGTABLE: load pgdir as CR3 and turn paging on (there is no way back).
 * The code, data and stack in use must be mapped, and should be mapped to
 * themselves: the host's pointer arguments (WRITE's buffer) become virtual,
 * while INIT, NOTIFY and the page-table calls stay physical.  Returns 0, or
 * -HV_EINVAL for a pgdir that is not page aligned or not in RAM. */
long hv_paging_enable(uint32_t *pgdir);

/* The directory passed to the last successful hv_paging_enable, or NULL. */
uint32_t *hv_paging_pgdir(void);

/* ---- Page faults. -------------------------------------------------------------- */

/* A #PF handler: cr2 is the faulting address, error the error code
 * (HV_PF_*).  Return true when the fault is fixed (the faulting
 * instruction runs again), false to fall through to hv_irq_default, which
 * prints the fault and exits with status 3. */
typedef bool (*hv_pf_handler)(uint32_t cr2, uint32_t error, struct hv_irq_frame *f);

/* Handle #PF (vector 14) with fn: installs the SDK stub as an interrupt gate
 * and registers the dispatcher that calls fn.  cr2 comes from guest_data
 * when the page is registered, else from mov %cr2.  Returns 0 or an error. */
long hv_pf_install(hv_pf_handler fn);

/* Map a fresh zeroed frame at the page holding vaddr in pgdir (SET_PTE).
 * Returns 0, -HV_ENOMEM, or -HV_EINVAL. */
long hv_pf_map_zero(uint32_t *pgdir, uint32_t vaddr, uint32_t flags);

/* Demand paging in one call: every not-present fault in [start, end) of
 * pgdir maps a fresh zeroed frame with flags (hv_pf_map_zero); any other
 * #PF goes to hv_irq_default.  Installs its own #PF handler (replacing one
 * set by hv_pf_install).  hv_pf_demand_faults() counts the pages it mapped. */
long hv_pf_demand(uint32_t *pgdir, uint32_t start, uint32_t end, uint32_t flags);
uint32_t hv_pf_demand_faults(void);

#endif /* HV_PAGING_H */
