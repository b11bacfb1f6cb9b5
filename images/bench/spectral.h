/* spectral.h - benchmark: the spectral norm of the infinite matrix
 * A(i,j) = 1 / ((i+j)(i+j+1)/2 + i + 1), truncated to 200 x 200, by 10
 * rounds of the power method on A^T A.  Each matrix-vector product is
 * n^2 = 40,000 divisions and multiply-adds: a division-bound inner loop.
 * The norm approaches 1.2742241...; it is printed with its bits.
 * Built twice: spectral.c (x87) and spectral_sse2.c (-msse2 -mfpmath=sse). */
#include <hv_guest.h>

#include "bench_float.h"
#include "bench_paging.h"

#ifndef SPECTRAL_N
#define SPECTRAL_N 200     /* a test builds it smaller */
#endif

static volatile int bench_n = SPECTRAL_N;
static double u[SPECTRAL_N], v[SPECTRAL_N], tmp[SPECTRAL_N];

static double entry(int i, int j)
{
    return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1);
}

static void times(const double *in, double *out, int n, int transpose)
{
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++)
            sum += (transpose ? entry(j, i) : entry(i, j)) * in[j];
        out[i] = sum;
    }
}

/* out = A^T A in */
static void __attribute__((noinline)) times_ata(const double *in, double *out, int n)
{
    times(in, tmp, n, 0);
    times(tmp, out, n, 1);
}

int main(void)
{
    bench_paging_from_cmdline();
    int n = bench_n;
    for (int i = 0; i < n; i++)
        u[i] = 1.0;
    for (int round = 0; round < 10; round++) {
        times_ata(u, v, n);
        times_ata(v, u, n);
    }
    double uv = 0, vv = 0;
    for (int i = 0; i < n; i++) {
        uv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    printf("spectral norm, n = %d\n", n);
    bench_show("norm", __builtin_sqrt(uv / vv));
    return 0;
}
