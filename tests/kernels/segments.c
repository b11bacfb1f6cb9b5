/*
 * segments.c - a test kernel that uses segments the way real kernels and
 * runtimes do beyond the flat model: FS and GS with their own bases (per-CPU
 * and thread data), segments with small limits, a read-only and an
 * expand-down data segment, a null selector, an LDT, the descriptor cache,
 * a stack segment with a base, a code segment with a base, and a far jump
 * past a code segment's limit.  It reports what it saw through QEMU's
 * debugcon, so the same file runs under `qemu-system-i386 -kernel` and
 * `hv run` and must print the same.
 *
 * QEMU's TCG does not check data segment limits or types, nor the CS limit
 * on instruction fetch, so the accesses here stay inside their segments;
 * the violations are checked against the real CPU instead, by
 * images/conformance/segments.c (LDT segments of a Linux process).
 */
#include "kernel.h"

#define CODE_SEL 0x08
#define DATA_SEL 0x10
#define SMALL_SEL 0x18      /* data at buf, limit 0xff */
#define RO_SEL 0x20         /* read-only data at buf, limit 0xfff */
#define DOWN_SEL 0x28       /* expand-down data at buf, limit 0xff: offsets 0x100.. */
#define STACK_SEL 0x30      /* stack at stack_area, limit 0xfff */
#define BASED_CODE_SEL 0x38 /* code with base CODE_BASE */
#define SHORT_CODE_SEL 0x40 /* code, base 0, ends at the end of the page of limit_fn */
#define LDT_SEL 0x48
#define LDT_DATA_SEL 0x0c   /* LDT entry 1, RPL 0: data at buf + 0x10, limit 0xf */
#define CODE_BASE 0x1000u

static uint64_t gdt[10] __attribute__((aligned(8)));
static uint64_t ldt[2] __attribute__((aligned(8)));
static uint64_t idt[32] __attribute__((aligned(8)));
static uint8_t buf[0x1000] __attribute__((aligned(16)));
static uint8_t stack_area[0x1000] __attribute__((aligned(16)));

/* Where a faulting test goes on, and what the fault handlers saw. */
volatile uint32_t resume, fault_vec, fault_err, fault_eip, fault_cs, popped, popped2;

static void set_gate(int vector, void (*fn)(void))
{
    idt[vector] = gate(fn, CODE_SEL, 0x8e);
}

/* #GP, #SS and #NP: record the vector, error code, EIP and CS, and go on at
 * `resume` in the flat code segment.  Written only with SS-relative stack
 * accesses and DS-relative globals, so it also works while SS has a base. */
#define FAULT_STUB(name, vec)                                                   \
    void name(void);                                                           \
    __asm__(".globl " #name "\n" #name ":\n\t"                                 \
            "movl $" #vec ", %ds:fault_vec\n\t"                                \
            "pushl %eax\n\t"                                                   \
            "movl 4(%esp), %eax\n\tmovl %eax, %ds:fault_err\n\t"               \
            "movl 8(%esp), %eax\n\tmovl %eax, %ds:fault_eip\n\t"               \
            "movl 12(%esp), %eax\n\tmovl %eax, %ds:fault_cs\n\t"               \
            "movl %ds:resume, %eax\n\tmovl %eax, 8(%esp)\n\t"                  \
            "movl $8, 12(%esp)\n\t"                                            \
            "popl %eax\n\taddl $4, %esp\n\tiret\n")

FAULT_STUB(gp_stub, 13);
FAULT_STUB(ss_stub, 12);
FAULT_STUB(np_stub, 11);

static void report(const char *what, uint32_t value)
{
    puts(what);
    puts(": ");
    if (fault_vec) {
        puts(fault_vec == 13 ? "#GP(" : fault_vec == 12 ? "#SS(" : "#NP(");
        hex(fault_err, 4);
        puts(")\n");
    } else {
        hex(value, 8);
        puts("\n");
    }
    fault_vec = 0;
}

/* Run `insn` (AT&T syntax, may use %eax and %edx) with `sreg` loaded with
 * `sel`; any fault resumes after it.  The flat data selector is restored. */
#define WITH_SEG(sreg, sel, insn, eax_in)                                       \
    ({                                                                         \
        uint32_t v_ = (eax_in);                                                \
        __asm__ volatile("movl $1f, %%ds:resume\n\t"                           \
                         "movw %w2, %%dx\n\tmovw %%dx, %%" sreg "\n\t"         \
                         insn "\n"                                             \
                         "1:\n\tmovw %w3, %%dx\n\tmovw %%dx, %%" sreg "\n"     \
                         : "+a"(v_) : "m"(buf), "r"(sel), "i"(DATA_SEL)        \
                         : "edx", "memory", "cc");                            \
        v_;                                                                    \
    })

