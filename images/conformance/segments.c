/*
 * segments.c - segment bases, limits and types, checked against the real CPU.
 *
 * The same LDT is built both ways: as a Linux process with modify_ldt(2),
 * and in the hv guest with its own GDT, LDT and IDT (lgdt, lldt, lidt).
 * Every test loads an LDT selector into ES, FS, GS or SS, or far-calls an
 * LDT code segment, and makes accesses inside and across the limits; a
 * fault resumes after the test and is printed with its vector and error
 * code (under Linux they come from the signal's sigcontext).
 *
 *   expand-up, read-only, expand-down (16- and 32-bit), page-granular and
 *   code segments through FS/GS/ES; loads that fault (#GP, #NP); a null
 *   selector; string instructions that run off a limit part-way; a stack
 *   segment with a base (push, pop, EBP-based #SS); code with a base and a
 *   limit (near jumps, calls, returns and fetches past it); LAR, LSL, VERR
 *   and VERW on every selector.
 *
 * QEMU's TCG checks none of the data limits, so this guest is compared with
 * the CPU only (tests/test_conformance.py), not with QEMU.
 */
#include "conf.h"

#define ENTRIES 12
#define SEL(n) ((u32)(n) << 3 | 7)          /* LDT, RPL 3: what Linux hands out */
/* Stack and code segments must have the CPL as their DPL (and RPL). */
#ifdef HV_TARGET_LINUX
#define PRIV_SEL(n) SEL(n)                  /* CPL 3 */
#else
#define PRIV_SEL(n) ((u32)(n) << 3 | 4)     /* the hv guest runs at CPL 0 */
#endif
#define PRIVILEGED_ENTRY(n) ((n) == 9 || (n) == 10)

/* The segments (modify_ldt's struct user_desc fields). */
enum { DATA = 0, DOWN = 1, CODE = 2 };
struct spec { u32 base_off, limit; u8 contents, ro, pages, big, absent; };
static const struct spec specs[ENTRIES] = {
    [1] = { 0x100, 0xff, DATA, 0, 0, 1, 0 },
    [2] = { 0x100, 0xfff, DATA, 1, 0, 1, 0 },       /* read-only */
    [3] = { 0, 0xff, DOWN, 0, 0, 0, 0 },            /* offsets 0x100..0xffff */
    [4] = { 0, 0xfff, DOWN, 0, 0, 1, 0 },           /* offsets 0x1000..4 GiB */
    [5] = { 0x2000, 0, DATA, 0, 1, 1, 0 },          /* one page */
    [6] = { 0, 0xffff, CODE, 0, 0, 1, 0 },          /* readable code */
    [7] = { 0, 0xffff, CODE, 1, 0, 1, 0 },          /* execute-only */
    [8] = { 0, 0xff, DATA, 0, 0, 1, 1 },            /* not present */
    [9] = { 0x4000, 0xfff, DATA, 0, 0, 1, 0 },      /* a stack */
    [10] = { 0, 0x3f, CODE, 0, 0, 1, 0 },           /* base: code_page */
    [11] = { 0x8000, 0x7, DATA, 0, 0, 1, 0 },       /* 8 bytes */
};

static u8 area[0x12000] __attribute__((aligned(4096)));

/* Code run through LDT entry 10 (base code_page, limit 0x3f), position
 * independent: each entry point is at a fixed offset. */
void code_page(void);
__asm__(".pushsection .text.code_page, \"ax\"\n.balign 4096\n"
        ".globl code_page\ncode_page:\n"
        "\tmovl $0x1234, %eax\n\tlret\n"                    /* 0x00 */
        ".org code_page + 0x08\n\tjmp code_page + 0x4a\n"   /* 0x08: past the limit */
        ".org code_page + 0x10\n\tcall code_page + 0x80\n"  /* 0x10 */
        ".org code_page + 0x18\n\tpushl $0x40\n\tret\n"     /* 0x18: ret to 0x40 */
        ".org code_page + 0x20\n\tmovl $0x40, %eax\n\tjmp *%eax\n"  /* 0x20: to 0x40 */
        ".org code_page + 0x28\n\tmovl $3, %ecx\n1:\tloop 1b\n\tlret\n"  /* 0x28: inside */
        ".org code_page + 0x30\n\txorl %ecx, %ecx\n\tincl %ecx\n\tcmpl %ecx, %eax\n"
        "\tjne code_page + 0x60\n\tlret\n"                 /* 0x30: jcc at 0x35 */
        ".org code_page + 0x3c\n\tmovl $0x11223344, %eax\n"  /* 0x3c: crosses the limit */
        ".org code_page + 0x1000\n.popsection\n");

