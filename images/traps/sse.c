/*
 * sse.c - MMX and SSE faults.  The command line picks one:
 *   op=nofxsr   CR4.OSFXSR clear: an SSE instruction raises #UD
 *   op=em       CR0.EM set: an SSE instruction raises #UD, and so does MMX
 *   op=mmx_em   CR0.EM set: an MMX instruction raises #UD
 *   op=ts       CR0.TS set: an SSE instruction raises #NM
 *   op=mmx_ts   CR0.TS set: an MMX instruction raises #NM
 *   op=mmx_mf   CR0.NE, an x87 zero divide pending: the next MMX
 *               instruction raises #MF
 *   op=align    a MOVAPS from an address that is not 16-byte aligned: #GP(0)
 *   op=unalign  the same address with MOVUPS: no fault
 *   op=xm       CR4.OSXMMEXCPT set, ZE unmasked in MXCSR: DIVSS by zero
 *               raises #XM with the destination unchanged
 *   op=xm_ud    the same with CR4.OSXMMEXCPT clear: #UD
 *   op=xm_masked ZE masked: no fault, the result is +inf and ZE is set
 *   op=ldmxcsr  LDMXCSR of a reserved bit: #GP(0)
 *   op=fxsave   FXSAVE to an address that is not 16-byte aligned: #GP(0)
 * Each faulting instruction carries a global label fault_<op>.  op=xm
 * installs a #XM handler that prints MXCSR and XMM0 and exits.
 */
#include <hv_guest.h>
#include <hv_irq.h>

static int is(const char *op, const char *name)
{
    return op && strcmp(op, name) == 0;
}

static void cr0_set(uint32_t set)
{
    uint32_t cr0;
    __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("movl %0, %%cr0" :: "r"(cr0 | set) : "memory");
}

static void cr4_set(uint32_t set, uint32_t clear)
{
    uint32_t cr4;
    __asm__ volatile("movl %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("movl %0, %%cr4" :: "r"((cr4 | set) & ~clear) : "memory");
}

#define OSFXSR (1u << 9)
#define OSXMMEXCPT (1u << 10)

static uint8_t buf[64] __attribute__((aligned(16)));
static const float one = 1.0f, zero = 0.0f;

static void show(void)
{
    uint32_t mxcsr, x;
    __asm__ volatile("stmxcsr %0\n\tmovd %%xmm0, %1" : "=m"(mxcsr), "=r"(x));
    printf("mxcsr %08x xmm0 %08x\n", mxcsr, x);
}

static void on_xm(struct hv_irq_frame *f)
{
    (void)f;
    printf("#XM\n");
    show();
    hv_exit(0);
}

int main(void)
{
    const char *op = hv_cmdline_value("op");
    uint32_t mx = 0x1f80 & ~(1u << 9);      /* ZM (bit 9) clear: zero divide unmasked */

    printf("trigger %s\n", op ? op : "(none)");
    cr4_set(OSFXSR | OSXMMEXCPT, 0);
    if (is(op, "nofxsr")) {
        cr4_set(0, OSFXSR);
        __asm__ volatile(".globl fault_nofxsr\nfault_nofxsr: xorps %%xmm0, %%xmm0" ::: "memory");
    } else if (is(op, "em")) {
        cr0_set(1u << 2);
        __asm__ volatile(".globl fault_em\nfault_em: addps %%xmm1, %%xmm0" ::: "memory");
    } else if (is(op, "mmx_em")) {
        cr0_set(1u << 2);
        __asm__ volatile(".globl fault_mmx_em\nfault_mmx_em: paddb %%mm1, %%mm0" ::: "memory");
    } else if (is(op, "ts")) {
        cr0_set(1u << 3);
        __asm__ volatile(".globl fault_ts\nfault_ts: movaps %%xmm1, %%xmm0" ::: "memory");
    } else if (is(op, "mmx_ts")) {
        cr0_set(1u << 3);
        __asm__ volatile(".globl fault_mmx_ts\nfault_mmx_ts: emms" ::: "memory");
    } else if (is(op, "mmx_mf")) {
        uint16_t cw = 0x037b;
        static const double dz = 0.0;
        cr0_set(1u << 5);
        __asm__ volatile("fninit\n\tfldcw %0\n\tfld1\n\tfdivl %1\n\t"
                         ".globl fault_mmx_mf\nfault_mmx_mf: pxor %%mm0, %%mm0"
                         :: "m"(cw), "m"(dz) : "memory");
    } else if (is(op, "align") || is(op, "unalign")) {
        if (is(op, "align"))
            __asm__ volatile(".globl fault_align\nfault_align: movaps 4+%0, %%xmm0" :: "m"(buf));
        else
            __asm__ volatile("movups 4+%0, %%xmm0" :: "m"(buf));
        printf("no fault\n");
        return 0;
    } else if (is(op, "xm") || is(op, "xm_ud") || is(op, "xm_masked")) {
        if (is(op, "xm"))
            hv_irq_attach(19, on_xm);
        if (is(op, "xm_ud"))
            cr4_set(0, OSXMMEXCPT);
        if (is(op, "xm_masked"))
            mx = 0x1f80;
        __asm__ volatile("ldmxcsr %0\n\tmovss %1, %%xmm0\n\t"
                         ".globl fault_xm\nfault_xm: divss %2, %%xmm0"
                         :: "m"(mx), "m"(one), "m"(zero) : "memory");
        show();
        return 0;
    } else if (is(op, "ldmxcsr")) {
        uint32_t bad = 0x1f80 | 1u << 16;
        __asm__ volatile(".globl fault_ldmxcsr\nfault_ldmxcsr: ldmxcsr %0" :: "m"(bad));
    } else if (is(op, "fxsave")) {
        static uint8_t area[512 + 16] __attribute__((aligned(16)));
        __asm__ volatile(".globl fault_fxsave\nfault_fxsave: fxsave 8+%0" : "=m"(area));
    } else {
        return 2;
    }
    printf("survived %s\n", op);
    return 1;
}
