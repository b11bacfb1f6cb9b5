/*
 * descriptors.c - a test kernel written the way kernels for QEMU are: its own
 * GDT (code and data at selectors other than the boot ones), a far jump to
 * reload CS, its own IDT (a divide error, an invalid opcode and an `int $0x30`
 * handler), a TSS loaded with ltr, then ACPI poweroff.  It prints through
 * QEMU's debugcon (port 0xE9) only, so the same file runs under
 * `qemu-system-i386 -kernel` and `hv run` and must print the same.
 */
#include "kernel.h"

#define CODE_SEL 0x18
#define DATA_SEL 0x20
#define TSS_SEL 0x28

struct tss { uint32_t words[26]; } __attribute__((aligned(16)));
static struct tss tss;
static uint64_t gdt[7] __attribute__((aligned(8)));
static uint64_t idt[64] __attribute__((aligned(8)));
static uint8_t stack[8192] __attribute__((aligned(16)));

static void set_gate(int vector, void (*fn)(void), uint8_t type)
{
    idt[vector] = gate(fn, CODE_SEL, 0x80u | type);
}

/* Each stub saves the registers and hands the frame to C: f[0..7] pushal,
 * f[8] EIP, f[9] CS, f[10] EFLAGS (no error code on these vectors). */
#define STUB(name, handler)                                                     \
    void name(void);                                                           \
    __asm__(".globl " #name "\n" #name ":\n\tpushal\n\tpushl %esp\n\t"         \
            "call " #handler "\n\taddl $4, %esp\n\tpopal\n\tiret\n")

void on_divide(uint32_t *f)
{
    puts("divide error: cs=");
    hex(f[9], 4);
    puts(" skipped\n");
    f[8] += 2;                      /* past the 2-byte div */
}

void on_ud(uint32_t *f)
{
    puts("invalid opcode: cs=");
    hex(f[9], 4);
    puts("\n");
    f[8] += 2;                      /* past ud2 */
}

void on_int30(uint32_t *f)
{
    puts("int 0x30: eax=");
    hex(f[7], 8);
    puts(" if=");
    hex((f[10] >> 9) & 1, 1);
    puts("\n");
}

/* For vectors with an error code: f[8] error code, f[9] EIP, f[10] CS. */
#define STUB_ERR(name, handler)                                                 \
    void name(void);                                                           \
    __asm__(".globl " #name "\n" #name ":\n\tpushal\n\tpushl %esp\n\t"         \
            "call " #handler "\n\taddl $4, %esp\n\tpopal\n\taddl $4, %esp\n\tiret\n")

void on_segment_fault(uint32_t *f)
{
    puts("  fault: error code ");
    hex(f[8], 4);
    puts("\n");
    f[9] += 2;                      /* past the 2-byte mov to %ds */
}

STUB(divide_stub, on_divide);
STUB_ERR(gp_stub, on_segment_fault);
STUB_ERR(np_stub, on_segment_fault);
STUB(ud_stub, on_ud);
STUB(int30_stub, on_int30);

void kmain(void)
{
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr, check;
    puts("kernel: boot\n");

    gdt[0] = 0;
    gdt[1] = gdt[2] = 0;                                    /* unused */
    gdt[3] = segment(0, 0xfffff, 0x9a, 0xc);                /* code, ring 0 */
    gdt[4] = segment(0, 0xfffff, 0x92, 0xc);                /* data, ring 0 */
    gdt[5] = segment((uint32_t)&tss, sizeof(tss) - 1, 0x89, 0);     /* available TSS */
    gdt[6] = segment(0, 0xfffff, 0x12, 0xc);                /* data, not present */
    gdtr.limit = sizeof(gdt) - 1;
    gdtr.base = (uint32_t)gdt;
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp %1, $1f\n1:\n\t"
                     "movw %w2, %%ax\n\tmovw %%ax, %%ds\n\tmovw %%ax, %%es\n\t"
                     "movw %%ax, %%fs\n\tmovw %%ax, %%gs\n\tmovw %%ax, %%ss"
                     :: "m"(gdtr), "i"(CODE_SEL), "i"(DATA_SEL) : "eax", "memory");
    uint16_t cs, ss;
    __asm__ volatile("movw %%cs, %0\n\tmovw %%ss, %1" : "=r"(cs), "=r"(ss));
    puts("gdt loaded: cs=");
    hex(cs, 4);
    puts(" ss=");
    hex(ss, 4);
    puts("\n");

    __asm__ volatile("sgdt %0" : "=m"(check));
    puts("sgdt: limit=");
    hex(check.limit, 4);
    puts(check.base == (uint32_t)gdt ? " base ok\n" : " base WRONG\n");

    tss.words[1] = (uint32_t)(stack + sizeof(stack));      /* esp0 */
    tss.words[2] = DATA_SEL;                                /* ss0 */
    __asm__ volatile("ltr %w0" :: "r"(TSS_SEL));
    uint16_t tr;
    __asm__ volatile("str %w0" : "=r"(tr));
    puts("tr=");
    hex(tr, 4);
    puts(" tss type now ");
    hex((uint32_t)(gdt[5] >> 40) & 0xf, 1);
    puts("\n");

    set_gate(0, divide_stub, 0xe);
    set_gate(6, ud_stub, 0xe);
    set_gate(0x30, int30_stub, 0xf);
    load_idt(idt, sizeof(idt));

    set_gate(13, gp_stub, 0xe);
    set_gate(11, np_stub, 0xe);
    static const struct { const char *what; uint16_t sel; } bad[] = {
        { "past the GDT limit", 0x38 }, { "a null descriptor", 0x10 },
        { "a TSS", TSS_SEL }, { "not present", 0x30 }, { "the code segment", CODE_SEL | 3 },
    };
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        puts("mov ");
        hex(bad[k].sel, 4);
        puts(" to ds: ");
        puts(bad[k].what);
        puts("\n");
        __asm__ volatile("movw %w0, %%ds" :: "r"(bad[k].sel) : "memory");
    }

    uint32_t a = 7, d = 0, zero = 0;
    __asm__ volatile(".byte 0xf7, 0xf1" : "+a"(a), "+d"(d) : "c"(zero));    /* div %ecx */
    __asm__ volatile("ud2");
    __asm__ volatile("movl $0x12345678, %%eax\n\tint $0x30" ::: "eax", "memory");

    puts("kernel: powering off\n");
    power_off();
}

KERNEL_ENTRY(stack, 8192);
