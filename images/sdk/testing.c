/* testing.c - the test runner behind hv_test.h, and the weak main() that
 * starts it, so a suite of HV_TEST cases needs no main of its own. */
#include <hv_guest.h>
#include <hv_test.h>

#include "hv_libc.h"

/* ---- Test cases (hv_test.h) ----------------------------------------------
 *
 * The descriptors lie between two linker symbols: link.ld defines
 * __hv_tests_start/__hv_tests_end around .hv_tests; on the Linux target the
 * linker defines __start_hv_tests/__stop_hv_tests.  They are weak, so an
 * image linked some other way, or without tests, just has none.
 */
#ifdef HV_TARGET_LINUX
extern const struct hv_test __start_hv_tests[] __attribute__((weak));
extern const struct hv_test __stop_hv_tests[] __attribute__((weak));
#define TESTS_BEGIN __start_hv_tests
#define TESTS_END __stop_hv_tests
#else
extern const struct hv_test __hv_tests_start[] __attribute__((weak));
extern const struct hv_test __hv_tests_end[] __attribute__((weak));
#define TESTS_BEGIN __hv_tests_start
#define TESTS_END __hv_tests_end
#endif

#define TEST_NAME_MAX 200         /* longest hv.test= value we quote back */
#define VALUE_TEXT_MAX 512        /* one value in a report (the host keeps 1023) */
#define MESSAGE_MAX 768

/* A minimal setjmp/longjmp, so that when every test runs in one boot a
 * failed assertion can return to the runner.  The buffer keeps the
 * callee-saved registers, the stack pointer and the return address. */
typedef uint32_t test_jmp_buf[6];
int hv_test__setjmp(test_jmp_buf env) __attribute__((returns_twice));
__attribute__((noreturn)) void hv_test__longjmp(test_jmp_buf env, int value);

__asm__(".text\n"
        ".globl hv_test__setjmp\n"
        ".type hv_test__setjmp, @function\n"
        "hv_test__setjmp:\n"
        "    movl 4(%esp), %eax\n"
        "    movl %ebx, 0(%eax)\n"
        "    movl %esi, 4(%eax)\n"
        "    movl %edi, 8(%eax)\n"
        "    movl %ebp, 12(%eax)\n"
        "    leal 4(%esp), %ecx\n"         /* ESP once we have returned */
        "    movl %ecx, 16(%eax)\n"
        "    movl (%esp), %ecx\n"          /* the return address */
        "    movl %ecx, 20(%eax)\n"
        "    xorl %eax, %eax\n"
        "    ret\n"
        ".size hv_test__setjmp, . - hv_test__setjmp\n"
        ".globl hv_test__longjmp\n"
        ".type hv_test__longjmp, @function\n"
        "hv_test__longjmp:\n"
        "    movl 4(%esp), %edx\n"
        "    movl 8(%esp), %eax\n"
        "    movl 0(%edx), %ebx\n"
        "    movl 4(%edx), %esi\n"
        "    movl 8(%edx), %edi\n"
        "    movl 12(%edx), %ebp\n"
        "    movl 16(%edx), %esp\n"
        "    jmp *20(%edx)\n"
        ".size hv_test__longjmp, . - hv_test__longjmp\n");

static const struct hv_test *test_current;     /* the test now running */
static bool test_resume;                      /* run-all mode: jump back, don't exit */
static test_jmp_buf test_jmp;
static char test_lhs[VALUE_TEXT_MAX];
static char test_rhs[VALUE_TEXT_MAX];
static char test_message[MESSAGE_MAX];

/* The table's bounds as plain numbers: they are two different symbols, so
 * comparing them as pointers would be undefined (and GCC may fold it); the
 * empty asm hides where the values come from. */
static uintptr_t tests_address(const struct hv_test *symbol)
{
    uintptr_t address = (uintptr_t)symbol;

    __asm__("" : "+r"(address));
    return address;
}

size_t hv_test_count(void)
{
    uintptr_t begin = tests_address(TESTS_BEGIN), end = tests_address(TESTS_END);

    if (!begin || end <= begin)
        return 0;
    return (end - begin) / sizeof(struct hv_test);
}

const struct hv_test *hv_test_get(size_t index)
{
    const struct hv_test *t;

    if (index >= hv_test_count())
        return NULL;
    t = (const struct hv_test *)(tests_address(TESTS_BEGIN) + index * sizeof(*t));
    return t->magic == HV_TEST_MAGIC ? t : NULL;
}

