/* hv-cflags: -fno-math-errno */
/* nbody.c - the nbody benchmark (nbody.h) on the x87, gcc's -m32 default. */
#include "nbody.h"
