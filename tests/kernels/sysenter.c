/*
 * sysenter.c - a test kernel that uses the fast system call: the SYSENTER
 * MSRs point at a kernel entry and stack, sysexit drops to ring 3, and the
 * user task makes system calls with sysenter (ECX = its stack, EDX = where
 * to come back), which the kernel ends with sysexit.
 */
#include "kernel.h"

static uint64_t gdt[5] __attribute__((aligned(8)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));

static uint64_t flat_segment(uint32_t access) { return segment(0, 0xfffff, access, 0xc); }

static void wrmsr(uint32_t msr, uint32_t lo)
{
    __asm__ volatile("wrmsr" :: "c"(msr), "a"(lo), "d"(0));
}

/* Called from the entry stub with the user's EAX (call) and EBX (argument). */
void syscall_c(uint32_t nr, uint32_t arg)
{
    uint16_t cs, ss;
    __asm__ volatile("movw %%cs, %0\n\tmovw %%ss, %1" : "=r"(cs), "=r"(ss));
    if (nr == 1) {
        puts("kernel (cs=");
        hex(cs, 4);
        puts(" ss=");
        hex(ss, 4);
        puts("): ");
        puts((const char *)arg);
        return;
    }
    puts("user task exited with ");
    hex(arg, 2);
    puts("\nkernel: powering off\n");
    power_off();
}

/* The entry: ECX and EDX survive for the sysexit back. */
void sysenter_entry(void);
__asm__(".globl sysenter_entry\nsysenter_entry:\n\tpushl %ecx\n\tpushl %edx\n\t"
        "pushl %ebx\n\tpushl %eax\n\tcall syscall_c\n\taddl $8, %esp\n\tpopl %edx\n\t"
        "popl %ecx\n\tsysexit\n");

static void sys(uint32_t nr, uint32_t arg)
{
    __asm__ volatile("movl %%esp, %%ecx\n\tleal 1f, %%edx\n\tsysenter\n1:"
                     : "+a"(nr), "+b"(arg) : : "ecx", "edx", "memory");
}

void user_main(void)
{
    uint16_t cs;
    __asm__ volatile("movw %%cs, %0" : "=r"(cs));
    sys(1, (uint32_t)"hello from ring 3 through sysenter\n");
    sys(1, (cs & 3) == 3 ? (uint32_t)"user cpl is 3\n" : (uint32_t)"user cpl is NOT 3\n");
    sys(2, 0x2a);
    for (;;)
        ;
}

void kmain(void)
{
    gdt[1] = flat_segment(0x9b);         /* 0x08 code, ring 0 = SYSENTER_CS */
    gdt[2] = flat_segment(0x93);         /* 0x10 data, ring 0 = CS + 8 */
    gdt[3] = flat_segment(0xfb);         /* 0x18 code, ring 3 = CS + 16 */
    gdt[4] = flat_segment(0xf3);         /* 0x20 data, ring 3 = CS + 24 */
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {
        sizeof(gdt) - 1, (uint32_t)gdt };
    __asm__ volatile("lgdt %0\n\tljmp $0x08, $1f\n1:\n\tmovw $0x10, %%ax\n\tmovw %%ax, %%ss\n\t"
                     "movw $0x23, %%ax\n\tmovw %%ax, %%ds\n\tmovw %%ax, %%es"
                     :: "m"(gdtr) : "eax", "memory");
    wrmsr(0x174, 0x08);
    wrmsr(0x175, (uint32_t)kstack + sizeof(kstack));
    wrmsr(0x176, (uint32_t)sysenter_entry);
    puts("kernel: sysexit to ring 3\n");
    __asm__ volatile("sysexit" :: "c"((uint32_t)ustack + sizeof(ustack)), "d"(user_main));
}

KERNEL_ENTRY(kstack, 8192);
