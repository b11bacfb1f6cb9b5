/* unknown_hypercall.c - an unknown hypercall number must come back as
 * -38 (ENOSYS), not kill the guest. */
#include <hv_guest.h>

int main(void)
{
    long result = hv_hypercall(99, 1, 2, 3, 4);

    printf("hypercall 99 returned %ld\n", result);
    return 0;
}
