/* trivial.c - 1000 test cases that pass at once, t000 ... t999: a benchmark
 * for the cost of one test (a fresh guest per test) and of collection. */
#include <hv_test.h>

static volatile unsigned counter;

/* Ten tests named prefix0 ... prefix9. */
#define TEN(prefix)                                                            \
    HV_TEST(prefix##0) { counter++; }                                          \
    HV_TEST(prefix##1) { counter++; }                                          \
    HV_TEST(prefix##2) { counter++; }                                          \
    HV_TEST(prefix##3) { counter++; }                                          \
    HV_TEST(prefix##4) { counter++; }                                          \
    HV_TEST(prefix##5) { counter++; }                                          \
    HV_TEST(prefix##6) { counter++; }                                          \
    HV_TEST(prefix##7) { counter++; }                                          \
    HV_TEST(prefix##8) { counter++; }                                          \
    HV_TEST(prefix##9) { counter++; }

/* A hundred tests named prefix00 ... prefix99. */
#define HUNDRED(prefix)                                                        \
    TEN(prefix##0) TEN(prefix##1) TEN(prefix##2) TEN(prefix##3) TEN(prefix##4) \
    TEN(prefix##5) TEN(prefix##6) TEN(prefix##7) TEN(prefix##8) TEN(prefix##9)

HUNDRED(t0)
HUNDRED(t1)
HUNDRED(t2)
HUNDRED(t3)
HUNDRED(t4)
HUNDRED(t5)
HUNDRED(t6)
HUNDRED(t7)
HUNDRED(t8)
HUNDRED(t9)