/* What the last fault was; `resume` is where the fault handler goes on. */
volatile u32 resume, resume_esp, saved_ebp, fault_vec, fault_err, fault_eip;
volatile u16 flat_cs, saved_es, saved_fs, saved_gs, saved_ss;

#ifdef HV_TARGET_LINUX

struct user_desc { u32 entry_number, base_addr, limit, flags; };
struct kernel_sigaction { void *handler; u32 flags; void *restorer; u32 mask[2]; };
struct stack_t { void *sp; int flags; u32 size; };
static u8 alt_stack[16384] __attribute__((aligned(16)));

void conf_restorer(void);
__asm__(".globl conf_restorer\nconf_restorer:\n\tmovl $173, %eax\n\tint $0x80\n");

/* gregs of the i386 ucontext: TRAPNO 12, ERR 13, EIP 14, CS 15. */
static void on_signal(int sig, void *info, void *uc)
{
    (void)sig;
    (void)info;
    u32 *gregs = (u32 *)((u8 *)uc + 20);
    fault_vec = gregs[12];
    fault_err = gregs[13];
    fault_eip = gregs[14];
    gregs[14] = resume;
    gregs[15] = flat_cs;
}

/* A system call with four arguments (EBX, ECX, EDX, ESI). */
static long sys4(long nr, long a, long b, long c, long d)
{
    __asm__ volatile("int $0x80" : "+a"(nr) : "b"(a), "c"(b), "d"(c), "S"(d) : "memory", "cc");
    return nr;
}

static void setup(void)
{
    for (u32 n = 1; n < ENTRIES; n++) {
        const struct spec *s = &specs[n];
        u32 base = n == 10 ? (u32)code_page : (u32)area + s->base_off;
        struct user_desc d = { n, base, s->limit,
                               s->big | (u32)s->contents << 1 | (u32)s->ro << 3 |
                               (u32)s->pages << 4 | (u32)s->absent << 5 };
        if (hv__linux_syscall3(123, 0x11, (unsigned long)&d, sizeof(d)) != 0) {
            printf("modify_ldt failed\n");
            hv_exit(3);
        }
    }
    struct stack_t st = { alt_stack, 0, sizeof(alt_stack) };
    hv__linux_syscall3(186, (unsigned long)&st, 0, 0);
    struct kernel_sigaction sa = { (void *)on_signal, 0x4u | 0x04000000u | 0x08000000u | 0x40000000u,
                                   (void *)conf_restorer, { 0, 0 } };
    if (sys4(174, 11, (long)&sa, 0, 8) != 0 ||     /* SIGSEGV: #GP */
        sys4(174, 7, (long)&sa, 0, 8) != 0) {      /* SIGBUS: #SS, #NP */
        printf("rt_sigaction failed\n");
        hv_exit(3);
    }
}

#else

static u64 gdt[4] __attribute__((aligned(8)));
static u64 ldt[ENTRIES] __attribute__((aligned(8)));
static u64 idt[32] __attribute__((aligned(8)));

/* #NP, #SS, #GP at ring 0: record, and go on at `resume` in the flat code
 * segment.  Only SS-relative stack accesses and DS-relative globals. */
#define FAULT_STUB(name, vec)                                                   \
    void name(void);                                                           \
    __asm__(".globl " #name "\n" #name ":\n\t"                                 \
            "movl $" #vec ", %ds:fault_vec\n\tpushl %eax\n\t"                  \
            "movl 4(%esp), %eax\n\tmovl %eax, %ds:fault_err\n\t"               \
            "movl 8(%esp), %eax\n\tmovl %eax, %ds:fault_eip\n\t"               \
            "movl %ds:resume, %eax\n\tmovl %eax, 8(%esp)\n\t"                  \
            "movzwl %ds:flat_cs, %eax\n\tmovl %eax, 12(%esp)\n\t"              \
            "popl %eax\n\taddl $4, %esp\n\tiret\n")
