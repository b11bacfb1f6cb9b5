/*
 * hv_guest.h - the public header of the hv guest SDK (Guest ABI v1).
 *
 * A guest is a freestanding 32-bit x86 program.  It includes this one header
 * and gets: the hypercall numbers and a wrapper for every hypercall, the
 * debug-port helpers, the multiboot v1 structures handed over at entry, and
 * the declarations of the SDK's tiny libc (stdio.h, string.h, stdlib.h).
 * Test cases and assertions are in hv_test.h, which includes this header.
 *
 * The same source also builds as a static i386 Linux program when compiled
 * with -DHV_TARGET_LINUX (`hv cc --linux`).  That build is the "real CPU"
 * reference for conformance tests: console writes and exit become Linux
 * system calls, the debug ports map onto them, and every other hypercall
 * returns -HV_ENOSYS, exactly like an unknown hypercall under hv.
 */
#ifndef HV_GUEST_H
#define HV_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HV_ABI_VERSION 1

/* ---- Hypercall numbers (ABI v1 table). -------------------------------- */

#define HV_HC_FLUSH_ASYNC      0
#define HV_HC_INIT             1
#define HV_HC_SHUTDOWN         2
#define HV_HC_NEW_PGTABLE      4
#define HV_HC_FLUSH_TLB        5
#define HV_HC_LOAD_IDT_ENTRY   6
#define HV_HC_SET_CLOCKEVENT   9
#define HV_HC_HALT             10
#define HV_HC_SET_PTE          14
#define HV_HC_SET_PGD          15
#define HV_HC_NOTIFY           17
#define HV_HC_SEND_INTERRUPTS  19
#define HV_HC_WRITE            32
#define HV_HC_EXIT             33
#define HV_HC_CLOCK            34
#define HV_HC_TEST_RESULT      35

/* The software interrupt vector that enters the hypervisor. */
#define HV_HYPERCALL_VECTOR    0x1f

/* Errors come back negated; an unknown hypercall number returns -HV_ENOSYS. */
#define HV_ENOSYS              38
#define HV_EINVAL              22

/* Second argument of SHUTDOWN. */
#define HV_SHUTDOWN_POWEROFF   1
#define HV_SHUTDOWN_RESTART    2

/* First argument of TEST_RESULT: how a test case ended. */
#define HV_TEST_PASS           0
#define HV_TEST_FAIL           1
#define HV_TEST_SKIP           2

/* Console file descriptors accepted by WRITE. */
#define HV_STDOUT              1
#define HV_STDERR              2

/* Debug ports, so kernels written for QEMU run unchanged. */
#define HV_DEBUG_CONSOLE_PORT  0xE9
#define HV_DEBUG_EXIT_PORT     0xF4

/* Guest-physical addresses are plain 32-bit numbers.  With paging off (the
 * entry state) a pointer's value is its guest-physical address. */
#define HV_GPA(ptr) ((uint32_t)(uintptr_t)(ptr))

/* ---- Console buffer (SDK libc). ----------------------------------------- */

/* printf and friends buffer console output; it is written out at each
 * newline, when the buffer fills, and by hv_flush().  hv_exit(),
 * hv_shutdown() and hv_debug_exit() flush first, and so does returning from
 * main().  hv_write() itself is unbuffered. */
void hv_flush(void);

/* ---- The hypercall primitive. ------------------------------------------- */

#ifndef HV_TARGET_LINUX

/* 1 when the image runs under hv, 0 under another multiboot loader such as
 * qemu-system-i386 -kernel (crt0 asks CPUID leaf 0x40000000 at entry).  Off
 * hv, every hypercall returns -HV_ENOSYS, as on the Linux target, except
 * that the console goes to port 0xE9 and exiting to port 0xF4 (QEMU's
 * isa-debug-exit: status (v << 1) | 1), then ACPI poweroff. */
extern uint8_t hv_on_hv;
void hv__debugcon_write(const void *buf, size_t len);
__attribute__((noreturn)) void hv__exit_ports(int status);

/*
 * Number in EAX, arguments in EBX, ECX, EDX, ESI, result in EAX.  The ABI
 * only promises EAX, so the argument registers are declared as possibly
 * changed; "memory" because the host reads and writes guest memory.
 */
static inline long hv_hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
                                unsigned long a3, unsigned long a4)
{
    if (__builtin_expect(!hv_on_hv, 0))
        return -HV_ENOSYS;
    __asm__ volatile("int $0x1f"
                     : "+a"(nr), "+b"(a1), "+c"(a2), "+d"(a3), "+S"(a4)
                     :
                     : "memory", "cc");
    return (long)nr;
}

