/* errno.h - the SDK libc's errno (one guest, one thread: a plain int). */
#ifndef HV_SDK_ERRNO_H
#define HV_SDK_ERRNO_H

extern int errno;

#define EPERM 1
#define ENOENT 2
#define EINTR 4
#define EIO 5
#define EBADF 9
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOSPC 28
#define ESPIPE 29
#define EDOM 33
#define ERANGE 34
#define ENOSYS 38

#endif /* HV_SDK_ERRNO_H */
