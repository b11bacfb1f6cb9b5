/* shutdown.c - power off through the SHUTDOWN hypercall with a message. */
#include <hv_guest.h>

int main(void)
{
    long result;

    printf("shutting down\n");
    result = hv_shutdown("guest requested poweroff", HV_SHUTDOWN_POWEROFF);
    /* Only reached if the host refused. */
    printf("SHUTDOWN returned %ld\n", result);
    return 1;
}
