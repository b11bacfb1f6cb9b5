/*
 * host_ports.c: the port-I/O bus.  An `in` or `out` the switcher reports
 * goes to the device whose range holds the port; a port with no device
 * floats high on reads (all ones) and swallows writes, as on a PC.  Each
 * device lives in its own dev_*.c and knows nothing of the others.
 */
#include "hv.h"

static const struct hv_port_dev *const devices[] = {
    &hv_dev_debugcon, &hv_dev_debug_exit, &hv_dev_acpi_pm, &hv_dev_kbd_reset, &hv_dev_rcr,
    &hv_dev_uart16550, &hv_dev_pic_master, &hv_dev_pic_slave, &hv_dev_pit8254,
    &hv_dev_rtc, &hv_dev_ferr,
};

static const struct hv_port_dev *find(uint16_t port)
{
    for (size_t k = 0; k < sizeof(devices) / sizeof(devices[0]); k++)
        if (port >= devices[k]->first && port <= devices[k]->last)
            return devices[k];
    return NULL;
}

static uint32_t size_mask(unsigned size)
{
    return size == 4 ? 0xffffffffu : size == 2 ? 0xffffu : 0xffu;
}

void hv_port_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    const struct hv_port_dev *d = find(port);
    if (d && d->out)
        d->out(g, port, size, value & size_mask(size));
}

uint32_t hv_port_in(struct hv_guest *g, uint16_t port, unsigned size)
{
    const struct hv_port_dev *d = find(port);
    uint32_t v = d && d->in ? d->in(g, port, size) : 0xffffffffu;
    return v & size_mask(size);
}
