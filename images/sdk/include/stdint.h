/* stdint.h - the fixed-width integer types, from GCC's own definitions.
 *
 * hv cc compiles in hosted mode (so main() without a return gives 0), and in
 * hosted mode GCC's stdint.h defers to the C library's, of which there is
 * none for i386 here; GCC's freestanding stdint-gcc.h is what it would use
 * otherwise. */
#ifndef HV_SDK_STDINT_H
#define HV_SDK_STDINT_H

#include <stdint-gcc.h>

#endif /* HV_SDK_STDINT_H */
