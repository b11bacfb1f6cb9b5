/* time.h - the guest clock as C time (time.c).
 *
 * On hv the monotonic clock is the guest clock (the CLOCK hypercall: under
 * the default virtual clock one retired instruction is one nanosecond) and
 * the wall clock is the RTC's time at boot plus the guest clock, so under
 * the virtual clock every run starts at 2000-01-01 00:00:00 UTC and sees the
 * same times.  On Linux both are the kernel's clocks.  The time zone is UTC:
 * localtime() is gmtime().  time_t is 32-bit, as on i386 Linux. */
#ifndef HV_SDK_TIME_H
#define HV_SDK_TIME_H

#include <stddef.h>

#ifndef HV__TIME_T_DEFINED
#define HV__TIME_T_DEFINED
typedef long time_t;
#endif
#ifndef HV__CLOCK_T_DEFINED
#define HV__CLOCK_T_DEFINED
typedef long clock_t;
#endif
typedef int clockid_t;

/* clock() counts microseconds of processor time (on hv, of guest time). */
#define CLOCKS_PER_SEC 1000000L

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_PROCESS_CPUTIME_ID 2
#define TIME_UTC 1

struct timespec {
    time_t tv_sec;
    long tv_nsec;
};

struct tm {
    int tm_sec;         /* 0..60 */
    int tm_min;
    int tm_hour;
    int tm_mday;        /* 1..31 */
    int tm_mon;         /* 0..11 */
    int tm_year;        /* years since 1900 */
    int tm_wday;        /* 0 = Sunday */
    int tm_yday;        /* 0..365 */
    int tm_isdst;       /* always 0: UTC */
};

time_t time(time_t *t);
clock_t clock(void);
double difftime(time_t end, time_t start);
int clock_gettime(clockid_t id, struct timespec *ts);
int clock_getres(clockid_t id, struct timespec *ts);
int timespec_get(struct timespec *ts, int base);

struct tm *gmtime(const time_t *t);
struct tm *gmtime_r(const time_t *t, struct tm *out);
struct tm *localtime(const time_t *t);
struct tm *localtime_r(const time_t *t, struct tm *out);
time_t mktime(struct tm *tm);        /* normalises *tm; UTC */
time_t timegm(struct tm *tm);
size_t strftime(char *s, size_t max, const char *fmt, const struct tm *tm);
char *asctime(const struct tm *tm);
char *ctime(const time_t *t);

#endif /* HV_SDK_TIME_H */
