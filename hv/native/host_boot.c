/*
 * host_boot.c: putting an image into guest RAM and the ABI v1 entry state.
 *
 * The Python loader has already validated the ELF; these checks are the
 * host's own line of defence, since a bad range here would be a host bug.
 */
#include <stdio.h>
#include <string.h>

#include "hv.h"

bool hv_load_segment(struct hv_guest *g, uint32_t paddr, const void *data, uint32_t filesz,
                     uint32_t memsz, char *err, size_t errlen)
{
    if (filesz > memsz) {
        snprintf(err, errlen, "segment at 0x%08x: file size 0x%x exceeds memory size 0x%x",
                 paddr, filesz, memsz);
        return false;
    }
    uint8_t *dst = hv_gpa(g, paddr, memsz);
    if (!dst) {
        snprintf(err, errlen, "segment 0x%08x..+0x%x does not fit in %u MiB of guest RAM",
                 paddr, memsz, g->live.ram_size >> 20);
        return false;
    }
    memcpy(dst, data, filesz);
    memset(dst + filesz, 0, memsz - filesz);
    return true;
}

/* Multiboot v1 information block (Multiboot Specification 0.6.96, 3.3). */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

struct mb_mmap_entry {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} __attribute__((packed));

enum {
    MB_INFO_MEM = 1u << 0, MB_INFO_CMDLINE = 1u << 2, MB_INFO_MODS = 1u << 3,
    MB_INFO_MMAP = 1u << 6,
};
#define MB_LOW_RAM_END 0x9fc00u         /* conventional memory, as a PC reports it */

static void write_multiboot(struct hv_guest *g, const char *cmdline, size_t len,
                            uint32_t mods_addr, uint32_t mods_count)
{
    struct mb_mmap_entry map[2] = {
        { sizeof(struct mb_mmap_entry) - 4, 0, MB_LOW_RAM_END, 1 },
        { sizeof(struct mb_mmap_entry) - 4, HV_IMAGE_BASE, g->live.ram_size - HV_IMAGE_BASE, 1 },
    };
    struct mb_info info = {
        .flags = MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MMAP,
        .mem_lower = MB_LOW_RAM_END / 1024,
        .mem_upper = (g->live.ram_size - HV_IMAGE_BASE) / 1024,
        .cmdline = HV_MB_CMDLINE,
        .mmap_length = sizeof(map),
        .mmap_addr = HV_MB_MMAP,
    };
    if (mods_count) {
        info.flags |= MB_INFO_MODS;
        info.mods_count = mods_count;
        info.mods_addr = mods_addr;
    }
    hv_write(g, HV_MB_INFO, &info, sizeof(info));
    hv_write(g, HV_MB_MMAP, map, sizeof(map));
    hv_write(g, HV_MB_CMDLINE, cmdline, (uint32_t)len);
    hv_write(g, HV_MB_CMDLINE + (uint32_t)len, "", 1);
}

bool hv_boot(struct hv_guest *g, uint32_t entry, const char *cmdline, size_t cmdline_len,
             uint32_t mods_addr, uint32_t mods_count, char *err, size_t errlen)
{
    if (cmdline_len >= HV_MB_CMDLINE_MAX) {
        snprintf(err, errlen, "cmdline is %zu bytes; the limit is %u", cmdline_len,
                 HV_MB_CMDLINE_MAX - 1);
        return false;
    }
    if (memchr(cmdline, 0, cmdline_len)) {
        snprintf(err, errlen, "cmdline contains a NUL byte");
        return false;
    }
    if (mods_count && !hv_gpa(g, mods_addr, mods_count * 16u)) {
        snprintf(err, errlen, "module table at 0x%08x (%u modules) is outside guest RAM",
                 mods_addr, mods_count);
        return false;
    }
    write_multiboot(g, cmdline, cmdline_len, mods_addr, mods_count);
    g->boot_time = hv_monotonic();      /* the host clock counts from the boot */

    struct hv_regs r = { .eip = entry, .eflags = HV_FLAGS_FIXED };
    r.gpr[HV_EAX] = HV_MB_MAGIC;
    r.gpr[HV_EBX] = HV_MB_INFO;
    r.gpr[HV_ESP] = g->live.ram_size;
    g->live.sw_ops->set_regs(g->live.sw, &r);
    return true;
}
