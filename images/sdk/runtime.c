/* runtime.c - what crt0 hands over: the multiboot registers, the command
 * line, and (on the Linux target) the program's arguments standing in for
 * the command line.  Also the assert() failure path. */
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

/* Called by crt0_linux.S with the initial stack: argc, argv[0], ... */
void hv_linux_init(uint32_t *initial_sp);

void hv_linux_init(uint32_t *initial_sp)
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

void hv_assert_fail(const char *expr, const char *file, int line)
{
    printf("%s:%d: assertion failed: %s\n", file, line, expr);
    hv_exit(134);
}
