/*
 * switcher_bt.c: the `bt` switcher, a binary translator from 32-bit x86
 * guest code to x86-64 host code (issue 13), behind the same ops as the emu.
 *
 * The rule that makes bt correct from its first line: every block bt does
 * not translate runs in the emu, the reference interpreter, exactly as it
 * would under `HV_SWITCHER=emu`.  bt owns an emu and hands it the machine
 * state; a translated block (none yet) would run on the same state and give
 * it back, so registers, lazy flags, the soft TLB, the instruction count,
 * breakpoints, coverage and snapshots are the emu's own and cannot drift
 * apart.  What is translated and what is not: docs/switchers.md, "Status".
 *
 * A snapshot of a bt machine is the emu's state, but it is tagged with the
 * switcher that took it (host_snapshot.c), so it goes back into a bt machine.
 */
#include <stdlib.h>

#include "hv.h"

#ifdef HV_HAVE_BT

struct bt {
    struct hv_guest *g;
    void *emu;                  /* the reference engine, running every block */
};

#define EMU_OPS hv_switcher_emu

static void *bt_create(struct hv_guest *g)
{
    struct bt *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->g = g;
    b->emu = EMU_OPS.create(g);
    if (!b->emu) {
        free(b);
        return NULL;
    }
    return b;
}

static void bt_destroy(void *sw)
{
    struct bt *b = sw;
    EMU_OPS.destroy(b->emu);
    free(b);
}

static void bt_run(void *sw, uint64_t budget, struct hv_trap *trap)
{
    struct bt *b = sw;
    EMU_OPS.run(b->emu, budget, trap);
}

/* Everything else is the emu's, on the emu's state. */
static void bt_get_regs(void *sw, struct hv_regs *r)
{
    EMU_OPS.get_regs(((struct bt *)sw)->emu, r);
}

static void bt_set_regs(void *sw, const struct hv_regs *r)
{
    EMU_OPS.set_regs(((struct bt *)sw)->emu, r);
}

static uint64_t bt_instructions(void *sw)
{
    return EMU_OPS.instructions(((struct bt *)sw)->emu);
}

static void bt_get_sregs(void *sw, struct hv_sregs *s)
{
    EMU_OPS.get_sregs(((struct bt *)sw)->emu, s);
}

static void bt_set_sregs(void *sw, const struct hv_sregs *s)
{
    EMU_OPS.set_sregs(((struct bt *)sw)->emu, s);
}

static void bt_flush_tlb(void *sw, uint32_t vaddr, bool all)
{
    EMU_OPS.flush_tlb(((struct bt *)sw)->emu, vaddr, all);
}

static void bt_mem_written(void *sw, uint32_t pa, uint32_t len)
{
    EMU_OPS.mem_written(((struct bt *)sw)->emu, pa, len);
}

static void bt_irq_window(void *sw, bool want)
{
    EMU_OPS.irq_window(((struct bt *)sw)->emu, want);
}

static void bt_set_breakpoints(void *sw, const uint32_t *eips, size_t n)
{
    EMU_OPS.set_breakpoints(((struct bt *)sw)->emu, eips, n);
}

static void bt_get_fpu(void *sw, uint8_t fnsave[108], uint8_t xmm[128], uint32_t *mxcsr)
{
    EMU_OPS.get_fpu(((struct bt *)sw)->emu, fnsave, xmm, mxcsr);
}

static void bt_set_fpu(void *sw, const uint8_t fnsave[108], const uint8_t xmm[128],
                       uint32_t mxcsr)
{
    EMU_OPS.set_fpu(((struct bt *)sw)->emu, fnsave, xmm, mxcsr);
}

static int bt_coverage_on(void *sw)
{
    return EMU_OPS.coverage_on(((struct bt *)sw)->emu);
}

static void bt_watch_accesses(void *sw, bool on)
{
    EMU_OPS.watch_accesses(((struct bt *)sw)->emu, on);
}

static void bt_coverage_read(void *sw, void (*fn)(void *ctx, uint32_t start, uint32_t end,
                                                  int64_t count), void *ctx)
{
    EMU_OPS.coverage_read(((struct bt *)sw)->emu, fn, ctx);
}

static void bt_coverage_branches(void *sw, void (*fn)(void *ctx, uint32_t eip, uint64_t taken,
                                                      uint64_t not_taken), void *ctx)
{
    EMU_OPS.coverage_branches(((struct bt *)sw)->emu, fn, ctx);
}

static size_t bt_state_size(void *sw)
{
    return EMU_OPS.state_size(((struct bt *)sw)->emu);
}

static void bt_save(void *sw, void *state)
{
    EMU_OPS.save(((struct bt *)sw)->emu, state);
}

static void bt_restore(void *sw, const void *state)
{
    EMU_OPS.restore(((struct bt *)sw)->emu, state);
}

const struct hv_switcher_ops hv_switcher_bt = {
    .name = "bt",
    .create = bt_create,
    .destroy = bt_destroy,
    .run = bt_run,
    .get_regs = bt_get_regs,
    .set_regs = bt_set_regs,
    .instructions = bt_instructions,
    .get_sregs = bt_get_sregs,
    .set_sregs = bt_set_sregs,
    .flush_tlb = bt_flush_tlb,
    .mem_written = bt_mem_written,
    .irq_window = bt_irq_window,
    .set_breakpoints = bt_set_breakpoints,
    .get_fpu = bt_get_fpu,
    .set_fpu = bt_set_fpu,
    .coverage_on = bt_coverage_on,
    .watch_accesses = bt_watch_accesses,
    .coverage_read = bt_coverage_read,
    .coverage_branches = bt_coverage_branches,
    .state_size = bt_state_size,
    .save = bt_save,
    .restore = bt_restore,
};

#endif
