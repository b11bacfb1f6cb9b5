/*
 * fuzz.c - throws random gates, page tables, hypercalls and accesses at the
 * host.  seed=N picks the sequence, iters=N how many steps (default 400).
 * Every vector has a gate whose handler abandons the step that trapped and
 * goes on with the next one on a fresh stack, so one run covers many traps
 * until something kills the guest (or it exits 0).  The test asserts only
 * that the host never crashes: any status or kill reason is fine.
 */
#include "host_test.h"

#define PG_P 0x001u
#define PG_W 0x002u
#define PG_PS 0x080u

static uint32_t rng_state, iter, iters, trace;
static uint32_t *pgdir, *tables[8];
static uint32_t pool;
static uint8_t code_buf[64] __attribute__((aligned(16)));
static uint8_t fuzz_stack[16384] __attribute__((aligned(16)));
uint32_t fuzz_stack_top;

void fuzz_loop(void);
void *fuzz_recover_addr(void);

static uint32_t rnd(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

static uint32_t *alloc_page(void)
{
    uint32_t *p = (uint32_t *)(uintptr_t)pool;
    pool += 4096;
    memset(p, 0, 4096);
    return p;
}

/* A value that is often at an edge: RAM's end, a page boundary, the tables. */
static uint32_t interesting(void)
{
    switch (rnd() % 12) {
    case 0: return 0;
    case 1: return rnd() % 64;
    case 2: return 0x04000000u - (rnd() % 8192);
    case 3: return 0x04000000u + (rnd() % 8192);
    case 4: return HV_GPA(pgdir) + (rnd() % 16 ? 256 + rnd() % 768 : rnd() % 1024) * 4;
    case 5: return HV_GPA(tables[rnd() % 8]) + (rnd() % 4096);
    case 6: return 0xfffff000u + (rnd() % 4096);
    case 7: return HV_GPA(hv_image_end) + (rnd() % 65536);
    case 8: return 0x40000000u + (rnd() % 0x800000u);
    case 9: return (rnd() % 1024) << 22;
    case 10: return rnd() & ~0xfffu;
    default: return rnd();
    }
}

static uint32_t random_pte(void)
{
    switch (rnd() % 6) {
    case 0: return 0;
    case 1: return interesting();
    case 2: return (rnd() % 0x4000u) << 12 | (rnd() & 0xfff);      /* a frame in RAM */
    case 3: return HV_GPA(tables[rnd() % 8]) | PG_P | PG_W;
    case 4: return ((rnd() % 16) << 22) | PG_P | PG_W | PG_PS;
    default: return rnd();
    }
}

static void build_tables(void)
{
    pool = HV_GPA(hv_image_end);
    pgdir = alloc_page();
    for (int k = 0; k < 8; k++)
        tables[k] = alloc_page();
    /* identity: 0..8 MiB with 4 MiB pages, the stack's 4 MiB too */
    pgdir[0] = 0x000000u | PG_P | PG_W | PG_PS;
    pgdir[1] = 0x400000u | PG_P | PG_W | PG_PS;
    pgdir[15] = 0x3c00000u | PG_P | PG_W | PG_PS;
    for (int k = 0; k < 8; k++) {
        pgdir[256 + k] = HV_GPA(tables[k]) | PG_P | PG_W;
        for (int e = 0; e < 128; e++)
            tables[k][rnd() % 1024] = random_pte();
    }
}

static void hook(struct host_frame *f)
{
    if (f->vector == 0x20 && rnd() % 2)
        return;                         /* an IRQ: usually just return */
    f->eip = (uint32_t)(uintptr_t)fuzz_recover_addr();
    f->eflags &= ~(EFL_TF | EFL_NT);
}

__asm__(".text\n"
        ".globl fuzz_recover\n"
        "fuzz_recover:\n\t"
        "movl fuzz_stack_top, %esp\n\t"
        "cld\n\t"
        "call fuzz_loop\n\t"
        "ud2\n");

static void random_gate(void)
{
    uint32_t vec = rnd() % 8 ? rnd() % 64 : rnd() % 300;
    uint32_t off = rnd() % 16 ? host_stubs[vec & 0xff] : interesting();
    uint32_t sel = rnd() % 32 ? KCODE : (rnd() % 2 ? 0x10 : rnd() & 0xffff);
    uint32_t type = rnd() % 4 ? (rnd() % 2 ? GATE_INTR : GATE_TRAP) : rnd() % 32;
    uint32_t hi = (off & 0xffff0000u) | (rnd() % 8 ? 1u << 15 : 0) | type << 8 | (rnd() & 0x60ffu);
    if (rnd() % 16 == 0)
        hi = rnd();
    hv_load_idt_entry(vec, gate_lo(sel, off), hi);
}

static void random_hypercall(void)
{
    uint32_t nr = rnd() % 40;
    if (nr == HV_HC_EXIT || nr == HV_HC_SHUTDOWN) {
        if (rnd() % 8)
            nr = HV_HC_FLUSH_TLB;       /* rarely end the run this way */
    }
    if (nr == HV_HC_HALT && rnd() % 8)
        hv_set_clockevent(1 + rnd() % 1000);     /* usually something ends the wait */
    uint32_t a = interesting(), b = interesting(), c = interesting(), d = interesting();
    if (nr == HV_HC_WRITE) {
        a = 1 + rnd() % 3;
        b = rnd() % 4 ? HV_GPA(code_buf) : b;
        c = rnd() % 64;
    }
    if (nr == HV_HC_SET_CLOCKEVENT)
        a = rnd() % 20000;
    if (nr == HV_HC_NOTIFY || nr == HV_HC_INIT)
        a = rnd() % 8 ? HV_GPA(host_gd_page) : a;
    hv_hypercall(nr, a, b, c, d);
}

static void random_access(void)
{
    uint32_t a = interesting();
    switch (rnd() % 5) {
    case 0: (void)*(volatile uint32_t *)(uintptr_t)a; break;
    case 1: *(volatile uint32_t *)(uintptr_t)a = rnd(); break;
    case 2: (void)*(volatile uint8_t *)(uintptr_t)a; break;
    case 3: __asm__ volatile("movl %0, %%esi\n\tmovl %0, %%edi\n\tmovl $16, %%ecx\n\t"
                             "rep movsb" : : "r"(a) : "esi", "edi", "ecx", "memory"); break;
    default: ((void (*)(void))(uintptr_t)a)(); break;
    }
}

static void random_insn(void)
{
    /* int $n, a random byte string, or a system instruction; then ret */
    uint32_t k = 0;
    switch (rnd() % 4) {
    case 0:
        code_buf[k++] = 0xcd;
        code_buf[k++] = (uint8_t)rnd();
        break;
    case 1:
        for (uint32_t n = rnd() % 8; n; n--)
            code_buf[k++] = (uint8_t)rnd();
        break;
    case 2: {
        static const uint8_t ops[][3] = {
            { 0xfb, 0x90, 0x90 },       /* sti */
            { 0xfa, 0x90, 0x90 },       /* cli */
            { 0xfb, 0xf4, 0x90 },       /* sti; hlt (the timer is armed) */
            { 0x0f, 0x20, 0xd8 },       /* mov %cr3, %eax */
            { 0x0f, 0x22, 0xd8 },       /* mov %eax, %cr3 */
            { 0x0f, 0x20, 0xc0 },       /* mov %cr0, %eax */
            { 0x0f, 0x22, 0xc0 },       /* mov %eax, %cr0 */
            { 0x0f, 0x22, 0xe0 },       /* mov %eax, %cr4 */
            { 0x0f, 0x01, 0x38 },       /* invlpg (%eax) */
            { 0x9d, 0x90, 0x90 },       /* popf */
            { 0xcf, 0x90, 0x90 },       /* iret */
            { 0x8e, 0xd0, 0x90 },       /* mov %eax, %ss */
            { 0xcc, 0x90, 0x90 },       /* int3 */
            { 0xce, 0x90, 0x90 },       /* into */
        };
        const uint8_t *o = ops[rnd() % (sizeof(ops) / sizeof(ops[0]))];
        code_buf[k++] = o[0];
        code_buf[k++] = o[1];
        code_buf[k++] = o[2];
        break;
    }
    default:
        code_buf[k++] = 0x0f;
        code_buf[k++] = 0x0b;           /* ud2 */
        break;
    }
    code_buf[k++] = 0xc3;
    if (rnd() % 8)
        hv_set_clockevent(1 + rnd() % 2000);
    static uint32_t push_v, target;
    uint32_t eax = interesting();
    push_v = interesting();
    target = HV_GPA(code_buf);
    __asm__ volatile("pushl %1\n\tpushl %1\n\tpushl %1\n\t"
                     "call *%2\n\t"
                     "addl $12, %%esp"
                     : "+a"(eax) : "m"(push_v), "m"(target)
                     : "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");
}

static void random_paging(void)
{
    switch (rnd() % 6) {
    case 0: {
        uint32_t *t = tables[rnd() % 8];
        t[rnd() % 1024] = random_pte();
        break;
    }
    case 1:
        if (rnd() % 4 == 0)
            pgdir[rnd() % 1024] = random_pte();
        else
            pgdir[256 + rnd() % 256] = random_pte();
        break;
    case 2: hv_set_pte(rnd() % 4 ? HV_GPA(pgdir) : interesting(), interesting(), random_pte()); break;
    case 3: hv_set_pgd(rnd() % 4 ? HV_GPA(pgdir) : interesting(), rnd() % 1100); break;
    case 4: hv_flush_tlb(); break;
    default: {
        uint32_t dir = rnd() % 8 ? HV_GPA(pgdir) : interesting();
        if (trace)
            printf("new_pgtable %08x\n", dir);
        hv_new_pgtable(dir);
        break;
    }
    }
}

void fuzz_loop(void)
{
    while (iter < iters) {
        iter++;
        if (iter % 50 == 0)
            hv_debug_putc('.');
        uint32_t kind = rnd() % 10;
        if (trace)
            printf("step %u kind %u\n", iter, kind);
        switch (kind) {
        case 0: random_hypercall(); break;
        case 1: random_gate(); break;
        case 2: hv_set_clockevent(rnd() % 5000); break;
        case 3: random_paging(); break;
        case 4: random_paging(); break;
        case 5: random_access(); break;
        case 6: random_insn(); break;
        case 7: host_gd_page[1] = rnd() % 2 ? 0 : rnd(); break;
        case 8: if (rnd() % 2) sti(); else cli(); break;
        default: hv_send_interrupts(); break;
        }
    }
    cli();
    printf("fuzz: %u steps\n", iter);
    hv_exit(0);
}

int main(void)
{
    rng_state = cmdline_u32("seed", 1) * 2654435761u + 1;
    iters = cmdline_u32("iters", 400);
    trace = cmdline_u32("trace", 0);
    fuzz_stack_top = HV_GPA(fuzz_stack + sizeof(fuzz_stack));
    printf("fuzz seed %u\n", cmdline_u32("seed", 1));
    host_init();
    build_tables();
    host_hook = hook;
    for (uint32_t v = 0; v < 256; v++)
        if (v != HV_HYPERCALL_VECTOR)
            set_gate(v, v < 32 ? GATE_INTR : (v % 2 ? GATE_TRAP : GATE_INTR));
    if (rnd() % 2)
        hv_new_pgtable(HV_GPA(pgdir));
    fuzz_loop();
    return 0;
}

void *fuzz_recover_addr(void)
{
    extern char fuzz_recover[];
    return fuzz_recover;
}
