/*
 * matinv.h - matrix inversion by Gauss-Jordan elimination with partial
 * pivoting, in double and in float.
 *
 * Three matrices: the 8 x 8 Hilbert matrix (condition number about 1e10,
 * so rounding shows in the result's low digits; its exact inverse has
 * integer entries, [0][0] = 64), a 16 x 16 matrix of LCG numbers with a
 * heavier diagonal, and the same in float.  For each the program prints the
 * determinant (the product of the pivots), a few entries of the inverse,
 * and the residual max |A * inv(A) - I|; every entry of every inverse goes
 * into the hash.
 */
#include "numeric.h"

#define MAT_MAX 16

typedef double dmat[MAT_MAX][MAT_MAX];
typedef float fmat[MAT_MAX][MAT_MAX];

/* The body of both precisions: T is double or float. */
#define DEFINE_INVERT(name, T, ABS)                                              \
    static T name(T a[MAT_MAX][MAT_MAX], T inv[MAT_MAX][MAT_MAX], int n)        \
    {                                                                            \
        T det = 1;                                                               \
        for (int i = 0; i < n; i++)                                              \
            for (int j = 0; j < n; j++)                                          \
                inv[i][j] = i == j;                                              \
        for (int col = 0; col < n; col++) {                                      \
            int piv = col;                                                       \
            for (int r = col + 1; r < n; r++)                                    \
                if (ABS(a[r][col]) > ABS(a[piv][col]))                           \
                    piv = r;                                                     \
            if (a[piv][col] == 0)                                                \
                return 0;                                                        \
            if (piv != col) {                                                    \
                det = -det;                                                      \
                for (int j = 0; j < n; j++) {                                    \
                    T t = a[col][j]; a[col][j] = a[piv][j]; a[piv][j] = t;       \
                    t = inv[col][j]; inv[col][j] = inv[piv][j]; inv[piv][j] = t; \
                }                                                                \
            }                                                                    \
            T p = a[col][col];                                                   \
            det *= p;                                                            \
            for (int j = 0; j < n; j++) {                                        \
                a[col][j] /= p;                                                  \
                inv[col][j] /= p;                                                \
            }                                                                    \
            for (int r = 0; r < n; r++) {                                        \
                T f = a[r][col];                                                 \
                if (r == col || f == 0)                                          \
                    continue;                                                    \
                for (int j = 0; j < n; j++) {                                    \
                    a[r][j] -= f * a[col][j];                                    \
                    inv[r][j] -= f * inv[col][j];                                \
                }                                                                \
            }                                                                    \
        }                                                                        \
        return det;                                                              \
    }

/* max |a * b - I| */
#define DEFINE_RESIDUAL(name, T, ABS)                                            \
    static T name(T a[MAT_MAX][MAT_MAX], T b[MAT_MAX][MAT_MAX], int n)          \
    {                                                                            \
        T worst = 0;                                                             \
        for (int i = 0; i < n; i++)                                              \
            for (int j = 0; j < n; j++) {                                        \
                T s = 0;                                                         \
                for (int k = 0; k < n; k++)                                      \
                    s += a[i][k] * b[k][j];                                      \
                T e = ABS(s - (T)(i == j));                                      \
                if (e > worst)                                                   \
                    worst = e;                                                   \
            }                                                                    \
        return worst;                                                            \
    }

static double abs_d(double x) { return x < 0 ? -x : x; }
static float abs_f(float x) { return x < 0 ? -x : x; }

DEFINE_INVERT(invert_d, double, abs_d)
DEFINE_INVERT(invert_f, float, abs_f)
DEFINE_RESIDUAL(residual_d, double, abs_d)
DEFINE_RESIDUAL(residual_f, float, abs_f)

static dmat a_d, work_d, inv_d;
static fmat a_f, work_f, inv_f;

static void report_d(const char *what, int n)
{
    memcpy(work_d, a_d, sizeof work_d);
    double det = invert_d(work_d, inv_d, n);
    uint32_t h = 0x811c9dc5u;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            fold(&h, inv_d[i][j]);
    printf("%s (%dx%d, double): inverse hash %08x\n", what, n, n, (unsigned)h);
    show("det", det);
    show("inv[0][0]", inv_d[0][0]);
    show("inv[n-1][n-1]", inv_d[n - 1][n - 1]);
    show("inv[1][n-2]", inv_d[1][n - 2]);
    show("max |A inv(A) - I|", residual_d(a_d, inv_d, n));
}

static int program(void)
{
    printf("matinv: Gauss-Jordan, partial pivoting, %s\n", NUM_FPMATH);
    int n = 8;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a_d[i][j] = 1.0 / (i + j + 1);
    report_d("hilbert", n);
    /* The inverse inverted again: its determinant is 1 / det(H8). */
    static dmat scratch;
    memcpy(work_d, inv_d, sizeof work_d);
    show("det(inv(H8))", invert_d(work_d, scratch, n));

    n = MAT_MAX;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            a_d[i][j] = lcg_unit() + (i == j ? 4.0 : 0.0);
            a_f[i][j] = (float)a_d[i][j];
        }
    report_d("random", n);

    memcpy(work_f, a_f, sizeof work_f);
    float detf = invert_f(work_f, inv_f, n);
    uint32_t h = 0x811c9dc5u;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            foldf(&h, inv_f[i][j]);
    printf("random (%dx%d, float): inverse hash %08x\n", n, n, (unsigned)h);
    showf("det", detf);
    showf("inv[0][0]", inv_f[0][0]);
    showf("inv[n-1][n-1]", inv_f[n - 1][n - 1]);
    showf("max |A inv(A) - I|", residual_f(a_f, inv_f, n));
    return 0;
}
