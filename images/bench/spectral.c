/* hv-cflags: -fno-math-errno */
/* spectral.c - the spectral benchmark (spectral.h) on the x87, gcc's -m32 default. */
#include "spectral.h"
