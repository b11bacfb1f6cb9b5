/* empty.c - not a benchmark: the baseline.  It does nothing and exits 0, so
 * bench/run.py can subtract the cost of starting and ending a static program
 * (exec, crt0, exit) from the native timings. */
#include <hv_guest.h>

int main(void)
{
    return 0;
}
