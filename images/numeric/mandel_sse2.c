/* hv-variants: O0 O2 Os */
/* hv-cflags: -msse2 -mfpmath=sse -fno-math-errno */
/* mandel_sse2.c - mandel.h in SSE2 scalar (and, where gcc vectorizes, packed) code. */
#include "mandel.h"
