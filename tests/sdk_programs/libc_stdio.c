/*
 * libc_stdio.c - the SDK's FILE streams, strerror/perror, strings.h, the
 * rest of string.h and stdlib.h, atexit, time.h's calendar, the -ftrapv
 * and complex helpers and main's arguments, run as an hv guest and as a
 * Linux program (tests/test_sdk.py compares the two, stderr included).
 * main has no return statement: the exit status must be 0.
 */
#include <hv_guest.h>
#include <complex.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static void last_words(void)
{
    printf("atexit: registered first, runs last\n");
}

static void first_words(void)
{
    printf("atexit: registered last, runs first\n");
}

static void streams(void)
{
    fprintf(stdout, "fprintf %d %s\n", 42, "out");
    fputs("fputs\n", stdout);
    fputc('c', stdout);
    putc('\n', stdout);
    fwrite("fwrite12", 1, 6, stdout);
    fputc('\n', stdout);
    printf("buffered, then ");
    fprintf(stderr, "stderr %x\n", 0xbeef);        /* stdout's half line comes first */
    fflush(stdout);
    FILE *f = fopen("/etc/passwd", "r");
    printf("fopen %s errno %d (%s)\n", f ? "opened?" : "NULL", errno, strerror(errno));
    f = fopen("x", "");
    printf("fopen bad mode errno %d\n", errno);
    errno = EDOM;
    perror("perror");
    perror(NULL);
    printf("strerror(0) %s; strerror(9999) %s\n", strerror(0), strerror(9999));
    int rc = fseek(stdout, 0, SEEK_SET);
    printf("fseek %d errno %d ferror(stdout) %d feof(stdin) %d\n", rc, errno, ferror(stdout),
           feof(stdin));
    char line[16];
    int c = getchar();
    char *got = fgets(line, sizeof(line), stdin);
    printf("getchar %d fgets %s feof %d\n", c, got ? got : "NULL", feof(stdin));
}

static void strings(void)
{
    char buf[64] = "  alpha, beta,,gamma ";
    char *save, *tok;
    printf("strcasecmp %d %d %d strncasecmp %d\n", strcasecmp("HeLLo", "hello"),
           strcasecmp("a", "B") < 0, strcasecmp("Z", "a") > 0, strncasecmp("abcX", "ABCy", 3));
    printf("ffs %d %d %d %d ffsll %d\n", ffs(0), ffs(1), ffs(0x80), ffs(INT32_MIN),
           ffsll(1ll << 40));
    printf("index %s rindex %s\n", index("banana", 'n'), rindex("banana", 'n'));
    bzero(buf + 30, 4);
    bcopy("xyz", buf + 30, 3);
    printf("bcopy %s bcmp %d\n", buf + 30, bcmp("ab", "ac", 2) != 0);
    printf("strspn %zu strcspn %zu strpbrk %s\n", strspn("  alpha", " "),
           strcspn("alpha,beta", ","), strpbrk("alpha,beta", ",;"));
    for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
        printf("[%s]", tok);
    char csv[] = "a,,b", *rest = csv, *field;
    while ((field = strsep(&rest, ",")) != NULL)
        printf("<%s>", field);
    char *dup = strdup("duplicate"), *ndup = strndup("duplicate", 3);
    printf("\nstrdup %s strndup %s\n", dup, ndup);
    free(dup);
    free(ndup);
    printf("memmem %s memrchr %s strstr %s\n", (char *)memmem("haystack", 8, "st", 2),
           (char *)memrchr("abcabc", 'b', 6), strstr("haystack", "yst"));
    char dst[8];
    printf("strlcpy %zu [%s] ", strlcpy(dst, "truncated", sizeof(dst)), dst);
    printf("strlcat %zu [%s] ", strlcat(dst, "!", sizeof(dst)), dst);
    printf("stpcpy +%d\n", (int)(stpcpy(buf, "four") - buf));
}

