/* crashes.c - test cases that misbehave in ways only the host can catch:
 * a CPU exception with no handler, a loop that never ends, a write outside
 * guest RAM, and exits that never report a result.  One test passes.  Run
 * one at a time (hv.test=NAME); running them all stops at the first crash.
 *
 * What the host reports (docs/abi.md), for the tests of the pytest plugin:
 *   passes                    exit 0, one "passed" result
 *   divide_by_zero            killed: unhandled #DE at eip=...
 *   infinite_loop             killed: timeout
 *   write_outside_ram         killed: unhandled #PF at eip=... cr2=0x08000000
 *   exit_without_report       exit 0, no result
 *   exit_3_without_report     exit 3, no result
 *   crash_after_passing       killed (#DE) after a "passed" result
 */
#include <hv_test.h>

HV_TEST(passes)
{
    HV_ASSERT_EQ(6 * 7, 42);
}

HV_TEST(divide_by_zero)
{
    volatile int divisor = 0;
    volatile int result;

    printf("dividing by zero\n");
    result = 100 / divisor;
    printf("still alive: %d\n", result);
}

HV_TEST(infinite_loop)
{
    volatile uint32_t counter = 0;

    printf("looping forever\n");
    for (;;)
        counter++;
}

HV_TEST(write_outside_ram)
{
    volatile uint32_t *beyond = (volatile uint32_t *)0x08000000u;    /* 128 MiB */

    printf("writing 0x08000000\n");
    *beyond = 0xdeadbeef;
    printf("still alive\n");
}

HV_TEST(exit_without_report)
{
    printf("leaving without a word\n");
    hv_exit(0);
}

HV_TEST(exit_3_without_report)
{
    hv_exit(3);
}

/* Reports a pass by hand, then crashes: the host sees a result and a kill. */
HV_TEST(crash_after_passing)
{
    volatile int divisor = 0;
    struct hv_test_record rec = { 0, 0, 0, 0, 0, 0, 0 };

    hv_test_result(HV_TEST_PASS, &rec);
    printf("%d\n", 100 / divisor);
}
