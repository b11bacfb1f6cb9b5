/*
 * dev_rtc.c: the MC146818 CMOS clock and its RAM, at ports 0x70 (index; bit
 * 7 masks NMI and is ignored) and 0x71 (data).
 *
 * Under the virtual clock the time is 2000-01-01 00:00:00 UTC plus the guest
 * clock, so every run reads the same dates at the same instructions; under
 * the host clock it is the host's UTC time.  Registers 0x00-0x09 and 0x32
 * (century) read in BCD, or in binary when status B bit 2 is set, with a
 * 24-hour clock; status A never shows an update in progress; status D says
 * the battery is good.  The rest is 128 bytes of RAM that keeps what is
 * written, with the memory sizes a BIOS leaves there (as QEMU does):
 * 0x15/0x16 base memory, 0x17/0x18 and 0x30/0x31 KiB above 1 MiB,
 * 0x34/0x35 64 KiB blocks above 16 MiB.
 */
#define _GNU_SOURCE
#include <time.h>

#include "hv.h"

#define EPOCH_2000 946684800ll      /* 2000-01-01 00:00:00 UTC in Unix time */

static uint8_t bcd(const struct hv_guest *g, int v)
{
    if (g->cmos[0x0b] & 0x04)
        return (uint8_t)v;
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

static void init_ram(struct hv_guest *g)
{
    uint32_t kib = g->live.ram_size >> 10;
    uint32_t ext = kib > 1024 ? kib - 1024 : 0;
    uint32_t above16 = g->live.ram_size > (16u << 20) ? (g->live.ram_size - (16u << 20)) >> 16 : 0;
    if (ext > 0xffff)
        ext = 0xffff;
    if (above16 > 0xffff)
        above16 = 0xffff;
    g->cmos[0x0a] = 0x26;           /* 32.768 kHz base, 1024 Hz rate, no update */
    g->cmos[0x0b] = 0x02;           /* 24-hour, BCD */
    g->cmos[0x0d] = 0x80;           /* valid RAM and time */
    g->cmos[0x15] = 0x80;           /* 640 KiB of base memory */
    g->cmos[0x16] = 0x02;
    g->cmos[0x17] = g->cmos[0x30] = (uint8_t)ext;
    g->cmos[0x18] = g->cmos[0x31] = (uint8_t)(ext >> 8);
    g->cmos[0x34] = (uint8_t)above16;
    g->cmos[0x35] = (uint8_t)(above16 >> 8);
    g->cmos_ready = true;
}

static int time_field(struct hv_guest *g, unsigned reg)
{
    time_t t;
    if (g->live.clock == HV_CLOCK_HOST)
        t = time(NULL);
    else
        t = (time_t)(EPOCH_2000 + (long long)(hv_guest_clock(g) / 1000000000ull));
    struct tm tm;
    gmtime_r(&t, &tm);
    switch (reg) {
    case 0x00: return tm.tm_sec;
    case 0x02: return tm.tm_min;
    case 0x04: return tm.tm_hour;
    case 0x06: return tm.tm_wday + 1;
    case 0x07: return tm.tm_mday;
    case 0x08: return tm.tm_mon + 1;
    case 0x09: return tm.tm_year % 100;
    default: return (tm.tm_year + 1900) / 100;      /* 0x32, the century */
    }
}

static void rtc_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)size;
    if (!g->cmos_ready)
        init_ram(g);
    if (port == 0x70)
        g->cmos_index = (uint8_t)(value & 0x7f);
    else if (g->cmos_index != 0x0c && g->cmos_index != 0x0d)
        g->cmos[g->cmos_index] = (uint8_t)value;     /* C and D are read-only */
}

static uint32_t rtc_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)size;
    if (!g->cmos_ready)
        init_ram(g);
    if (port == 0x70)
        return 0xff;
    unsigned reg = g->cmos_index;
    if (reg <= 0x09 && reg != 0x01 && reg != 0x03 && reg != 0x05)
        return bcd(g, time_field(g, reg));
    if (reg == 0x32)
        return bcd(g, time_field(g, reg));
    return g->cmos[reg];
}

const struct hv_port_dev hv_dev_rtc = { "MC146818 RTC/CMOS", 0x70, 0x71, rtc_in, rtc_out };
