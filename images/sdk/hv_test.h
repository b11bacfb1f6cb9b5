/*
 * hv_test.h - test cases inside a guest image (Guest ABI v1, "Test cases").
 *
 *     #include <hv_test.h>
 *
 *     HV_TEST(adds_small_numbers)
 *     {
 *         HV_ASSERT_EQ(add(2, 2), 4);
 *     }
 *
 *     HV_TEST_MARKED(fills_the_whole_arena, "slow")
 *     {
 *         ...
 *     }
 *
 * Each HV_TEST puts a 32-byte descriptor in the ELF section .hv_tests, so a
 * host (the pytest plugin) can list the tests without running the image.
 * The SDK's weak main() runs the one test named by `hv.test=NAME` on the
 * command line, or every test when there is none; a suite needs no main().
 * Each outcome is reported with the TEST_RESULT hypercall and printed as one
 * console line.  Exit status: 0 passed or skipped, 1 failed.
 *
 * The assertions compare integers (signed or unsigned, any width) and
 * pointers; each operand is evaluated exactly once.  A failure reports the
 * expression as written and both values, then ends the test: the guest exits
 * with status 1 (when one test runs) or the runner goes on with the next
 * test (when all of them run).
 */
#ifndef HV_TEST_H
#define HV_TEST_H

#include <hv_guest.h>
#include <limits.h>

/* ---- The descriptor table. ---------------------------------------------- */

#define HV_TEST_MAGIC 0x31545648u    /* "HVT1" read as little-endian bytes */

/* One test case; 32 bytes, 4-byte aligned, in section .hv_tests (see
 * docs/abi.md).  Addresses are guest-physical (= virtual) addresses. */
struct hv_test {
    uint32_t magic;              /* HV_TEST_MAGIC */
    const char *name;            /* the C identifier given to HV_TEST */
    void (*fn)(void);            /* the test body */
    const char *file;            /* __FILE__ where the test is defined */
    uint32_t line;               /* __LINE__ of the HV_TEST line */
    const char *markers;         /* "slow,xfail" or "" */
    uint32_t reserved[2];        /* 0 */
};

_Static_assert(sizeof(struct hv_test) == 32, "a test descriptor is 32 bytes");

/* The Linux target has no linker script; there the section gets a name that
 * is a C identifier, so the linker supplies __start_/__stop_ symbols. */
#ifdef HV_TARGET_LINUX
#define HV_TEST__SECTION "hv_tests"
#else
#define HV_TEST__SECTION ".hv_tests"
#endif

/*
 * HV_TEST_MARKED(name, markers) defines the test `name` (a C identifier,
 * unique in the image) with a comma-separated marker list, a string literal
 * such as "slow" or "slow,xfail".  The body follows as a function body.
 *
 * The body becomes the global function hv_test__<name>, so a second test of
 * the same name is a compile error (same file) or a link error (another
 * file).  `no_reorder` keeps the descriptors of a file in source order.
 */
#define HV_TEST_MARKED(name, markers)                                          \
    void hv_test__##name(void);                                                \
    static const struct hv_test hv_test__desc_##name                           \
        __attribute__((used, no_reorder, aligned(4),                           \
                       section(HV_TEST__SECTION))) = {                         \
        HV_TEST_MAGIC, #name, hv_test__##name, __FILE__, __LINE__,             \
        "" markers "", { 0, 0 }                                                \
    };                                                                         \
    void hv_test__##name(void)

#define HV_TEST(name) HV_TEST_MARKED(name, "")

/* The tests of this image in table order (link order, then source order). */
size_t hv_test_count(void);
const struct hv_test *hv_test_get(size_t index);

/* The test called name, or NULL. */
const struct hv_test *hv_test_find(const char *name);

/* What the SDK's weak main() does: run the test named by hv.test=NAME on
 * the command line, or all tests in table order.  Returns the exit status
 * (0 when nothing failed, 1 otherwise).  A guest with its own main() can
 * call it. */
int hv_test_main(void);

/* ---- Assertions. -------------------------------------------------------- */

/* An operand of a comparison, converted without losing its value or its
 * signedness. */
enum hv_test_kind { HV_TEST_SIGNED, HV_TEST_UNSIGNED, HV_TEST_POINTER };

struct hv_test_value {
    enum hv_test_kind kind;
    union {
        long long s;
        unsigned long long u;
    } v;
};

static inline struct hv_test_value hv_test__sval(long long x)
{
    struct hv_test_value r = { HV_TEST_SIGNED, { .s = x } };
    return r;
}

static inline struct hv_test_value hv_test__uval(unsigned long long x)
{
    struct hv_test_value r = { HV_TEST_UNSIGNED, { .u = x } };
    return r;
}

/* access(none): only the address is used, so GCC must not treat a pointer
 * to an object not yet written as a read of it (-Wmaybe-uninitialized). */
__attribute__((access(none, 1)))
static inline struct hv_test_value hv_test__pval(const volatile void *p)
{
    struct hv_test_value r = { HV_TEST_POINTER, { .u = (uintptr_t)p } };
    return r;
}

#if CHAR_MIN < 0
#define hv_test__cval hv_test__sval
#else
#define hv_test__cval hv_test__uval
#endif

/* Picks the converter by the operand's type, then calls it with the operand:
 * only the chosen one ever sees it, so no branch needs a cast.  Pointers
 * (and arrays, which decay) take the default.  Bit-fields need a cast. */
#define HV_TEST__VALUE(x)                                                      \
    _Generic((x),                                                              \
        _Bool: hv_test__uval,                                                  \
        char: hv_test__cval,                                                   \
        signed char: hv_test__sval,                                            \
        short: hv_test__sval,                                                  \
        int: hv_test__sval,                                                    \
        long: hv_test__sval,                                                   \
        long long: hv_test__sval,                                              \
        unsigned char: hv_test__uval,                                          \
        unsigned short: hv_test__uval,                                         \
        unsigned int: hv_test__uval,                                           \
        unsigned long: hv_test__uval,                                          \
        unsigned long long: hv_test__uval,                                     \
        default: hv_test__pval)(x)