/* The test whose name is the n bytes at name. */
static const struct hv_test *test_find_n(const char *name, size_t n)
{
    const struct hv_test *t = (const struct hv_test *)tests_address(TESTS_BEGIN);
    size_t count = hv_test_count();

    for (; count--; t++) {
        const char *a = t->name, *b = name, *end = name + n;

        if (t->magic != HV_TEST_MAGIC)
            continue;
        while (b < end && *a == *b) {
            a++;
            b++;
        }
        if (b == end && *a == 0)
            return t;
    }
    return NULL;
}

const struct hv_test *hv_test_find(const char *name)
{
    return test_find_n(name, strlen(name));
}

static const char *const outcome_word[] = { "PASS", "FAIL", "SKIP" };

/*
 * Print the test's line, flush the console, then make the TEST_RESULT
 * hypercall, so that the console is complete when the host sees the result.
 * The line: OUTCOME [name]: [file:line: ][expr][ (lhs vs rhs)][: message]
 */
static void test_report(uint32_t outcome, const char *name, const char *file, int line,
                        const char *expr, const char *lhs, const char *rhs, const char *message)
{
    struct hv_test_record rec = {
        HV_GPA(file), (uint32_t)line, HV_GPA(expr), HV_GPA(lhs), HV_GPA(rhs),
        HV_GPA(message), 0,
    };
    const char *sep = "";

    if (hv_console_mid_line())
        printf("\n");
    printf("%s", outcome_word[outcome]);
    if (name)
        printf(" %s", name);
    if (outcome != HV_TEST_PASS) {
        printf(":");
        if (file)
            printf(" %s:%d:", file, line);
        if (expr) {
            printf(" %s", expr);
            if (lhs && rhs)
                printf(" (%s vs %s)", lhs, rhs);
            sep = ":";
        }
        if (message)
            printf("%s %s", sep, message);
    }
    printf("\n");
    hv_flush();
    hv_test_result(outcome, &rec);
}

/* End the running test with a failure or skip that has been reported. */
__attribute__((noreturn)) static void test_stop(uint32_t outcome)
{
    if (test_resume)
        hv_test__longjmp(test_jmp, 1 + (int)outcome);
    hv_exit(outcome == HV_TEST_FAIL ? 1 : 0);
}

__attribute__((noreturn)) static void test_end(uint32_t outcome, const char *file, int line,
                                              const char *expr, const char *lhs,
                                              const char *rhs, const char *message)
{
    test_report(outcome, test_current ? test_current->name : NULL, file, line, expr, lhs,
                rhs, message);
    test_stop(outcome);
}

static void format_value(char *buf, size_t size, struct hv_test_value value)
{
    switch (value.kind) {
    case HV_TEST_SIGNED:
        snprintf(buf, size, "%lld", value.v.s);
        break;
    case HV_TEST_UNSIGNED:
        snprintf(buf, size, "%llu", value.v.u);
        break;
    case HV_TEST_POINTER:
        snprintf(buf, size, "0x%08llx", value.v.u);
        break;
    }
}

/* s as a C string literal, quotes included, cut short with ... if long. */
static void format_string(char *buf, size_t size, const char *s)
{
    size_t used = 0;

    if (!s) {
        snprintf(buf, size, "NULL");
        return;
    }
    buf[used++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        int n;

        if (c == '"' || c == '\\')
            n = snprintf(esc, sizeof(esc), "\\%c", c);
        else if (c == '\n')
            n = snprintf(esc, sizeof(esc), "\\n");
        else if (c == '\t')
            n = snprintf(esc, sizeof(esc), "\\t");
        else if (c == '\r')
            n = snprintf(esc, sizeof(esc), "\\r");
        else if (c < 0x20 || c >= 0x7f)
            n = snprintf(esc, sizeof(esc), "\\x%02x", c);
        else
            n = snprintf(esc, sizeof(esc), "%c", c);
        if (used + (size_t)n + 5 > size) {    /* room for "... and the NUL */
            memcpy(buf + used, "\"...", 5);
            return;
        }
        memcpy(buf + used, esc, (size_t)n);
        used += (size_t)n;
    }
    buf[used++] = '"';
    buf[used] = 0;
}

