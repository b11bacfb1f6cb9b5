/*
 * dev_debug.c: QEMU's debug devices.  isa-debugcon at 0xE9 writes each byte
 * to the console; isa-debug-exit at 0xF4 powers off with the value written
 * as the exit status (Guest ABI v1), or with QEMU's own encoding
 * (v << 1) | 1 when the run asks for it (hv run --qemu-exit).
 */
#include "hv.h"

static void debugcon_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)port;
    (void)size;
    hv_chardev_put(g, g->live.debugcon_fd, (uint8_t)value);
}

/* QEMU's debugcon reads back 0xE9, the port's own number: "present". */
static uint32_t debugcon_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)g;
    (void)port;
    (void)size;
    return 0xe9;
}

static void debug_exit_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)port;
    (void)size;
    g->status = (int)((g->live.qemu_exit ? (value << 1) | 1 : value) & 0xff);
    g->stop = HV_STOP_EXIT;
}

const struct hv_port_dev hv_dev_debugcon = {
    "isa-debugcon", 0xe9, 0xe9, debugcon_in, debugcon_out,
};
const struct hv_port_dev hv_dev_debug_exit = {
    "isa-debug-exit", 0xf4, 0xf4, NULL, debug_exit_out,
};
