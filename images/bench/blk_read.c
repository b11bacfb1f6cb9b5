/* blk_read.c - benchmark: block device reads.  Reads sector k % 64 of device
 * 0 into a buffer, `n=` times (default 100000), through NOTIFY with the
 * block request of docs/abi.md, and prints the count.  The Linux build has
 * no devices and prints the same line. */
#include <hv_guest.h>

struct blk_request {
    uint32_t device, op;
    uint64_t sector;
    uint32_t count, buffer, reserved[2];
};

static struct blk_request req __attribute__((unused));
static uint8_t sector[512] __attribute__((unused));

int main(void)
{
    const char *v = hv_cmdline_value("n");
    unsigned n = v ? (unsigned)strtoul(v, NULL, 10) : 100000, done = 0;
#ifndef HV_TARGET_LINUX
    for (unsigned k = 0; k < n; k++) {
        req = (struct blk_request){ .device = 0, .op = 0, .sector = k % 64, .count = 1,
                                    .buffer = HV_GPA(sector) };
        long r = hv_notify(HV_GPA(&req));
        if (r != 0) {
            printf("read %u: error %ld\n", k, r);
            return 1;
        }
        done++;
    }
#else
    done = n;
#endif
    printf("%u sector reads\n", done);
    return 0;
}
