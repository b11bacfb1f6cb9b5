/*
 * time.c - time.h and sys/time.h on the guest clock (an archive member).
 *
 * hv: the monotonic clock is the CLOCK hypercall.  The wall clock is fixed
 * once, at the first call that needs it: the MC146818 RTC's date and time
 * (ports 0x70/0x71) minus the guest clock's whole seconds at that moment
 * gives the wall time at boot, and from then on the wall clock is that plus
 * the guest clock.  Under hv's virtual clock the RTC reads 2000-01-01
 * 00:00:00 UTC plus the guest clock, so this is exact and every run sees
 * the same times; under the host clock it is within a second of the host's.
 * Under another loader (QEMU -kernel) there is no CLOCK hypercall: both
 * clocks read the RTC, to the second.
 *
 * Linux: the kernel's clocks through clock_gettime(2).
 *
 * The calendar (gmtime, mktime, strftime) is the proleptic Gregorian one in
 * UTC; time_t is a 32-bit count of seconds since 1970-01-01 00:00:00 UTC.
 */
#include <hv_guest.h>
#include <errno.h>
#include <limits.h>
#include <sys/time.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL

/* ---- The clocks. ------------------------------------------------------------ */

static long long days_from_civil(long long year, int month, int day);

#ifdef HV_TARGET_LINUX
#define SYS_CLOCK_GETTIME 265

static long long linux_clock(clockid_t id)
{
    struct timespec ts = { 0, 0 };

    if (hv__linux_syscall3(SYS_CLOCK_GETTIME, (unsigned long)id,
                           (unsigned long)(uintptr_t)&ts, 0) != 0)
        return -1;
    return (long long)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}
#else
static int cmos_read(int reg)
{
    hv_outb(0x70, (uint8_t)reg);
    return hv_inb(0x71);
}

static int from_bcd(int v, int binary)
{
    return binary ? v : (v >> 4) * 10 + (v & 15);
}

/* The RTC's date and time as seconds since 1970.  A reading is taken
 * between updates (status A bit 7 clear) and repeated until two agree. */
static long long rtc_seconds(void)
{
    int r[7], again[7], k, binary, hour, year;
    static const int regs[7] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };

    do {
        while (cmos_read(0x0A) & 0x80)
            ;
        for (k = 0; k < 7; k++)
            r[k] = cmos_read(regs[k]);
        for (k = 0; k < 7; k++)
            again[k] = cmos_read(regs[k]);
    } while (memcmp(r, again, sizeof(r)) != 0);
    binary = cmos_read(0x0B) & 4;
    hour = from_bcd(r[2] & 0x7f, binary);
    if (!(cmos_read(0x0B) & 2) && (r[2] & 0x80))        /* 12-hour mode, PM */
        hour = hour % 12 + 12;
    else if (!(cmos_read(0x0B) & 2) && hour == 12)      /* 12 AM */
        hour = 0;
    year = from_bcd(r[5], binary) + 100 * (r[6] ? from_bcd(r[6], binary) : 20);
    return days_from_civil(year, from_bcd(r[4], binary), from_bcd(r[3], binary)) * 86400
           + hour * 3600 + from_bcd(r[1], binary) * 60 + from_bcd(r[0], binary);
}

/* The wall time at boot, in seconds (see the top of the file). */
static long long boot_wall_seconds(void)
{
    static long long boot;
    static int known;

    while (!known) {
        uint64_t before = hv_clock();
        long long rtc = rtc_seconds();
        long long whole = (long long)(before / NS_PER_SEC);
        if ((long long)(hv_clock() / NS_PER_SEC) == whole) {
            boot = rtc - whole;
            known = 1;
        }
    }
    return boot;
}
#endif

