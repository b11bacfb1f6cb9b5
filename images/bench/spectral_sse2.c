/* hv-cflags: -msse2 -mfpmath=sse -fno-math-errno */
/* spectral_sse2.c - the spectral benchmark (spectral.h) in SSE2 code. */
#include "spectral.h"
