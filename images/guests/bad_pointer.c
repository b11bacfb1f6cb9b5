/* bad_pointer.c - hand WRITE a buffer outside guest RAM.  A bad pointer in
 * a hypercall is guest misbehaviour: the host must kill the guest. */
#include <hv_guest.h>

int main(void)
{
    long result;

    printf("writing from 0xf0000000\n");
    result = hv_hypercall(HV_HC_WRITE, HV_STDOUT, 0xF0000000u, 16, 0);
    printf("still alive: WRITE returned %ld\n", result);
    return 0;
}
