/*
 * switcher_emu_tlb.c: the emu's soft TLB, for the slow build (paging on, or
 * segments that are not flat; with paging off it maps each page to itself).
 *
 * The handlers built with EMU_PAGED look an address up inline (switcher_emu.h);
 * everything here is the slow side: a miss fills the entry from the host's
 * page-table walker (host_paging.c, which also sets Accessed and Dirty and
 * decides every #PF), accesses that straddle two pages go byte by byte, and
 * stores to a page that holds decoded code invalidate that code by its
 * physical address, whichever virtual alias they came through.
 */
#include "switcher_emu.h"

/* Translate the page holding va into its TLB entry; false on a #PF (noted
 * in pf_err/pf_addr) or a kill. */
static bool fill_access(struct cpu *c, uint32_t va, unsigned access)
{
    struct hv_mmu m = { c->cr0, c->cr3, c->cr4 };
    uint32_t pa, info;
    access |= c->cpl == 3 ? HV_ACC_USER : 0;
    enum hv_walk w = hv_pt_walk(c->g, &m, va, access, &pa, &info);
    if (w == HV_WALK_OK && pa >= c->ram_size) {
        /* Paging off (segments not flat): outside RAM is a page that is not
         * present, as in the flat build. */
        c->pf_err = access & HV_ACC_WRITE ? HV_PF_WRITE : 0;
        c->pf_addr = va;
        return false;
    }
    if (w != HV_WALK_OK) {
        c->pf_err = w == HV_WALK_FAULT ? info : 0;
        c->pf_addr = va;
        return false;
    }
    uint32_t tag = TLB_TAG(va), ppage = pa >> 12;
    struct tlb_entry *e = &c->tlb[(va >> 12) & (TLB_SIZE - 1)];
    e->rtag = tag;
    e->page = c->ram + ((size_t)ppage << 12);
    e->wtag = (info & HV_XLATE_WRITABLE) && !c->codemap[ppage] ? tag : TLB_NONE;
    if (HV_UNLIKELY(c->watch_mem) && hv_watch_page(c->g, va >> 12))
        e->rtag = e->wtag = TLB_NONE;   /* every access comes here, to be reported */
    return true;
}

static bool fill_page(struct cpu *c, uint32_t va, bool write)
{
    return fill_access(c, va, write ? HV_ACC_WRITE : 0);
}

bool emu_tlb_fill(struct cpu *c, uint32_t a, uint32_t sz, bool write)
{
    if (!fill_page(c, a, write))
        return false;
    uint32_t last = a + sz - 1;
    if ((last >> 12) != (a >> 12) && !fill_page(c, last & ~0xfffu, write))
        return false;
    if (HV_UNLIKELY(c->watch_mem))
        hv_watch_access(c->g, a, sz, write);
    return true;
}

/* Host pointer of the byte at va, translated for a read or a write. */
static uint8_t *byte_ptr(struct cpu *c, uint32_t va, bool write)
{
    struct tlb_entry *e = &c->tlb[(va >> 12) & (TLB_SIZE - 1)];
    if ((write ? e->wtag : e->rtag) != TLB_TAG(va)) {
        if (!fill_page(c, va, write))
            return NULL;
        if (HV_UNLIKELY(c->watch_mem))
            hv_watch_access(c->g, va, 1, write);
    }
    return e->page + (va & 0xfffu);
}

uint32_t emu_ld_slow(struct cpu *c, uint32_t a, int sz)
{
    uint32_t v = 0;
    for (int k = 0; k < sz; k++) {
        const uint8_t *p = byte_ptr(c, a + (uint32_t)k, false);
        v |= (uint32_t)(p ? *p : 0xff) << (8 * k);     /* checked before: p is set */
    }
    return v;
}

void emu_st_slow(struct cpu *c, uint32_t a, int sz, uint32_t v)
{
    for (int k = 0; k < sz; k++) {
        uint8_t *p = byte_ptr(c, a + (uint32_t)k, true);
        if (!p)
            continue;
        *p = (uint8_t)(v >> (8 * k));
        uint32_t pa = (uint32_t)(p - c->ram);
        if (c->codemap[pa >> 12])
            emu_smc(c, pa, 1);
    }
}

const uint8_t *emu_fetch_ptr(struct cpu *c, uint32_t va, uint32_t *ppage)
{
    if (!c->paged) {
        if (va >= c->ram_size) {
            c->pf_err = 0;
            c->pf_addr = va;
            return NULL;
        }
        *ppage = va >> 12;
        return c->ram + va;
    }
    struct tlb_entry *e = &c->tlb[(va >> 12) & (TLB_SIZE - 1)];
    if (e->rtag != TLB_TAG(va) && !fill_access(c, va, HV_ACC_FETCH))
        return NULL;
    *ppage = (uint32_t)((e->page - c->ram) >> 12);
    return e->page + (va & 0xfffu);
}

void emu_tlb_flush(struct cpu *c)
{
    memset(c->tlb, 0, sizeof(c->tlb));      /* TLB_NONE everywhere */
}

void emu_tlb_flush_page(struct cpu *c, uint32_t va)
{
    struct tlb_entry *e = &c->tlb[(va >> 12) & (TLB_SIZE - 1)];
    if (e->rtag == TLB_TAG(va) || e->wtag == TLB_TAG(va))
        e->rtag = e->wtag = TLB_NONE;
}

void emu_tlb_drop_writes(struct cpu *c, uint32_t ppage)
{
    const uint8_t *page = c->ram + ((size_t)ppage << 12);
    for (uint32_t k = 0; k < TLB_SIZE; k++)
        if (c->tlb[k].page == page)
            c->tlb[k].wtag = TLB_NONE;
}
