/* assert.h - assert() for hv guests: a failed assertion prints the
 * expression and its location, then exits with status 134 (like SIGABRT).
 * Like the standard header, assert() follows NDEBUG at each inclusion. */
#ifndef HV_SDK_ASSERT_H
#define HV_SDK_ASSERT_H
__attribute__((noreturn)) void hv_assert_fail(const char *expr, const char *file, int line);
#endif /* HV_SDK_ASSERT_H */

#undef assert
#ifdef NDEBUG
#define assert(expr) ((void)0)
#else
#define assert(expr) ((expr) ? (void)0 : hv_assert_fail(#expr, __FILE__, __LINE__))
#endif
