/* fib.c - benchmark: naive recursive fib(30).  Calls, returns, compares and
 * adds: branchy, stack-heavy code.  n comes from a volatile, so gcc can
 * neither fold the call nor evaluate it at compile time; there is no
 * memoization.  (At -O2 gcc turns part of the recursion into loops nested in
 * fib itself; every fib(k) is still computed from scratch.)
 * Expected output: "fib(30) = 832040". */
#include <hv_guest.h>

#include "bench_paging.h"

static volatile int bench_n = 30;

int fib(int n)
{
    if (n < 2)
        return n;
    return fib(n - 1) + fib(n - 2);
}

int main(void)
{
    bench_paging_from_cmdline();
    int n = bench_n;
    printf("fib(%d) = %d\n", n, fib(n));
    return 0;
}
