/*
 * paging.c - NEW_PGTABLE, the host's page-table walk, A/D bits, #PF error
 * codes, SET_PTE/SET_PGD/FLUSH_TLB and guest-virtual hypercall pointers
 * (Guest ABI v1, "Paging").  Run with 64 MiB of RAM.  Every scenario builds
 * an identity map of 0..8 MiB (image, page tables) and 60..64 MiB (the
 * stack) with 4 KiB pages, in page-table memory from hv_image_end.  op=:
 *   enable         NEW_PGTABLE's -22 cases, then on: CR0/CR3/CR4, A/D bits of
 *                  the code and stack pages
 *   ad             A/D bits of a 4 KiB page and of a 4 MiB page
 *   pf             #PF error codes and cr2 (mov %cr2 and guest_data)
 *   pte_outside    a PTE mapping a frame outside RAM -> kill
 *   pde_outside    a PDE whose table is outside RAM -> kill
 *   pde4m_outside  a 4 MiB PDE outside RAM -> kill
 *   remap          SET_PTE, invlpg, FLUSH_TLB, SET_PGD, a second NEW_PGTABLE
 *   smc_alias      code written through an alias runs through the original
 *   code_remap     a code page remapped with SET_PTE runs the new code
 *   map_no_flush   a #PF handler maps the missing code or data page without
 *                  SET_PTE (a CPU never caches a not-present entry): the
 *                  restarted fetch or load succeeds
 *   write_virt     WRITE's buffer is guest-virtual
 *   shutdown_virt  SHUTDOWN's message is guest-virtual too
 *   write_unmapped WRITE with an unmapped buffer -> kill
 *   write_cross    WRITE's buffer runs into an unmapped page -> kill
 *   retvals        SET_PTE/SET_PGD/FLUSH_TLB/NEW_PGTABLE return values
 *   stack_ro       ESP in a read-only page, #DE and #DF gates: triple fault
 *   stack_np       ESP in an unmapped page, #DE gate only: unhandled #DF
 */
#include "host_test.h"

#define PG_P 0x001u
#define PG_W 0x002u
#define PG_A 0x020u
#define PG_D 0x040u
#define PG_PS 0x080u
#define PG_AD (PG_A | PG_D)

#define VA 0x40000000u          /* pde 256: the test mappings */

static uint32_t *pgdir;
static uint32_t pool;

static uint32_t *alloc_page(void)
{
    if (!pool)
        pool = HV_GPA(hv_image_end);
    uint32_t *p = (uint32_t *)(uintptr_t)pool;
    pool += 4096;
    memset(p, 0, 4096);
    return p;
}

static uint32_t *pte_of(uint32_t *dir, uint32_t va)
{
    uint32_t *pde = &dir[va >> 22];
    if (!(*pde & PG_P))
        *pde = HV_GPA(alloc_page()) | PG_P | PG_W;
    return &((uint32_t *)(uintptr_t)(*pde & ~0xfffu))[(va >> 12) & 1023];
}

static void map(uint32_t va, uint32_t pa, uint32_t flags)
{
    *pte_of(pgdir, va) = pa | flags;
}

static void build_identity(void)
{
    pgdir = alloc_page();
    for (uint32_t va = 0; va < 8u << 20; va += 4096)
        map(va, va, PG_P | PG_W);
    for (uint32_t va = 60u << 20; va < 64u << 20; va += 4096)
        map(va, va, PG_P | PG_W);
}

static long enable(void)
{
    return hv_new_pgtable(HV_GPA(pgdir));
}

static uint32_t peek(uint32_t va)
{
    return *(volatile uint32_t *)(uintptr_t)va;
}

static void poke(uint32_t va, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)va = v;
}

static void print_ad(const char *what, uint32_t e)
{
    printf("%s: A=%u D=%u\n", what, (e & PG_A) ? 1 : 0, (e & PG_D) ? 1 : 0);
}

static uint32_t *frame_with(uint32_t word)
{
    uint32_t *f = alloc_page();
    f[0] = word;
    return f;
}