/* A clock's reading in nanoseconds, or -1 (errno EINVAL) for an unknown one. */
static long long clock_ns(clockid_t id)
{
#ifdef HV_TARGET_LINUX
    long long ns = linux_clock(id);
    if (ns < 0)
        errno = EINVAL;
    return ns;
#else
    if (id != CLOCK_REALTIME && id != CLOCK_MONOTONIC && id != CLOCK_PROCESS_CPUTIME_ID) {
        errno = EINVAL;
        return -1;
    }
    if (!hv_on_hv)
        return rtc_seconds() * NS_PER_SEC;
    if (id == CLOCK_REALTIME)
        return boot_wall_seconds() * NS_PER_SEC + (long long)hv_clock();
    return (long long)hv_clock();    /* the guest runs alone: its time is its CPU time */
#endif
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    long long ns = clock_ns(id);

    if (ns < 0)
        return -1;
    ts->tv_sec = (time_t)(ns / NS_PER_SEC);
    ts->tv_nsec = (long)(ns % NS_PER_SEC);
    return 0;
}

int clock_getres(clockid_t id, struct timespec *ts)
{
    if (clock_ns(id) < 0)
        return -1;
    if (ts) {
        ts->tv_sec = 0;
        ts->tv_nsec = 1;
#ifndef HV_TARGET_LINUX
        if (!hv_on_hv) {
            ts->tv_sec = 1;
            ts->tv_nsec = 0;
        }
#endif
    }
    return 0;
}

int timespec_get(struct timespec *ts, int base)
{
    return base == TIME_UTC && clock_gettime(CLOCK_REALTIME, ts) == 0 ? base : 0;
}

time_t time(time_t *t)
{
    time_t now = (time_t)(clock_ns(CLOCK_REALTIME) / NS_PER_SEC);

    if (t)
        *t = now;
    return now;
}

clock_t clock(void)
{
    return (clock_t)(clock_ns(CLOCK_PROCESS_CPUTIME_ID) / 1000);
}

int gettimeofday(struct timeval *tv, void *tz)
{
    long long ns = clock_ns(CLOCK_REALTIME);

    if (tv) {
        tv->tv_sec = (time_t)(ns / NS_PER_SEC);
        tv->tv_usec = (suseconds_t)(ns % NS_PER_SEC / 1000);
    }
    if (tz)
        memset(tz, 0, sizeof(struct timezone));
    return 0;
}

double difftime(time_t end, time_t start)
{
    return (double)end - (double)start;
}

/* ---- The calendar. ---------------------------------------------------------- */

