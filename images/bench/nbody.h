/* nbody.h - benchmark: a star and four planets under Newtonian gravity,
 * integrated with a symplectic Euler step (kick, then drift), in double.
 * Units: AU, years, solar masses (G M_sun = 4 pi^2).  The planets start on
 * circular orbits at 1, 2, 3.5 and 6 AU with masses of 1e-3 to 1e-5 and a
 * small tilt each; the star moves so that the total momentum is zero.
 * Each step is 10 pair interactions (a square root and a division each)
 * and 5 position updates.  The energy before and after shows the
 * integration is sane; both are printed with their bits.
 * Built twice: nbody.c (x87) and nbody_sse2.c (-msse2 -mfpmath=sse). */
#include <hv_guest.h>

#include "bench_float.h"
#include "bench_paging.h"

#define NBODIES 5
#define FOUR_PI2 39.47841760435743      /* 4 pi^2 */

struct body {
    double x, y, z, vx, vy, vz, m;
};

static struct body bodies[NBODIES];
static volatile int bench_steps = 20000;

static void start(void)
{
    static const double radius[NBODIES] = {0, 1.0, 2.0, 3.5, 6.0};
    static const double mass[NBODIES] = {1.0, 1e-3, 3e-4, 5e-5, 1e-5};
    static const double tilt[NBODIES] = {0, 0.01, -0.02, 0.015, 0.03};
    double px = 0, py = 0, pz = 0;
    for (int i = 1; i < NBODIES; i++) {
        struct body *b = &bodies[i];
        double v = __builtin_sqrt(FOUR_PI2 / radius[i]);
        /* Spread the planets round the star: angle i * 1.2 rad, by a
         * short table rather than libm. */
        static const double c[NBODIES] = {0, 0.362357754476674, -0.737393715541245,
                                          -0.896758416334147, 0.087498983439446};
        static const double s[NBODIES] = {0, 0.932039085967226, 0.675463180551151,
                                          -0.442520443294852, -0.996164608835841};
        b->x = radius[i] * c[i];
        b->y = radius[i] * s[i];
        b->z = radius[i] * tilt[i];
        b->vx = -v * s[i];
        b->vy = v * c[i];
        b->vz = v * tilt[i] * 0.5;
        b->m = mass[i] * FOUR_PI2;
        px += b->vx * b->m;
        py += b->vy * b->m;
        pz += b->vz * b->m;
    }
    bodies[0].m = mass[0] * FOUR_PI2;
    bodies[0].vx = -px / bodies[0].m;
    bodies[0].vy = -py / bodies[0].m;
    bodies[0].vz = -pz / bodies[0].m;
}

static double energy(void)
{
    double e = 0;
    for (int i = 0; i < NBODIES; i++) {
        const struct body *a = &bodies[i];
        e += 0.5 * a->m * (a->vx * a->vx + a->vy * a->vy + a->vz * a->vz);
        for (int j = i + 1; j < NBODIES; j++) {
            const struct body *b = &bodies[j];
            double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
            e -= a->m * b->m / __builtin_sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void __attribute__((noinline)) advance(double dt, int steps)
{
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < NBODIES; i++) {
            struct body *a = &bodies[i];
            for (int j = i + 1; j < NBODIES; j++) {
                struct body *b = &bodies[j];
                double dx = a->x - b->x, dy = a->y - b->y, dz = a->z - b->z;
                double d2 = dx * dx + dy * dy + dz * dz;
                double mag = dt / (d2 * __builtin_sqrt(d2));
                a->vx -= dx * b->m * mag;
                a->vy -= dy * b->m * mag;
                a->vz -= dz * b->m * mag;
                b->vx += dx * a->m * mag;
                b->vy += dy * a->m * mag;
                b->vz += dz * a->m * mag;
            }
        }
        for (int i = 0; i < NBODIES; i++) {
            struct body *a = &bodies[i];
            a->x += dt * a->vx;
            a->y += dt * a->vy;
            a->z += dt * a->vz;
        }
    }
}

int main(void)
{
    bench_paging_from_cmdline();
    int steps = bench_steps;
    start();
    printf("nbody: %d bodies, %d steps\n", NBODIES, steps);
    bench_show("energy before", energy());
    advance(0.001, steps);
    bench_show("energy after ", energy());
    bench_show("x of body 1  ", bodies[1].x);
    return 0;
}