static void numbers(void)
{
    div_t d = div(-7, 2);
    ldiv_t ld = ldiv(7L, -2L);
    lldiv_t lld = lldiv(-10000000000ll, 3);
    printf("div %d %d ldiv %ld %ld lldiv %lld %lld\n", d.quot, d.rem, ld.quot, ld.rem,
           lld.quot, lld.rem);
    printf("atol %ld atoll %lld getenv %s\n", atol(" -123x"), atoll("9000000000"),
           getenv("HOME") ? "set" : "NULL");
    srand(7);
    int a = rand(), b = rand();
    srand(7);
    printf("rand repeats %d in range %d\n", a == rand() && b == rand(),
           a >= 0 && a <= RAND_MAX);
    volatile int x = -3;
    volatile long long y = 5;
    printf("clrsb %d %d\n", __builtin_clrsb(x), __builtin_clrsbll(y));
    double complex p = CMPLX(1, 2) * CMPLX(3, 4), q = CMPLX(1, 2) / CMPLX(3, 4);
    float complex pf = CMPLXF(0.5, -1) * CMPLXF(2, 2);
    printf("complex (%d,%d) (%d,%d)/100 (%d,%d)\n", (int)creal(p), (int)cimag(p),
           (int)(creal(q) * 100 + 0.5), (int)(cimag(q) * 100 + 0.5), (int)crealf(pf),
           (int)cimagf(pf));
    double complex inf_nan = CMPLX(__builtin_inf(), __builtin_nan(""));
    double complex r = inf_nan * CMPLX(2, 0), z = CMPLX(1, 1) / CMPLX(0, 0);
    double complex s = CMPLX(1, 1) / CMPLX(__builtin_inf(), 0);
    printf("annex G: inf*2 inf %d, 1/0 inf %d, 1/inf zero %d\n",
           __builtin_isinf(creal(r)) || __builtin_isinf(cimag(r)),
           __builtin_isinf(creal(z)) && __builtin_isinf(cimag(z)),
           creal(s) == 0 && cimag(s) == 0);
}

static void calendar(void)
{
    static const long times[] = { 0, 68169600, 951782400, 1234567890, 2147483647, -1,
                                  -2147483647 - 1, 1609459199, 1104537600 };
    char buf[256];
    for (unsigned k = 0; k < sizeof(times) / sizeof(times[0]); k++) {
        time_t t = (time_t)times[k];
        struct tm *tm = gmtime(&t);
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %a %A %b %B %j %U %W %V %G %g %u %w %e %C %y"
                 " %I %p %D %F %T %R %r %c %x %X %z %s %%", tm);
        printf("%ld: %s | %s", times[k], buf, asctime(tm));
    }
    struct tm norm = { .tm_year = 100, .tm_mon = 13, .tm_mday = -1, .tm_hour = 25,
                       .tm_min = 61, .tm_sec = -5 };
    time_t t = mktime(&norm);
    printf("mktime %ld -> %04d-%02d-%02d %02d:%02d:%02d wday %d yday %d\n", (long)t,
           norm.tm_year + 1900, norm.tm_mon + 1, norm.tm_mday, norm.tm_hour, norm.tm_min,
           norm.tm_sec, norm.tm_wday, norm.tm_yday);
    printf("strftime too small %zu\n", strftime(buf, 4, "%Y-%m", &norm));
    printf("difftime %d\n", (int)difftime(100, 40));

    /* The clocks: values differ between hv and Linux, their properties not. */
    struct timespec m1, m2, rt;
    struct timeval tv;
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_REALTIME, &rt);
    gettimeofday(&tv, NULL);
    time_t now = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    printf("clocks: monotonic ordered %d, nsec in range %d, time~gettimeofday %d, "
           "after 2000 %d, clock() >= 0 %d, bad clock %d errno %d\n",
           m2.tv_sec > m1.tv_sec || (m2.tv_sec == m1.tv_sec && m2.tv_nsec >= m1.tv_nsec),
           m1.tv_nsec >= 0 && m1.tv_nsec < 1000000000, now - tv.tv_sec <= 1 && now >= tv.tv_sec,
           rt.tv_sec >= 946684800, clock() >= 0, clock_gettime(99, &rt), EINVAL);
    printf("errno %d\n", errno);
}

int main(int argc, char **argv)
{
    atexit(last_words);
    atexit(first_words);
    printf("argc %d:", argc);
    for (int k = 1; k < argc; k++)
        printf(" [%s]", argv[k]);
    printf(" argv[argc] %s\n", argv[argc] ? "set" : "NULL");
    streams();
    strings();
    numbers();
    calendar();
}
