/*
 * host_paging.c: the guest's page tables, walked by the host.
 *
 * One walker serves everything that turns a guest-virtual address into a
 * physical one: the host's own accesses (hypercall buffers, interrupt
 * frames) and every switcher's translation cache (the emu's soft TLB fills
 * from here).  It implements IA-32 two-level paging without PAE (Intel SDM
 * vol. 3, 4.3): 4 KiB pages, and 4 MiB pages where a directory entry has PS
 * set and CR4.PSE is on.  Like the CPU, it sets Accessed in every entry it
 * uses and Dirty in the entry that maps the page when it writes.
 */
#include <string.h>

#include "hv.h"

enum {
    PTE_P = 1u << 0, PTE_RW = 1u << 1, PTE_US = 1u << 2, PTE_A = 1u << 5, PTE_D = 1u << 6,
    PDE_PS = 1u << 7,
};

/* A paging-structure entry inside RAM, or NULL (and the guest is killed,
 * unless the debugger is only looking). */
static uint8_t *entry_at(struct hv_guest *g, uint32_t table, uint32_t index, uint32_t va,
                         bool peek)
{
    uint32_t addr = table + index * 4;
    uint8_t *p = hv_gpa(g, addr, 4);
    if (!p && !peek)
        hv_kill(g, "page table entry for 0x%08x maps 0x%08x outside RAM", va, table);
    return p;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Set bits in an entry only when they are clear: the CPU's locked update. */
static void set_bits(uint8_t *p, uint32_t old, uint32_t bits)
{
    if ((old & bits) != bits) {
        old |= bits;
        memcpy(p, &old, 4);
    }
}

enum hv_walk hv_pt_walk(struct hv_guest *g, const struct hv_mmu *m, uint32_t va,
                        unsigned access, uint32_t *pa, uint32_t *info)
{
    if (!(m->cr0 & HV_CR0_PG)) {
        *pa = va;
        *info = HV_XLATE_WRITABLE;
        return HV_WALK_OK;
    }
    bool write = access & HV_ACC_WRITE, user = access & HV_ACC_USER;
    bool peek = access & HV_ACC_PEEK;
    if (peek)
        write = user = false;
    uint32_t err = (write ? HV_PF_WRITE : 0) | (user ? HV_PF_USER : 0);

    uint8_t *pdep = entry_at(g, m->cr3 & ~0xfffu, va >> 22, va, peek);
    if (!pdep)
        return peek ? HV_WALK_FAULT : HV_WALK_KILLED;
    uint32_t pde = get32(pdep);
    if (!(pde & PTE_P)) {
        *info = err;
        return HV_WALK_FAULT;
    }
    bool large = (pde & PDE_PS) && (m->cr4 & HV_CR4_PSE);
    uint8_t *ptep = NULL;
    uint32_t pte = pde, rights = pde;
    if (!large) {
        ptep = entry_at(g, pde & ~0xfffu, (va >> 12) & 0x3ff, va, peek);
        if (!ptep)
            return peek ? HV_WALK_FAULT : HV_WALK_KILLED;
        pte = get32(ptep);
        if (!(pte & PTE_P)) {
            *info = err;
            return HV_WALK_FAULT;
        }
        rights &= pte;          /* both levels must allow it (SDM 4.6.1) */
    }
    /* Supervisor writes obey R/W only when CR0.WP is set; user ones always. */
    bool may_write = (rights & PTE_RW) || (!user && !(m->cr0 & HV_CR0_WP));
    if ((user && !(rights & PTE_US)) || (write && !may_write)) {
        *info = err | HV_PF_PROT;
        return HV_WALK_FAULT;
    }

    uint32_t frame = large ? (pde & 0xffc00000u) | (va & 0x003ff000u) : pte & ~0xfffu;
    /* PDE bits 13..21 of a 4 MiB page are physical-address bits above 4 GiB. */
    if ((large && (pde & 0x003fe000u)) || !hv_gpa(g, frame, HV_PAGE_SIZE)) {
        if (peek)
            return HV_WALK_FAULT;
        hv_kill(g, "page table entry for 0x%08x maps 0x%08x outside RAM", va,
                large ? pde & 0xffffe000u : frame);
        return HV_WALK_KILLED;
    }
    if (peek) {
        *pa = frame | (va & 0xfffu);
        *info = 0;
        return HV_WALK_OK;
    }
    if (large) {
        set_bits(pdep, pde, PTE_A | (write ? PTE_D : 0));
    } else {
        set_bits(pdep, pde, PTE_A);
        set_bits(ptep, pte, PTE_A | (write ? PTE_D : 0));
    }
    bool dirty = write || (pte & PTE_D);
    *pa = frame | (va & 0xfffu);
    *info = (may_write && dirty) ? HV_XLATE_WRITABLE : 0;
    return HV_WALK_OK;
}

void hv_mmu_get(struct hv_guest *g, struct hv_mmu *m)
{
    struct hv_sregs s;
    g->live.sw_ops->get_sregs(g->live.sw, &s);
    m->cr0 = s.cr0;
    m->cr3 = s.cr3;
    m->cr4 = s.cr4;
}

bool hv_vcopy(struct hv_guest *g, uint32_t va, void *buf, uint32_t len, bool write,
              uint32_t *fault_addr, uint32_t *fault_err)
{
    struct hv_mmu m;
    hv_mmu_get(g, &m);
    uint8_t *b = buf;
    while (len > 0) {
        uint32_t chunk = HV_PAGE_SIZE - (va & 0xfffu);
        if (chunk > len)
            chunk = len;
        uint32_t pa, info;
        enum hv_walk w = hv_pt_walk(g, &m, va, write ? HV_ACC_WRITE : 0, &pa, &info);
        uint8_t *p = w == HV_WALK_OK ? hv_gpa(g, pa, chunk) : NULL;
        if (!p) {
            *fault_addr = va;
            *fault_err = w == HV_WALK_FAULT ? info : 0;
            return false;
        }
        if (write) {
            memcpy(p, b, chunk);
            g->live.sw_ops->mem_written(g->live.sw, pa, chunk);
        } else {
            memcpy(b, p, chunk);
        }
        b += chunk;
        va += chunk;
        len -= chunk;
    }
    return true;
}

bool hv_vread(struct hv_guest *g, uint32_t va, void *dst, uint32_t len)
{
    uint32_t fa, fe;
    if (hv_vcopy(g, va, dst, len, false, &fa, &fe))
        return true;
    memset(dst, 0, len);
    hv_kill(g, "bad read address 0x%08x len %u", va, len);
    return false;
}

bool hv_vwrite(struct hv_guest *g, uint32_t va, const void *src, uint32_t len)
{
    uint32_t fa, fe;
    if (hv_vcopy(g, va, (void *)(uintptr_t)src, len, true, &fa, &fe))
        return true;
    hv_kill(g, "bad write address 0x%08x len %u", va, len);
    return false;
}

uint32_t hv_debug_copy(struct hv_guest *g, uint32_t va, void *buf, uint32_t len, bool write)
{
    struct hv_mmu m;
    hv_mmu_get(g, &m);
    uint8_t *b = buf;
    uint32_t done = 0;
    while (done < len) {
        uint32_t chunk = HV_PAGE_SIZE - (va & 0xfffu);
        if (chunk > len - done)
            chunk = len - done;
        uint32_t pa, info;
        if (hv_pt_walk(g, &m, va, HV_ACC_PEEK, &pa, &info) != HV_WALK_OK)
            break;
        uint8_t *p = hv_gpa(g, pa, chunk);
        if (!p)
            break;
        if (write) {
            memcpy(p, b + done, chunk);
            g->live.sw_ops->mem_written(g->live.sw, pa, chunk);
        } else {
            memcpy(b + done, p, chunk);
        }
        done += chunk;
        va += chunk;
    }
    return done;
}
