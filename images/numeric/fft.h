/*
 * fft.h - a radix-2 complex FFT of 256 points, forward and back.
 *
 * The signal is two tones (bins 5 and 17) and LCG noise.  The twiddle
 * factors and tones come from Taylor series of sin and cos on [0, pi/2),
 * the quadrant taken from the integer index, so they are good to the last
 * bit or two and need no libm (the program runs on the bare SDK).
 * The program prints the strongest bins, Parseval's two sums, and how far
 * the inverse transform lands from the input; every spectrum value goes
 * into the hash.
 */
#include "numeric.h"

#define FFT_N 256
#define FFT_LOG2N 8

typedef struct {
    double re, im;
} cpx;

static cpx signal[FFT_N], spectrum[FFT_N], back[FFT_N];
static cpx twiddle[FFT_N / 2];    /* exp(-2 pi i k / N) */

static double taylor_sin(double x)
{
    double term = x, sum = x, x2 = x * x;
    for (int n = 1; n < 12; n++) {
        term *= -x2 / (double)((2 * n) * (2 * n + 1));
        sum += term;
    }
    return sum;
}

static double taylor_cos(double x)
{
    double term = 1.0, sum = 1.0, x2 = x * x;
    for (int n = 1; n < 12; n++) {
        term *= -x2 / (double)((2 * n - 1) * (2 * n));
        sum += term;
    }
    return sum;
}

/* sin and cos of 2 pi k / n: the quadrant from 4k / n, the rest by series. */
static void turn_sincos(int k, int n, double *s, double *c)
{
    int q = (4 * k / n) & 3;
    double x = NUM_PI_2 * (double)((4 * k) % n) / (double)n;
    double sx = taylor_sin(x), cx = taylor_cos(x);
    switch (q) {
    case 0: *s = sx; *c = cx; break;
    case 1: *s = cx; *c = -sx; break;
    case 2: *s = -sx; *c = -cx; break;
    default: *s = -cx; *c = sx; break;
    }
}

static unsigned reverse_bits(unsigned v, int width)
{
    unsigned r = 0;
    for (int i = 0; i < width; i++) {
        r = (r << 1) | (v & 1);
        v >>= 1;
    }
    return r;
}

/* In place, decimation in time; inverse conjugates the twiddles (no 1/N). */
static void fft(cpx *a, int inverse)
{
    for (unsigned i = 0; i < FFT_N; i++) {
        unsigned j = reverse_bits(i, FFT_LOG2N);
        if (j > i) {
            cpx t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
    for (int len = 2; len <= FFT_N; len <<= 1) {
        int half = len / 2, step = FFT_N / len;
        for (int base = 0; base < FFT_N; base += len) {
            for (int k = 0; k < half; k++) {
                cpx w = twiddle[k * step];
                if (inverse)
                    w.im = -w.im;
                cpx *u = &a[base + k], *v = &a[base + k + half];
                double tr = v->re * w.re - v->im * w.im;
                double ti = v->re * w.im + v->im * w.re;
                v->re = u->re - tr;
                v->im = u->im - ti;
                u->re += tr;
                u->im += ti;
            }
        }
    }
}

static double power(cpx z)
{
    return z.re * z.re + z.im * z.im;
}

static int program(void)
{
    printf("fft: %d points, %s\n", FFT_N, NUM_FPMATH);
    for (int k = 0; k < FFT_N / 2; k++) {
        double s, c;
        turn_sincos(k, FFT_N, &s, &c);
        twiddle[k].re = c;
        twiddle[k].im = -s;
    }
    show("twiddle[32].re (sqrt.5)", twiddle[32].re);
    show("twiddle[1].im", twiddle[1].im);

    for (int t = 0; t < FFT_N; t++) {
        double s5, c5, s17, c17;
        turn_sincos(5 * t % FFT_N, FFT_N, &s5, &c5);
        turn_sincos(17 * t % FFT_N, FFT_N, &s17, &c17);
        signal[t].re = c5 + 0.5 * s17 + 0.25 * lcg_unit();
        signal[t].im = 0.125 * lcg_unit();
    }
    memcpy(spectrum, signal, sizeof spectrum);
    fft(spectrum, 0);

    uint32_t h = 0x811c9dc5u;
    double energy_t = 0, energy_f = 0;
    for (int k = 0; k < FFT_N; k++) {
        fold(&h, spectrum[k].re);
        fold(&h, spectrum[k].im);
        energy_t += power(signal[k]);
        energy_f += power(spectrum[k]);
    }
    printf("  spectrum hash %08x\n", (unsigned)h);

    /* The four strongest bins, strongest first (ties: lower bin first). */
    int taken[4] = {-1, -1, -1, -1};
    for (int r = 0; r < 4; r++) {
        int best = -1;
        for (int k = 0; k < FFT_N; k++) {
            int used = 0;
            for (int j = 0; j < r; j++)
                used |= taken[j] == k;
            if (!used && (best < 0 || power(spectrum[k]) > power(spectrum[best])))
                best = k;
        }
        taken[r] = best;
        char name[32];
        snprintf(name, sizeof name, "|X[%d]|^2", best);
        show(name, power(spectrum[best]));
    }
    show("X[5].re", spectrum[5].re);
    show("X[17].im", spectrum[17].im);
    show("X[0].re (sum)", spectrum[0].re);
    show("sum |x|^2", energy_t);
    show("sum |X|^2 / N", energy_f / FFT_N);

    memcpy(back, spectrum, sizeof back);
    fft(back, 1);
    double worst = 0;
    int worst_at = 0;
    for (int t = 0; t < FFT_N; t++) {
        back[t].re /= FFT_N;
        back[t].im /= FFT_N;
        double e = __builtin_sqrt(power((cpx){back[t].re - signal[t].re,
                                              back[t].im - signal[t].im}));
        fold(NULL, back[t].re);
        fold(NULL, back[t].im);
        if (e > worst) {
            worst = e;
            worst_at = t;
        }
    }
    printf("  round trip: worst at t=%d\n", worst_at);
    show("max |ifft(fft(x)) - x|", worst);
    show("worst error * 2^52", worst * 4503599627370496.0);
    return 0;
}