#else /* HV_TARGET_LINUX */

/* Linux has no hypervisor: everything but the calls mapped below behaves
 * like an unknown hypercall. */
static inline long hv_hypercall(unsigned long nr, unsigned long a1, unsigned long a2,
                                unsigned long a3, unsigned long a4)
{
    (void)nr; (void)a1; (void)a2; (void)a3; (void)a4;
    return -HV_ENOSYS;
}

/* A Linux i386 system call through int $0x80 (number in EAX, args EBX..EDX). */
static inline long hv__linux_syscall3(unsigned long nr, unsigned long a1, unsigned long a2,
                                      unsigned long a3)
{
    __asm__ volatile("int $0x80"
                     : "+a"(nr), "+b"(a1), "+c"(a2), "+d"(a3)
                     :
                     : "memory", "cc");
    return (long)nr;
}

#define HV__LINUX_SYS_EXIT           1
#define HV__LINUX_SYS_WRITE          4
#define HV__LINUX_SYS_CLOCK_GETTIME  265
#define HV__LINUX_CLOCK_MONOTONIC    1

#endif /* HV_TARGET_LINUX */

/* ---- One wrapper per hypercall. ----------------------------------------- */

/* 0: drain the async hypercall ring (reserved in ABI v1). */
static inline long hv_flush_async(void)
{
    return hv_hypercall(HV_HC_FLUSH_ASYNC, 0, 0, 0, 0);
}

/* 1: register the shared guest-data page at guest-physical address gpa. */
static inline long hv_init(uint32_t guest_data_gpa)
{
    return hv_hypercall(HV_HC_INIT, guest_data_gpa, 0, 0, 0);
}

/* 4: switch to the 2-level page directory at guest-physical address gpa. */
static inline long hv_new_pgtable(uint32_t pgdir_gpa)
{
    return hv_hypercall(HV_HC_NEW_PGTABLE, pgdir_gpa, 0, 0, 0);
}

/* 5: flush the TLB (all entries). */
static inline long hv_flush_tlb(void)
{
    return hv_hypercall(HV_HC_FLUSH_TLB, 1, 0, 0, 0);
}

/* 6: install a trap/interrupt gate; lo and hi are the descriptor's two words. */
static inline long hv_load_idt_entry(uint32_t vector, uint32_t lo, uint32_t hi)
{
    return hv_hypercall(HV_HC_LOAD_IDT_ENTRY, vector, lo, hi, 0);
}

/* 9: one-shot timer raising IRQ 0 after delta_ns nanoseconds (0 = off). */
static inline long hv_set_clockevent(uint32_t delta_ns)
{
    return hv_hypercall(HV_HC_SET_CLOCKEVENT, delta_ns, 0, 0, 0);
}

/* 10: sleep until an interrupt is pending. */
static inline long hv_halt(void)
{
    return hv_hypercall(HV_HC_HALT, 0, 0, 0, 0);
}

/* 14: tell the host that the PTE mapping vaddr in pgdir changed to pte. */
static inline long hv_set_pte(uint32_t pgdir_gpa, uint32_t vaddr, uint32_t pte)
{
    return hv_hypercall(HV_HC_SET_PTE, pgdir_gpa, vaddr, pte, 0);
}

/* 15: tell the host that entry index of pgdir changed. */
static inline long hv_set_pgd(uint32_t pgdir_gpa, uint32_t index)
{
    return hv_hypercall(HV_HC_SET_PGD, pgdir_gpa, index, 0, 0);
}

/* 17: hand a value to the launcher (Python device code). */
static inline long hv_notify(uint32_t value)
{
    return hv_hypercall(HV_HC_NOTIFY, value, 0, 0, 0);
}

/* 19: deliver pending interrupts now. */
static inline long hv_send_interrupts(void)
{
    return hv_hypercall(HV_HC_SEND_INTERRUPTS, 0, 0, 0, 0);
}

/* 32: write len bytes to the console (fd 1 or 2); returns len or -error. */
static inline long hv_write(int fd, const void *buf, size_t len)
{
#ifdef HV_TARGET_LINUX
    return hv__linux_syscall3(HV__LINUX_SYS_WRITE, (unsigned long)fd,
                              (unsigned long)(uintptr_t)buf, len);
#else
    if (__builtin_expect(!hv_on_hv, 0)) {
        if (fd != HV_STDOUT && fd != HV_STDERR)
            return -9;                  /* EBADF, as hv answers */
        hv__debugcon_write(buf, len);
        return (long)len;
    }
    return hv_hypercall(HV_HC_WRITE, (unsigned long)fd, HV_GPA(buf), len, 0);
#endif
}

