/* hv-variants: O0 O2 Os */
/* hv-cflags: -fno-math-errno */
/* fft_x87.c - fft.h on the x87, gcc's -m32 default. */
#include "fft.h"
