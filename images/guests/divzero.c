/* divzero.c - divide by zero.  The guest has no #DE gate, so the host must
 * kill it with "unhandled #DE at eip=...". */
#include <hv_guest.h>

int main(void)
{
    volatile int divisor = 0;
    volatile int result;

    printf("dividing by zero\n");
    result = 100 / divisor;
    printf("still alive: %d\n", result);
    return 0;
}