/* Position-independent code run through BASED_CODE_SEL: it returns in EAX
 * the offset of a label as that code segment sees it. */
void based_fn(void);
__asm__(".globl based_fn\nbased_fn:\n\tcall 1f\n1:\tpopl %eax\n\tlret\n"
        ".globl based_label\nbased_label = 1b\n");
extern char based_label[];

/* SHORT_CODE_SEL's limit ends 3 bytes into limit_fn, at the end of a page;
 * the code just before it returns 0x11223344. */
void limit_fn(void);
__asm__(".section .text.limit, \"ax\"\n.balign 4096\n.skip 4077\n"
        "\tmovl $0x11223344, %eax\n\tlret\n.skip 10, 0x90\n"
        ".globl limit_fn\nlimit_fn:\n\tmovl $0x11223344, %eax\n\tlret\n"
        ".globl limit_end\nlimit_end = limit_fn + 3\n.text\n");
extern char limit_end[];

void kmain(void)
{
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr;
    uint32_t b = (uint32_t)buf;
    puts("kernel: boot\n");
    for (unsigned k = 0; k < sizeof(buf); k++)
        buf[k] = (uint8_t)(k * 7 + 1);

    gdt[1] = segment(0, 0xfffff, 0x9a, 0xc);
    gdt[2] = segment(0, 0xfffff, 0x92, 0xc);
    gdt[3] = segment(b, 0xff, 0x92, 0x4);
    gdt[4] = segment(b, 0xfff, 0x90, 0x4);
    gdt[5] = segment(b, 0xff, 0x96, 0x4);
    gdt[6] = segment((uint32_t)stack_area, 0xfff, 0x92, 0x4);
    gdt[7] = segment(CODE_BASE, 0xfffff, 0x9a, 0xc);
    gdt[8] = segment(0, ((uint32_t)limit_end >> 12) - 1, 0x9a, 0xc);
    gdt[9] = segment((uint32_t)ldt, sizeof(ldt) - 1, 0x82, 0);
    ldt[1] = segment(b + 0x10, 0xf, 0x92, 0x4);
    gdtr.limit = sizeof(gdt) - 1;
    gdtr.base = (uint32_t)gdt;
    __asm__ volatile("lgdt %0\n\tljmp %1, $1f\n1:\n\t"
                     "movw %w2, %%ax\n\tmovw %%ax, %%ds\n\tmovw %%ax, %%es\n\t"
                     "movw %%ax, %%fs\n\tmovw %%ax, %%gs\n\tmovw %%ax, %%ss"
                     :: "m"(gdtr), "i"(CODE_SEL), "i"(DATA_SEL) : "eax", "memory");
    set_gate(11, np_stub);
    set_gate(12, ss_stub);
    set_gate(13, gp_stub);
    load_idt(idt, sizeof(idt));

    /* FS and GS with a base: per-CPU style loads and stores. */
    report("fs:0x10", WITH_SEG("fs", SMALL_SEL, "movl %%fs:0x10, %%eax", 0));
    WITH_SEG("gs", SMALL_SEL, "movl %%eax, %%gs:0x20", 0xcafef00du);
    report("buf[0x20] after gs store", *(volatile uint32_t *)(buf + 0x20));
    report("fs:0xfc (last dword)", WITH_SEG("fs", SMALL_SEL, "movl %%fs:0xfc, %%eax", 0));
    report("fs:0xff (last byte)", WITH_SEG("fs", SMALL_SEL, "movzbl %%fs:0xff, %%eax", 0));
    report("fs:[eax] with eax=0x40", WITH_SEG("fs", SMALL_SEL, "movl %%fs:(%%eax), %%eax", 0x40));
    report("add to gs:0x30", WITH_SEG("gs", SMALL_SEL,
                                      "addl %%eax, %%gs:0x30\n\tmovl %%gs:0x30, %%eax", 1));

    /* Read-only and expand-down data. */
    report("ro read es:0x800", WITH_SEG("es", RO_SEL, "movl %%es:0x800, %%eax", 0));
    report("down es:0x100", WITH_SEG("es", DOWN_SEL, "movl %%es:0x100, %%eax", 0));
    report("down es:0xffc", WITH_SEG("es", DOWN_SEL, "movl %%es:0xffc, %%eax", 0));

    /* A null selector loads, but any use faults. */
    report("null gs lea", WITH_SEG("gs", 0, "leal 0x1234(%%eax), %%eax", 0x10));

    /* String instructions: the source segment can be overridden, ES cannot. */
    report("fs lodsl", WITH_SEG("fs", SMALL_SEL, "pushl %%esi\n\tmovl $0x44, %%esi\n\t"
                                "lodsl %%fs:(%%esi), %%eax\n\tpopl %%esi", 0));
    report("rep movsb from fs", WITH_SEG("fs", SMALL_SEL,
        "pushl %%esi\n\tpushl %%edi\n\tpushl %%ecx\n\tmovl $0x50, %%esi\n\t"
        "leal 0x200+buf, %%edi\n\tmovl $8, %%ecx\n\tcld\n\trep movsb %%fs:(%%esi), %%es:(%%edi)\n\t"
        "movl 0x204+buf, %%eax\n\tpopl %%ecx\n\tpopl %%edi\n\tpopl %%esi", 0));

    /* An LDT, its selectors, and what lsl says of them. */
    __asm__ volatile("lldt %w0" :: "r"(LDT_SEL));
    uint32_t ldtr = 0;
    __asm__ volatile("sldt %0" : "=r"(ldtr));
    report("sldt", ldtr);
    report("ldt fs:0", WITH_SEG("fs", LDT_DATA_SEL, "movl %%fs:0, %%eax", 0));
    uint32_t lim = 0;
    __asm__ volatile("lsl %1, %0" : "=r"(lim) : "r"((uint32_t)LDT_DATA_SEL) : "cc");
    report("lsl of the ldt selector", lim);

    /* The descriptor cache: changing the GDT entry does not change a
     * loaded segment until it is loaded again. */
    uint32_t cached = WITH_SEG("fs", SMALL_SEL,
        "movw $0, gdt+0x1a\n\t"          /* base 15:0 := 0 in the GDT */
        "movl %%fs:0x10, %%eax", 0);
    report("fs:0x10 after the GDT changed", cached);
    report("fs:0x10 after reloading fs", WITH_SEG("fs", SMALL_SEL, "movl %%fs:0x10, %%eax", 0));
    gdt[3] = segment(b, 0xff, 0x92, 0x4);

    /* A stack segment with a base: push, pop and EBP-based accesses go
     * through it. */
    __asm__ volatile("movl %%esp, %%edx\n\tmovw %w0, %%ax\n\tmovw %%ax, %%ss\n\t"
                     "movl $0x800, %%esp\n\tpushl $0x5eed1e55\n\tpushl $0x12345678\n\t"
                     "movl %%esp, %%ebp\n\tmovl 4(%%ebp), %%eax\n\tmovl %%eax, %%ds:popped\n\t"
                     "popl %%eax\n\tmovl %%eax, %%ds:popped2\n\tpopl %%eax\n\t"
                     "movw %w1, %%ax\n\tmovw %%ax, %%ss\n\tmovl %%edx, %%esp\n"
                     :: "r"(STACK_SEL), "i"(DATA_SEL) : "eax", "edx", "ebp", "memory", "cc");
    report("ss:4(ebp)", popped);
    report("popped through ss", popped2);
    report("stack_area[0x7fc]", *(volatile uint32_t *)(stack_area + 0x7fc));

    /* A code segment with a base: EIP is an offset in it. */
    uint32_t off = 0;
    struct { uint32_t off; uint16_t sel; } __attribute__((packed)) target = {
        (uint32_t)based_fn - CODE_BASE, BASED_CODE_SEL };
    __asm__ volatile("lcall *%1" : "=a"(off) : "m"(target) : "memory");
    report("eip in the based code segment", off);
    report("its linear address minus the base", (uint32_t)based_label - CODE_BASE);

    /* A code segment that ends just after limit_fn's first bytes: a call
     * inside the limit runs, a far jump to an offset past it faults at the
     * jump (with CS unchanged). */
    target.off = (uint32_t)limit_fn - 0x10;
    target.sel = SHORT_CODE_SEL;
    __asm__ volatile("lcall *%1" : "=a"(off) : "m"(target) : "memory");
    report("call inside the limit", off);
    target.off = (uint32_t)limit_end + 0x10;
    __asm__ volatile("movl $1f, %%ds:resume\n\tljmp *%0\n1:\n" :: "m"(target) : "memory");
    report("far jump past the cs limit", 0);
    report("faulting cs", fault_cs);

    puts("kernel: powering off\n");
    power_off();
}

uint8_t kstack[8192] __attribute__((aligned(16)));
KERNEL_ENTRY(kstack, 8192);
