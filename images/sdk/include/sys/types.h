/* sys/types.h - the POSIX integer types a freestanding i386 program uses. */
#ifndef HV_SDK_SYS_TYPES_H
#define HV_SDK_SYS_TYPES_H

#include <stddef.h>
#include <stdint.h>

typedef int ssize_t;
typedef long off_t;
typedef int pid_t;
typedef unsigned int uid_t;
typedef unsigned int gid_t;
typedef unsigned int mode_t;
#ifndef HV__TIME_T_DEFINED
#define HV__TIME_T_DEFINED
typedef long time_t;
#endif
typedef long suseconds_t;
#ifndef HV__CLOCK_T_DEFINED
#define HV__CLOCK_T_DEFINED
typedef long clock_t;
#endif
typedef unsigned char u_char;
typedef unsigned short u_short;
typedef unsigned int u_int;
typedef unsigned long u_long;

#endif /* HV_SDK_SYS_TYPES_H */
