/* hv-variants: O0 O2 Os */
/* hv-cflags: -fno-math-errno */
/* matinv_x87.c - matinv.h on the x87, gcc's -m32 default. */
#include "matinv.h"