static void print_pf(const char *what, uint32_t count0)
{
    printf("pf %s: n=%u err=%08x cr2=%08x gd_cr2=%08x eip=%08x\n", what,
           host_last.count - count0, host_last.err, host_last.cr2, host_last.gd_cr2,
           host_last.eip);
}

extern char after_pf_np_read[], after_pf_np_write[], after_pf_ro_write[], after_pf_pde_np[],
    after_pf_pde_ro[], after_pf_fetch[];

static void page_faults(void)
{
    uint32_t *ro = frame_with(0xabcd), *rw = frame_with(0x1234), c;

    host_init();
    set_gate(14, GATE_INTR);
    map(VA + 0x1000, 0, 0);                          /* not present */
    map(VA + 0x2000, HV_GPA(ro), PG_P);              /* read-only */
    uint32_t *t = alloc_page();                      /* pde 258: read-only table */
    pgdir[(VA + 0x800000) >> 22] = HV_GPA(t) | PG_P;
    t[0] = HV_GPA(rw) | PG_P | PG_W;
    printf("enable=%ld\n", enable());

    c = host_last.count;
    host_resume = (uint32_t)(uintptr_t)after_pf_np_read;
    __asm__ volatile(".globl fault_pf_np_read\nfault_pf_np_read: movl 0x40001000, %%eax\n"
                     ".globl after_pf_np_read\nafter_pf_np_read:" ::: "eax", "memory");
    print_pf("np_read", c);

    c = host_last.count;
    host_resume = (uint32_t)(uintptr_t)after_pf_np_write;
    __asm__ volatile(".globl fault_pf_np_write\nfault_pf_np_write: movl %%eax, 0x40001004\n"
                     ".globl after_pf_np_write\nafter_pf_np_write:" ::: "memory");
    print_pf("np_write", c);

    c = host_last.count;
    host_resume = (uint32_t)(uintptr_t)after_pf_ro_write;
    __asm__ volatile(".globl fault_pf_ro_write\nfault_pf_ro_write: movl %%eax, 0x40002008\n"
                     ".globl after_pf_ro_write\nafter_pf_ro_write:" ::: "memory");
    print_pf("ro_write", c);
    c = host_last.count;
    uint32_t v = peek(VA + 0x2000);
    printf("ro read=%x faults=%u\n", v, host_last.count - c);

    c = host_last.count;
    host_resume = (uint32_t)(uintptr_t)after_pf_pde_np;
    __asm__ volatile(".globl fault_pf_pde_np\nfault_pf_pde_np: movl 0x40400010, %%eax\n"
                     ".globl after_pf_pde_np\nafter_pf_pde_np:" ::: "eax", "memory");
    print_pf("pde_np", c);

    c = host_last.count;
    host_resume = (uint32_t)(uintptr_t)after_pf_pde_ro;
    __asm__ volatile(".globl fault_pf_pde_ro\nfault_pf_pde_ro: movl %%eax, 0x40800020\n"
                     ".globl after_pf_pde_ro\nafter_pf_pde_ro:" ::: "memory");
    print_pf("pde_ro", c);
    c = host_last.count;
    v = peek(VA + 0x800000);
    printf("pde_ro read=%x faults=%u\n", v, host_last.count - c);

    c = host_last.count;
    host_resume = (uint32_t)(uintptr_t)after_pf_fetch;
    __asm__ volatile("movl $0x40001000, %%eax\n\t"
                     "jmp *%%eax\n"
                     ".globl after_pf_fetch\nafter_pf_fetch:" ::: "eax", "memory");
    print_pf("fetch", c);
}

__attribute__((noinline)) static void divide_on_stack(uint32_t esp)
{
    hv_flush();
    __asm__ volatile("movl %0, %%esp\n\t"
                     "movl $1, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n"
                     ".globl fault_div_stack\nfault_div_stack: divl %%ecx\n\t"
                     "ud2"
                     : : "r"(esp) : "eax", "ecx", "edx", "memory", "cc");
}

