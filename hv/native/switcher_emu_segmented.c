/*
 * switcher_emu_segmented.c: the emu's handlers for guests whose segments are
 * not all flat (a base other than 0, a limit below 4 GiB, a read-only or
 * null data segment), with paging on or off.
 *
 * The paged build once more, with EMU_SEG: every memory access adds its
 * segment's base and is checked against the segment's limit and type before
 * it goes through the soft TLB, and code is fetched at CS's base, no further
 * than its limit.  Handlers and tables get a _sg name.
 */
#define EMU_SEG 1

#include "switcher_emu_paged.c"
