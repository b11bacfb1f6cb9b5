/*
 * hlt.c - halt with interrupts off.  Nothing can ever wake the guest, so
 * the host kills it with a reason that mentions hlt.
 */
#include <hv_guest.h>

int main(void)
{
    printf("halting with interrupts off\n");
    hv_flush();
    __asm__ volatile("cli\n\t.globl fault_hlt\nfault_hlt: hlt");
    printf("survived hlt\n");
    return 1;
}
