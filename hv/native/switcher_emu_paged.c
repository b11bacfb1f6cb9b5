/*
 * switcher_emu_paged.c: the emu's handlers for guests with paging on.
 *
 * The same instruction families, compiled a second time with EMU_PAGED: each
 * memory access looks its page up in the soft TLB (switcher_emu_tlb.c) and
 * every handler and table gets a _pg name (see EMU() in switcher_emu.h).
 * The flat build stays exactly as fast as it was.  switcher_emu_segmented.c
 * includes this file once more for the segmented build.
 */
#ifndef EMU_PAGED
#define EMU_PAGED 1
#endif

#include "switcher_emu_alu.c"
#include "switcher_emu_bit.c"
#include "switcher_emu_ctrl.c"
#include "switcher_emu_decode.c"
#include "switcher_emu_misc.c"
#include "switcher_emu_muldiv.c"
#include "switcher_emu_shift.c"
#include "switcher_emu_simd.c"
#include "switcher_emu_string.c"
#include "switcher_emu_seg.c"
#include "switcher_emu_system.c"
#include "switcher_emu_x87.c"