/* Up to 16 bytes from p in hex, with ... if n is more. */
static void format_bytes(char *buf, size_t size, const unsigned char *p, size_t n)
{
    size_t i, used = 0, shown = n < 16 ? n : 16;

    buf[0] = 0;
    for (i = 0; i < shown && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%02x", i ? " " : "", p[i]);
    if (shown < n && used < size)
        snprintf(buf + used, size - used, " ...");
}

void hv_test__fail_expr(const char *file, int line, const char *expr)
{
    hv_flush();
    test_end(HV_TEST_FAIL, file, line, expr, NULL, NULL, NULL);
}

void hv_test__fail_cmp(const char *file, int line, const char *expr, struct hv_test_value a,
                       struct hv_test_value b)
{
    hv_flush();
    format_value(test_lhs, sizeof(test_lhs), a);
    format_value(test_rhs, sizeof(test_rhs), b);
    test_end(HV_TEST_FAIL, file, line, expr, test_lhs, test_rhs, NULL);
}

bool hv_test__streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

void hv_test__fail_str(const char *file, int line, const char *expr, const char *a,
                       const char *b)
{
    hv_flush();
    format_string(test_lhs, sizeof(test_lhs), a);
    format_string(test_rhs, sizeof(test_rhs), b);
    test_end(HV_TEST_FAIL, file, line, expr, test_lhs, test_rhs, NULL);
}

void hv_test__fail_mem(const char *file, int line, const char *expr, const void *a,
                       const void *b, size_t n)
{
    const unsigned char *pa = a, *pb = b;
    size_t at = 0;

    hv_flush();
    while (at < n && pa[at] == pb[at])
        at++;
    format_bytes(test_lhs, sizeof(test_lhs), pa + at, n - at);
    format_bytes(test_rhs, sizeof(test_rhs), pb + at, n - at);
    snprintf(test_message, sizeof(test_message), "first difference at byte %zu of %zu", at, n);
    test_end(HV_TEST_FAIL, file, line, expr, test_lhs, test_rhs, test_message);
}

/* HV_FAIL and HV_SKIP: a printf-style message and nothing else. */
__attribute__((noreturn)) static void end_with_message(uint32_t outcome, const char *file,
                                                     int line, const char *fmt,
                                                     va_list ap)
{
    hv_flush();
    vsnprintf(test_message, sizeof(test_message), fmt, ap);
    test_end(outcome, file, line, NULL, NULL, NULL, test_message);
}

void hv_test__fail_msg(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_with_message(HV_TEST_FAIL, file, line, fmt, ap);
    va_end(ap);
}

void hv_test__skip(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    end_with_message(HV_TEST_SKIP, file, line, fmt, ap);
    va_end(ap);
}

/* Run one test; returns its outcome.  With resume set, a failure or skip
 * comes back here through hv_test__longjmp; otherwise it exits the guest. */
static uint32_t test_run(const struct hv_test *t, bool resume)
{
    int jumped;

    test_current = t;
    test_resume = resume;
    jumped = resume ? hv_test__setjmp(test_jmp) : 0;
    if (jumped) {
        test_current = NULL;
        test_resume = false;
        return (uint32_t)(jumped - 1);
    }
    t->fn();
    hv_flush();
    test_report(HV_TEST_PASS, t->name, t->file, (int)t->line, NULL, NULL, NULL, NULL);
    test_current = NULL;
    test_resume = false;
    return HV_TEST_PASS;
}

int hv_test_main(void)
{
    const char *want = hv_cmdline_value("hv.test");
    size_t i, count = hv_test_count();
    unsigned tally[3] = { 0, 0, 0 };

    if (want) {
        size_t n = 0;
        const struct hv_test *t;

        while (want[n] && want[n] != ' ')
            n++;
        t = test_find_n(want, n);
        if (!t) {
            snprintf(test_message, sizeof(test_message), "no test named %.*s",
                     (int)(n < TEST_NAME_MAX ? n : TEST_NAME_MAX), want);
            test_report(HV_TEST_FAIL, NULL, NULL, 0, NULL, NULL, NULL, test_message);
            return 1;
        }
        return test_run(t, false) == HV_TEST_FAIL ? 1 : 0;
    }

    for (i = 0; i < count; i++) {
        const struct hv_test *t = hv_test_get(i);
        if (t)
            tally[test_run(t, true)]++;
    }
    printf("%u passed, %u failed, %u skipped\n", tally[HV_TEST_PASS], tally[HV_TEST_FAIL],
           tally[HV_TEST_SKIP]);
    return tally[HV_TEST_FAIL] ? 1 : 0;
}

/* A suite needs no main(): this one runs its tests.  A guest that defines
 * main() gets its own instead (and may call hv_test_main() from it). */
__attribute__((weak)) int main(void);

__attribute__((weak)) int main(void)
{
    return hv_test_main();
}
