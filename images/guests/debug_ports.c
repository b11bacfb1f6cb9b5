/* debug_ports.c - the QEMU-style debug ports: console bytes through port
 * 0xE9, then exit status 7 through port 0xF4.  No hypercalls at all. */
#include <hv_guest.h>

int main(void)
{
    const char *msg = "hello through port 0xe9\n";

    for (const char *p = msg; *p; p++)
        hv_debug_putc(*p);
    hv_debug_exit(7);
}
