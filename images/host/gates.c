/*
 * gates.c - LOAD_IDT_ENTRY and the frame the host builds (Guest ABI v1,
 * "Gates" and "Delivery").  The command line picks one scenario:
 *   op=retvals     the return value of LOAD_IDT_ENTRY for good and bad gates
 *   op=int40       int $0x40 through an interrupt gate
 *   op=int40trap   int $0x40 through a trap gate (IF stays set in the handler)
 *   op=de          #DE (divl by 0): EIP = the faulting instruction
 *   op=ud          #UD (ud2)
 *   op=gp_ss       #GP(0x18): movw $0x18, %ss
 *   op=gp_iret     #GP(0x18): iret to CS 0x18
 *   op=pf_load     #PF, paging off, load outside RAM (after INIT: cr2 in guest_data)
 *   op=pf_store    #PF, paging off, store outside RAM (no INIT)
 *   op=bp          int3: EIP = the next instruction
 *   op=bp_long     int $3 (cd 03)
 *   op=of          into with OF set
 *   op=cr          mov to and from CR0/CR2/CR4 with paging off
 *   op=remove      a #UD gate works, P=0 removes it, the next ud2 is unhandled
 *   op=nogate      a gate at 0x40 only: int $0x41 is unhandled
 * Trapping instructions carry global labels fault_<op>, the instruction after
 * them after_<op>; the test reads them from the symbol table.  The guest
 * prints one line per trap (print_rec) and exits 0.
 */
#include "host_test.h"

/* EFLAGS set right before each trapping instruction: NT IF SF AF CF. */
#define FL  0x4293
#define FL2 0x0293      /* the same without NT, for the iret case */

extern char after_de[], after_ud[], after_gp_ss[], after_gp_iret[], after_pf_load[],
    after_pf_store[], after_ud_1[];

#define PRE(fl) PRE_(fl)
#define PRE_(fl) "pushl $" #fl "\n\tpopfl\n\tmovl %%esp, host_pre_esp\n"
#define POST "\tpushl $2\n\tpopfl\n"

