/* hv-cflags: -msse2 -mfpmath=sse -fno-math-errno */
/* nbody_sse2.c - the nbody benchmark (nbody.h) in SSE2 code. */
#include "nbody.h"
