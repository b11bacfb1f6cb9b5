/*
 * mandel.h - the Mandelbrot set as text, in double and in float.
 *
 * A 72 x 28 grid over [-2.2, 0.8] x [-1.2, 1.2], at most 256 iterations a
 * point.  The double render is printed as a picture (one character per
 * escape-time band, '@' inside the set); the float render is compared
 * with it cell by cell.  The last z of every point, both precisions, goes
 * into the hash, and each row's iteration count is printed, so one wrong
 * rounding anywhere shows.  With x87 code gcc keeps the loop's values in
 * 80-bit registers; with SSE2 each operation rounds to double (or float),
 * so the two builds may draw different borders: each is compared with
 * itself on the real CPU.
 */
#include "numeric.h"

#define MANDEL_W 72
#define MANDEL_H 28
#define MANDEL_MAXIT 256

static const char palette[] = " .,:;-=+*%#";

static char picture[MANDEL_H][MANDEL_W + 1];

static int escape_double(double cr, double ci, uint32_t *h)
{
    double zr = 0, zi = 0, zr2 = 0, zi2 = 0;
    int it = 0;
    while (it < MANDEL_MAXIT && zr2 + zi2 <= 4.0) {
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
        it++;
    }
    fold(h, zr);
    fold(h, zi);
    return it;
}

static int escape_float(float cr, float ci, uint32_t *h)
{
    float zr = 0, zi = 0, zr2 = 0, zi2 = 0;
    int it = 0;
    while (it < MANDEL_MAXIT && zr2 + zi2 <= 4.0f) {
        zi = 2.0f * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
        it++;
    }
    foldf(h, zr);
    foldf(h, zi);
    return it;
}

static char shade(int it)
{
    if (it >= MANDEL_MAXIT)
        return '@';
    /* Bands grow with the count: 1, 2, 4, 8, ... iterations wide. */
    int band = 0;
    while (band < (int)sizeof palette - 2 && (2 << band) <= it)
        band++;
    return palette[band];
}

static int program(void)
{
    printf("mandel: %dx%d, %d iterations, %s\n", MANDEL_W, MANDEL_H, MANDEL_MAXIT,
           NUM_FPMATH);
    uint32_t hd = 0x811c9dc5u, hf = 0x811c9dc5u;
    unsigned long total_d = 0, total_f = 0;
    int differ = 0;
    for (int row = 0; row < MANDEL_H; row++) {
        double ci = 1.2 - 2.4 * row / (MANDEL_H - 1);
        unsigned long row_d = 0, row_f = 0;
        for (int col = 0; col < MANDEL_W; col++) {
            double cr = -2.2 + 3.0 * col / (MANDEL_W - 1);
            int itd = escape_double(cr, ci, &hd);
            int itf = escape_float((float)cr, (float)ci, &hf);
            picture[row][col] = shade(itd);
            differ += shade(itf) != picture[row][col];
            row_d += (unsigned long)itd;
            row_f += (unsigned long)itf;
        }
        picture[row][MANDEL_W] = '\0';
        printf("|%s| %5lu %5lu\n", picture[row], row_d, row_f);
        total_d += row_d;
        total_f += row_f;
    }
    printf("  iterations: double %lu, float %lu\n", total_d, total_f);
    printf("  cells where float draws otherwise: %d\n", differ);
    printf("  last-z hash: double %08x, float %08x\n", (unsigned)hd, (unsigned)hf);

    /* One point near the boundary, followed closely. */
    uint32_t h = 0x811c9dc5u;
    int it = escape_double(-0.7453, 0.1127, &h);
    printf("  c = -0.7453+0.1127i escapes after %d\n", it);
    double area = 0;
    for (int row = 0; row < MANDEL_H; row++)
        for (int col = 0; col < MANDEL_W; col++)
            area += picture[row][col] == '@';
    show("area estimate", area * (3.0 / (MANDEL_W - 1)) * (2.4 / (MANDEL_H - 1)));
    return 0;
}
