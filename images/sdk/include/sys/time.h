/* sys/time.h - gettimeofday and struct timeval (time.c; see time.h). */
#ifndef HV_SDK_SYS_TIME_H
#define HV_SDK_SYS_TIME_H

#include <sys/types.h>
#include <time.h>

struct timeval {
    time_t tv_sec;
    suseconds_t tv_usec;
};

struct timezone {
    int tz_minuteswest;
    int tz_dsttime;
};

/* The wall clock in microseconds; tz, if not NULL, gets UTC (zeroes). */
int gettimeofday(struct timeval *tv, void *tz);

#endif /* HV_SDK_SYS_TIME_H */
