/* inttypes.h - printf and scanf macros for the fixed-width integers (i386:
 * int32_t is int, int64_t is long long). */
#ifndef HV_SDK_INTTYPES_H
#define HV_SDK_INTTYPES_H

#include <stdint.h>

#define PRId8 "d"
#define PRId16 "d"
#define PRId32 "d"
#define PRId64 "lld"
#define PRIi8 "i"
#define PRIi16 "i"
#define PRIi32 "i"
#define PRIi64 "lli"
#define PRIu8 "u"
#define PRIu16 "u"
#define PRIu32 "u"
#define PRIu64 "llu"
#define PRIo8 "o"
#define PRIo16 "o"
#define PRIo32 "o"
#define PRIo64 "llo"
#define PRIx8 "x"
#define PRIx16 "x"
#define PRIx32 "x"
#define PRIx64 "llx"
#define PRIX8 "X"
#define PRIX16 "X"
#define PRIX32 "X"
#define PRIX64 "llX"
#define PRIdPTR "d"
#define PRIuPTR "u"
#define PRIxPTR "x"
#define PRIdMAX "lld"
#define PRIuMAX "llu"
#define PRIxMAX "llx"

typedef struct { intmax_t quot, rem; } imaxdiv_t;

static inline intmax_t imaxabs(intmax_t v) { return v < 0 ? -v : v; }
static inline imaxdiv_t imaxdiv(intmax_t a, intmax_t b)
{
    imaxdiv_t r = { a / b, a % b };
    return r;
}

#endif /* HV_SDK_INTTYPES_H */
