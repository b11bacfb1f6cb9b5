/* hv-variants: O0 O2 Os */
/* hv-cflags: -msse2 -mfpmath=sse -fno-math-errno */
/* matinv_sse2.c - matinv.h in SSE2 scalar (and, where gcc vectorizes, packed) code. */
#include "matinv.h"
