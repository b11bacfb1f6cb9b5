/* test_fmt.c - tests of the integer formatter (fmt.c). */
#include <hv_test.h>

#include "fmt.h"

static char buf[80];

/* fmt_utoa/fmt_itoa into buf with a roomy size, returning buf. */
static const char *u(uint64_t value, unsigned base, unsigned width, char pad)
{
    int n = fmt_utoa(buf, sizeof(buf), value, base, width, pad);

    HV_ASSERT_GE(n, 0);
    HV_ASSERT_EQ((size_t)n, strlen(buf));
    return buf;
}

static const char *s(int64_t value, unsigned base, unsigned width, char pad)
{
    int n = fmt_itoa(buf, sizeof(buf), value, base, width, pad);

    HV_ASSERT_GE(n, 0);
    HV_ASSERT_EQ((size_t)n, strlen(buf));
    return buf;
}

HV_TEST(fmt_decimal_basics)
{
    HV_ASSERT_STREQ(u(0, 10, 0, ' '), "0");
    HV_ASSERT_STREQ(u(7, 10, 0, ' '), "7");
    HV_ASSERT_STREQ(u(42, 10, 0, ' '), "42");
    HV_ASSERT_STREQ(u(1000000, 10, 0, ' '), "1000000");
    HV_ASSERT_STREQ(u(UINT64_MAX, 10, 0, ' '), "18446744073709551615");
}

HV_TEST(fmt_every_base_of_255)
{
    static const char *const want[] = {
        "11111111", "100110", "3333", "2010", "1103", "513", "377", "313", "255",
        "212", "193", "168", "143", "120", "ff", "f0", "e3", "d8", "cf", "c3",
        "bd", "b2", "af", "a5", "9l", "9c", "93", "8n", "8f", "87", "7v", "7o",
        "7h", "7a", "73",
    };
    unsigned base;

    for (base = FMT_BASE_MIN; base <= FMT_BASE_MAX; base++)
        HV_ASSERT_STREQ(u(255, base, 0, ' '), want[base - FMT_BASE_MIN]);
}

HV_TEST(fmt_largest_values_in_extreme_bases)
{
    char ones[65];

    memset(ones, '1', 64);
    ones[64] = 0;
    HV_ASSERT_STREQ(u(UINT64_MAX, 2, 0, ' '), ones);
    HV_ASSERT_STREQ(u(UINT64_MAX, 16, 0, ' '), "ffffffffffffffff");
    HV_ASSERT_STREQ(u(UINT64_MAX, 36, 0, ' '), "3w5e11264sgsf");
    HV_ASSERT_STREQ(u(35, 36, 0, ' '), "z");
    HV_ASSERT_STREQ(u(36, 36, 0, ' '), "10");
}

HV_TEST(fmt_negative_numbers_and_limits)
{
    HV_ASSERT_STREQ(s(-1, 10, 0, ' '), "-1");
    HV_ASSERT_STREQ(s(-255, 16, 0, ' '), "-ff");
    HV_ASSERT_STREQ(s(INT64_MAX, 10, 0, ' '), "9223372036854775807");
    HV_ASSERT_STREQ(s(INT64_MIN, 10, 0, ' '), "-9223372036854775808");
    HV_ASSERT_STREQ(s(INT64_MIN, 16, 0, ' '), "-8000000000000000");
    HV_ASSERT_STREQ(s(0, 2, 0, ' '), "0");
}

HV_TEST(fmt_width_pads_on_the_left)
{
    HV_ASSERT_STREQ(u(42, 10, 6, ' '), "    42");
    HV_ASSERT_STREQ(u(42, 10, 6, '0'), "000042");
    HV_ASSERT_STREQ(u(5, 2, 8, '0'), "00000101");
    HV_ASSERT_STREQ(u(255, 16, 4, '.'), "..ff");
}

HV_TEST(fmt_zero_padding_goes_after_the_sign)
{
    HV_ASSERT_STREQ(s(-42, 10, 5, '0'), "-0042");
    HV_ASSERT_STREQ(s(-42, 10, 5, ' '), "  -42");
    HV_ASSERT_STREQ(s(-42, 10, 3, '0'), "-42");
    HV_ASSERT_STREQ(s(42, 10, 5, '0'), "00042");
}

HV_TEST(fmt_narrow_width_never_truncates)
{
    HV_ASSERT_STREQ(u(123456, 10, 3, '0'), "123456");
    HV_ASSERT_STREQ(s(-123456, 10, 1, ' '), "-123456");
    HV_ASSERT_STREQ(u(0, 10, 0, '0'), "0");
}

HV_TEST(fmt_rejects_bad_bases)
{
    char out[8] = "junk";

    HV_ASSERT_EQ(fmt_utoa(out, sizeof(out), 5, 0, 0, ' '), -1);
    HV_ASSERT_STREQ(out, "");
    HV_ASSERT_EQ(fmt_utoa(out, sizeof(out), 5, 1, 0, ' '), -1);
    HV_ASSERT_EQ(fmt_itoa(out, sizeof(out), -5, 37, 0, ' '), -1);
    HV_ASSERT_EQ(fmt_utoa(out, sizeof(out), 5, 36, 0, ' '), 1);
}

HV_TEST(fmt_buffer_size_is_exact)
{
    char out[8];

    HV_ASSERT_EQ(fmt_utoa(out, 6, 12345, 10, 0, ' '), 5);       /* 5 digits + NUL */
    HV_ASSERT_STREQ(out, "12345");
    HV_ASSERT_EQ(fmt_utoa(out, 5, 12345, 10, 0, ' '), -1);
    HV_ASSERT_STREQ(out, "");
    HV_ASSERT_EQ(fmt_itoa(out, 4, -12, 10, 3, '0'), 3);
    HV_ASSERT_EQ(fmt_itoa(out, 4, -12, 10, 4, '0'), -1);       /* the padding counts */
    HV_ASSERT_EQ(fmt_utoa(NULL, 0, 1, 10, 0, ' '), -1);         /* size 0: nothing written */
}

/* Format 200 000 values in every base and parse them back with the
 * SDK's strtoull: the two must agree. */
HV_TEST_MARKED(fmt_round_trips_through_strtoull, "slow")
{
    uint64_t value = 1;
    unsigned i;

    for (i = 0; i < 200000; i++) {
        unsigned base = FMT_BASE_MIN + i % (FMT_BASE_MAX - FMT_BASE_MIN + 1);
        char *end;

        value = value * 6364136223846793005ull + 1442695040888963407ull;
        u(value >> (i % 64), base, 0, ' ');
        HV_ASSERT_EQ(strtoull(buf, &end, (int)base), value >> (i % 64));
        HV_ASSERT_EQ(*end, 0);
    }
}
