/* notify.c - benchmark: NOTIFY round trips per second.  Sends `n=` requests
 * (default 100000) to device 0 and checks that each returns the request's
 * sequence number, as bench/host.py's echo device does.  Prints the count.
 * The Linux build has no devices and prints the same line. */
#include <hv_guest.h>

static struct { uint32_t device, seq; } req __attribute__((unused));

int main(void)
{
    const char *v = hv_cmdline_value("n");
    unsigned n = v ? (unsigned)strtoul(v, NULL, 10) : 100000, done = 0;
#ifndef HV_TARGET_LINUX
    for (unsigned k = 0; k < n; k++) {
        req.seq = k;
        if (hv_notify(HV_GPA(&req)) != (long)k) {
            printf("request %u: wrong answer\n", k);
            return 1;
        }
        done++;
    }
#else
    done = n;
#endif
    printf("%u notify round trips\n", done);
    return 0;
}
