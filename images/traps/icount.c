/*
 * icount.c - a known number of instructions, for checking the emu's
 * instruction counter.  The command line's extra=N picks what runs after
 * the same prologue, so two runs differ by an exact count:
 *   extra=0   nothing
 *   extra=1   1000 nops                                      (+1000)
 *   extra=2   movl $1000, %ecx; 1: decl %ecx; jnz 1b          (+2001)
 *   extra=3   500 x (movl, addl, xchg, lea)                  (+2000)
 *   extra=9   spin forever (for max_instructions)
 * The value is read with the same code path for every single-digit N.
 */
#include <hv_guest.h>

int main(void)
{
    const char *v = hv_cmdline_value("extra");
    int n = v ? v[0] - '0' : 0;

    __asm__ volatile("cmpl $1, %0\n\t"
                     "jne 1f\n\t"
                     ".rept 1000\n\tnop\n\t.endr\n"
                     "1:"
                     :
                     : "r"(n)
                     : "cc");
    __asm__ volatile("cmpl $2, %0\n\t"
                     "jne 1f\n\t"
                     "movl $1000, %%ecx\n"
                     "2:\tdecl %%ecx\n\t"
                     "jnz 2b\n"
                     "1:"
                     :
                     : "r"(n)
                     : "ecx", "cc");
    __asm__ volatile("cmpl $3, %0\n\t"
                     "jne 1f\n\t"
                     ".rept 500\n\t"
                     "movl $3, %%edx\n\taddl %%edx, %%edx\n\txchgl %%edx, %%ecx\n\t"
                     "leal 1(%%ecx,%%edx,2), %%edx\n\t"
                     ".endr\n"
                     "1:"
                     :
                     : "r"(n)
                     : "ecx", "edx", "cc");
    __asm__ volatile("cmpl $9, %0\n\t"
                     "jne 1f\n"
                     "2:\tjmp 2b\n"
                     "1:"
                     :
                     : "r"(n)
                     : "cc");
    hv_exit(0);
}
