/*
 * ring3.c - a test kernel with a user task: GDT with ring-3 code and data,
 * a TSS with the ring-0 stack, 4 MiB paging with a supervisor-only page, and
 * an IDT whose int 0x80 gate has DPL 3.  The kernel enters ring 3 with iret;
 * the task makes system calls (print, exit), runs cli (#GP), int 0x81 through
 * a DPL-0 gate (#GP with error code 0x40a) and reads a supervisor page (#PF
 * with error code 5).  Every interrupt from ring 3 switches to the TSS stack.
 */
#include "kernel.h"

#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23
#define TSS_SEL 0x28

static uint64_t gdt[6] __attribute__((aligned(8)));
static uint64_t idt[256] __attribute__((aligned(8)));
static uint32_t tss[26] __attribute__((aligned(16)));
static uint32_t pgdir[1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));

static void set_gate(int vector, void (*fn)(void), uint8_t type_dpl)
{
    idt[vector] = gate(fn, KCODE, type_dpl);
}

/* Frames: f[0..7] pushal; then [error code,] EIP, CS, EFLAGS, ESP, SS. */
#define STUB(name, handler, pop_error)                                          \
    void name(void);                                                           \
    __asm__(".globl " #name "\n" #name ":\n\tpushal\n\tmovw $0x10, %ax\n\t"    \
            "movw %ax, %ds\n\tmovw %ax, %es\n\tpushl %esp\n\tcall " #handler   \
            "\n\taddl $4, %esp\n\tmovw $0x23, %ax\n\tmovw %ax, %ds\n\t"        \
            "movw %ax, %es\n\tpopal\n\t" pop_error "iret\n")

static void show_frame(const uint32_t *f, int err)
{
    puts(" cs=");
    hex(f[err + 9], 4);
    puts(" ss=");
    hex(f[err + 12], 4);
    puts(" on kernel stack: ");
    uint32_t here = (uint32_t)f;
    puts(here >= (uint32_t)kstack && here < (uint32_t)kstack + sizeof(kstack) ? "yes\n" : "no\n");
}

void on_gp(uint32_t *f)
{
    puts("#GP from ring 3: error=");
    hex(f[8], 4);
    show_frame(f, 1);
    uint8_t op = *(uint8_t *)f[9];
    f[9] += op == 0xfa ? 1 : 2;     /* skip cli, or int n */
}

void on_pf(uint32_t *f)
{
    uint32_t cr2;
    __asm__ volatile("movl %%cr2, %0" : "=r"(cr2));
    puts("#PF from ring 3: error=");
    hex(f[8], 1);
    puts(" cr2=");
    hex(cr2, 8);
    show_frame(f, 1);
    f[9] += 5;                      /* past movl 0x400000, %eax */
}

void on_syscall(uint32_t *f)
{
    if (f[7] == 1) {
        puts((const char *)f[4]);
    } else {
        puts("user task exited with ");
        hex(f[4], 2);
        show_frame(f, 0);
        puts("kernel: powering off\n");
        power_off();
    }
}

STUB(gp_stub, on_gp, "addl $4, %esp\n\t");
STUB(pf_stub, on_pf, "addl $4, %esp\n\t");
STUB(syscall_stub, on_syscall, "");
void never(void) {}
STUB(never_stub, never, "");

static void sys_print(const char *s)
{
    __asm__ volatile("int $0x80" :: "a"(1), "b"(s) : "memory");
}

void user_main(void)
{
    uint16_t cs;
    __asm__ volatile("movw %%cs, %0" : "=r"(cs));
    sys_print("hello from ring 3\n");
    sys_print(cs & 3 ? "cpl is 3\n" : "cpl is NOT 3\n");
    __asm__ volatile("cli");
    __asm__ volatile("int $0x81");
    uint32_t v;
    __asm__ volatile("movl 0x400000, %0" : "=a"(v));
    sys_print("back in ring 3\n");
    __asm__ volatile("int $0x80" :: "a"(2), "b"(0x2a));
    for (;;)
        ;
}

void kmain(void)
{
    gdt[1] = segment(0, 0xfffff, 0x9a, 0xc);
    gdt[2] = segment(0, 0xfffff, 0x92, 0xc);
    gdt[3] = segment(0, 0xfffff, 0xfa, 0xc);        /* ring-3 code */
    gdt[4] = segment(0, 0xfffff, 0xf2, 0xc);        /* ring-3 data */
    gdt[5] = segment((uint32_t)tss, sizeof(tss) - 1, 0x89, 0);
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {
        sizeof(gdt) - 1, (uint32_t)gdt };
    __asm__ volatile("lgdt %0\n\tljmp %1, $1f\n1:\n\tmovw %w2, %%ax\n\tmovw %%ax, %%ds\n\t"
                     "movw %%ax, %%es\n\tmovw %%ax, %%ss"
                     :: "m"(gdtr), "i"(KCODE), "i"(KDATA) : "eax", "memory");
    tss[1] = (uint32_t)kstack + sizeof(kstack);
    tss[2] = KDATA;
    __asm__ volatile("ltr %w0" :: "r"(TSS_SEL));
    set_gate(13, gp_stub, 0x8e);
    set_gate(14, pf_stub, 0x8e);
    set_gate(0x80, syscall_stub, 0xef);             /* trap gate, DPL 3 */
    set_gate(0x81, never_stub, 0x8e);               /* DPL 0: not for ring 3 */
    load_idt(idt, sizeof(idt));

    pgdir[0] = 0x00000000u | 0x87;                  /* 0-4 MiB: user, rw, 4 MiB page */
    pgdir[1] = 0x00400000u | 0x83;                  /* 4-8 MiB: supervisor only */
    __asm__ volatile("movl %0, %%cr3\n\tmovl %%cr4, %%eax\n\torl $0x10, %%eax\n\t"
                     "movl %%eax, %%cr4\n\tmovl %%cr0, %%eax\n\torl $0x80010000, %%eax\n\t"
                     "movl %%eax, %%cr0" :: "r"(pgdir) : "eax", "memory");
    puts("kernel: entering ring 3\n");
    __asm__ volatile("movw %w0, %%ax\n\tmovw %%ax, %%ds\n\tmovw %%ax, %%es\n\t"
                     "movw %%ax, %%fs\n\tmovw %%ax, %%gs\n\t"
                     "pushl %0\n\tpushl %1\n\tpushl $0x202\n\tpushl %2\n\tpushl %3\n\tiret"
                     :: "i"(UDATA), "r"((uint32_t)ustack + sizeof(ustack)), "i"(UCODE),
                        "r"(user_main) : "eax", "memory");
}

KERNEL_ENTRY(kstack, 8192);