static int is_leap(long long year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* floor(a / b) for b > 0. */
static long long floor_div(long long a, long long b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Leap years in [1, year) of the proleptic calendar (negative before 1). */
static long long leaps_before(long long year)
{
    long long y = year - 1;

    return floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400);
}

static const short days_before_month[2][13] = {
    { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 },
    { 0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366 },
};

/* Days from 1970-01-01 to year-month-day (month 1..12, day 1..31). */
static long long days_from_civil(long long year, int month, int day)
{
    return 365 * (year - 1970) + leaps_before(year) - leaps_before(1970)
           + days_before_month[is_leap(year)][month - 1] + day - 1;
}

/* Fills tm for `t` seconds since 1970; returns 0, or -1 if the year does not
 * fit an int. */
static int civil_from_seconds(long long t, struct tm *tm)
{
    long long days = floor_div(t, 86400), secs = t - days * 86400;
    long long year = 1970 + floor_div(days, 366);
    int leap, month;

    /* The guess is within a year or two of the answer; step to it. */
    while (days_from_civil(year, 1, 1) > days)
        year--;
    while (days_from_civil(year + 1, 1, 1) <= days)
        year++;
    if (year - 1900 > INT_MAX || year - 1900 < INT_MIN)
        return -1;
    leap = is_leap(year);
    tm->tm_yday = (int)(days - days_from_civil(year, 1, 1));
    for (month = 0; days_before_month[leap][month + 1] <= tm->tm_yday; month++)
        ;
    tm->tm_year = (int)(year - 1900);
    tm->tm_mon = month;
    tm->tm_mday = tm->tm_yday - days_before_month[leap][month] + 1;
    tm->tm_wday = (int)(days + 4 - 7 * floor_div(days + 4, 7));   /* 1970-01-01: Thursday */
    tm->tm_hour = (int)(secs / 3600);
    tm->tm_min = (int)(secs / 60 % 60);
    tm->tm_sec = (int)(secs % 60);
    tm->tm_isdst = 0;
    return 0;
}

struct tm *gmtime_r(const time_t *t, struct tm *out)
{
    if (civil_from_seconds(*t, out) != 0) {
        errno = EOVERFLOW;
        return NULL;
    }
    return out;
}

struct tm *gmtime(const time_t *t)
{
    static struct tm result;

    return gmtime_r(t, &result);
}

struct tm *localtime_r(const time_t *t, struct tm *out)
{
    return gmtime_r(t, out);
}

struct tm *localtime(const time_t *t)
{
    return gmtime(t);
}

time_t timegm(struct tm *tm)
{
    /* Fields may be out of range (tm_mon = 14, tm_mday = -3): months fold
     * into years, the rest into a count of seconds, then back into *tm. */
    long long month = tm->tm_mon, year = 1900LL + tm->tm_year + floor_div(month, 12);
    long long t;

    month -= 12 * floor_div(month, 12);
    t = (days_from_civil(year, (int)month + 1, 1) + tm->tm_mday - 1) * 86400
        + tm->tm_hour * 3600LL + tm->tm_min * 60LL + tm->tm_sec;
    if (t < LONG_MIN || t > LONG_MAX || civil_from_seconds(t, tm) != 0) {
        errno = EOVERFLOW;
        return (time_t)-1;
    }
    return (time_t)t;
}

time_t mktime(struct tm *tm)
{
    return timegm(tm);
}

/* ---- Formatting. ------------------------------------------------------------ */

static const char *const day_names[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};
static const char *const month_names[12] = {
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
};

static const char *name_of(const char *const *names, int k, int count)
{
    return k >= 0 && k < count ? names[k] : "?";
}

/* ISO 8601 week-based year and week (weeks start on Monday; week 1 holds
 * the year's first Thursday). */
static int iso_week(const struct tm *tm, long long *iso_year)
{
    int wday = (tm->tm_wday + 6) % 7;                   /* Monday = 0 */
    int week = (tm->tm_yday - wday + 10) / 7;
    long long year = 1900LL + tm->tm_year;

    if (week < 1) {
        /* The last week of the year before: 53 if that year's Dec 31 is a
         * Thursday, or a Friday in a leap year. */
        int prev_days = is_leap(year - 1) ? 366 : 365;
        int dec31 = (wday - tm->tm_yday - 1 + 7 * 53) % 7;   /* Monday = 0 */
        *iso_year = year - 1;
        return dec31 == 3 || (dec31 == 4 && prev_days == 366) ? 53 : 52;
    }
    if (week == 53) {
        int days = is_leap(year) ? 366 : 365;
        int dec31 = (wday + (days - 1 - tm->tm_yday)) % 7;
        if (dec31 < 3) {                        /* Dec 31 is Mon..Wed: week 1 */
            *iso_year = year + 1;
            return 1;
        }
    }
    *iso_year = year;
    return week;
}

struct out {
    char *s;
    size_t max, n;
};

static void put(struct out *o, const char *s, size_t len)
{
    for (size_t k = 0; k < len; k++, o->n++) {
        if (o->n < o->max)
            o->s[o->n] = s[k];
    }
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_num(struct out *o, long long v, int width, char pad)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), pad == '0' ? "%0*lld" : "%*lld", width, v);
    put(o, buf, (size_t)n);
}

static void format(struct out *o, const char *fmt, const struct tm *tm);

