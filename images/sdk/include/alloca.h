/* alloca.h - stack allocation (-ffreestanding turns GCC's builtin name off). */
#ifndef HV_SDK_ALLOCA_H
#define HV_SDK_ALLOCA_H

#include <stddef.h>

#define alloca(size) __builtin_alloca(size)

#endif /* HV_SDK_ALLOCA_H */
