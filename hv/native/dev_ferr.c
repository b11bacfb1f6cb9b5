/*
 * dev_ferr.c: the PC's x87 error glue, for a kernel that runs with CR0.NE
 * clear (the MS-DOS compatible way of reporting x87 errors, SDM vol. 1,
 * appendix D).  A waiting x87 instruction that meets a pending unmasked
 * exception asserts FERR#, which the PC wires to IRQ 13, and does not run;
 * the interrupt handler writes port 0xF0, which asserts IGNNE#, so that
 * x87 instructions run again even before it clears the exception
 * (FNCLEX).  Once no exception is pending the line is idle again.  The emu
 * keeps the instruction side (switcher_emu_x87host.c).
 */
#include "hv.h"

#define FERR_IRQ 13

void hv_ferr_assert(struct hv_guest *g)
{
    if (g->ferr == HV_FERR_IDLE) {
        g->ferr = HV_FERR_ASSERTED;
        hv_irq_raise(g, FERR_IRQ);
    }
}

static void ferr_out(struct hv_guest *g, uint16_t port, unsigned size, uint32_t value)
{
    (void)port;
    (void)size;
    (void)value;
    if (g->ferr == HV_FERR_ASSERTED)
        g->ferr = HV_FERR_IGNNE;
}

const struct hv_port_dev hv_dev_ferr = { "x87 error (FERR#/IGNNE#)", 0xf0, 0xf0, NULL, ferr_out };