typedef uint32_t code_fn(void);

static void put_code(uint32_t *frame, uint8_t imm)
{
    uint8_t *p = (uint8_t *)frame;
    p[0] = 0xb8;                /* movl $imm, %eax */
    p[1] = imm;
    p[2] = p[3] = p[4] = 0;
    p[5] = 0xc3;                /* ret */
}

static uint32_t *lazy_frame;

/* The #PF hook of map_no_flush: map the faulting page, tell nobody. */
static void map_lazily(struct host_frame *f)
{
    (void)f;
    *pte_of(pgdir, host_last.cr2) = HV_GPA(lazy_frame) | PG_P | PG_W;
}

int main(void)
{
    const char *op = host_op();

    printf("op %s\n", op);
    build_identity();
    if (is_op(op, "enable")) {
        uint32_t dir = HV_GPA(pgdir);
        printf("bad: unaligned=%ld outside=%ld end=%ld top=%ld\n",
               hv_new_pgtable(dir + 4), hv_new_pgtable(0x08000000u),
               hv_new_pgtable(0x04000000u), hv_new_pgtable(0xfffff000u));
        printf("cr0.pg before=%u\n", read_cr(0) >> 31);
        printf("enable=%ld\n", enable());
        printf("cr0=%08x cr3_ok=%d cr4.pse=%x\n", read_cr(0) & 0x80010001u,
               read_cr(3) == dir, read_cr(4) & 0x10u);
        print_ad("code pte", *pte_of(pgdir, HV_GPA(main)));
        print_ad("code pde", pgdir[0]);
        volatile uint32_t local = 1;
        print_ad("stack pte", *pte_of(pgdir, HV_GPA(&local)));
        print_ad("stack pde", pgdir[HV_GPA(&local) >> 22]);
    } else if (is_op(op, "ad")) {
        uint32_t *f = frame_with(0x11223344), *pte = pte_of(pgdir, VA), *pde = &pgdir[VA >> 22];
        *pte = HV_GPA(f) | PG_P | PG_W;
        printf("enable=%ld\n", enable());
        print_ad("pte before", *pte);
        print_ad("pde before", *pde);
        printf("read=%08x\n", peek(VA));
        print_ad("pte after read", *pte);
        print_ad("pde after read", *pde);
        poke(VA + 4, 5);
        print_ad("pte after write", *pte);
        print_ad("pde after write", *pde);
        printf("frame=%u\n", f[1]);
        *pte &= ~PG_AD;
        *pde &= ~PG_AD;
        printf("set_pte=%ld set_pgd=%ld\n", hv_set_pte(HV_GPA(pgdir), VA, *pte),
               hv_set_pgd(HV_GPA(pgdir), VA >> 22));
        printf("read=%08x\n", peek(VA));
        print_ad("pte reread", *pte);
        print_ad("pde reread", *pde);
        /* 4 MiB page at 0x80000000 -> physical 0x00400000 */
        pgdir[512] = 0x00400000u | PG_P | PG_W | PG_PS;
        poke(0x00401234, 0x4d4d4d4d);
        printf("set_pgd=%ld\n", hv_set_pgd(HV_GPA(pgdir), 512));
        print_ad("big before", pgdir[512]);
        printf("big read=%08x\n", peek(0x80001234));
        print_ad("big after read", pgdir[512]);
        poke(0x80002000, 7);
        print_ad("big after write", pgdir[512]);
        printf("big frame=%u\n", peek(0x00402000));
    } else if (is_op(op, "pf")) {
        page_faults();
    } else if (is_op(op, "pte_outside")) {
        map(VA, 0x10000000u, PG_P | PG_W);
        printf("enable=%ld\n", enable());
        hv_flush();
        printf("read=%x\n", peek(VA));
        return 1;
    } else if (is_op(op, "pde_outside")) {
        pgdir[0x50000000u >> 22] = 0x20000000u | PG_P | PG_W;
        printf("enable=%ld\n", enable());
        hv_flush();
        printf("read=%x\n", peek(0x50000000u));
        return 1;
    } else if (is_op(op, "pde4m_outside")) {
        pgdir[0x60000000u >> 22] = 0x40000000u | PG_P | PG_W | PG_PS;
        printf("enable=%ld\n", enable());
        hv_flush();
        printf("read=%x\n", peek(0x60000000u));
        return 1;
    } else if (is_op(op, "remap")) {
        uint32_t *fa = frame_with(0xaaaa0001), *fb = frame_with(0xbbbb0002),
                 *fc = frame_with(0xcccc0003), *pte = pte_of(pgdir, VA);
        uint32_t dir = HV_GPA(pgdir);
        *pte = HV_GPA(fa) | PG_P | PG_W;
        printf("enable=%ld\n", enable());
        printf("first=%08x\n", peek(VA));
        *pte = HV_GPA(fb) | PG_P | PG_W;
        long r = hv_set_pte(dir, VA, *pte);
        printf("set_pte=%ld read=%08x\n", r, peek(VA));
        *pte = HV_GPA(fa) | PG_P | PG_W;
        __asm__ volatile("invlpg (%0)" : : "r"(VA) : "memory");
        printf("invlpg read=%08x\n", peek(VA));
        *pte = HV_GPA(fb) | PG_P | PG_W;
        r = hv_flush_tlb();
        printf("flush_tlb=%ld read=%08x\n", r, peek(VA));
        uint32_t *t2 = alloc_page();
        t2[0] = HV_GPA(fc) | PG_P | PG_W;
        pgdir[VA >> 22] = HV_GPA(t2) | PG_P | PG_W;
        r = hv_set_pgd(dir, VA >> 22);
        printf("set_pgd=%ld read=%08x\n", r, peek(VA));
        poke(VA, 0xcccc0004);
        printf("fc=%08x\n", fc[0]);
        uint32_t *dir2 = alloc_page(), *t3 = alloc_page();
        memcpy(dir2, pgdir, 4096);
        t3[0] = HV_GPA(fa) | PG_P | PG_W;
        dir2[VA >> 22] = HV_GPA(t3) | PG_P | PG_W;
        r = hv_new_pgtable(HV_GPA(dir2));
        printf("new_pgtable=%ld read=%08x cr3_ok=%d\n", r, peek(VA),
               read_cr(3) == HV_GPA(dir2));
        poke(VA, 0xaaaa0005);
        printf("fa=%08x\n", fa[0]);
    } else if (is_op(op, "smc_alias")) {
        uint32_t *code = alloc_page();
        put_code(code, 1);
        map(0x41000000u, HV_GPA(code), PG_P | PG_W);
        map(0x41400000u, HV_GPA(code), PG_P | PG_W);
        printf("enable=%ld\n", enable());
        code_fn *f = (code_fn *)0x41000000u;
        uint32_t r1 = f();
        ((volatile uint8_t *)0x41400000u)[1] = 2;
        uint32_t r2 = f();
        ((volatile uint8_t *)code)[1] = 3;
        uint32_t r3 = f();
        printf("smc: %u %u %u\n", r1, r2, r3);
    } else if (is_op(op, "map_no_flush")) {
        host_init();
        set_gate(14, GATE_INTR);
        printf("enable=%ld\n", enable());
        lazy_frame = alloc_page();
        put_code(lazy_frame, 9);
        host_hook = map_lazily;
        uint32_t r = ((code_fn *)(uintptr_t)(VA + 0x5000))();
        printf("code: %u faults=%u cr2=%08x\n", r, host_last.count, host_last.cr2);
        lazy_frame = frame_with(0x5151);
        r = peek(VA + 0x7000);
        printf("data: %x faults=%u cr2=%08x\n", r, host_last.count, host_last.cr2);
        host_hook = NULL;
    } else if (is_op(op, "code_remap")) {
        uint32_t *c1 = alloc_page(), *c2 = alloc_page(), *pte = pte_of(pgdir, 0x41000000u);
        put_code(c1, 1);
        put_code(c2, 3);
        *pte = HV_GPA(c1) | PG_P;
        printf("enable=%ld\n", enable());
        code_fn *f = (code_fn *)0x41000000u;
        uint32_t r1 = f();
        *pte = HV_GPA(c2) | PG_P;
        long r = hv_set_pte(HV_GPA(pgdir), 0x41000000u, *pte);
        uint32_t r2 = f();
        *pte = HV_GPA(c1) | PG_P;
        hv_flush_tlb();
        uint32_t r3 = f();
        printf("code: %u set_pte=%ld %u %u\n", r1, r, r2, r3);
    } else if (is_op(op, "write_virt")) {
        uint32_t *q = alloc_page();
        memcpy(q, "from virtual!\n", 14);
        memcpy((void *)0x00700000u, "from physical\n", 14);
        map(0x00700000u, HV_GPA(q), PG_P | PG_W);
        printf("enable=%ld\n", enable());
        hv_flush();
        long r = hv_write(1, (const void *)0x00700000u, 14);
        printf("write=%ld\n", r);
    } else if (is_op(op, "shutdown_virt")) {
        uint32_t *q = alloc_page();
        memcpy(q, "bye from virtual", 17);
        memcpy((void *)0x00700000u, "bye from physical", 18);
        map(0x00700000u, HV_GPA(q), PG_P | PG_W);
        printf("enable=%ld\n", enable());
        hv_shutdown((const char *)0x00700000u, HV_SHUTDOWN_POWEROFF);
        printf("survived\n");
        return 1;
    } else if (is_op(op, "write_unmapped")) {
        printf("enable=%ld\n", enable());
        hv_flush();
        hv_write(1, (const void *)0x40001000u, 14);
        printf("survived\n");
        return 1;
    } else if (is_op(op, "write_cross")) {
        uint32_t *q = alloc_page();
        memcpy((char *)q + 4092, "abcd", 4);
        map(VA, HV_GPA(q), PG_P | PG_W);
        printf("enable=%ld\n", enable());
        hv_flush();
        hv_write(1, (const void *)(VA + 4092), 8);
        printf("survived\n");
        return 1;
    } else if (is_op(op, "retvals")) {
        uint32_t dir = HV_GPA(pgdir), *pte = pte_of(pgdir, VA);
        *pte = HV_GPA(frame_with(42)) | PG_P | PG_W;
        printf("enable=%ld\n", enable());
        printf("set_pte: unaligned=%ld outside=%ld ok=%ld\n", hv_set_pte(dir + 4, VA, *pte),
               hv_set_pte(0x08000000u, VA, *pte), hv_set_pte(dir, VA, *pte));
        printf("set_pgd: 1024=%ld -1=%ld unaligned=%ld outside=%ld ok=%ld last=%ld\n",
               hv_set_pgd(dir, 1024), hv_set_pgd(dir, 0xffffffffu), hv_set_pgd(dir + 8, 0),
               hv_set_pgd(0x08000000u, 0), hv_set_pgd(dir, VA >> 22), hv_set_pgd(dir, 1023));
        printf("flush_tlb=%ld %ld\n", hv_flush_tlb(),
               hv_hypercall(HV_HC_FLUSH_TLB, 0xdeadbeefu, 1, 2, 3));
        printf("new_pgtable: unaligned=%ld outside=%ld\n", hv_new_pgtable(dir + 4),
               hv_new_pgtable(0x04000000u));
        printf("read=%u cr3_ok=%d\n", peek(VA), read_cr(3) == dir);
    } else if (is_op(op, "stack_ro") || is_op(op, "stack_np")) {
        uint32_t *f = alloc_page();
        map(0x42000000u, HV_GPA(f), is_op(op, "stack_ro") ? PG_P : 0);
        set_gate(0, GATE_INTR);
        if (is_op(op, "stack_ro"))
            set_gate(8, GATE_INTR);
        printf("enable=%ld\n", enable());
        divide_on_stack(0x42001000u);
        return 1;
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
