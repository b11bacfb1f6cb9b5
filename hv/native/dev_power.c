/*
 * dev_power.c: powering off and resetting a PC the ways kernels do it.
 *   - ACPI: writing SLP_TYP | SLP_EN (0x2000) to the PM1a control register,
 *     at port 0x604 on QEMU's pc machine, powers off (exit status 0);
 *   - the keyboard controller: command 0xFE at port 0x64 pulses the reset
 *     line;
 *   - the PIIX reset control register at 0xCF9: bit 2 (reset CPU) resets.
 * A reset boots the image again from scratch, like SHUTDOWN(restart).
 */
#include "hv.h"

#define ACPI_SLP_EN 0x2000u
#define KBD_PULSE_RESET 0xfeu
#define RCR_RESET_CPU 0x04u

static void acpi_pm_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)size;
    if (port == 0x604 && (value & ACPI_SLP_EN)) {
        g->status = 0;
        g->stop = HV_STOP_EXIT;
    }
}

static void kbd_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)port;
    (void)size;
    if ((value & 0xff) == KBD_PULSE_RESET)
        g->stop = HV_STOP_RESTART;
}

/* The controller is always ready: no output waiting, input buffer empty. */
static uint32_t kbd_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)g;
    (void)port;
    (void)size;
    return 0x1c;            /* system flag, command/data, keyboard unlocked */
}

static void rcr_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)port;
    (void)size;
    if (value & RCR_RESET_CPU)
        g->stop = HV_STOP_RESTART;
}

static uint32_t rcr_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    (void)g;
    (void)port;
    (void)size;
    return 0;
}

const struct hv_port_dev hv_dev_acpi_pm = { "acpi-pm", 0x604, 0x605, NULL, acpi_pm_out };
const struct hv_port_dev hv_dev_kbd_reset = { "i8042 reset", 0x64, 0x64, kbd_in, kbd_out };
const struct hv_port_dev hv_dev_rcr = { "piix reset control", 0xcf9, 0xcf9, rcr_in, rcr_out };
