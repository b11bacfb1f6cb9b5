/* invalid_opcode.c - execute ud2.  The host must kill the guest with #UD,
 * naming the instruction bytes and EIP. */
#include <hv_guest.h>

int main(void)
{
    printf("executing ud2\n");
    __asm__ volatile("ud2");
    printf("still alive\n");
    return 0;
}
