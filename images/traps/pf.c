/*
 * pf.c - accesses outside guest RAM (#PF).  Run with 64 MiB of RAM.
 *   op=load    movl 0x08000000, %eax        cr2 = 0x08000000
 *   op=store   movl %eax, 0x08000000        cr2 = 0x08000000
 *   op=movsb   rep movsb whose destination starts 8 bytes below the end of
 *              RAM (0x04000000) and runs off it: cr2 = 0x04000000
 *   op=exec    jump to 0x08000000: eip = cr2 = 0x08000000
 * The faulting instruction carries a global label fault_<op>.
 */
#include <hv_guest.h>

static char source[64];

int main(void)
{
    const char *op = hv_cmdline_value("op");

    printf("trigger %s\n", op ? op : "(none)");
    if (op && strcmp(op, "load") == 0) {
        __asm__ volatile(".globl fault_load\nfault_load: movl 0x08000000, %%eax"
                         ::: "eax", "memory");
    } else if (op && strcmp(op, "store") == 0) {
        __asm__ volatile(".globl fault_store\nfault_store: movl %%eax, 0x08000000"
                         ::: "memory");
    } else if (op && strcmp(op, "movsb") == 0) {
        const char *src = source;

        __asm__ volatile("movl $0x04000000-8, %%edi\n\tmovl $64, %%ecx\n\t"
                         ".globl fault_movsb\nfault_movsb: rep movsb"
                         : "+S"(src) : : "ecx", "edi", "memory");
    } else if (op && strcmp(op, "exec") == 0) {
        __asm__ volatile("movl $0x08000000, %%eax\n\tjmp *%%eax" ::: "eax");
    } else {
        return 2;
    }
    printf("survived %s\n", op);
    return 1;
}
