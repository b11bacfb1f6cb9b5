/* asserts.c - every hv_test.h assertion, failing on purpose, so the reports
 * can be checked exactly (tests/test_sdk_tests.py) and seen by a reader:
 *
 *     hv run --cmdline hv.test=eq_int images/build/suite_asserts.elf
 *
 * The deliberately failing tests are marked "xfail"; the unmarked ones pass.
 */
#include <hv_test.h>

#define LIMIT 10

/* ---- comparisons of integers ---- */

HV_TEST_MARKED(eq_int, "xfail")
{
    int x = 3;

    HV_ASSERT_EQ(x, 4);
}

HV_TEST_MARKED(gt_negative, "xfail")
{
    int x = -5;

    HV_ASSERT_GT(x, 0);
}

HV_TEST_MARKED(eq_unsigned_large, "xfail")
{
    unsigned u = 4000000000u;

    HV_ASSERT_EQ(u, 7u);
}

/* C would convert -1 to 4294967295 and call them equal; the assertions
 * compare values, so this fails and shows both as they are. */
HV_TEST_MARKED(eq_unsigned_max_vs_minus_one, "xfail")
{
    unsigned u = UINT_MAX;
    int m = -1;

    HV_ASSERT_EQ(u, m);
}

HV_TEST_MARKED(eq_int64_extremes, "xfail")
{
    int64_t lo = INT64_MIN;

    HV_ASSERT_EQ(lo, INT64_MAX);
}

HV_TEST_MARKED(lt_uint64_max, "xfail")
{
    uint64_t big = UINT64_MAX;

    HV_ASSERT_LT(big, 0);
}

HV_TEST_MARKED(eq_chars, "xfail")
{
    signed char c = -1;
    unsigned char uc = 255;

    HV_ASSERT_EQ(c, uc);
}

HV_TEST_MARKED(ne_equal, "xfail")
{
    short a = -7;

    HV_ASSERT_NE(a, -7);
}

HV_TEST_MARKED(le_greater, "xfail")
{
    long a = 11;

    HV_ASSERT_LE(a, LIMIT);           /* the report says LIMIT, as written */
}

HV_TEST_MARKED(ge_smaller, "xfail")
{
    unsigned long long a = 1;

    HV_ASSERT_GE(a, 2ull);
}

HV_TEST_MARKED(eq_pointer, "xfail")
{
    const char *p = (const char *)0x1234;

    HV_ASSERT_EQ(p, NULL);
}

/* ---- passing comparisons ---- */

HV_TEST(comparisons_hold)
{
    unsigned u = UINT_MAX;
    int m = -1;
    int array[4];

    HV_ASSERT_LT(m, u);               /* by value: -1 < 4294967295 */
    HV_ASSERT_NE(m, u);
    HV_ASSERT_LE(INT64_MIN, 0);
    HV_ASSERT_GE(UINT64_MAX, INT64_MAX);
    HV_ASSERT_EQ((char)'a', 97);
    HV_ASSERT_EQ(array, &array[0]);
    HV_ASSERT_LT(&array[0], &array[3]);
    HV_ASSERT_NE((void *)array, NULL);
    HV_ASSERT_EQ(true, 1);
}

HV_TEST(operands_are_evaluated_once)
{
    int i = 0, j = 10;

    HV_ASSERT_EQ(i++, 0);
    HV_ASSERT_EQ(i, 1);
    HV_ASSERT_LT(i++, j--);
    HV_ASSERT_EQ(i, 2);
    HV_ASSERT_EQ(j, 9);
    HV_ASSERT_STREQ(i++ ? "yes" : "no", "yes");
    HV_ASSERT_EQ(i, 3);
}

/* ---- the other assertions ---- */

HV_TEST_MARKED(plain_assert, "xfail")
{
    int ready = 0;

    HV_ASSERT(ready == 1 && "the device came up");
}

HV_TEST_MARKED(streq_differs, "xfail")
{
    HV_ASSERT_STREQ("say \"hi\"\n", "say 'hi'\t\x01");
}

HV_TEST_MARKED(streq_null, "xfail")
{
    const char *missing = NULL;

    HV_ASSERT_STREQ(missing, "");
}

HV_TEST_MARKED(memeq_differs, "xfail")
{
    const uint8_t a[6] = { 1, 2, 3, 4, 5, 6 };
    const uint8_t b[6] = { 1, 2, 3, 0xff, 5, 6 };

    HV_ASSERT_MEMEQ(a, b, sizeof(a));
}

HV_TEST_MARKED(fail_message, "xfail")
{
    int got = 42;

    HV_FAIL("got %d (expected %d)", got, 7);
}

HV_TEST(skip_message)
{
    HV_SKIP("needs %s", "a network");
}

/* Console output before a failure comes first, even without a newline. */
HV_TEST_MARKED(output_then_fail, "xfail")
{
    printf("partial line");
    HV_ASSERT(1 + 1 == 3);
}

/* ---- helpers in other functions report where the check is ---- */

static void check_positive(int value)
{
    HV_ASSERT_GT(value, 0);
}

HV_TEST_MARKED(failure_in_a_helper, "xfail")
{
    check_positive(5);
    check_positive(-2);
    HV_FAIL("not reached");
}