FAULT_STUB(np_stub, 11);
FAULT_STUB(ss_stub, 12);
FAULT_STUB(gp_stub, 13);

static u64 descriptor(u32 base, u32 limit, u32 type, u32 dpl, u32 present, u32 flags)
{
    return (limit & 0xffffu) | (u64)(base & 0xffffffu) << 16 | (u64)type << 40 |
           (u64)dpl << 45 | (u64)present << 47 | (u64)((limit >> 16) & 0xf) << 48 |
           (u64)flags << 52 | (u64)(base >> 24) << 56;
}

static void gate(int v, void (*fn)(void))
{
    u32 off = (u32)fn;
    idt[v] = (off & 0xffffu) | (u64)0x08 << 16 | (u64)0x8e << 40 | (u64)(off >> 16) << 48;
}

static void setup(void)
{
    /* As Linux builds them: type = accessed | writable/readable | contents. */
    for (u32 n = 1; n < ENTRIES; n++) {
        const struct spec *s = &specs[n];
        u32 base = n == 10 ? (u32)code_page : (u32)area + s->base_off;
        u32 type = 0x10 | 1 | (u32)(s->ro ^ 1) << 1 | (u32)s->contents << 2;
        ldt[n] = descriptor(base, s->limit, type, PRIVILEGED_ENTRY(n) ? 0 : 3, !s->absent,
                            (u32)s->big << 2 | (u32)s->pages << 3);
    }
    gdt[1] = descriptor(0, 0xfffff, 0x9b, 0, 1, 0xc);
    gdt[2] = descriptor(0, 0xfffff, 0x93, 0, 1, 0xc);
    gdt[3] = descriptor((u32)ldt, sizeof(ldt) - 1, 0x2, 0, 1, 0);
    gate(11, np_stub);
    gate(12, ss_stub);
    gate(13, gp_stub);
    struct { u16 limit; u32 base; } __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (u32)gdt },
                                                              idtr = { sizeof(idt) - 1, (u32)idt };
    __asm__ volatile("lgdt %0\n\tlidt %1\n\tlldt %w2" :: "m"(gdtr), "m"(idtr), "r"(0x18)
                     : "memory");
}

#endif

static u32 lines_hash = HASH_INIT;

static void report(const char *what, u32 value)
{
    if (fault_vec) {
        printf("%s: fault %u (%04x)\n", what, fault_vec, fault_err);
        lines_hash = check(check(lines_hash, fault_vec), fault_err);
    } else {
        printf("%s: %08x\n", what, value);
        lines_hash = check(lines_hash, value);
    }
    fault_vec = 0;
}

/* Run `insn` (AT&T; EAX in and out; it may change EBX, ECX, EDX, ESI and
 * EDI, but must not push anything it would pop after a fault) with `sreg`
 * loaded with `sel`; a fault resumes after it, and sreg gets its old value. */
#define WITH_SEG(sreg, sel, insn, eax_in)                                       \
    ({                                                                         \
        u32 v_ = (eax_in);                                                     \
        u16 s_ = (u16)(sel);                                                   \
        __asm__ volatile("movl $1f, %%ds:resume\n\t"                           \
                         "movw %1, %%dx\n\tmovw %%dx, %%" sreg "\n\t"          \
                         insn "\n"                                             \
                         "1:\n\tmovw %%ds:saved_" sreg ", %%dx\n\t"            \
                         "movw %%dx, %%" sreg "\n"                             \
                         : "+a"(v_) : "m"(s_)                                  \
                         : "ebx", "ecx", "edx", "esi", "edi", "memory", "cc");  \
        v_;                                                                    \
    })

static u32 rd(u32 off) { return *(volatile u32 *)(area + off); }

