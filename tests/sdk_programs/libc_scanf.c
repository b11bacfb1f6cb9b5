/*
 * libc_scanf.c - sscanf over integers, strings, characters, scansets, %n,
 * widths, suppression and (with -DSCAN_FLOATS) floating point.  Plain
 * standard C: tests/test_sdk.py builds it with the SDK for hv and Linux and
 * with the host's own C library as the oracle, and compares all three.
 * -DOWN_STRTOD supplies a strtod stub for an SDK that has none yet (the
 * floating conversions are then left out).
 */
#include <stdio.h>
#include <string.h>

#ifdef OWN_STRTOD
double strtod(const char *s, char **end)
{
    if (end)
        *end = (char *)s;
    return 0;
}
#endif

static void ints(const char *input, const char *fmt)
{
    int a = -1, b = -1, c = -1, n = -1;
    int r = sscanf(input, fmt, &a, &b, &c, &n);
    printf("%-22s %-14s -> %2d: %d %d %d n=%d\n", input, fmt, r, a, b, c, n);
}

int main(void)
{
    ints("12 34 56", "%d %d %d");
    ints("  -12+34   0x1F", "%d%d%i");
    ints("0x1F 017 19", "%i %i %i");
    ints("0x1F 017 ff", "%x %o %x");
    ints("123456", "%2d%3d%d");
    ints("12abc", "%d%d");
    ints("", "%d");
    ints("   ", "%d");
    ints("abc", "%d");
    ints("7 8", "%*d %d");
    ints("10,20;30", "%d,%d;%d");
    ints("10 , 20", "%d , %d");
    ints("10,20", "%d;%d");
    ints("1 2", "%d %d %d");
    ints("5%6", "%d%%%d");
    ints("x5", "x%d");
    ints("-", "%d");
    ints("+", "%u");
    ints("-1", "%u");
    ints("42 ", "%d %n");
    ints("4294967295", "%u");
    ints("077", "%i");
    ints("09", "%i%d");

    short h = 0;
    signed char hh = 0;
    long long ll = 0;
    unsigned long long ull = 0;
    int r = sscanf("-300 200 -9223372036854775807 18446744073709551615", "%hd %hhd %lld %llu",
                   &h, &hh, &ll, &ull);
    printf("lengths %d: %d %d %lld %llu\n", r, h, hh, ll, ull);
    void *p = 0;
    r = sscanf("0x1234", "%p", &p);
    printf("%%p %d: %d\n", r, p == (void *)0x1234);

    char s1[16] = "-", s2[16] = "-", s3[16] = "-";
    r = sscanf("  hello   world!  more", "%s %5s%s", s1, s2, s3);
    printf("%%s %d: [%s] [%s] [%s]\n", r, s1, s2, s3);
    char cs[8] = "-------";
    r = sscanf("  abc", "%3c", cs);
    printf("%%3c %d: [%s]\n", r, cs);
    char ch = '-', ch2 = '-';
    r = sscanf(" x y", "%c %c", &ch, &ch2);
    printf("%%c %d: [%c] [%c]\n", r, ch, ch2);
    r = sscanf("ab", "%5c", cs);
    printf("short %%5c %d\n", r);
    r = sscanf("abcdef123-xyz]end", "%[a-f]%[0-9]%*[-]%[^]]", s1, s2, s3);
    printf("scansets %d: [%s] [%s] [%s]\n", r, s1, s2, s3);
    r = sscanf("]]]x", "%[]]", s1);
    printf("%%[]] %d: [%s]\n", r, s1);
    r = sscanf("a-b-c d", "%[-a-c]", s1);
    printf("%%[-a-c] %d: [%s]\n", r, s1);
    r = sscanf("123", "%[a-z]", s1);
    printf("empty scanset %d\n", r);
    int n1 = -1, n2 = -1, v = 0;
    r = sscanf("  abc  77", "%n%s%n %d", &n1, s1, &n2, &v);
    printf("%%n %d: %d %d %d\n", r, n1, n2, v);
    r = sscanf("key=value", "%15[^=]=%15s", s1, s2);
    printf("key/value %d: [%s] [%s]\n", r, s1, s2);
    r = sscanf("abc", "%*s%n", &n1);
    printf("suppressed %d: n=%d\n", r, n1);

#ifdef SCAN_FLOATS
    float f = 0;
    double d = 0, e = 0, g = 0;
    long double ld = 0;
    /* Printed through integers, so printf's own %f is not under test. */
    r = sscanf("3.25 -1e3 0x1.8p1 .5", "%f %lf %lf %Lf", &f, &d, &e, &ld);
    printf("floats %d: %d %d %d %d\n", r, (int)(f * 1000), (int)d, (int)(e * 100),
           (int)(ld * 100));
    r = sscanf("inf -nan 1.5e+2x", "%lf %lf %lf", &d, &e, &g);
    printf("inf/nan %d: %d %d %d\n", r, d > 1e308, e != e, (int)g);
    r = sscanf("12.5e", "%3lf%s", &d, s1);
    printf("width %d: %d [%s]\n", r, (int)(d * 10), s1);
    r = sscanf("1e-2 7", "%lf %d", &d, &v);
    printf("small %d: %d %d\n", r, (int)(d * 1000 + 0.5), v);
#endif
    return 0;
}
