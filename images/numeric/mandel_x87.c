/* hv-variants: O0 O2 Os */
/* hv-cflags: -fno-math-errno */
/* mandel_x87.c - mandel.h on the x87, gcc's -m32 default. */
#include "mandel.h"
