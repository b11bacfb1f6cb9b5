/* outside_ram.c - read a word at 128 MiB, beyond the default 64 MiB of
 * RAM.  The host must kill the guest with a #PF reason naming the address. */
#include <hv_guest.h>

int main(void)
{
    volatile uint32_t *beyond = (volatile uint32_t *)0x08000000u;
    uint32_t value;

    printf("reading 0x08000000\n");
    value = *beyond;
    printf("still alive: read 0x%08x\n", (unsigned)value);
    return 0;
}