enum hv_test_op { HV_TEST_EQ, HV_TEST_NE, HV_TEST_LT, HV_TEST_LE, HV_TEST_GT, HV_TEST_GE };

/* Compares by value: a negative signed number is less than every unsigned
 * one, where C's usual conversions would make -1 == 4294967295u. */
static inline bool hv_test__compare(enum hv_test_op op, struct hv_test_value a,
                                    struct hv_test_value b)
{
    int order;

    if (a.kind == HV_TEST_SIGNED && b.kind == HV_TEST_SIGNED)
        order = (a.v.s > b.v.s) - (a.v.s < b.v.s);
    else if (a.kind == HV_TEST_SIGNED && a.v.s < 0)
        order = -1;
    else if (b.kind == HV_TEST_SIGNED && b.v.s < 0)
        order = 1;
    else
        order = (a.v.u > b.v.u) - (a.v.u < b.v.u);

    switch (op) {
    case HV_TEST_EQ: return order == 0;
    case HV_TEST_NE: return order != 0;
    case HV_TEST_LT: return order < 0;
    case HV_TEST_LE: return order <= 0;
    case HV_TEST_GT: return order > 0;
    case HV_TEST_GE: return order >= 0;
    }
    return false;
}

/* The failure paths (runtime.c).  None returns to its caller. */
__attribute__((noreturn)) void hv_test__fail_expr(const char *file, int line, const char *expr);
__attribute__((noreturn)) void hv_test__fail_cmp(const char *file, int line, const char *expr,
                                                 struct hv_test_value a,
                                                 struct hv_test_value b);
__attribute__((noreturn)) void hv_test__fail_str(const char *file, int line, const char *expr,
                                                 const char *a, const char *b);
__attribute__((noreturn)) void hv_test__fail_mem(const char *file, int line, const char *expr,
                                                 const void *a, const void *b, size_t n);
__attribute__((noreturn, format(printf, 3, 4)))
void hv_test__fail_msg(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 3, 4)))
void hv_test__skip(const char *file, int line, const char *fmt, ...);

bool hv_test__streq(const char *a, const char *b);

/* The expression text is made here, in the macro the user wrote, so that it
 * shows the operands as written (before their macros expand). */
#define HV_TEST__CMP(op, a, b, text)                                           \
    do {                                                                       \
        const struct hv_test_value hv_test__a = HV_TEST__VALUE(a);             \
        const struct hv_test_value hv_test__b = HV_TEST__VALUE(b);             \
        if (!hv_test__compare(op, hv_test__a, hv_test__b))                     \
            hv_test__fail_cmp(__FILE__, __LINE__, text, hv_test__a, hv_test__b); \
    } while (0)

/* HV_ASSERT(expr): fails with the expression's text when it is false. */
#define HV_ASSERT(expr)                                                        \
    do {                                                                       \
        if (!(expr))                                                           \
            hv_test__fail_expr(__FILE__, __LINE__, #expr);                     \
    } while (0)

/* Comparisons of two integers or pointers; the report shows both values
 * (decimal, signed or unsigned as their types are; pointers in hex). */
#define HV_ASSERT_EQ(a, b) HV_TEST__CMP(HV_TEST_EQ, a, b, #a " == " #b)
#define HV_ASSERT_NE(a, b) HV_TEST__CMP(HV_TEST_NE, a, b, #a " != " #b)
#define HV_ASSERT_LT(a, b) HV_TEST__CMP(HV_TEST_LT, a, b, #a " < " #b)
#define HV_ASSERT_LE(a, b) HV_TEST__CMP(HV_TEST_LE, a, b, #a " <= " #b)
#define HV_ASSERT_GT(a, b) HV_TEST__CMP(HV_TEST_GT, a, b, #a " > " #b)
#define HV_ASSERT_GE(a, b) HV_TEST__CMP(HV_TEST_GE, a, b, #a " >= " #b)

/* Two NUL-terminated strings are equal (NULL equals only NULL); the report
 * shows both quoted, with C escapes. */
#define HV_ASSERT_STREQ(a, b)                                                  \
    do {                                                                       \
        const char *hv_test__sa = (a);                                         \
        const char *hv_test__sb = (b);                                         \
        if (!hv_test__streq(hv_test__sa, hv_test__sb))                         \
            hv_test__fail_str(__FILE__, __LINE__, "strcmp(" #a ", " #b ") == 0", \
                              hv_test__sa, hv_test__sb);                       \
    } while (0)

/* n bytes at a and b are equal; the report shows the bytes from the first
 * difference on (in hex) and its offset. */
#define HV_ASSERT_MEMEQ(a, b, n)                                               \
    do {                                                                       \
        const void *hv_test__ma = (a);                                         \
        const void *hv_test__mb = (b);                                         \
        size_t hv_test__mn = (n);                                              \
        if (memcmp(hv_test__ma, hv_test__mb, hv_test__mn) != 0)                \
            hv_test__fail_mem(__FILE__, __LINE__,                              \
                              "memcmp(" #a ", " #b ", " #n ") == 0",           \
                              hv_test__ma, hv_test__mb, hv_test__mn);          \
    } while (0)

/* Fail, or skip, the running test with a printf-style message. */
#define HV_FAIL(...) hv_test__fail_msg(__FILE__, __LINE__, __VA_ARGS__)
#define HV_SKIP(...) hv_test__skip(__FILE__, __LINE__, __VA_ARGS__)

#endif /* HV_TEST_H */