/* 33: power off with status 0..255 (buffered console output is flushed). */
__attribute__((noreturn)) static inline void hv_exit(int status)
{
    hv_flush();
#ifdef HV_TARGET_LINUX
    hv__linux_syscall3(HV__LINUX_SYS_EXIT, (unsigned long)status, 0, 0);
#else
    if (!hv_on_hv)
        hv__exit_ports(status);
    hv_hypercall(HV_HC_EXIT, (unsigned long)status, 0, 0, 0);
#endif
    for (;;) {
        /* EXIT does not return; spin rather than run off the end. */
    }
}

/* 2: power off (how = HV_SHUTDOWN_POWEROFF) or boot again from scratch
 * (HV_SHUTDOWN_RESTART), logging msg (may be NULL).  Returns only on error. */
static inline long hv_shutdown(const char *msg, uint32_t how)
{
    hv_flush();
    return hv_hypercall(HV_HC_SHUTDOWN, HV_GPA(msg), how, 0, 0);
}

/* 34: monotonic nanoseconds (virtual time under the emu's default clock).
 * The Linux target reads CLOCK_MONOTONIC instead. */
static inline uint64_t hv_clock(void)
{
#ifdef HV_TARGET_LINUX
    struct { int32_t sec; int32_t nsec; } ts = { 0, 0 };
    hv__linux_syscall3(HV__LINUX_SYS_CLOCK_GETTIME, HV__LINUX_CLOCK_MONOTONIC,
                       (unsigned long)(uintptr_t)&ts, 0);
    return (uint64_t)(uint32_t)ts.sec * 1000000000u + (uint32_t)ts.nsec;
#else
    uint32_t lo, hi;
    if (!hv_on_hv)
        return 0;                       /* no hypervisor clock elsewhere */
    __asm__ volatile("int $0x1f"
                     : "=a"(lo), "=d"(hi)
                     : "a"(HV_HC_CLOCK)
                     : "ebx", "ecx", "esi", "memory", "cc");
    return ((uint64_t)hi << 32) | lo;
#endif
}

/* The record TEST_RESULT reads: seven 32-bit words.  Each string field is 0
 * or the gpa of a NUL-terminated string (the host keeps up to 1023 bytes). */
struct hv_test_record {
    uint32_t file;               /* source file of the check */
    uint32_t line;               /* its line, or 0 */
    uint32_t expr;               /* the expression as written, e.g. "x == 4" */
    uint32_t lhs;                /* left value as text, e.g. "3" */
    uint32_t rhs;                /* right value as text, e.g. "4" */
    uint32_t message;            /* free text (HV_FAIL, HV_SKIP) */
    uint32_t reserved;           /* 0 */
};

/* 35: report how the running test case ended: outcome HV_TEST_PASS, _FAIL or
 * _SKIP, record NULL or the details above.  Returns 0, or -HV_EINVAL for a
 * bad outcome (-HV_ENOSYS on the Linux target).  The hv_test.h macros call
 * it for you. */
static inline long hv_test_result(uint32_t outcome, const struct hv_test_record *record)
{
    return hv_hypercall(HV_HC_TEST_RESULT, outcome, HV_GPA(record), 0, 0);
}

/* ---- Port I/O and the debug ports. -------------------------------------- */

#ifndef HV_TARGET_LINUX
static inline void hv_outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void hv_outl(uint16_t port, uint32_t value)
{
    __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline uint8_t hv_inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
    return value;
}
#else
/* A Linux process may not touch I/O ports; a call is a compile-time error. */
#define HV__NO_PORTS __attribute__((error("port I/O is not available on the Linux target")))
void hv_outb(uint16_t port, uint8_t value) HV__NO_PORTS;
void hv_outl(uint16_t port, uint32_t value) HV__NO_PORTS;
uint8_t hv_inb(uint16_t port) HV__NO_PORTS;
#endif

/* One console byte through port 0xE9 (unbuffered, like hv_write). */
static inline void hv_debug_putc(char c)
{
#ifdef HV_TARGET_LINUX
    hv_write(HV_STDOUT, &c, 1);
#else
    hv_outb(HV_DEBUG_CONSOLE_PORT, (uint8_t)c);
#endif
}