static void format_one(struct out *o, char c, const struct tm *tm)
{
    long long year = 1900LL + tm->tm_year, iso_year;
    int hour12 = tm->tm_hour % 12 ? tm->tm_hour % 12 : 12;

    switch (c) {
    case 'a': put(o, name_of(day_names, tm->tm_wday, 7), 3); break;
    case 'A': put_str(o, name_of(day_names, tm->tm_wday, 7)); break;
    case 'b': case 'h': put(o, name_of(month_names, tm->tm_mon, 12), 3); break;
    case 'B': put_str(o, name_of(month_names, tm->tm_mon, 12)); break;
    case 'c': format(o, "%a %b %e %H:%M:%S %Y", tm); break;
    case 'C': put_num(o, floor_div(year, 100), 2, '0'); break;
    case 'd': put_num(o, tm->tm_mday, 2, '0'); break;
    case 'D': format(o, "%m/%d/%y", tm); break;
    case 'e': put_num(o, tm->tm_mday, 2, ' '); break;
    case 'F': format(o, "%Y-%m-%d", tm); break;
    case 'g': iso_week(tm, &iso_year); put_num(o, (iso_year % 100 + 100) % 100, 2, '0'); break;
    case 'G': iso_week(tm, &iso_year); put_num(o, iso_year, 1, '0'); break;
    case 'H': put_num(o, tm->tm_hour, 2, '0'); break;
    case 'I': put_num(o, hour12, 2, '0'); break;
    case 'j': put_num(o, tm->tm_yday + 1, 3, '0'); break;
    case 'm': put_num(o, tm->tm_mon + 1, 2, '0'); break;
    case 'M': put_num(o, tm->tm_min, 2, '0'); break;
    case 'n': put_str(o, "\n"); break;
    case 'p': put_str(o, tm->tm_hour < 12 ? "AM" : "PM"); break;
    case 'r': format(o, "%I:%M:%S %p", tm); break;
    case 'R': format(o, "%H:%M", tm); break;
    case 's': {
        struct tm copy = *tm;
        put_num(o, timegm(&copy), 1, '0');
        break;
    }
    case 'S': put_num(o, tm->tm_sec, 2, '0'); break;
    case 't': put_str(o, "\t"); break;
    case 'T': format(o, "%H:%M:%S", tm); break;
    case 'u': put_num(o, tm->tm_wday ? tm->tm_wday : 7, 1, '0'); break;
    case 'U': put_num(o, (tm->tm_yday + 7 - tm->tm_wday) / 7, 2, '0'); break;
    case 'V': put_num(o, iso_week(tm, &iso_year), 2, '0'); break;
    case 'w': put_num(o, tm->tm_wday, 1, '0'); break;
    case 'W': put_num(o, (tm->tm_yday + 7 - (tm->tm_wday + 6) % 7) / 7, 2, '0'); break;
    case 'x': format(o, "%m/%d/%y", tm); break;
    case 'X': format(o, "%H:%M:%S", tm); break;
    case 'y': put_num(o, (year % 100 + 100) % 100, 2, '0'); break;
    case 'Y': put_num(o, year, 1, '0'); break;
    case 'z': put_str(o, "+0000"); break;
    case 'Z': put_str(o, "UTC"); break;
    case '%': put_str(o, "%"); break;
    default: {
        char spec[2] = { '%', c };     /* unknown: copied as written */
        put(o, spec, c ? 2 : 1);
        break;
    }
    }
}

static void format(struct out *o, const char *fmt, const struct tm *tm)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(o, fmt, 1);
            continue;
        }
        fmt++;
        while (*fmt == 'E' || *fmt == 'O')      /* locale modifiers: "C" has none */
            fmt++;
        format_one(o, *fmt, tm);
        if (!*fmt)
            break;
    }
}

size_t strftime(char *s, size_t max, const char *fmt, const struct tm *tm)
{
    struct out o = { s, max, 0 };

    format(&o, fmt, tm);
    if (o.n >= max) {       /* did not fit with its NUL: C says return 0 */
        if (max)
            s[0] = 0;
        return 0;
    }
    s[o.n] = 0;
    return o.n;
}

char *asctime(const struct tm *tm)
{
    static char buf[64];

    snprintf(buf, sizeof(buf), "%.3s %.3s%3d %.2d:%.2d:%.2d %d\n",
             name_of(day_names, tm->tm_wday, 7), name_of(month_names, tm->tm_mon, 12),
             tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, 1900 + tm->tm_year);
    return buf;
}

char *ctime(const time_t *t)
{
    struct tm *tm = localtime(t);

    return tm ? asctime(tm) : NULL;
}