static void retvals(void)
{
    uint32_t off = host_stubs[0x40];
    struct {
        const char *what;
        uint32_t vec, lo, hi;
    } cases[] = {
        { "intr 0x40", 0x40, gate_lo(KCODE, off), gate_hi(off, GATE_INTR) },
        { "trap 0x41", 0x41, gate_lo(KCODE, off), gate_hi(off, GATE_TRAP) },
        { "vector 0", 0, gate_lo(KCODE, off), gate_hi(off, GATE_INTR) },
        { "vector 255", 255, gate_lo(KCODE, off), gate_hi(off, GATE_TRAP) },
        { "dpl 3", 0x42, gate_lo(KCODE, off), gate_hi(off, GATE_INTR) | 3u << 13 },
        { "vector 0x1f", 0x1f, gate_lo(KCODE, off), gate_hi(off, GATE_INTR) },
        { "vector 256", 256, gate_lo(KCODE, off), gate_hi(off, GATE_INTR) },
        { "vector -1", 0xffffffffu, gate_lo(KCODE, off), gate_hi(off, GATE_INTR) },
        { "type 0x5", 0x43, gate_lo(KCODE, off), gate_hi(off, 0x5) },
        { "type 0xc", 0x43, gate_lo(KCODE, off), gate_hi(off, 0xc) },
        { "type 0x6", 0x43, gate_lo(KCODE, off), gate_hi(off, 0x6) },
        { "type 0x7", 0x43, gate_lo(KCODE, off), gate_hi(off, 0x7) },
        { "type 0x0", 0x43, gate_lo(KCODE, off), gate_hi(off, 0x0) },
        { "type 0x1e", 0x43, gate_lo(KCODE, off), gate_hi(off, 0x1e) },
        { "remove 0x40", 0x40, 0, 0 },
        { "remove type 0x5", 0x41, gate_lo(KCODE, off), gate_hi(off, 0x5) & ~(1u << 15) },
        { "remove unused 0x50", 0x50, 0, 0 },
        { "remove 0x1f", 0x1f, 0, 0 },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        printf("load %s = %ld\n", cases[k].what,
               hv_load_idt_entry(cases[k].vec, cases[k].lo, cases[k].hi));
}

int main(void)
{
    const char *op = host_op();
    long r;

    printf("op %s\n", op);
    if (is_op(op, "init_outside") || is_op(op, "init_edge")) {
        /* A guest_data page not wholly inside RAM (64 MiB) kills. */
        hv_flush();
        hv_init(is_op(op, "init_outside") ? 0x08000000u : 0x03fff001u);
        printf("survived\n");
        return 1;
    } else if (is_op(op, "init_time")) {
        /* INIT writes the clock into the page at once. */
        static uint32_t page[1024] __attribute__((aligned(4096)));
        page[4] = page[5] = 0xffffffffu;
        long r = hv_init(HV_GPA(page));
        printf("init=%ld time_set=%d\n", r, page[5] == 0 && page[4] > 0 && page[4] < 1000000);
    } else if (is_op(op, "retvals")) {
        retvals();
    } else if (is_op(op, "int40") || is_op(op, "int40trap")) {
        r = set_gate(0x40, is_op(op, "int40") ? GATE_INTR : GATE_TRAP);
        printf("gate %ld\n", r);
        __asm__ volatile(PRE(FL) ".globl fault_int40\nfault_int40: int $0x40\n"
                         ".globl after_int40\nafter_int40:\n" POST ::: "memory", "cc");
        print_rec("int40");
    } else if (is_op(op, "de")) {
        set_gate(0, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_de;
        __asm__ volatile("movl $1, %%eax\n\txorl %%edx, %%edx\n\txorl %%ecx, %%ecx\n\t"
                         PRE(FL) ".globl fault_de\nfault_de: divl %%ecx\n"
                         ".globl after_de\nafter_de:\n" POST
                         ::: "eax", "ecx", "edx", "memory", "cc");
        print_rec("de");
    } else if (is_op(op, "ud")) {
        set_gate(6, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_ud;
        __asm__ volatile(PRE(FL) ".globl fault_ud\nfault_ud: ud2\n"
                         ".globl after_ud\nafter_ud:\n" POST ::: "memory", "cc");
        print_rec("ud");
    } else if (is_op(op, "gp_ss")) {
        set_gate(13, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_gp_ss;
        __asm__ volatile("movl $0x18, %%eax\n\t"
                         PRE(FL) ".globl fault_gp_ss\nfault_gp_ss: movw %%ax, %%ss\n"
                         ".globl after_gp_ss\nafter_gp_ss:\n" POST
                         ::: "eax", "memory", "cc");
        print_rec("gp_ss");
    } else if (is_op(op, "gp_iret")) {
        set_gate(13, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_gp_iret;
        __asm__ volatile("pushl $2\n\tpushl $0x18\n\tpushl $after_gp_iret\n\t"
                         PRE(FL2) ".globl fault_gp_iret\nfault_gp_iret: iret\n"
                         ".globl after_gp_iret\nafter_gp_iret:\n\t"
                         "addl $12, %%esp\n" POST ::: "memory", "cc");
        print_rec("gp_iret");
    } else if (is_op(op, "pf_load")) {
        printf("init %ld\n", host_init());
        set_gate(14, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_pf_load;
        __asm__ volatile(PRE(FL) ".globl fault_pf_load\nfault_pf_load: movl 0x08000000, %%eax\n"
                         ".globl after_pf_load\nafter_pf_load:\n" POST
                         ::: "eax", "memory", "cc");
        print_rec("pf_load");
        printf("cr2=%08x gd_cr2=%08x\n", host_last.cr2, host_last.gd_cr2);
    } else if (is_op(op, "pf_store")) {
        set_gate(14, GATE_TRAP);
        host_resume = (uint32_t)(uintptr_t)after_pf_store;
        __asm__ volatile("movl $0x12345678, %%eax\n\t"
                         PRE(FL) ".globl fault_pf_store\nfault_pf_store: movl %%eax, 0x08000004\n"
                         ".globl after_pf_store\nafter_pf_store:\n" POST
                         ::: "eax", "memory", "cc");
        print_rec("pf_store");
        printf("cr2=%08x\n", host_last.cr2);
    } else if (is_op(op, "bp")) {
        set_gate(3, GATE_TRAP);
        __asm__ volatile(PRE(FL) ".globl fault_bp\nfault_bp: int3\n"
                         ".globl after_bp\nafter_bp:\n" POST ::: "memory", "cc");
        print_rec("bp");
    } else if (is_op(op, "bp_long")) {
        set_gate(3, GATE_INTR);
        __asm__ volatile(PRE(FL) ".globl fault_bp_long\nfault_bp_long: .byte 0xcd, 0x03\n"
                         ".globl after_bp_long\nafter_bp_long:\n" POST ::: "memory", "cc");
        print_rec("bp_long");
    } else if (is_op(op, "of")) {
        set_gate(4, GATE_INTR);
        /* into with OF clear falls through */
        __asm__ volatile("pushl $2\n\tpopfl\n\t.byte 0xce" ::: "memory", "cc");
        printf("into with OF clear: count=%u\n", host_last.count);
        __asm__ volatile(PRE(0x4a93) ".globl fault_of\nfault_of: into\n"
                         ".globl after_of\nafter_of:\n" POST ::: "memory", "cc");
        print_rec("of");
    } else if (is_op(op, "cr")) {
        __asm__ volatile("movl %0, %%cr2" : : "r"(0x12345678u) : "memory");
        printf("cr0=%08x cr2=%08x cr4.pse=%x\n", read_cr(0) & 0x80000001u, read_cr(2),
               read_cr(4) & 0x10u);
    } else if (is_op(op, "remove")) {
        set_gate(6, GATE_INTR);
        host_resume = (uint32_t)(uintptr_t)after_ud_1;
        __asm__ volatile(".globl fault_ud_1\nfault_ud_1: ud2\n"
                         ".globl after_ud_1\nafter_ud_1:" ::: "memory");
        printf("handled: count=%u\n", host_last.count);
        printf("remove = %ld\n", clear_gate(6));
        hv_flush();
        __asm__ volatile(".globl fault_ud_2\nfault_ud_2: ud2" ::: "memory");
        printf("survived\n");
        return 1;
    } else if (is_op(op, "nogate")) {
        set_gate(0x40, GATE_INTR);
        __asm__ volatile("int $0x40" ::: "memory");
        printf("int 0x40: count=%u\n", host_last.count);
        hv_flush();
        __asm__ volatile(".globl fault_int41\nfault_int41: int $0x41" ::: "memory");
        printf("survived\n");
        return 1;
    } else {
        return 2;
    }
    printf("done\n");
    return 0;
}
