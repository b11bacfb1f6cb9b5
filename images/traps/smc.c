/*
 * smc.c - self-modifying code.  Guest text is writable (paging is off), and
 * a store into code that has already run must be seen the next time it
 * runs, as on a real CPU.  Four cases:
 *   1. patch the immediate of a function's mov after calling it once;
 *   2. flip a function's add into a sub and back, many times;
 *   3. patch the very next instruction (already fetched by a real CPU's
 *      prefetcher, which detects the store);
 *   4. a loop that rewrites the immediate of an add in its own body.
 * Prints the results and exits 0.
 */
#include <hv_guest.h>

__asm__(".text\n"
        ".globl smc_get\n"
        "smc_get:\n\t"
        ".byte 0xb8\n"                      /* movl $imm32, %eax */
        ".globl smc_imm\n"
        "smc_imm:\n\t"
        ".long 0x11111111\n\t"
        "ret\n"
        ".globl smc_op\n"
        "smc_op:\n\t"
        "movl 4(%esp), %eax\n"
        ".globl smc_insn\n"
        "smc_insn:\n\t"
        ".byte 0x83, 0xc0, 0x05\n\t"        /* addl $5, %eax */
        "ret\n");

uint32_t smc_get(void);
uint32_t smc_op(uint32_t x);
extern unsigned char smc_imm[4];
extern unsigned char smc_insn[3];

int main(void)
{
    volatile unsigned char *imm = smc_imm, *insn = smc_insn;
    uint32_t first, second, r, sum = 0;

    first = smc_get();
    imm[0] = 0x22;
    imm[1] = 0x22;
    imm[2] = 0x22;
    imm[3] = 0x22;
    second = smc_get();
    printf("smc 1: %08x -> %08x\n", first, second);

    for (uint32_t i = 0; i < 100; i++) {
        insn[1] = i & 1 ? 0xe8 : 0xc0;      /* /5 sub, /0 add */
        sum = sum * 3 + smc_op(i + 10);
    }
    insn[1] = 0xc0;
    printf("smc 2: %08x last %u\n", sum, smc_op(10));

    __asm__ volatile("movb $0x42, 1f+1\n"
                     "1:\tmovl $0x11, %0"
                     : "=a"(r)
                     :
                     : "memory");
    printf("smc 3: %08x\n", r);

    __asm__ volatile("xorl %0, %0\n\t"
                     "movl $10, %%ecx\n"
                     "1:\tmovb %%cl, 2f+2\n"
                     "2:\t.byte 0x83, 0xc0, 0x00\n\t"   /* addl $imm8, %eax */
                     "loop 1b"
                     : "=&a"(r)
                     :
                     : "ecx", "cc", "memory");
    printf("smc 4: %u\n", r);
    return 0;
}
