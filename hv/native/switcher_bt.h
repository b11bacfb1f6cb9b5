/*
 * switcher_bt.h: the bt switcher's private contracts (switcher_bt*.c).
 *
 * bt drives an emu (switcher_emu.h) and may replace the start of a decoded
 * block with x86-64 host code: the longest run of instructions at the
 * block's start that the translator knows (docs/switchers.md, "Status").
 * The emu runs the rest of the block from where the host code stopped.
 */
#ifndef SWITCHER_BT_H
#define SWITCHER_BT_H

#include "switcher_emu.h"

/* Host code for a block's first instructions: called with the emu's cpu,
 * it runs them on the cpu's registers and returns how many ran (0 ..
 * ninsn), plus BT_FLAGS_OUT if it left the guest's arithmetic flags in
 * c->bt_hostflags (the host's EFLAGS after the last one).  It never
 * faults and never writes guest code: at an access it cannot make (outside
 * RAM, or to a page holding decoded code) it stops before that instruction.
 * If it needs the guest's flags on entry (an INC or DEC that keeps CF comes
 * before anything that sets all of them) the caller has made them eager in
 * c->eflags first. */
typedef uint32_t bt_code_fn(struct cpu *c);
#define BT_FLAGS_OUT 0x100u
#define BT_COUNT_MASK 0xffu
/* The instruction at the count returned is the block's Jcc or JMP, and the
 * host code decided it: BT_TAKEN, or it falls through.  The caller jumps
 * (through the emu's successor slots of that insn). */
#define BT_BRANCH 0x200u
#define BT_TAKEN 0x400u
/* The instruction at the count is the block's RET, and the host code ran
 * it: c->eip is where it goes (the caller looks the block up). */
#define BT_INDIRECT 0x800u

/* A block that jumps to itself loops in host code: on entry c->bt_rounds
 * says how many more rounds fit in the budget (the emu counted the first);
 * on return it holds how many of those were left unrun. */

/* What the translator made of a block. */
struct bt_out {
    uint32_t ninsn;         /* instructions translated (0: none), the branch included */
    bool needs_flags;       /* reads the guest's flags on entry */
    bool loop;              /* loops on itself (c->bt_rounds) */
    size_t len;             /* bytes of host code in buf */
};

/* What the host CPU does where the SDM leaves a flag undefined, probed
 * once (bt_probe_host): where it does what the emu does, the host code
 * needs no fix-up after the instruction. */
struct bt_host {
    bool usable;            /* LAHF/SAHF in 64-bit mode and BMI2 (RORX): else no host code */
    bool logic_af_clear;    /* AND, OR, XOR, TEST clear AF, as the emu does */
    bool shift_as_emu[8];   /* by /digit (4 SHL, 5 SHR, 7 SAR) by 1..31: AF and OF
                             * as the emu's */
};

void bt_probe_host(struct bt_host *h);

/* Translate the start of block b (flat guest: paging off, flat segments)
 * into buf (at most cap bytes).  Pure: it reads guest RAM and b, nothing
 * else. */
void bt_translate(const struct cpu *c, const struct block *b, const struct bt_host *h,
                  uint8_t *buf, size_t cap, struct bt_out *out);

#endif