/* Exit with status through port 0xF4 (buffered console output is flushed). */
__attribute__((noreturn)) static inline void hv_debug_exit(int status)
{
#ifdef HV_TARGET_LINUX
    hv_exit(status);
#else
    hv_flush();
    hv_outb(HV_DEBUG_EXIT_PORT, (uint8_t)status);
    for (;;) {
        /* The port write powers the guest off. */
    }
#endif
}

/* ---- Multiboot v1 handoff. ---------------------------------------------- */

#define HV_MULTIBOOT_HEADER_MAGIC      0x1BADB002u
#define HV_MULTIBOOT_BOOTLOADER_MAGIC  0x2BADB002u

/* Bits of hv_multiboot_info.flags saying which fields are valid. */
#define HV_MB_INFO_MEMORY       (1u << 0)
#define HV_MB_INFO_BOOTDEV      (1u << 1)
#define HV_MB_INFO_CMDLINE      (1u << 2)
#define HV_MB_INFO_MODS         (1u << 3)
#define HV_MB_INFO_MEM_MAP      (1u << 6)
#define HV_MB_INFO_LOADER_NAME  (1u << 9)

/* Memory-map entry types. */
#define HV_MB_MEMORY_AVAILABLE  1
#define HV_MB_MEMORY_RESERVED   2

/* The multiboot v1 information block (the fields up to the VBE block). */
struct hv_multiboot_info {
    uint32_t flags;
    uint32_t mem_lower;          /* KiB below 1 MiB */
    uint32_t mem_upper;          /* KiB above 1 MiB */
    uint32_t boot_device;
    uint32_t cmdline;            /* gpa of a NUL-terminated string */
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length;        /* bytes */
    uint32_t mmap_addr;          /* gpa of the first hv_multiboot_mmap_entry */
    uint32_t drives_length;
    uint32_t drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name;
    uint32_t apm_table;
    uint32_t vbe_control_info;
    uint32_t vbe_mode_info;
    uint16_t vbe_mode;
    uint16_t vbe_interface_seg;
    uint16_t vbe_interface_off;
    uint16_t vbe_interface_len;
};

/* One memory-map entry.  `size` counts the bytes after itself, so the next
 * entry starts size + 4 bytes further on. */
struct hv_multiboot_mmap_entry {
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

/* Saved by crt0 from EAX and EBX at entry (0 and NULL on the Linux target). */
extern uint32_t hv_multiboot_magic;
extern struct hv_multiboot_info *hv_multiboot_info;

/* The info block, or NULL when we were not booted by a multiboot loader. */
static inline struct hv_multiboot_info *hv_multiboot(void)
{
    if (hv_multiboot_magic != HV_MULTIBOOT_BOOTLOADER_MAGIC)
        return NULL;
    return hv_multiboot_info;
}

/* The first memory-map entry, or NULL if there is no map. */
static inline struct hv_multiboot_mmap_entry *hv_mmap_first(const struct hv_multiboot_info *mb)
{
    if (!mb || !(mb->flags & HV_MB_INFO_MEM_MAP) || mb->mmap_length == 0)
        return NULL;
    return (struct hv_multiboot_mmap_entry *)(uintptr_t)mb->mmap_addr;
}

/* The entry after e, or NULL past the end of the map. */
static inline struct hv_multiboot_mmap_entry *hv_mmap_next(const struct hv_multiboot_info *mb,
                                                           struct hv_multiboot_mmap_entry *e)
{
    uintptr_t next = (uintptr_t)e + e->size + sizeof(e->size);
    if (next >= (uintptr_t)mb->mmap_addr + mb->mmap_length)
        return NULL;
    return (struct hv_multiboot_mmap_entry *)next;
}

/* The boot command line, or "" if there is none.  On the Linux target it is
 * the program's arguments joined by spaces, so `prog.linux status=3` sees
 * the same command line as `hv run prog.elf` given "status=3". */
const char *hv_cmdline(void);

/* The value of the first `key=value` word on the command line (it ends at
 * the next space or the end of the string), or NULL if the key is absent. */
const char *hv_cmdline_value(const char *key);

/* First byte past the loaded image (page aligned): free RAM starts here,
 * e.g. for page tables.  Defined by the linker script (hv target only). */
#ifndef HV_TARGET_LINUX
extern char hv_image_end[];
#endif

#endif /* HV_GUEST_H */
