/* exit_status.c - exit with the status given on the command line as
 * `status=N` (default 42), to test how exit statuses reach the host. */
#include <hv_guest.h>

int main(void)
{
    const char *value = hv_cmdline_value("status");
    int status = value ? (int)strtoul(value, NULL, 0) : 42;

    printf("exiting with status %d\n", status);
    hv_exit(status);
}