static void test_data(void)
{
    report("fs expand-up dword 0", WITH_SEG("fs", SEL(1), "movl %%fs:0, %%eax", 0));
    report("fs expand-up dword 0xfc", WITH_SEG("fs", SEL(1), "movl %%fs:0xfc, %%eax", 0));
    report("fs expand-up dword 0xfd", WITH_SEG("fs", SEL(1), "movl %%fs:0xfd, %%eax", 0));
    report("fs expand-up word 0xfe", WITH_SEG("fs", SEL(1), "movzwl %%fs:0xfe, %%eax", 0));
    report("fs expand-up word 0xff", WITH_SEG("fs", SEL(1), "movzwl %%fs:0xff, %%eax", 0));
    report("fs expand-up byte 0xff", WITH_SEG("fs", SEL(1), "movzbl %%fs:0xff, %%eax", 0));
    report("fs expand-up byte 0x100", WITH_SEG("fs", SEL(1), "movzbl %%fs:0x100, %%eax", 0));
    report("fs expand-up [eax] -1", WITH_SEG("fs", SEL(1), "movzbl %%fs:(%%eax), %%eax", -1u));
    report("gs store 0x80", WITH_SEG("gs", SEL(1), "movl %%eax, %%gs:0x80", 0xfeedf00du));
    report("  memory", rd(0x180));
    report("gs add across the limit", WITH_SEG("gs", SEL(1), "addl %%eax, %%gs:0xfe", 1));
    report("  memory", rd(0x1fc));
    report("gs lea 0x1000", WITH_SEG("gs", SEL(1), "leal %%gs:0x1000(%%eax), %%eax", 5));
    report("es read-only read", WITH_SEG("es", SEL(2), "movl %%es:0x40, %%eax", 0));
    report("es read-only write", WITH_SEG("es", SEL(2), "movl %%eax, %%es:0x40", 7));
    report("es read-only add", WITH_SEG("es", SEL(2), "addl %%eax, %%es:0x40", 7));
    report("  memory", rd(0x140));
    report("fs down16 0x80", WITH_SEG("fs", SEL(3), "movl %%fs:0x80, %%eax", 0));
    report("fs down16 0xfe", WITH_SEG("fs", SEL(3), "movl %%fs:0xfe, %%eax", 0));
    report("fs down16 0x100", WITH_SEG("fs", SEL(3), "movl %%fs:0x100, %%eax", 0));
    report("fs down16 0xfffc", WITH_SEG("fs", SEL(3), "movl %%fs:0xfffc, %%eax", 0));
    report("fs down16 0xfffd", WITH_SEG("fs", SEL(3), "movl %%fs:0xfffd, %%eax", 0));
    report("fs down16 0x10000", WITH_SEG("fs", SEL(3), "movzbl %%fs:0x10000, %%eax", 0));
    report("fs down32 0xffc", WITH_SEG("fs", SEL(4), "movl %%fs:0xffc, %%eax", 0));
    report("fs down32 0xffe", WITH_SEG("fs", SEL(4), "movl %%fs:0xffe, %%eax", 0));
    report("fs down32 0x1000", WITH_SEG("fs", SEL(4), "movl %%fs:0x1000, %%eax", 0));
    report("fs down32 0x10ffc", WITH_SEG("fs", SEL(4), "movl %%fs:0x10ffc, %%eax", 0));
    report("gs page 0xffc", WITH_SEG("gs", SEL(5), "movl %%gs:0xffc, %%eax", 0));
    report("gs page 0xffd", WITH_SEG("gs", SEL(5), "movl %%gs:0xffd, %%eax", 0));
    report("gs page 0x1000", WITH_SEG("gs", SEL(5), "movzbl %%gs:0x1000, %%eax", 0));
    report("fs code read", WITH_SEG("fs", SEL(6), "movl %%fs:0x10, %%eax", 0));
    report("fs code write", WITH_SEG("fs", SEL(6), "movl %%eax, %%fs:0x10", 0));
    report("fs execute-only load", WITH_SEG("fs", SEL(7), "movl %%fs:0x10, %%eax", 0));
    report("fs not-present load", WITH_SEG("fs", SEL(8), "movl %%fs:0x10, %%eax", 0));
    report("fs past the ldt", WITH_SEG("fs", SEL(20), "movl %%fs:0x10, %%eax", 0));
    report("ss read-only load", WITH_SEG("ss", PRIV_SEL(2), "nop", 0));
    report("gs null read", WITH_SEG("gs", 0, "movl %%gs:0, %%eax", 0));
    report("gs null write", WITH_SEG("gs", 3, "movl %%eax, %%gs:0", 0));
    report("gs 8-byte cmpxchg8b", WITH_SEG("gs", SEL(11),
        "xorl %%eax, %%eax\n\txorl %%edx, %%edx\n\t"
        "xorl %%ebx, %%ebx\n\txorl %%ecx, %%ecx\n\tcmpxchg8b %%gs:0", 0));
    report("gs 8-byte cmpxchg8b +1", WITH_SEG("gs", SEL(11),
        "xorl %%eax, %%eax\n\txorl %%edx, %%edx\n\t"
        "xorl %%ebx, %%ebx\n\txorl %%ecx, %%ecx\n\tcmpxchg8b %%gs:1", 0));
    report("push/pop fs", WITH_SEG("fs", SEL(1),
        "pushl %%fs\n\tpopl %%eax\n\tandl $0xffff, %%eax", 0));
    report("mov fs to memory", WITH_SEG("fs", SEL(5),
        "movw %%fs, %%ds:resume_esp\n\tmovzwl %%ds:resume_esp, %%eax", 0));
}

