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

/* Host code for a block runs up to BT_PARTS blocks in a row, and may jump
 * straight to other blocks' from BT_SITES places. */
#define BT_PARTS 3
#define BT_SITES (BT_PARTS + 1)

/* Host code for the start of a block (up to all of it, its branch
 * included) runs on the guest's registers kept in host registers (guest
 * register n in R8+n) with the guest's arithmetic flags as the host's
 * EFLAGS.  It is entered through the shared entry (bt_emit_shared), called
 * from C as bt_enter_fn with the emu's cpu and the block's `go` address;
 * the emu counted that block.  Where the block ends in a Jcc, JMP or CALL
 * and the emu has linked the block it goes on to (the Jcc's fall-through),
 * on the same pages, the host code holds that block's too, and so on: up to
 * BT_PARTS blocks (parts): the entry checks that the budget has room for
 * them all, and each part counts itself as it starts.  At its end it
 * goes straight on to the host code of the block the emu has linked as the
 * successor (a chain), counting each block it enters against c->bt_left,
 * the budget left (below 2^31), as the emu's GOTO_AT would.  It leaves
 * through the shared exit, which stores the registers, EFLAGS in
 * c->bt_hostflags, the block (part) it left in c->bt_exit_block and returns
 * a code: the index of the first instruction of that block not run (the
 * emu runs it), plus the flags below.  It never faults and never writes
 * guest code: at an access it cannot make (outside RAM, or to a page
 * holding decoded code) it stops before that instruction.  A store to a
 * page of the parts drops them all (the emu drops a page's blocks), so the
 * first part's code never outlives another's. */
typedef uint32_t bt_enter_fn(struct cpu *c, const void *go);
/* SSE instructions in host code run on the host's XMM0..7, which hold the
 * guest's from the shared entry to the exit while c->bt_simd is 1 (set by
 * the caller before it enters: some block has SSE, the guest's MXCSR is
 * the host's and masks every exception, CR0.EM and TS are clear, CR4.OSFXSR
 * is set); a block's first SSE instruction leaves for the emu while it is
 * 0.  Nothing in host code changes those conditions. */
#define BT_COUNT_MASK 0xffu
/* The instruction at the index is the block's Jcc, JMP or CALL, and the
 * host code ran it: BT_TAKEN, or it falls through.  The caller goes on
 * (through the emu's successor slots of that insn). */
#define BT_BRANCH 0x200u
#define BT_TAKEN 0x400u
/* The instruction at the index is the block's RET, and the host code ran
 * it: c->eip is where it goes (the caller looks the block up). */
#define BT_INDIRECT 0x800u
/* The budget had no room for the block: it was not entered nor counted
 * (the emu stops there, with EIP at its start). */
#define BT_BUDGET 0x1000u
/* With BT_BRANCH: the successor has host code, and the branch's site (a
 * NOP of BT_SITE_LEN bytes ahead of the successor slot's check, or the
 * rel32 of the Jcc that goes to that check, in bt_out.site) may jump
 * straight to its chain entry; the caller makes it (the jump is undone when
 * that block is dropped) and goes on.  The site is number code >>
 * BT_SITE_SHIFT of c->bt_exit_owner, the first part of the host code. */
#define BT_PATCH 0x2000u
#define BT_SITE_SHIFT 16
#define BT_SITE_LEN 5
extern const uint8_t bt_site_nop[BT_SITE_LEN];
#define BT_LEFT_MAX (1u << 30)

/* The tables host code reads, in one allocation at c->bt_tab (RBX in host
 * code), per page of the 4 GiB space and the page one past it (where the
 * last byte of an access at 0xFFFFFFFF + 3, not wrapped, lies):
 *   BT_TAB_LOAD: 1 where the page is wholly in RAM, else 0;
 *   BT_TAB_STORE: 0 also where decoded code may live (a page the emu
 *     marked in its codemap since the last flush: stores there are the
 *     emu's, which drops that code), and on the page after one whose last
 *     3 bytes hold code (a store is checked by its last byte's page);
 *   BT_TAB_LOAD2, BT_TAB_STORE2: 1 where BT_TAB_LOAD (BT_TAB_STORE) is 1
 *     for the page and the one before (a run of stack accesses under a
 *     page long is checked by the page of its highest byte);
 *   BT_TAB_RET: the blocks RETs went to, by the low 16 bits of EIP (an
 *     entry is used only while the block's EIP is the target; an empty one
 *     holds a block whose EIP is BLOCK_DEAD);
 *   BT_TAB_ALIGN16: by an address's low byte, 1 where it is a multiple of
 *     16 (an SSE operand that must be aligned). */
#define BT_PAGES ((1u << 20) + 1)
#define BT_TAB_LOAD 0u
#define BT_TAB_STORE BT_PAGES
#define BT_TAB_LOAD2 (2u * BT_PAGES)
#define BT_TAB_STORE2 (3u * BT_PAGES)
#define BT_TAB_RET ((4u * BT_PAGES + 7u) & ~7u)
#define BT_RET_SLOTS (1u << 16)
#define BT_TAB_ALIGN16 (BT_TAB_RET + BT_RET_SLOTS * (uint32_t)sizeof(struct block *))
#define BT_TAB_SIZE (BT_TAB_ALIGN16 + 256u)

/* What the translator made of a block. */
struct bt_out {
    uint32_t ninsn;         /* instructions translated (0: none), the branch included */
    uint32_t parts;         /* blocks whose code it holds (the first one's included) */
    size_t chain;           /* the entry from other blocks' host code */
    size_t site[BT_SITES];  /* the branches' sites (0: none): a NOP, or a Jcc's rel32 ... */
    size_t site_back[BT_SITES];     /* ... which goes here until it is patched (0: a NOP) */
    size_t go;              /* the entry from C, past the chain entry's budget check */
    size_t len;             /* bytes of host code in buf */
    bool simd;              /* it runs SSE instructions (c->bt_simd guards them) */
};

/* The entry and exit every block's code shares, at the buffer's start. */
struct bt_shared {
    size_t exit;            /* offset of the exit (the entry is at 0) */
    size_t len;             /* 0: it did not fit */
};

void bt_emit_shared(uint8_t *buf, size_t cap, struct bt_shared *s);

/* What the host CPU does where the SDM leaves a flag undefined, probed
 * once (bt_probe_host): where it does what the emu does, the host code
 * needs no fix-up after the instruction. */
struct bt_host {
    bool usable;            /* LAHF/SAHF in 64-bit mode and BMI2 (RORX): else no host code */
    bool logic_af_clear;    /* AND, OR, XOR, TEST clear AF, as the emu does */
    bool shift_as_emu[8];   /* by /digit (0 ROL, 1 ROR, 4 SHL, 5 SHR, 7 SAR) by
                             * 1..31: AF and OF as the emu's */
};

void bt_probe_host(struct bt_host *h);

/* Translate the start of block b (flat guest: paging off, flat segments)
 * and the parts after it into buf (at most cap bytes), for code that will
 * run at `at` and leave through the shared exit at `exit`.  Pure: it reads
 * guest RAM, b and the blocks the emu linked after it, nothing else. */
void bt_translate(const struct cpu *c, const struct block *b, const struct bt_host *h,
                  uint8_t *buf, size_t cap, const uint8_t *at, const uint8_t *exit,
                  struct bt_out *out);

#endif
