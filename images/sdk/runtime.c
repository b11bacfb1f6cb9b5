/* runtime.c - what crt0 hands over: the multiboot registers, the command
 * line, and (on the Linux target) the program's arguments standing in for
 * the command line; main's argc and argv; the assert() failure path. */
#include <assert.h>
#include <hv_guest.h>
#include <hv_test.h>

#include "hv_libc.h"

uint32_t hv_multiboot_magic;
#ifndef HV_TARGET_LINUX
uint8_t hv_on_hv = 1;           /* crt0 sets it; 1 until then */

void hv__debugcon_write(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    for (size_t k = 0; k < len; k++)
        hv_outb(HV_DEBUG_CONSOLE_PORT, p[k]);
}

void hv__exit_ports(int status)
{
    hv_outb(HV_DEBUG_EXIT_PORT, (uint8_t)status);
    /* No isa-debug-exit device: power off through ACPI (status 0). */
    __asm__ volatile("outw %0, %1" : : "a"((uint16_t)0x2000), "Nd"((uint16_t)0x604));
    for (;;)
        __asm__ volatile("cli; hlt");
}
#endif
struct hv_multiboot_info *hv_multiboot_info;

#ifdef HV_TARGET_LINUX
/* argv[1..] joined by spaces; see hv_cmdline(). */
static char linux_cmdline[1024];

static void linux_init(uint32_t *initial_sp)
{
    uint32_t argc = initial_sp[0];
    char **argv = (char **)(initial_sp + 1);
    size_t used = 0;
    uint32_t i;

    for (i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (used + n + 2 > sizeof(linux_cmdline))
            break;    /* keep whole words only */
        if (used)
            linux_cmdline[used++] = ' ';
        memcpy(linux_cmdline + used, argv[i], n);
        used += n;
    }
    linux_cmdline[used] = 0;
}
#endif

const char *hv_cmdline(void)
{
#ifdef HV_TARGET_LINUX
    return linux_cmdline;
#else
    const struct hv_multiboot_info *mb = hv_multiboot();

    if (!mb || !(mb->flags & HV_MB_INFO_CMDLINE) || !mb->cmdline)
        return "";
    return (const char *)(uintptr_t)mb->cmdline;
#endif
}

const char *hv_cmdline_value(const char *key)
{
    const char *p = hv_cmdline();
    size_t n = strlen(key);

    while (*p) {
        while (*p == ' ')
            p++;
        if (strncmp(p, key, n) == 0 && p[n] == '=')
            return p + n + 1;
        while (*p && *p != ' ')
            p++;
    }
    return NULL;
}

/* ---- main's arguments --------------------------------------------------
 *
 * main(argc, argv, envp) gets the command line's words with the `hv.` words
 * (hv.test=NAME and the like, the SDK's own business) taken out, argv[argc]
 * == NULL and an empty environment.  On hv, argv[0] is the name the image
 * was linked under (hv cc defines hv_image_name); another multiboot loader
 * (QEMU -kernel, GRUB) puts the kernel's path first on the command line, and
 * that word is argv[0].  On Linux the kernel's argv is filtered in place. */

int main(int argc, char **argv, char **envp);
extern const char hv_image_name[] __attribute__((weak));
static char *empty_environment[1];

static bool is_sdk_word(const char *word)
{
    return strncmp(word, "hv.", 3) == 0;
}

#ifndef HV_TARGET_LINUX
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/* Words in s: runs of non-blanks. */
static size_t count_words(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        if (!is_blank(*s) && (s[1] == 0 || is_blank(s[1])))
            n++;
    }
    return n;
}

/* Cuts line (a writable copy) into words at its blanks; appends each word
 * that is not an SDK word to argv from index argc and returns the new argc. */
static int split_words(char *line, char **argv, int argc, bool keep_first)
{
    char *p = line;

    while (*p) {
        char *word;
        while (is_blank(*p))
            p++;
        if (!*p)
            break;
        word = p;
        while (*p && !is_blank(*p))
            p++;
        if (*p)
            *p++ = 0;
        if (keep_first || !is_sdk_word(word))
            argv[argc++] = word;
        keep_first = false;
    }
    return argc;
}
#endif

/* Called by crt0 (on Linux with the initial stack: argc, argv[0], ...). */
__attribute__((noreturn)) void hv__start_main(uint32_t *initial_sp);

void hv__start_main(uint32_t *initial_sp)
{
    char **argv;
    int argc = 0;
#ifdef HV_TARGET_LINUX
    int n = (int)initial_sp[0];

    linux_init(initial_sp);
    argv = (char **)(initial_sp + 1);
    for (int i = 0; i < n; i++) {
        if (i == 0 || !is_sdk_word(argv[i]))
            argv[argc++] = argv[i];
    }
#else
    /* The words live on the stack for as long as main runs: a copy, since
     * programs may write to their arguments.  Off hv the stack is crt0's
     * own 16 KiB, so a very long command line is cut there. */
    const char *line = hv_cmdline();
    size_t len = strnlen(line, hv_on_hv ? 0x6000 : 4096);
    char *copy = __builtin_alloca(len + 1);
    bool loader_named_us = !hv_on_hv && len > 0;

    (void)initial_sp;
    memcpy(copy, line, len);
    copy[len] = 0;
    argv = __builtin_alloca((count_words(copy) + 2) * sizeof(char *));
    if (!loader_named_us)
        argv[argc++] = (char *)(uintptr_t)(hv_image_name ? hv_image_name : "");
    argc = split_words(copy, argv, argc, loader_named_us);
#endif
    argv[argc] = NULL;
    exit(main(argc, argv, empty_environment));
}

void hv_assert_fail(const char *expr, const char *file, int line)
{
    printf("%s:%d: assertion failed: %s\n", file, line, expr);
    hv_exit(134);
}