volatile u32 string_ecx;

static void test_strings(void)
{
    report("lods fs:0xfc", WITH_SEG("fs", SEL(1),
        "movl $0xfc, %%esi\n\tlodsl %%fs:(%%esi), %%eax", 0));
    report("lods fs:0xfd", WITH_SEG("fs", SEL(1),
        "movl $0xfd, %%esi\n\tlodsl %%fs:(%%esi), %%eax", 0));
    /* rep movsb off the end of FS: the fault leaves ECX, ESI, EDI at the
     * iteration that faulted. */
    u32 moved = WITH_SEG("fs", SEL(1),
        "movl $0xf0, %%esi\n\t"
        "leal area+0x3000, %%edi\n\tmovl $0x20, %%ecx\n\tcld\n\t"
        "movl %%ecx, %%ds:string_ecx\n\tmovl $2f, %%ds:resume\n\t"
        "rep movsb %%fs:(%%esi), %%es:(%%edi)\n"
        "2:\tmovl %%ecx, %%ds:string_ecx\n\tsubl $0xf0, %%esi\n\tmovl %%esi, %%eax", 0);
    report("rep movsb from fs across the limit", moved);
    report("  esi moved", moved);
    report("  ecx left", string_ecx);
    moved = WITH_SEG("es", SEL(1),
        "movl $0xe0, %%edi\n\tmovl $0x10, %%ecx\n\t"
        "movl $2f, %%ds:resume\n\tcld\n\trep stosl\n"
        "2:\tmovl %%ecx, %%ds:string_ecx\n\tmovl %%edi, %%eax",
        0x5a5a5a5au);
    report("rep stosl into es across the limit", moved);
    report("  edi at", moved);
    report("  ecx left", string_ecx);
    report("  memory", rd(0x1fc));
    report("scas es down16 0xfe", WITH_SEG("es", SEL(3),
        "movl $0xfe, %%edi\n\tscasl\n\tmovl %%edi, %%eax", 0));
}

static void test_stack(void)
{
    u32 got;
    /* SS with base area+0x4000 and limit 0xfff. */
    got = WITH_SEG("ss", PRIV_SEL(9),
        "movl %%esp, %%ds:resume_esp\n\tmovl $0x800, %%esp\n\tpushl $0x5eed\n\t"
        "pushl $0xbeef\n\tpopl %%eax\n\tpopl %%edx\n\tshll $16, %%eax\n\torl %%edx, %%eax\n\t"
        "movl %%ds:resume_esp, %%esp", 0);
    report("ss push/pop", got);
    report("  memory", rd(0x47fc));
    got = WITH_SEG("ss", PRIV_SEL(9),
        "movl %%esp, %%ds:resume_esp\n\tmovl %%ebp, %%ds:saved_ebp\n\t"
        "movl $2f, %%ds:resume\n\tmovl $0x800, %%esp\n\t"
        "movl %%esp, %%ebp\n\tmovl 0x7fc(%%ebp), %%eax\n\tmovl 0x7fd(%%ebp), %%eax\n"
        "2:\tmovl %%ds:resume_esp, %%esp\n\tmovl %%ds:saved_ebp, %%ebp", 0);
    report("ss ebp access past the limit", got);
    got = WITH_SEG("ss", PRIV_SEL(9),
        "movl %%esp, %%ds:resume_esp\n\tmovl $2f, %%ds:resume\n\tmovl $0x800, %%esp\n\t"
        "movl $0xffe, %%eax\n\tmovl %%ss:(%%eax), %%eax\n"
        "2:\tmovl %%ds:resume_esp, %%esp", 0);
    report("ss override past the limit", got);
}

/* Far call to LDT entry 10 at `off`; the fault (if any) comes back here. */
static u32 code_call(u32 off)
{
    struct { u32 off; u16 sel; } __attribute__((packed)) target = { off, (u16)PRIV_SEL(10) };
    u32 eax = 0;
    __asm__ volatile("movl %%esp, %%ds:resume_esp\n\tmovl $1f, %%ds:resume\n\t"
                     "lcall *%1\n1:\tmovl %%ds:resume_esp, %%esp"
                     : "+a"(eax) : "m"(target) : "ecx", "edx", "memory", "cc");
    return eax;
}

static void test_code(void)
{
    static const struct { const char *what; u32 off; } calls[] = {
        { "code 0x00 inside", 0x00 }, { "code 0x08 jmp past the limit", 0x08 },
        { "code 0x10 call past the limit", 0x10 }, { "code 0x18 ret past the limit", 0x18 },
        { "code 0x20 jmp *eax past the limit", 0x20 }, { "code 0x28 loop inside", 0x28 },
        { "code 0x30 compare and jcc past the limit", 0x30 },
        { "code 0x3c fetch across the limit", 0x3c }, { "code 0x40 far call past it", 0x40 },
    };
    for (unsigned k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
        u32 v = code_call(calls[k].off);
        bool faulted = fault_vec != 0;
        report(calls[k].what, v);
        if (faulted && fault_eip < 0x1000)
            report("  at eip", fault_eip);         /* an offset in code_page */
        else if (faulted)
            printf("  outside code_page\n");
    }
}

static void test_descriptors(void)
{
    for (u32 n = 0; n < ENTRIES + 2; n++) {
        u32 sel = n == ENTRIES + 1 ? SEL(40) : PRIVILEGED_ENTRY(n) ? PRIV_SEL(n) : SEL(n), ar = 0, lim = 0, zl, zs, zr, zw;
        __asm__ volatile("xorl %0, %0\n\tlarl %2, %0\n\tsetz %b1"
                         : "=&r"(ar), "=&q"(zl) : "r"(sel) : "cc");
        __asm__ volatile("xorl %0, %0\n\tlsll %2, %0\n\tsetz %b1"
                         : "=&r"(lim), "=&q"(zs) : "r"(sel) : "cc");
        __asm__ volatile("verr %w2\n\tsetz %b0\n\tverw %w2\n\tsetz %b1"
                         : "=&q"(zr), "=&q"(zw) : "r"(sel) : "cc");
        zl &= 1; zs &= 1; zr &= 1; zw &= 1;
        if (PRIVILEGED_ENTRY(n))
            ar &= ~0x6000u;     /* DPL: ring 0 in the hv guest, ring 3 in Linux */
        printf("selector %04x: lar %u %08x lsl %u %08x verr %u verw %u\n", sel | 3, zl,
               zl ? ar : 0, zs, zs ? lim : 0, zr, zw);
        lines_hash = check(check(check(lines_hash, ar), lim), zl | zs << 1 | zr << 2 | zw << 3);
    }
}

int main(void)
{
    u16 cs, es, fs, gs, ss;
    __asm__ volatile("movw %%cs, %0\n\tmovw %%es, %1\n\tmovw %%fs, %2\n\tmovw %%gs, %3\n\t"
                     "movw %%ss, %4" : "=r"(cs), "=r"(es), "=r"(fs), "=r"(gs), "=r"(ss));
    flat_cs = cs;
    saved_es = es;
    saved_fs = fs;
    saved_gs = gs;
    saved_ss = ss;
    for (u32 k = 0; k < sizeof(area); k++)
        area[k] = (u8)(k * 13 + (k >> 8));
    setup();
    test_data();
    test_strings();
    test_stack();
    test_code();
    test_descriptors();
    printf("hash %08x\n", lines_hash);
    return conf_done("segments");
}
