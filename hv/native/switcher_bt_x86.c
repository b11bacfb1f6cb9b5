/*
 * switcher_bt_x86.c: bt's translator, 32-bit x86 guest code to x86-64 host
 * code (Intel SDM vol. 2 for both ends).
 *
 * A block's longest run of instructions in the subset (docs/switchers.md,
 * "Status"), from its start, is copied with its operands renamed: guest
 * register n lives in host register r8+n, so the host CPU computes the
 * very EFLAGS the guest CPU would, and they stay the guest's from one
 * instruction and one block to the next.  Where the SDM leaves a flag
 * undefined and this CPU (probed once, bt_probe_host) does otherwise than
 * the emu, a fix-up follows, unless nothing could see that flag.  If the
 * run reaches the block's end, its Jcc, JMP, CALL, RET or indirect CALL or
 * JMP goes on to the next block's host code (chain, ret_chain); anything
 * else leaves, through the shared exit, for the emu.
 *
 * A memory operand's effective address is a 32-bit LEA into EDX (it wraps
 * at 4 GiB as the guest's does); a check that leaves EFLAGS alone (RORX,
 * a byte of a page table, JRCXZ: page_check) sends an access outside RAM,
 * or a store to a page holding decoded code, to the emu, which makes it
 * (the fault, or the code's invalidation); a block's run of stack
 * accesses is checked once (stack_run).  The budget left is in RBP (its
 * NOT), and a block entered from another counts itself against it first.
 * A branch to a block with host code becomes a direct jump once (its site,
 * patched by switcher_bt.c).
 *
 * Host register use: RDI = the emu's struct cpu; RSI = guest RAM; RBX =
 * the tables (c->bt_tab); RBP = NOT the budget left; R8..R15 = EAX..EDI; RAX,
 * RCX, RDX scratch.  The shared entry saves RBX, RBP, R12..R15.
 */
#include <cpuid.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "switcher_bt.h"

#ifdef HV_HAVE_BT               /* x86-64 hosts: the host code and the probe are theirs */

#define HOST_RAX 0
#define HOST_RCX 1
#define HOST_RDX 2
#define HOST_RBX 3
#define HOST_RBP 5
#define HOST_RSI 6
#define HOST_RDI 7
#define GUEST_HOST(n) (8 + (n))     /* guest register n's host register */

#define EXITS_MAX (2 * BLOCK_MAX_INSNS + 4) /* a check an instruction (a CALL's push one, an
                                            * aligned SSE operand two), one more for a stack
                                            * run (stack_run), for SSE, for an indirect CALL */

struct emit {
    uint8_t *buf;
    size_t len, cap;
    bool overflow;
    size_t entry;           /* the block's chain entry */
};

static void b1(struct emit *e, uint8_t v)
{
    if (e->len < e->cap)
        e->buf[e->len++] = v;
    else
        e->overflow = true;
}

static void b4(struct emit *e, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        b1(e, (uint8_t)(v >> (8 * k)));
}

static void patch32(struct emit *e, size_t at, uint32_t v)
{
    if (at + 4 <= e->len)
        memcpy(e->buf + at, &v, 4);
}

static uint8_t rex(bool w, unsigned r, unsigned x, unsigned b)
{
    return (uint8_t)(0x40 | (w ? 8 : 0) | ((r >> 3) & 1) << 2 | ((x >> 3) & 1) << 1 | ((b >> 3) & 1));
}

static uint8_t modrm(unsigned mod, unsigned reg, unsigned rm)
{
    return (uint8_t)(mod << 6 | (reg & 7) << 3 | (rm & 7));
}

/* op r32, [rdi + disp32] or op [rdi + disp32], r32 (host registers). */
static void rdi_mem(struct emit *e, uint8_t opcode, unsigned reg, uint32_t disp, bool w)
{
    uint8_t p = rex(w, reg, 0, HOST_RDI);
    if (p != 0x40)
        b1(e, p);
    b1(e, opcode);
    b1(e, modrm(2, reg, HOST_RDI));
    b4(e, disp);
}

/* A relative jump (0x0F 0x8x for a condition, 0xE9 without); returns where
 * its rel32 goes. */
static size_t jump(struct emit *e, int cond)
{
    if (cond >= 0) {
        b1(e, 0x0f);
        b1(e, (uint8_t)(0x80 | cond));
    } else {
        b1(e, 0xe9);
    }
    size_t at = e->len;
    b4(e, 0);
    return at;
}

static void bind(struct emit *e, size_t rel_at, size_t target)
{
    patch32(e, rel_at, (uint32_t)(target - (rel_at + 4)));
}

/* ---- the guest side: decoding the subset ---- */

enum kind {
    K_NONE,
    K_ALU_RR,       /* op rm, reg / op reg, rm with mod 3: copied as it is */
    K_ALU_RI,       /* 81/83 /op rm, imm; C7 /0; F7 /0 */
    K_ALU_AI,       /* op eax, imm32 (05 ... 3D, A9) */
    K_INCDEC,
    K_MOV_RI,       /* B8+r */
    K_LEA,
    K_LOAD,         /* op reg, [m] (8B, 03 ... 3B) and cmp/test [m], reg (39, 85) */
    K_STORE,        /* 89 [m], reg */
    K_STORE_I,      /* C7 /0 [m], imm32 */
    K_PUSH,         /* 50+r: a store to [esp - 4], then esp -= 4 */
    K_POP,          /* 58+r (not ESP): a load from [esp], then esp += 4 */
    K_PUSH_I,       /* a CALL's push of its return address (not decoded: made) */
    K_IMUL_RI,      /* 69/6B with mod 3: reg = rm * imm */
    K_RMW,          /* op [m], reg or imm (ALU, INC, DEC): checked as a store */
    K_RET,          /* the block's RET: EIP from [esp] (the caller looks it up) */
    K_CDQ,          /* 99 */
    K_MUL,          /* F7 /4, /5: through host EAX and EDX */
    K_JMPI,         /* the block's FF /2 or /4: EIP from a register or memory (and a
                     * CALL's push of imm, the return address) */
    K_SHIFT_CL,     /* D3 /4 /5 /7 with mod 3: the count from guest ECX in CL */
    K_SIMD,         /* an SSE instruction on XMM registers (the emu's op_simd): copied */
    K_NOP,          /* 90, 66 90, 0F 1F /0 (whose memory operand is not accessed): nothing */
};

struct gmem {
    int base, index;        /* guest register, or -1 */
    unsigned scale;         /* log2 */
    uint32_t disp;
};

struct ginsn {
    enum kind kind;
    uint8_t opcode, opc2;   /* opc2: the second byte after 0x0F */
    unsigned reg, rm, sub;  /* ModRM fields (sub: the /digit) */
    uint32_t imm;
    unsigned immsize;       /* bytes of immediate copied: 0, 1 or 4 */
    bool digit;             /* memory form whose ModRM.reg is a /digit */
    unsigned size;          /* bytes of a memory access */
    struct gmem m;
    unsigned len;
    /* Flags: writes all six arithmetic flags; writes some and keeps others
     * (INC, DEC, a shift), or reads CF (ADC, SBB): then it needs the
     * guest's flags unless something before it in the run set them all. */
    bool sets_flags, keeps_cf;
    bool imul;                  /* IMUL: SF, ZF, PF, AF made the emu's after it */
    bool reads_flags;           /* SETcc, CMOVcc: any flag a fix-up corrects */
    bool o16;                   /* 66: 16-bit operands (copied with the prefix) */
    bool shift_cl;              /* a shift by CL: a count of 0 changes no flag */
    bool rotate;                /* ROL, ROR by a constant: CF and OF only */
    /* K_SIMD: its mandatory prefix (0: none), 0F map (0, 0x38 or 0x3A) and
     * opcode, the emu's decoding of it (insn.imm2: SI_...), and which
     * ModRM field names a general register (guest register n: host r8+n). */
    uint8_t spfx, smap, sop;
    uint32_t sinfo;
    bool greg, grm;
};

static bool fetch(const struct cpu *c, uint32_t a, uint8_t *v)
{
    if (a >= c->ram_size)
        return false;
    *v = c->ram[a];
    return true;
}

static bool fetch32(const struct cpu *c, uint32_t a, uint32_t *v)
{
    if (a > c->ram_size - 4)
        return false;
    memcpy(v, c->ram + a, 4);
    return true;
}

/* ModRM (and SIB, displacement) at pc; *len grows by what they take. */
static bool decode_modrm(const struct cpu *c, uint32_t pc, struct ginsn *g)
{
    uint8_t m;
    if (!fetch(c, pc + g->len, &m))
        return false;
    g->len++;
    unsigned mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
    g->reg = g->sub = reg;
    g->rm = rm;
    if (mod == 3)
        return true;
    g->m.base = (int)rm;
    g->m.index = -1;
    g->m.scale = 0;
    g->m.disp = 0;
    if (rm == 4) {
        uint8_t sib;
        if (!fetch(c, pc + g->len, &sib))
            return false;
        g->len++;
        g->m.scale = sib >> 6;
        unsigned idx = (sib >> 3) & 7, base = sib & 7;
        g->m.index = idx == 4 ? -1 : (int)idx;
        g->m.base = (int)base;
        if (base == 5 && mod == 0) {
            g->m.base = -1;
            mod = 2;            /* a disp32 follows */
        }
    } else if (rm == 5 && mod == 0) {
        g->m.base = -1;
        mod = 2;
    }
    if (mod == 1) {
        uint8_t d;
        if (!fetch(c, pc + g->len, &d))
            return false;
        g->len++;
        g->m.disp = (uint32_t)(int32_t)(int8_t)d;
    } else if (mod == 2) {
        if (!fetch32(c, pc + g->len, &g->m.disp))
            return false;
        g->len += 4;
    }
    g->rm = 8;                  /* memory */
    return true;
}

static bool imm(const struct cpu *c, uint32_t pc, struct ginsn *g, bool byte)
{
    if (byte) {
        uint8_t v;
        if (!fetch(c, pc + g->len, &v))
            return false;
        g->imm = (uint32_t)(int32_t)(int8_t)v;
        g->immsize = 1;
        g->len++;
        return true;
    }
    if (g->o16) {               /* an operand-size prefix: imm16 */
        uint8_t lo, hi;
        if (!fetch(c, pc + g->len, &lo) || !fetch(c, pc + g->len + 1, &hi))
            return false;
        g->imm = (uint32_t)lo | (uint32_t)hi << 8;
        g->immsize = 2;
        g->len += 2;
        return true;
    }
    if (!fetch32(c, pc + g->len, &g->imm))
        return false;
    g->immsize = 4;
    g->len += 4;
    return true;
}

/* 8-bit forms: AL, CL, DL, BL only (AH ... BH have no name next to REX). */
#define LOW8(r) ((r) < 4)

/* The ALU, TEST and MOV forms with a ModRM operand: 8-bit (even opcodes:
 * 00 ... 3A, 84, 88, 8A) and 32-bit (odd: 01 ... 3B, 85, 89, 8B).  Bit 1
 * says reg is the destination; CMP and TEST write nothing, MOV sets no
 * flags.  A memory operand is only read or only written: read-modify-write
 * is not translated yet. */
static bool decode_rm_op(const struct cpu *c, uint32_t pc, struct ginsn *g, uint8_t op)
{
    bool byte = (op & 1) == 0;
    uint8_t base = op & 0xfe;           /* the 8-bit opcode of either width */
    if (!decode_modrm(c, pc, g) || (byte && !LOW8(g->reg)))
        return false;
    bool to_reg = (op & 2) != 0;
    g->sets_flags = base != 0x88 && base != 0x8a;
    g->keeps_cf = base == 0x10 || base == 0x12 || base == 0x18 || base == 0x1a;  /* ADC, SBB */
    if (byte)
        g->size = 1;
    if (g->rm < 8) {
        if (byte && !LOW8(g->rm))
            return false;
        g->kind = K_ALU_RR;
        return true;
    }
    if (base == 0x88) {
        g->kind = K_STORE;
        return true;
    }
    if (to_reg || base == 0x38 || base == 0x84) {   /* memory only read */
        g->kind = K_LOAD;
        return true;
    }
    g->kind = K_RMW;                    /* op [m], reg */
    return true;
}

static bool decode_op(const struct cpu *c, uint32_t pc, struct ginsn *g);

/* With an operand-size prefix, the forms whose 16-bit meaning is the 32-bit
 * one on 16 bits (the host copy keeps the prefix): the ModRM ALU, TEST and
 * MOV forms, ALU and MOV with an immediate, INC, DEC, NOT, NEG. */
static bool o16_ok(const struct ginsn *g)
{
    switch (g->opcode) {
    case 0x01: case 0x03: case 0x09: case 0x0b: case 0x11: case 0x13: case 0x19: case 0x1b:
    case 0x21: case 0x23: case 0x29: case 0x2b: case 0x31: case 0x33: case 0x39: case 0x3b:
    case 0xf7:
        return g->kind != K_MUL;
    case 0x85: case 0x89: case 0x8b: case 0x81: case 0x83: case 0xc7:
    case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d:
    case 0xa9:
        return true;
    case 0xff:
        return g->kind == K_RMW;
    case 0x90:
        return true;
    case 0x0f:
        return g->kind == K_NOP;
    default:
        return (g->opcode >= 0x40 && g->opcode <= 0x4f) ||
               (g->opcode >= 0xb8 && g->opcode <= 0xbf);
    }
}

/* An SSE instruction the emu decoded (op_simd) that host code can run as it
 * is, on the guest's XMM registers held in the host's (the shared entry and
 * exit move them, switcher_bt.h): one optional 66, F2 or F3, 0F [38 | 3A]
 * op, ModRM, an imm8; not MMX, not MASKMOVDQU.  A memory operand that must
 * be 16-byte aligned is checked for it too (a misaligned one is the emu's
 * #GP).  Every result and MXCSR flag is the CPU's, as the emu's stubs are. */
static bool decode_simd(const struct cpu *c, const struct insn *i, struct ginsn *g)
{
    memset(g, 0, sizeof(*g));
    uint32_t info = i->imm2, pc = i->eip;
    if (!(info & SI_XMM) || (info & (SI_MMX | SI_MASKMOV | SI_NOMODRM)))
        return false;
    uint8_t b;
    if (!fetch(c, pc, &b))
        return false;
    if (b == 0x66 || b == 0xf2 || b == 0xf3) {
        g->spfx = b;
        g->len = 1;
        if (!fetch(c, pc + 1, &b))
            return false;
    }
    if (b != 0x0f || !fetch(c, pc + g->len + 1, &g->sop))
        return false;
    g->len += 2;
    if (g->sop == 0x38 || g->sop == 0x3a) {
        g->smap = g->sop;
        if (!fetch(c, pc + g->len, &g->sop))
            return false;
        g->len++;
    }
    if (!decode_modrm(c, pc, g))
        return false;
    if (info & SI_IMM) {
        uint8_t v;
        if (!fetch(c, pc + g->len, &v))
            return false;
        g->imm = v;
        g->immsize = 1;
        g->len++;
    }
    if (g->rm == 8) {
        g->size = info & SI_SIZE;
        if (!g->size)
            return false;
    }
    g->kind = K_SIMD;
    g->sinfo = info;
    g->sets_flags = (info & SI_FLAGS) != 0;     /* COMISS and the like: all six */
    g->greg = !(info & SI_GROUP) && SI_REGK(info) == SIMD_K_G;
    g->grm = g->rm < 8 && SI_RMK(info) == SIMD_K_G;
    return true;
}

/* Is the instruction at pc in the subset?  Fills g. */
static bool decode(const struct cpu *c, uint32_t pc, struct ginsn *g)
{
    memset(g, 0, sizeof(*g));
    uint8_t op;
    if (!fetch(c, pc, &op))
        return false;
    if (op != 0x66)
        return decode_op(c, pc, g);
    g->o16 = true;
    if (!decode_op(c, pc + 1, g) || !o16_ok(g))
        return false;
    g->len++;
    if (g->size == 4)
        g->size = 2;
    return true;
}

static bool decode_op(const struct cpu *c, uint32_t pc, struct ginsn *g)
{
    uint8_t op;
    if (!fetch(c, pc, &op))
        return false;
    g->opcode = op;
    g->len = 1;
    g->size = 4;
    switch (op) {
    case 0x90:                  /* NOP (and, after 66, XCHG AX, AX: padding too) */
        g->kind = K_NOP;
        return true;
    case 0x00: case 0x08: case 0x20: case 0x28: case 0x30: case 0x38: case 0x84: case 0x88:
    case 0x02: case 0x0a: case 0x22: case 0x2a: case 0x32: case 0x3a: case 0x8a:
    case 0x10: case 0x12: case 0x18: case 0x1a: case 0x11: case 0x13: case 0x19: case 0x1b:
        return decode_rm_op(c, pc, g, op);
    case 0x0f: {                /* MOVZX r32, r/m8 and r/m16; IMUL r32, r/m32 */
        uint8_t op2;
        if (!fetch(c, pc + 1, &op2))
            return false;
        bool cmov = (op2 & 0xf0) == 0x40, setcc = (op2 & 0xf0) == 0x90;
        if (!cmov && !setcc && op2 != 0xb6 && op2 != 0xb7 && op2 != 0xbe && op2 != 0xbf &&
            op2 != 0xaf && op2 != 0x1f)
            return false;
        g->opc2 = op2;
        g->len = 2;
        if (!decode_modrm(c, pc, g))
            return false;
        if (op2 == 0x1f) {      /* NOP r/m (multi-byte padding) */
            g->kind = K_NOP;
            return g->sub == 0;
        }
        if (cmov) {             /* CMOVcc r32, r/m32: the memory form always reads */
            g->reads_flags = true;
            g->kind = g->rm < 8 ? K_ALU_RR : K_LOAD;
            return true;
        }
        if (setcc) {            /* SETcc r/m8 (ModRM.reg ignored) */
            g->reads_flags = true;
            g->size = 1;
            if (g->rm < 8) {
                g->kind = K_ALU_RR;
                return LOW8(g->rm);
            }
            g->kind = K_STORE;
            g->digit = true;
            return true;
        }
        if (op2 == 0xaf) {
            g->imul = g->sets_flags = true;
            g->kind = g->rm < 8 ? K_ALU_RR : K_LOAD;
            return true;
        }
        g->size = op2 == 0xb6 || op2 == 0xbe ? 1 : 2;     /* MOVZX, MOVSX */
        if (g->rm < 8) {
            g->kind = K_ALU_RR;
            return g->size == 2 || LOW8(g->rm);
        }
        g->kind = K_LOAD;
        return true;
    }
    case 0xc1: case 0xd1:       /* ROL, ROR, SHL, SHR, SAR of a register by a constant */
        if (!decode_modrm(c, pc, g) || g->rm == 8)
            return false;
        if (g->sub != 0 && g->sub != 1 && g->sub != 4 && g->sub != 5 && g->sub != 7)
            return false;
        if (op == 0xc1) {
            if (!imm(c, pc, g, true) || (g->imm & 31) == 0)
                return false;   /* a count of 0 changes no flag: leave it to the emu */
        }
        g->kind = K_ALU_RI;
        /* A shift writes all six (AF and OF made the emu's afterwards,
         * shift_flags); a rotate only CF and OF, which must be the emu's
         * already (the run stops before one that is not, and is seen). */
        g->rotate = g->sub < 2;
        g->sets_flags = !g->rotate;
        return true;
    case 0x80:                  /* op r/m8, imm8 */
        if (!decode_modrm(c, pc, g) || !imm(c, pc, g, true))
            return false;
        g->size = 1;
        g->sets_flags = true;
        if (g->sub == 2 || g->sub == 3)
            g->keeps_cf = true;
        if (g->rm == 8) {
            g->kind = g->sub == 7 ? K_LOAD : K_RMW;
            g->digit = true;
            return true;
        }
        if (!LOW8(g->rm))
            return false;
        g->kind = K_ALU_RI;
        return true;
    case 0xc6:                  /* MOV r/m8, imm8 */
        if (!decode_modrm(c, pc, g) || g->sub != 0 || !imm(c, pc, g, true))
            return false;
        g->size = 1;
        if (g->rm == 8) {
            g->kind = K_STORE_I;
            g->digit = true;
            return true;
        }
        if (!LOW8(g->rm))
            return false;
        g->kind = K_ALU_RI;
        return true;
    case 0x01: case 0x09: case 0x21: case 0x29: case 0x31: case 0x39: case 0x85: case 0x89:
    case 0x03: case 0x0b: case 0x23: case 0x2b: case 0x33: case 0x3b: case 0x8b:
        return decode_rm_op(c, pc, g, op);
    case 0x04: case 0x0c: case 0x24: case 0x2c: case 0x34: case 0x3c: case 0xa8:
    case 0x14: case 0x1c:       /* op al, imm8: as 80 /op (F6 /0) on r8b */
        if (!imm(c, pc, g, true))
            return false;
        g->kind = K_ALU_AI;
        g->size = 1;
        g->sets_flags = true;
        g->keeps_cf = op == 0x14 || op == 0x1c;
        return true;
    case 0x05: case 0x0d: case 0x25: case 0x2d: case 0x35: case 0x3d: case 0xa9:
    case 0x15: case 0x1d:
        if (!imm(c, pc, g, false))
            return false;
        g->kind = K_ALU_AI;
        g->sets_flags = true;
        g->keeps_cf = op == 0x15 || op == 0x1d;
        return true;
    case 0x81: case 0x83:
        if (!decode_modrm(c, pc, g) || !imm(c, pc, g, op == 0x83))
            return false;
        g->sets_flags = true;
        if (g->sub == 2 || g->sub == 3)         /* ADC, SBB read CF */
            g->keeps_cf = true;
        if (g->rm == 8) {
            g->kind = g->sub == 7 ? K_LOAD : K_RMW;     /* CMP [m], imm, or op [m], imm */
            g->digit = true;
            return true;
        }
        g->kind = K_ALU_RI;
        return true;
    case 0xff:                  /* INC, DEC [m] (the register forms are 40 ... 4F);
                                 * CALL, JMP r/m32 (indirect: the caller looks the target up) */
        if (!decode_modrm(c, pc, g))
            return false;
        if (g->sub == 2 || g->sub == 4) {
            g->kind = K_JMPI;
            g->digit = true;
            return true;
        }
        if (g->rm != 8 || g->sub > 1)
            return false;
        g->kind = K_RMW;
        g->digit = true;
        g->keeps_cf = true;
        return true;
    case 0xc3: case 0xc2:       /* RET, RET imm16: a load from [esp]; esp += 4 + imm */
        if (op == 0xc2) {
            uint8_t lo, hi;
            if (!fetch(c, pc + 1, &lo) || !fetch(c, pc + 2, &hi))
                return false;
            g->imm = (uint32_t)lo | (uint32_t)hi << 8;
            g->len = 3;
        }
        g->kind = K_RET;
        g->m = (struct gmem){ HV_ESP, -1, 0, 0 };
        g->rm = 8;
        g->digit = true;            /* the load goes to EAX (sub 0), not a guest register */
        return true;
    case 0x69: case 0x6b:       /* IMUL r32, r/m32, imm32 or imm8 */
        if (!decode_modrm(c, pc, g) || !imm(c, pc, g, op == 0x6b))
            return false;
        g->imul = g->sets_flags = true;
        g->kind = g->rm < 8 ? K_IMUL_RI : K_LOAD;
        return true;
    case 0xf7: case 0xf6:       /* TEST r, imm; NOT r; NEG r (32 and 8 bits); MUL, IMUL r/m32 */
        if (!decode_modrm(c, pc, g))
            return false;
        if (op == 0xf7 && (g->sub == 4 || g->sub == 5)) {
            g->kind = K_MUL;        /* EDX:EAX = EAX * r/m32; flags as IMUL's */
            g->imul = g->sets_flags = true;
            g->reg = HV_EAX;        /* the register the flag fix-up tests */
            g->digit = true;
            return true;
        }
        if (g->rm == 8 || g->sub > 3 || g->sub == 1)
            return false;
        if (op == 0xf6) {
            if (!LOW8(g->rm))
                return false;
            g->size = 1;
        }
        if (g->sub == 0 && !imm(c, pc, g, op == 0xf6))
            return false;
        g->kind = K_ALU_RI;
        g->sets_flags = g->sub != 2;                /* NOT sets none */
        return true;
    case 0x68: case 0x6a:       /* PUSH imm32, imm8: a store at ESP - 4, then ESP -= 4 */
        if (!imm(c, pc, g, op == 0x6a))
            return false;
        g->kind = K_PUSH_I;
        g->opcode = 0xc7;
        g->digit = true;
        g->immsize = 4;
        g->m = (struct gmem){ HV_ESP, -1, 0, (uint32_t)-4 };
        g->rm = 8;
        return true;
    case 0x87:                  /* XCHG r/m32, r32 (memory: read-modify-write) */
        if (!decode_modrm(c, pc, g))
            return false;
        g->kind = g->rm < 8 ? K_ALU_RR : K_RMW;
        return true;
    case 0x99:                  /* CDQ: mov eax, r8d; cdq; mov r10d, edx */
        g->kind = K_CDQ;
        return true;
    case 0x98:                  /* CWDE: movsx r8d, r8w */
        g->kind = K_ALU_RR;
        g->opcode = 0x0f;
        g->opc2 = 0xbf;
        g->reg = g->rm = HV_EAX;
        return true;
    case 0xd3:                  /* SHL, SHR, SAR of a register by CL */
        if (!decode_modrm(c, pc, g) || g->rm == 8)
            return false;
        if (g->sub != 4 && g->sub != 5 && g->sub != 7)
            return false;
        g->kind = K_SHIFT_CL;
        g->shift_cl = true;
        return true;
    case 0xc7:
        if (!decode_modrm(c, pc, g) || g->sub != 0)
            return false;
        if (!imm(c, pc, g, false))
            return false;
        if (g->rm == 8) {
            g->kind = K_STORE_I;
            g->digit = true;
        } else {
            g->kind = K_ALU_RI;
        }
        return true;
    case 0x8d:
        if (!decode_modrm(c, pc, g) || g->rm != 8)
            return false;
        g->kind = K_LEA;
        return true;
    default:
        break;
    }
    if (op >= 0x40 && op <= 0x4f) {
        g->kind = K_INCDEC;
        g->rm = op & 7;
        g->sub = (op >> 3) & 1;     /* FF /0 INC, FF /1 DEC */
        g->keeps_cf = true;
        return true;
    }
    if (op >= 0x50 && op <= 0x5f && op != 0x5c) {
        /* PUSH r32 / POP r32 (POP ESP, which writes ESP twice, is the emu's).
         * The flat 32-bit stack of a guest bt translates for: ESP is the
         * address, wrapping at 4 GiB as the LEA does. */
        bool push = op < 0x58;
        g->kind = push ? K_PUSH : K_POP;
        g->reg = op & 7;
        g->m = (struct gmem){ HV_ESP, -1, 0, push ? (uint32_t)-4 : 0 };
        g->rm = 8;
        return true;
    }
    if (op >= 0xa0 && op <= 0xa3) {     /* MOV AL/EAX, moffs and back: as 8A/8B/88/89 */
        if (!fetch32(c, pc + 1, &g->m.disp))
            return false;
        g->len = 5;
        g->m.base = g->m.index = -1;
        g->rm = 8;
        g->reg = HV_EAX;
        g->opcode = (uint8_t)(op == 0xa0 ? 0x8a : op == 0xa1 ? 0x8b : op == 0xa2 ? 0x88 : 0x89);
        if (op == 0xa0 || op == 0xa2)
            g->size = 1;
        g->kind = op <= 0xa1 ? K_LOAD : K_STORE;
        return true;
    }
    if (op >= 0x91 && op <= 0x97) {     /* XCHG EAX, r32: as 87 with mod 3 */
        g->kind = K_ALU_RR;
        g->opcode = 0x87;
        g->reg = HV_EAX;
        g->rm = op & 7;
        return true;
    }
    if (op >= 0xb0 && op <= 0xb3) {     /* MOV AL ... BL, imm8 */
        if (!imm(c, pc, g, true))
            return false;
        g->kind = K_MOV_RI;
        g->size = 1;
        g->rm = op & 7;
        return true;
    }
    if (op >= 0xb8 && op <= 0xbf) {
        if (!imm(c, pc, g, false))
            return false;
        g->kind = K_MOV_RI;
        g->rm = op & 7;
        return true;
    }
    return false;
}

/* ---- the host side ---- */

/* AND, OR, XOR, TEST leave AF undefined (SDM vol. 2); the emu clears it. */
static bool is_logic(const struct ginsn *x)
{
    switch (x->opcode) {
    case 0x09: case 0x21: case 0x31: case 0x85: case 0x0b: case 0x23: case 0x33:
    case 0x08: case 0x20: case 0x30: case 0x84: case 0x0a: case 0x22: case 0x32:
    case 0x0d: case 0x25: case 0x35: case 0xa9: case 0x0c: case 0x24: case 0x34: case 0xa8:
        return true;
    case 0x80: case 0x81: case 0x83:
        return x->sub == 1 || x->sub == 4 || x->sub == 6;
    case 0xf7: case 0xf6:
        return x->kind == K_ALU_RI && x->sub == 0;     /* TEST r, imm */
    default:
        return false;
    }
}

/* AF := 0, keeping the rest: lahf; and ah, 0xEF (which clears OF and CF,
 * both already 0 after a logical op); sahf (CF back, OF stays 0). */
static void logic_flags(struct emit *e)
{
    b1(e, 0x9f);
    b1(e, 0x80); b1(e, 0xe4); b1(e, 0xef);
    b1(e, 0x9e);
}

/* A shift by 1..31 of guest register r: the CPU's CF, ZF, SF, PF are
 * defined; AF and (count > 1) OF are not, so make them the emu's: AF 0;
 * OF = SHL: MSB(result) ^ CF, SHR: MSB(operand), SAR: 0.  sub is the /digit.
 * Called around the shift: before (pre) and after it. */
static void shift_flags(struct emit *e, unsigned sub, unsigned r, bool pre)
{
    if (pre) {
        if (sub == 5) {                             /* mov edx, r: the operand */
            b1(e, 0x44); b1(e, 0x89); b1(e, modrm(3, r, HOST_RDX));
        }
        return;
    }
    b1(e, 0x9f);                                    /* lahf */
    b1(e, 0x80); b1(e, 0xe4); b1(e, 0xef);          /* and ah, 0xEF: OF 0, AF 0 */
    if (sub == 4) {                                 /* edx = MSB(result) ^ CF */
        b1(e, 0x44); b1(e, 0x89); b1(e, modrm(3, r, HOST_RDX));
        b1(e, 0xc1); b1(e, 0xea); b1(e, 31);        /* shr edx, 31 */
        b1(e, 0x89); b1(e, 0xc1);                   /* mov ecx, eax */
        b1(e, 0xc1); b1(e, 0xe9); b1(e, 8);         /* shr ecx, 8 */
        b1(e, 0x83); b1(e, 0xe1); b1(e, 1);         /* and ecx, 1: CF */
        b1(e, 0x31); b1(e, 0xca);                   /* xor edx, ecx */
    } else if (sub == 5) {
        b1(e, 0xc1); b1(e, 0xea); b1(e, 31);        /* shr edx, 31 */
    }
    if (sub != 7) {
        b1(e, 0x80); b1(e, 0xc2); b1(e, 0x7f);      /* add dl, 0x7f: OF = dl */
    }
    b1(e, 0x9e);                                    /* sahf */
}

/* lea dst32, [guest base + guest index << scale + disp] in host registers. */
static void lea32(struct emit *e, unsigned dst, const struct gmem *m)
{
    unsigned idx = m->index < 0 ? 4 : (unsigned)GUEST_HOST(m->index);
    unsigned base = m->base < 0 ? 5 : (unsigned)GUEST_HOST(m->base);
    uint8_t p = rex(false, dst, m->index < 0 ? 0 : idx, m->base < 0 ? 0 : base);
    if (p != 0x40)
        b1(e, p);
    b1(e, 0x8d);
    b1(e, modrm(m->base < 0 ? 0 : 2, dst, 4));
    b1(e, (uint8_t)(m->scale << 6 | (idx & 7) << 3 | (base & 7)));
    b4(e, m->disp);
}

/* IMUL leaves SF, ZF, AF, PF undefined; the emu sets SF, ZF, PF from the
 * 32-bit product and clears AF.  CF = OF are the CPU's: kept in AL across a
 * TEST of the product, put back as CF through AH and as OF by an ADD. */
static void imul_flags(struct emit *e, unsigned r)
{
    b1(e, 0x0f); b1(e, 0x92); b1(e, 0xc0);          /* setc al */
    b1(e, 0x45); b1(e, 0x85); b1(e, modrm(3, r, r)); /* test r, r */
    b1(e, 0x9f);                                    /* lahf */
    b1(e, 0x80); b1(e, 0xe4); b1(e, 0xef);          /* and ah, 0xEF: AF 0 */
    b1(e, 0x08); b1(e, 0xc4);                       /* or ah, al: CF */
    b1(e, 0x04); b1(e, 0x7f);                       /* add al, 0x7f: OF */
    b1(e, 0x9e);                                    /* sahf */
}

/* The checks of a block and the exits they leave by.  A block is emitted
 * twice: first to learn its checks, then with their stubs (mov edx, the
 * instruction not run; jmp bexit) ahead of the chain entry, in the order
 * of the checks, so that the last check's is nearest: a check that
 * reaches its stub jumps there with JRCXZ (none taken when it passes),
 * others by JRCXZ +2; JMP +5; JMP stub. */
struct checks {
    uint32_t n;
    bool placed;            /* the second emission: the stubs are in place */
    struct {
        uint32_t index;     /* the instruction not run */
        size_t stub;        /* where its stub is */
    } c[EXITS_MAX];
};

/* Does instruction x check a memory access before it runs (a place the host
 * code may leave from)? */
static bool checks(const struct ginsn *x)
{
    return x->kind == K_LOAD || x->kind == K_STORE || x->kind == K_STORE_I ||
           x->kind == K_PUSH || x->kind == K_POP || x->kind == K_PUSH_I ||
           x->kind == K_RMW || x->kind == K_RET || (x->kind == K_JMPI && (x->rm == 8 || x->sub == 2)) ||
           (x->kind == K_MUL && x->rm == 8) || (x->kind == K_SIMD && x->rm == 8);
}

/* Does x write memory (and not only read it)? */
static bool stores(const struct ginsn *x)
{
    if (x->kind == K_SIMD)
        return (x->sinfo & SI_STORE) != 0;
    return x->kind != K_LOAD && x->kind != K_POP && x->kind != K_RET;
}

/* After instruction k, can anything see the flags a fix-up would correct
 * (AF, OF; SF, ZF, PF after IMUL)?  Not if a later instruction writes them
 * all (every flag-setter of the subset does; INC and DEC keep only CF,
 * which no fix-up touches) before the host code could leave: at a check,
 * or at the end. */
static bool fixed_flags_seen(const struct ginsn *g, uint32_t k, uint32_t n)
{
    for (uint32_t j = k + 1; j < n; j++) {
        if (checks(&g[j]) || g[j].reads_flags)
            return true;
        if (g[j].sets_flags || g[j].keeps_cf)
            return false;
    }
    return true;
}

/* Leave for a stub before instruction k unless the page of the 64-bit
 * address in host register src is 1 in table `which` (BT_TAB_LOAD,
 * BT_TAB_STORE): rorx rcx, src, 12; mov ecx, ecx (the page: the address is
 * below 2^33); movzx ecx, byte [rbx + rcx + which]; then jrcxz stub (near)
 * or jrcxz +2; jmp +5; jmp stub.  None of these touches EFLAGS, which are
 * the guest's. */
static void check_jump(struct emit *e, struct checks *cs, uint32_t k);

static void page_check(struct emit *e, struct checks *cs, uint32_t which, unsigned src,
                       uint32_t k)
{
    b1(e, 0xc4); b1(e, src < 8 ? 0xe3 : 0xc3);             /* VEX (its B: r8..r15) */
    b1(e, 0xfb); b1(e, 0xf0);                              /* RORX r64, r/m64, imm8 */
    b1(e, modrm(3, HOST_RCX, src)); b1(e, 12);
    b1(e, 0x89); b1(e, 0xc9);                              /* mov ecx, ecx */
    b1(e, 0x0f); b1(e, 0xb6); b1(e, modrm(2, HOST_RCX, 4));
    b1(e, (uint8_t)(HOST_RCX << 3 | HOST_RBX));
    b4(e, which);                                          /* movzx ecx, byte [rbx + rcx + which] */
    check_jump(e, cs, k);
}

/* Leave for a stub before instruction k unless ECX is not 0 (the end of a
 * check). */
static void check_jump(struct emit *e, struct checks *cs, uint32_t k)
{
    if (cs->n >= EXITS_MAX || (cs->placed && cs->c[cs->n].index != k)) {
        e->overflow = true;     /* cannot happen: EXITS_MAX bounds them; emissions agree */
        return;
    }
    cs->c[cs->n].index = k;
    size_t stub = cs->c[cs->n].stub;
    if (cs->placed && e->len + 2 - stub <= 128) {
        b1(e, 0xe3); b1(e, (uint8_t)(int8_t)-(ptrdiff_t)(e->len + 1 - stub));
    } else {
        b1(e, 0xe3); b1(e, 2);                             /* jrcxz +2 */
        b1(e, 0xeb); b1(e, 5);                             /* jmp +5 */
        bind(e, jump(e, -1), stub);                        /* (the first time: anywhere) */
    }
    cs->n++;
}

/* The immediate of x as the guest's encoding has it: 0, 1, 2 or 4 bytes. */
static void imm_out(struct emit *e, const struct ginsn *x)
{
    for (unsigned k = 0; k < x->immsize; k++)
        b1(e, (uint8_t)(x->imm >> (8 * k)));
}

static void imm64(struct emit *e, uint64_t v)
{
    b4(e, (uint32_t)v);
    b4(e, (uint32_t)(v >> 32));
}

/* jmp rel32 to host address `to`, for code that will run at `at`. */
static void jump_abs(struct emit *e, const uint8_t *at, const uint8_t *to)
{
    b1(e, 0xe9);
    b4(e, (uint32_t)(to - (at + e->len + 4)));
}

/* jmp to `to`, at or before here: short if it reaches. */
static void jump_back(struct emit *e, size_t to)
{
    if (e->len + 2 - to <= 128) {
        b1(e, 0xeb); b1(e, (uint8_t)(int8_t)-(ptrdiff_t)(e->len + 1 - to));
    } else {
        b1(e, 0xe9); b4(e, (uint32_t)(to - (e->len + 4)));
    }
}

/* A short jump (0xE3 JRCXZ, 0xEB JMP); returns where its rel8 goes. */
static size_t short_jump(struct emit *e, uint8_t opcode)
{
    b1(e, opcode);
    b1(e, 0);
    return e->len - 1;
}

static void bind8(struct emit *e, size_t rel_at, size_t target)
{
    ptrdiff_t d = (ptrdiff_t)target - (ptrdiff_t)(rel_at + 1);
    if (d < -128 || d > 127)
        e->overflow = true;     /* cannot happen: the sequences are short */
    else if (rel_at < e->len)
        e->buf[rel_at] = (uint8_t)(int8_t)d;
}

/* The end of chain and ret_chain, with the JRCXZ to `miss` (no block;
 * SIZE_MAX: none) and the compare for `hit` (the block in host register
 * blk starts at the target) just emitted: miss: [not eax; mov [rdi + eip],
 * eax: a RET's target, for the caller]; mov edx, code; jmp bexit; hit: mov
 * rcx, [blk + bt_chain]; jrcxz miss; then a RET's jmp rcx, or a direct
 * branch leaves for its site (number `site` of owner's host code) to be
 * patched: mov rcx, owner; mov [rdi + bt_exit_owner], rcx; mov edx, code |
 * PATCH | site << SHIFT; jmp bexit. */
static void chain_to(struct emit *e, unsigned blk, size_t to_miss, uint32_t code,
                     size_t bexit, const struct block *owner, unsigned site)
{
    size_t to_hit = short_jump(e, 0xe3);
    size_t miss = e->len;
    if (to_miss != SIZE_MAX)
        bind8(e, to_miss, miss);
    if (!owner) {
        b1(e, 0xf7); b1(e, modrm(3, 2, HOST_RAX));                  /* not eax */
        rdi_mem(e, 0x89, HOST_RAX, (uint32_t)offsetof(struct cpu, eip), false);
    }
    b1(e, 0xba); b4(e, code);
    bind(e, jump(e, -1), bexit);
    bind8(e, to_hit, e->len);
    b1(e, 0x48); b1(e, 0x8b); b1(e, modrm(2, HOST_RCX, blk));
    b4(e, (uint32_t)offsetof(struct block, bt_chain));
    bind8(e, short_jump(e, 0xe3), miss);
    if (!owner) {
        b1(e, 0xff); b1(e, 0xe1);
    } else {
        b1(e, 0x48); b1(e, 0xb9); imm64(e, (uint64_t)(uintptr_t)owner);
        rdi_mem(e, 0x89, HOST_RCX, (uint32_t)offsetof(struct cpu, bt_exit_owner), true);
        b1(e, 0xba); b4(e, code | BT_PATCH | site << BT_SITE_SHIFT);
        bind(e, jump(e, -1), bexit);
    }
}

const uint8_t bt_site_nop[BT_SITE_LEN] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };     /* nopl 0(rax,rax) */

/* The sites of one host code (bt_out.site, site_back) as they are made. */
struct sites {
    size_t *at, *back;
    unsigned n;
};

/* Go on at the block the emu links from slot `link` when it starts at
 * `target` and has host code (its chain entry counts it against RBP, the
 * budget); else leave with `code` through the part's exit at `bexit`:
 *
 *     site: nop (5 bytes: the caller may make it jmp <that block's chain entry>)
 *     slow: mov rax, link; mov rax, [rax]; mov rcx, rax; jrcxz miss
 *     mov ecx, [rax + eip]; lea ecx, [rcx - target]; jrcxz hit
 *     miss: mov edx, code; jmp bexit
 *     hit: mov rcx, [rax + bt_chain]; jrcxz miss; (owner, site); mov edx, code | PATCH; jmp bexit
 *
 * or, after a Jcc whose rel32 is at `jcc` (else SIZE_MAX), that rel32 is
 * the site: it goes to slow, and the caller may make it go to that block's
 * chain entry instead (site_back: where it went).  A loop to the first part
 * (owner) goes straight to its chain entry: it is alive while its code
 * runs (a store to its page leaves first), and the emu's lookup finds it.
 * Flags untouched; a block the emu dropped has eip BLOCK_DEAD, so this
 * never enters it, and the caller undoes the jumps to a block it drops. */
static void chain(struct emit *e, const struct block *owner, struct block *const *link,
                  uint32_t target, uint32_t code, size_t bexit, struct sites *st, size_t jcc)
{
    if (target == owner->eip) {
        if (jcc != SIZE_MAX)
            bind(e, jcc, e->entry);
        else
            bind(e, jump(e, -1), e->entry);
        return;
    }
    if (st->n >= BT_SITES) {
        e->overflow = true;     /* cannot happen: BT_SITES bounds them */
        return;
    }
    if (jcc != SIZE_MAX) {
        st->at[st->n] = jcc;
        st->back[st->n] = e->len;
        bind(e, jcc, e->len);
    } else {
        st->at[st->n] = e->len;
        for (unsigned k = 0; k < BT_SITE_LEN; k++)
            b1(e, bt_site_nop[k]);
    }
    b1(e, 0x48); b1(e, 0xb8); imm64(e, (uint64_t)(uintptr_t)link);
    b1(e, 0x48); b1(e, 0x8b); b1(e, 0x00);
    b1(e, 0x48); b1(e, 0x89); b1(e, 0xc1);
    size_t to_miss = short_jump(e, 0xe3);
    b1(e, 0x8b); b1(e, modrm(2, HOST_RCX, HOST_RAX)); b4(e, (uint32_t)offsetof(struct block, eip));
    b1(e, 0x8d); b1(e, modrm(2, HOST_RCX, HOST_RCX)); b4(e, 0u - target);
    chain_to(e, HOST_RAX, to_miss, code, bexit, owner, st->n++);
}

/* After a RET's code, with its target in EAX: go on at the block
 * BT_TAB_RET holds for it (bt_no_block where it holds none) when that block
 * starts there and has host code; else leave with `code`, the target in
 * c->eip (the caller looks it up, and fills the slot).  Flags untouched:
 *
 *     movzx ecx, ax; mov rdx, [rbx + rcx*8 + RET]
 *     mov ecx, [rdx + eip]; not eax; lea ecx, [rcx + rax + 1]; jrcxz hit
 *     miss: not eax; mov [rdi + eip], eax; mov edx, code; jmp bexit
 *     hit: mov rcx, [rdx + bt_chain]; jrcxz miss; jmp rcx
 */
static void ret_chain(struct emit *e, uint32_t code, size_t bexit)
{
    b1(e, 0x0f); b1(e, 0xb7); b1(e, modrm(3, HOST_RCX, HOST_RAX));
    b1(e, 0x48); b1(e, 0x8b); b1(e, modrm(2, HOST_RDX, 4));
    b1(e, (uint8_t)(3 << 6 | HOST_RCX << 3 | HOST_RBX)); b4(e, BT_TAB_RET);
    b1(e, 0x8b); b1(e, modrm(2, HOST_RCX, HOST_RDX)); b4(e, (uint32_t)offsetof(struct block, eip));
    b1(e, 0xf7); b1(e, modrm(3, 2, HOST_RAX));                      /* not eax */
    b1(e, 0x8d); b1(e, modrm(1, HOST_RCX, 4)); b1(e, (uint8_t)(HOST_RAX << 3 | HOST_RCX)); b1(e, 1);
    chain_to(e, HOST_RDX, SIZE_MAX, code, bexit, NULL, 0);
}

/* Check x's memory access unless its stack run did: edx = the guest
 * address (a 32-bit LEA: it wraps at 4 GiB); rcx = its last byte's, not
 * wrapped: the access is in RAM iff that byte's page is (RAM starts at 0).
 * A store: nor may it touch decoded code, which BT_TAB_STORE marks on the
 * last byte's page too when a store from the page before could reach it
 * (switcher_bt.c, mark_code). */
static void access_check(struct emit *e, struct checks *cs, const struct ginsn *x, bool store,
                         uint32_t k)
{
    lea32(e, HOST_RDX, &x->m);
    unsigned last = HOST_RDX;
    if (x->size > 1) {
        b1(e, 0x48); b1(e, 0x8d); b1(e, modrm(1, HOST_RCX, HOST_RDX));
        b1(e, (uint8_t)(x->size - 1));                  /* lea rcx, [rdx + size-1] */
        last = HOST_RCX;
    }
    page_check(e, cs, store ? BT_TAB_STORE : BT_TAB_LOAD, last, k);
}

/* The ModRM, SIB and displacement of x's memory operand as host code has it,
 * with `reg` in ModRM.reg: [rsi + rdx], or, checked with its stack run,
 * [rsi + r12 + disp] (REX.X, which the caller sets). */
static void mem_operand(struct emit *e, const struct ginsn *x, unsigned reg, bool covered)
{
    b1(e, modrm(covered ? 2 : 0, reg, 4));
    b1(e, (uint8_t)((covered ? GUEST_HOST(HV_ESP) & 7 : HOST_RDX) << 3 | HOST_RSI));
    if (covered)
        b4(e, x->m.disp);
}

/* movzx ecx, byte [rdi + bt_simd]: 1 while host code may run SSE. */
static void simd_flag(struct emit *e)
{
    b1(e, 0x0f); b1(e, 0xb6); b1(e, modrm(2, HOST_RCX, HOST_RDI));
    b4(e, (uint32_t)offsetof(struct cpu, bt_simd));
}

/* ---- stack accesses, checked once for a run of them ---- */

static bool stack_access(const struct ginsn *x)
{
    switch (x->kind) {
    case K_LOAD: case K_STORE: case K_STORE_I: case K_PUSH: case K_POP: case K_PUSH_I:
    case K_RMW: case K_RET:
        return x->m.base == HV_ESP && x->m.index < 0;
    case K_SIMD:                /* (an aligned operand's check needs its address) */
        return x->rm == 8 && !(x->sinfo & SI_ALIGN) && x->m.base == HV_ESP && x->m.index < 0;
    default:
        return false;
    }
}

/* What x does to ESP after its access: 0 nothing, 1 adds *delta, -1 anything
 * else (or may: then no later access is known from ESP before x). */
static int esp_effect(const struct ginsn *x, int32_t *delta)
{
    switch (x->kind) {
    case K_PUSH: case K_PUSH_I:
        *delta = -4;
        return 1;
    case K_POP:                 /* not POP ESP (decode) */
        *delta = 4;
        return 1;
    case K_STORE: case K_STORE_I: case K_CDQ: case K_MUL: case K_ALU_AI:
        return 0;
    case K_ALU_RI:
        if (x->rm != HV_ESP)
            return 0;
        if ((x->opcode == 0x81 || x->opcode == 0x83) && !x->o16 && (x->sub == 0 || x->sub == 5)) {
            *delta = x->sub == 0 ? (int32_t)x->imm : -(int32_t)x->imm;
            return 1;
        }
        return -1;
    case K_LEA:
        if (x->reg != HV_ESP)
            return 0;
        if (x->m.base == HV_ESP && x->m.index < 0 && !x->o16) {
            *delta = (int32_t)x->m.disp;
            return 1;
        }
        return -1;
    case K_INCDEC: case K_MOV_RI: case K_SHIFT_CL:
        return x->rm == HV_ESP ? -1 : 0;
    case K_NOP:
        return 0;
    case K_SIMD:                /* a general register written: ESP? */
        return (x->sinfo & SI_GOUT) && (x->greg ? x->reg : x->rm) == HV_ESP ? -1 : 0;
    case K_LOAD: case K_IMUL_RI:
        return x->reg == HV_ESP ? -1 : 0;
    case K_RMW:
        return x->opcode == 0x87 && x->reg == HV_ESP ? -1 : 0;
    case K_ALU_RR: {
        if (x->reg != HV_ESP && x->rm != HV_ESP)
            return 0;
        uint8_t base = x->opcode & 0xfe;
        if (x->opcode == 0x0f || x->opcode == 0x87)
            return -1;
        if (base == 0x38 || base == 0x3a || base == 0x84)      /* CMP, TEST */
            return 0;
        bool to_reg = (x->opcode & 2) != 0;
        return (to_reg ? x->reg : x->rm) == HV_ESP ? -1 : 0;
    }
    default:
        return -1;
    }
}

/* The accesses by [ESP + disp] of g[0 .. n) from the first one on, while
 * ESP moves only by known amounts (PUSH, POP, ADD/SUB/LEA of ESP): their
 * bytes, and ESP at each, lie within [ESP + lo, ESP + hi] for ESP as it is
 * before g[first] (lo <= 0 <= hi), a span under a page.  One check there,
 * of the page of ESP + hi (not wrapped) and the page before it (a pair in
 * BT_TAB_LOAD2 or BT_TAB_STORE2), stands for all of theirs: that range is
 * then in RAM, which is one range from 0, and does not wrap (ESP + lo
 * below 0 puts ESP + hi in page 0, whose pair is never OK), so each access
 * is [rsi + r12 + disp], ESP being the 32-bit value in r12 with nothing
 * above.  Marks them in covered. */
struct stack_run {
    uint32_t first;         /* n: none */
    int32_t lo, hi;
    bool store;
};

#define STACK_SPAN_MAX 2048

static void stack_run(const struct ginsn *g, uint32_t n, bool *covered, struct stack_run *r)
{
    *r = (struct stack_run){ n, 0, 0, false };
    memset(covered, 0, n * sizeof(*covered));
    int64_t delta = 0;
    for (uint32_t k = 0; k < n; k++) {
        const struct ginsn *x = &g[k];
        if (stack_access(x)) {
            /* The bytes it touches, and ESP itself as it is then. */
            int64_t lo = delta + (int32_t)x->m.disp, hi = lo + x->size - 1;
            if (delta < lo)
                lo = delta;
            if (delta > hi)
                hi = delta;
            if (r->first == n) {
                r->first = k;
                r->lo = r->hi = 0;
            }
            int64_t nlo = lo < r->lo ? lo : r->lo, nhi = hi > r->hi ? hi : r->hi;
            if (nhi - nlo >= STACK_SPAN_MAX)
                break;
            r->lo = (int32_t)nlo;
            r->hi = (int32_t)nhi;
            covered[k] = true;
            r->store |= stores(x);
        }
        if (r->first == n)
            continue;           /* ESP before the first access is the run's base */
        int32_t d = 0;
        int effect = esp_effect(x, &d);
        if (effect < 0)
            break;
        delta += d;
        if (delta < -STACK_SPAN_MAX || delta > STACK_SPAN_MAX)
            break;
    }
}

/* With c->bt_simd 1, the guest's XMM0..7 into the host's (opcode 0x6F) or
 * back (0x7F): movzx ecx, byte [rdi + bt_simd]; jrcxz over; then movdqu
 * each.  RAX, RDX and EFLAGS are kept. */
static void simd_regs(struct emit *e, uint8_t opcode)
{
    simd_flag(e);
    size_t over = short_jump(e, 0xe3);
    for (unsigned r = 0; r < 8; r++) {
        b1(e, 0xf3); b1(e, 0x0f); b1(e, opcode); b1(e, modrm(2, r, HOST_RDI));
        b4(e, (uint32_t)(offsetof(struct cpu, simd) + offsetof(struct emu_simd, xmm) + 16 * r));
    }
    bind8(e, over, e->len);
}

void bt_emit_shared(uint8_t *buf, size_t cap, struct bt_shared *s)
{
    struct emit e = { buf, 0, cap, false, 0 };
    memset(s, 0, sizeof(*s));
    /* enter(c = RDI, go = RSI) */
    b1(&e, 0x53); b1(&e, 0x55);                     /* push rbx; push rbp */
    for (unsigned r = 12; r <= 15; r++) {
        b1(&e, 0x41); b1(&e, (uint8_t)(0x50 | (r & 7)));    /* push r12 ... r15 */
    }
    b1(&e, 0x48); b1(&e, 0x89); b1(&e, 0xf0);       /* mov rax, rsi */
    for (unsigned k = 0; k < 8; k++)
        rdi_mem(&e, 0x8b, GUEST_HOST(k), (uint32_t)(offsetof(struct cpu, r) + 4 * k), false);
    simd_regs(&e, 0x6f);
    rdi_mem(&e, 0x8b, HOST_RSI, (uint32_t)offsetof(struct cpu, ram), true);
    rdi_mem(&e, 0x8b, HOST_RBX, (uint32_t)offsetof(struct cpu, bt_tab), true);
    rdi_mem(&e, 0x8b, HOST_RBP, (uint32_t)offsetof(struct cpu, bt_left), true);
    b1(&e, 0x48); b1(&e, 0xf7); b1(&e, modrm(3, 2, HOST_RBP));     /* not rbp */
    /* the guest's arithmetic flags (eager), IF and bit 1: push rcx; popfq */
    rdi_mem(&e, 0x8b, HOST_RCX, (uint32_t)offsetof(struct cpu, eflags), false);
    b1(&e, 0x81); b1(&e, modrm(3, 4, HOST_RCX)); b4(&e, ARITH_FLAGS);
    b1(&e, 0x81); b1(&e, modrm(3, 1, HOST_RCX)); b4(&e, 0x202);
    b1(&e, 0x51); b1(&e, 0x9d);
    b1(&e, 0xff); b1(&e, 0xe0);                     /* jmp rax */
    /* exit(code = EDX, block = RAX) */
    s->exit = e.len;
    b1(&e, 0x9c); b1(&e, 0x59);                     /* pushfq; pop rcx */
    rdi_mem(&e, 0x89, HOST_RCX, (uint32_t)offsetof(struct cpu, bt_hostflags), false);
    rdi_mem(&e, 0x89, HOST_RAX, (uint32_t)offsetof(struct cpu, bt_exit_block), true);
    simd_regs(&e, 0x7f);
    for (unsigned k = 0; k < 8; k++)
        rdi_mem(&e, 0x89, GUEST_HOST(k), (uint32_t)(offsetof(struct cpu, r) + 4 * k), false);
    b1(&e, 0x48); b1(&e, 0xf7); b1(&e, modrm(3, 2, HOST_RBP));     /* not rbp */
    rdi_mem(&e, 0x89, HOST_RBP, (uint32_t)offsetof(struct cpu, bt_left), true);
    for (unsigned r = 15; r >= 12; r--) {
        b1(&e, 0x41); b1(&e, (uint8_t)(0x58 | (r & 7)));    /* pop r15 ... r12 */
    }
    b1(&e, 0x5d); b1(&e, 0x5b);                     /* pop rbp; pop rbx */
    b1(&e, 0x89); b1(&e, 0xd0);                     /* mov eax, edx */
    b1(&e, 0xc3);
    s->len = e.overflow ? 0 : e.len;
}

/* One block's instructions in host code (a part): what the translator
 * knows of them, from the start. */
struct part {
    const struct block *b;
    uint32_t first;         /* its instructions are g[first .. first + nemit) */
    uint32_t n;             /* of b's, before the first not translated (or its branch) */
    uint32_t nemit;         /* n, and a CALL's push */
    int branch;             /* its Jcc's condition; -1: JMP or CALL; -2: none */
    bool ret;               /* it ends in a RET or an indirect CALL or JMP */
    bool island;            /* its checks' stubs sit ahead of its code */
    size_t bexit;           /* its exit: mov rax, b; jmp exit */
    size_t taken;           /* its Jcc's rel32, to the taken path after the last part */
};

/* Decode the start of b into g: the longest run the translator knows, and
 * the branch after it. */
static void decode_part(const struct cpu *c, const struct block *b, const struct bt_host *h,
                        struct ginsn *g, struct part *p)
{
    uint32_t n = 0;
    for (; n < b->ninsn; n++) {
        const struct insn *i = &b->insns[n];
        /* (a part's first handler may be bt's: the decoder's is bt_fn) */
        emu_fn *fn = n == 0 && b->bt_fn ? b->bt_fn : i->fn;
        bool known = fn == op_simd ? decode_simd(c, i, &g[n]) : decode(c, i->eip, &g[n]);
        if (!known || i->eip + g[n].len != i->next)
            break;
    }
    /* A shift by CL whose AF and OF this CPU leaves other than the emu, and
     * that something could see, ends the run: its fix-up would depend on
     * the count. */
    for (uint32_t k = 0; k < n; k++) {
        if ((g[k].shift_cl || g[k].rotate) && !h->shift_as_emu[g[k].sub] &&
            fixed_flags_seen(g, k, n)) {
            n = k;
            break;
        }
    }
    /* The block's own Jcc, JMP or CALL, right after them. */
    p->branch = -2;
    p->nemit = n;
    const struct insn *j = &b->insns[n];
    if (n + 1 == b->ninsn) {
        if (j->fn == op_jmp) {
            p->branch = -1;
        } else if (j->fn == op_call) {
            /* As op_call: push the return address (a store of an immediate
             * at ESP - 4, checked as any), then go on as JMP does. */
            p->branch = -1;
            g[n] = (struct ginsn){ .kind = K_PUSH_I, .opcode = 0xc7, .digit = true,
                                   .imm = j->next, .immsize = 4, .size = 4,
                                   .m = { HV_ESP, -1, 0, (uint32_t)-4 },
                                   .rm = 8 };
            p->nemit = n + 1;
        } else if (j->fn == op_jcc) {
            p->branch = j->op;
        }
    }
    /* A RET, or an indirect CALL or JMP, ends the block: EIP comes from it. */
    p->ret = n && n == b->ninsn && (g[n - 1].kind == K_RET || g[n - 1].kind == K_JMPI);
    if (p->ret && g[n - 1].kind == K_JMPI)
        g[n - 1].imm = b->insns[n - 1].next;    /* a CALL's return address */
    p->n = n;
}

/* May nb's code go on in the host code of the parts so far (nb is where
 * the last one's branch goes)?  Only from the pages of the first: a store
 * to any page of nb's then drops the first part too. */
static bool part_ok(const struct part *parts, unsigned np, uint32_t used, const struct block *nb,
                    uint32_t target)
{
    const struct block *b = parts[0].b;
    if (!nb || nb->eip != target || target == b->eip || !nb->npages || !nb->ninsn ||
        used + nb->ninsn > BLOCK_MAX_INSNS)
        return false;
    for (unsigned q = 1; q < np; q++)
        if (parts[q].b == nb)
            return false;
    for (uint32_t k = 0; k < nb->npages; k++) {
        bool mine = false;
        for (uint32_t m = 0; m < b->npages; m++)
            mine |= nb->ppage[k] == b->ppage[m];
        if (!mine)
            return false;
    }
    return true;
}

/* Which part instruction k of g is in. */
static unsigned part_of(const struct part *parts, unsigned np, uint32_t k)
{
    unsigned q = 0;
    while (q + 1 < np && parts[q + 1].first <= k)
        q++;
    return q;
}

/* A check's stub: mov edx, <the instruction not run, in its part>; jmp to
 * the part's exit. */
static void check_stub(struct emit *e, struct checks *cs, uint32_t s, const struct part *parts,
                       unsigned np)
{
    const struct part *p = &parts[part_of(parts, np, cs->c[s].index)];
    cs->c[s].stub = e->len;
    b1(e, 0xba); b4(e, cs->c[s].index - p->first);
    jump_back(e, p->bexit);
}

/* lea dst, [rbp + v], flags kept: into RBP, count v instructions (or give
 * them back, negative); into RCX, the budget as it would be after v more. */
static void lea_rbp(struct emit *e, unsigned dst, uint32_t v)
{
    b1(e, 0x48); b1(e, 0x8d); b1(e, modrm(2, dst, HOST_RBP)); b4(e, v);
}

/* rorx rcx, src, 32; jecxz <returned rel8>: leave unless the budget had
 * room (src, RBP or RBP plus what is to be counted, negative: its high half
 * all ones). */
static size_t budget_check(struct emit *e, unsigned src)
{
    b1(e, 0xc4); b1(e, 0xe3); b1(e, 0xfb); b1(e, 0xf0); b1(e, modrm(3, HOST_RCX, src));
    b1(e, 32);
    b1(e, 0x67);                                    /* jecxz: ECX, the high half */
    return short_jump(e, 0xe3);
}

void bt_translate(const struct cpu *c, const struct block *b, const struct bt_host *h,
                  uint8_t *buf, size_t cap, const uint8_t *at, const uint8_t *exit,
                  struct bt_out *out)
{
    memset(out, 0, sizeof(*out));
    if (!h->usable || !c->bt_tab)
        return;
    struct ginsn g[BLOCK_MAX_INSNS];
    struct part parts[BT_PARTS];
    unsigned np = 0;
    uint32_t used = 0;          /* of g */
    for (const struct block *pb = b;;) {
        struct part *p = &parts[np];
        memset(p, 0, sizeof(*p));
        p->b = pb;
        p->first = used;
        decode_part(c, pb, h, g + used, p);
        if (np == 0 && p->n + (p->branch != -2) < 2)
            return;             /* not worth the entry and exit */
        if (np && !p->nemit && p->branch == -2)
            break;              /* nothing of it in host code */
        np++;
        used += p->nemit;
        if (p->branch == -2 || np == BT_PARTS)
            break;
        /* Its JMP's or CALL's target, or its Jcc's fall-through, may be the
         * next part. */
        const struct insn *j = &pb->insns[p->n];
        uint32_t target = p->branch >= 0 ? j->next : j->imm;
        const struct block *nb = j->link[p->branch >= 0 ? 1 : 0];
        if (!part_ok(parts, np, used, nb, target))
            break;
        pb = nb;
    }
    uint32_t total = 0;         /* the instructions of the parts */
    for (unsigned q = 0; q < np; q++)
        total += parts[q].b->ninsn;
    const struct part *last = &parts[np - 1];

    struct checks cs;
    memset(&cs, 0, sizeof(cs));
emit:;                          /* the second time: with the checks' stubs placed */
    struct emit e = { buf, 0, cap, false, 0 };
    /* Ahead of the chain entry, reached by backward jumps: each part's exit,
     * which stubs jump to with EDX set (mov rax, part; jmp exit), the first
     * part's checks' stubs, and the budget's ([lea rbp, [rbp - total]]; mov
     * edx, BUDGET; jmp bexit). */
    for (unsigned q = 0; q < np; q++) {
        parts[q].bexit = e.len;
        b1(&e, 0x48); b1(&e, 0xb8); imm64(&e, (uint64_t)(uintptr_t)parts[q].b);
        jump_abs(&e, at, exit);
    }
    uint32_t nchecks = cs.placed ? cs.n : 0;   /* as the first emission counted them */
    for (uint32_t s = 0; s < nchecks; s++)
        if (!parts[part_of(parts, np, cs.c[s].index)].island)
            check_stub(&e, &cs, s, parts, np);
    cs.n = 0;
    size_t budget = e.len;
    if (np == 1)
        lea_rbp(&e, HOST_RBP, 0u - total);
    b1(&e, 0xba); b4(&e, BT_BUDGET);
    jump_back(&e, parts[0].bexit);
    /* Entered from the emu, which counted the first part: leave for the emu
     * to run it unless the budget has room for the later ones. */
    size_t go_body = SIZE_MAX;
    if (np > 1) {
        size_t no_room = e.len;
        b1(&e, 0xba); b4(&e, 0);
        jump_back(&e, parts[0].bexit);
        out->go = e.len;
        lea_rbp(&e, HOST_RCX, total - parts[0].b->ninsn);
        bind8(&e, budget_check(&e, HOST_RCX), no_room);
        go_body = jump(&e, -1);
    }
    /* The chain entry checks that the parts fit: RBP is the NOT of the
     * budget left, negative while there is some, so RBP + total is negative
     * iff they fit.  One part: lea rbp, [rbp + total], then the check; more:
     * lea rcx, [rbp + total], the check, and each part counts itself as it
     * starts (lea rbp, [rbp + ninsn]), so that leaving from one counts the
     * parts entered, as the emu would have.  Nothing there touches EFLAGS or
     * jumps when they fit. */
    while (e.len % 16)
        b1(&e, 0xcc);           /* (never run) the entry 16-byte aligned, as the buffer places blocks */
    e.entry = e.len;
    if (np == 1) {
        lea_rbp(&e, HOST_RBP, total);
        bind8(&e, budget_check(&e, HOST_RBP), budget);
        out->go = e.len;        /* entered from the emu, which counted the block */
    } else {
        lea_rbp(&e, HOST_RCX, total);
        bind8(&e, budget_check(&e, HOST_RCX), budget);
        lea_rbp(&e, HOST_RBP, parts[0].b->ninsn);
        bind(&e, go_body, e.len);
    }
    out->chain = e.entry;
    bool covered[BLOCK_MAX_INSNS + 1];
    struct stack_run srun;
    stack_run(g, used, covered, &srun);
    bool simd = false;
    for (unsigned q = 0; q < np; q++) {
        struct part *p = &parts[q];
        uint32_t end = p->first + p->nemit;
        if (p->island && cs.placed) {
            /* Its checks' stubs, near them: jmp over; the stubs; over: */
            uint32_t m = 0;
            for (uint32_t s = 0; s < nchecks; s++)
                m += part_of(parts, np, cs.c[s].index) == q;
            bool near = m * 10 < 120;
            size_t over = near ? short_jump(&e, 0xeb) : jump(&e, -1);
            for (uint32_t s = 0; s < nchecks; s++)
                if (part_of(parts, np, cs.c[s].index) == q)
                    check_stub(&e, &cs, s, parts, np);
            if (near)
                bind8(&e, over, e.len);
            else
                bind(&e, over, e.len);
        }
        if (q)
            lea_rbp(&e, HOST_RBP, p->b->ninsn);
        for (uint32_t k = p->first; k < end; k++) {
            const struct ginsn *x = &g[k];
            bool seen = fixed_flags_seen(g, k, end);
            if (k == srun.first) {
                /* rcx = ESP + hi (not wrapped; ESP itself when hi is 0): its
                 * page and the one before hold the run's bytes, checked at once
                 * (from page 0, ESP + lo would wrap: never OK). */
                unsigned high = GUEST_HOST(HV_ESP);
                if (srun.hi) {
                    b1(&e, 0x49); b1(&e, 0x8d); b1(&e, modrm(2, HOST_RCX, 4));
                    b1(&e, 0x24); b4(&e, (uint32_t)srun.hi);     /* lea rcx, [r12 + hi] */
                    high = HOST_RCX;
                }
                page_check(&e, &cs, srun.store ? BT_TAB_STORE2 : BT_TAB_LOAD2, high, k);
            }
            if (x->kind == K_SIMD && !simd) {
                /* The block's first SSE instruction: the vector unit may be
                 * the guest's (c->bt_simd, switcher_bt.h): movzx ecx, byte
                 * [rdi + bt_simd], then leave unless it is 1. */
                simd = true;
                simd_flag(&e);
                check_jump(&e, &cs, k);
            }
            if (x->o16 && !checks(x) && x->kind != K_NOP)
                b1(&e, 0x66);           /* ahead of REX (a memory access: ahead of its opcode) */
            switch (x->kind) {
            case K_ALU_RR:
                b1(&e, 0x45);                           /* REX.R REX.B: r8..r15 */
                b1(&e, x->opcode);
                if (x->opcode == 0x0f)
                    b1(&e, x->opc2);
                b1(&e, modrm(3, x->reg, x->rm));
                break;
            case K_IMUL_RI:
                b1(&e, 0x45);
                b1(&e, x->opcode);
                b1(&e, modrm(3, x->reg, x->rm));
                if (x->immsize == 1)
                    b1(&e, (uint8_t)x->imm);
                else
                    b4(&e, x->imm);
                break;
            case K_ALU_RI: {
                bool fix = (x->opcode == 0xc1 || x->opcode == 0xd1) && !x->rotate &&
                           !h->shift_as_emu[x->sub] && seen;
                if (fix)
                    shift_flags(&e, x->sub, x->rm, true);
                b1(&e, 0x41);
                b1(&e, x->opcode);
                b1(&e, modrm(3, x->sub, x->rm));
                imm_out(&e, x);
                if (fix)
                    shift_flags(&e, x->sub, x->rm, false);
                break;
            }
            case K_ALU_AI: {            /* as 81 /op (F7 /0) on r8d, 80 /op (F6 /0) on r8b */
                bool test = x->opcode == 0xa9 || x->opcode == 0xa8;
                b1(&e, 0x41);
                b1(&e, x->size == 1 ? (test ? 0xf6 : 0x80) : (test ? 0xf7 : 0x81));
                b1(&e, modrm(3, test ? 0 : (unsigned)(x->opcode >> 3), 0));
                imm_out(&e, x);
                break;
            }
            case K_INCDEC:
                b1(&e, 0x41);
                b1(&e, 0xff);
                b1(&e, modrm(3, x->sub, x->rm));
                break;
            case K_MOV_RI:
                b1(&e, 0x41);
                if (x->size == 1) {
                    b1(&e, (uint8_t)(0xb0 | x->rm));
                    b1(&e, (uint8_t)x->imm);
                } else {
                    b1(&e, (uint8_t)(0xb8 | x->rm));
                    imm_out(&e, x);
                }
                break;
            case K_CDQ:                 /* mov eax, r8d; cdq; mov r10d, edx */
                b1(&e, 0x44); b1(&e, 0x89); b1(&e, modrm(3, HV_EAX, HOST_RAX));
                b1(&e, 0x99);
                b1(&e, 0x41); b1(&e, 0x89); b1(&e, modrm(3, HOST_RDX, HV_EDX));
                break;
            case K_SHIFT_CL:            /* mov ecx, r9d; shl/shr/sar r, cl */
                b1(&e, 0x44); b1(&e, 0x89); b1(&e, modrm(3, HV_ECX, HOST_RCX));
                b1(&e, 0x41); b1(&e, 0xd3); b1(&e, modrm(3, x->sub, x->rm));
                break;
            case K_LEA:
                lea32(&e, GUEST_HOST(x->reg), &x->m);
                break;
            case K_MUL:
                /* mov eax, r8d; mul/imul r or [rsi + rdx] (checked: the address
                 * is read before EDX is written); mov r8d, eax; mov r10d, edx */
                if (x->rm == 8) {
                    access_check(&e, &cs, x, false, k);     /* (4 bytes) */
                }
                b1(&e, 0x44); b1(&e, 0x89); b1(&e, modrm(3, HV_EAX, HOST_RAX));
                if (x->rm == 8) {
                    b1(&e, 0xf7); b1(&e, modrm(0, x->sub, 4)); b1(&e, (uint8_t)(HOST_RDX << 3 | HOST_RSI));
                } else {
                    b1(&e, 0x41); b1(&e, 0xf7); b1(&e, modrm(3, x->sub, x->rm));
                }
                b1(&e, 0x41); b1(&e, 0x89); b1(&e, modrm(3, HOST_RAX, HV_EAX));
                b1(&e, 0x41); b1(&e, 0x89); b1(&e, modrm(3, HOST_RDX, HV_EDX));
                break;
            case K_JMPI: {
                /* eax = the target (from a register, or a checked load); a CALL
                 * then checks and makes its push; then mov [rdi + eip], eax.
                 * Nothing the guest sees changes before the last check. */
                if (x->rm < 8) {
                    b1(&e, 0x44); b1(&e, 0x89); b1(&e, modrm(3, x->rm, HOST_RAX));   /* mov eax, r */
                } else {
                    access_check(&e, &cs, x, false, k);     /* (4 bytes) */
                    b1(&e, 0x8b); b1(&e, modrm(0, HOST_RAX, 4));
                    b1(&e, (uint8_t)(HOST_RDX << 3 | HOST_RSI));                   /* mov eax, [m] */
                }
                if (x->sub == 2) {
                    static const struct gmem below_esp = { HV_ESP, -1, 0, (uint32_t)-4 };
                    lea32(&e, HOST_RDX, &below_esp);
                    b1(&e, 0x48); b1(&e, 0x8d); b1(&e, modrm(1, HOST_RCX, HOST_RDX)); b1(&e, 3);
                    page_check(&e, &cs, BT_TAB_STORE, HOST_RCX, k);
                    b1(&e, 0xc7); b1(&e, modrm(0, 0, 4));
                    b1(&e, (uint8_t)(HOST_RDX << 3 | HOST_RSI)); b4(&e, x->imm);   /* mov [m], next */
                    b1(&e, 0x45); b1(&e, 0x8d);                                     /* lea r12d, [r12 - 4] */
                    b1(&e, modrm(1, GUEST_HOST(HV_ESP), GUEST_HOST(HV_ESP)));
                    b1(&e, 0x24); b1(&e, 0xfc);
                }
                break;          /* EAX: the target, for ret_chain */
            }
            case K_LOAD: case K_STORE: case K_STORE_I: case K_PUSH: case K_POP: case K_PUSH_I:
            case K_RMW: case K_RET: {
                if (!covered[k])
                    access_check(&e, &cs, x, stores(x), k);
                /* the access: op reg, [rsi + rdx] (or op [rsi + rdx], reg or
                 * imm), or, checked with its run (stack_run), [rsi + r12 + disp] */
                if (x->o16)
                    b1(&e, 0x66);
                uint8_t p = (uint8_t)(0x40 | (x->digit ? 0 : 4) | (covered[k] ? 2 : 0));
                if (p != 0x40)
                    b1(&e, p);                                      /* REX.R: r8..r15; REX.X: r12 */
                if (x->kind == K_PUSH || x->kind == K_POP || x->kind == K_RET)
                    b1(&e, x->kind == K_PUSH ? 0x89 : 0x8b);        /* mov [m], reg / reg, [m] */
                else
                    b1(&e, x->opcode);
                if (x->opcode == 0x0f)
                    b1(&e, x->opc2);
                mem_operand(&e, x, x->digit ? x->sub : x->reg, covered[k]);
                imm_out(&e, x);
                if (x->kind == K_PUSH || x->kind == K_POP || x->kind == K_PUSH_I) {
                    /* lea r12d, [r12 -+ 4]: ESP moves after the access (LEA: flags kept) */
                    b1(&e, 0x45); b1(&e, 0x8d);
                    b1(&e, modrm(1, GUEST_HOST(HV_ESP), GUEST_HOST(HV_ESP)));
                    b1(&e, 0x24);                                   /* SIB: base r12, no index */
                    b1(&e, x->kind == K_POP ? 0x04 : 0xfc);
                }
                if (x->kind == K_RET) {
                    /* lea r12d, [r12 + 4 + imm16] (EAX: the target, for ret_chain) */
                    b1(&e, 0x45); b1(&e, 0x8d);
                    b1(&e, modrm(2, GUEST_HOST(HV_ESP), GUEST_HOST(HV_ESP)));
                    b1(&e, 0x24);
                    b4(&e, 4 + x->imm);
                }
                break;
            }
            case K_NOP:
                break;
            case K_SIMD: {
                /* [the check]; [66 | F2 | F3] [REX] 0F [38 | 3A] op ModRM [imm8]:
                 * XMM registers as they are, a general one as r8+n, memory as
                 * [rsi + rdx] or, in a stack run, [rsi + r12 + disp]. */
                bool mem = x->rm == 8;
                if (mem && !covered[k]) {
                    access_check(&e, &cs, x, stores(x), k);
                    if (x->sinfo & SI_ALIGN) {
                        /* movzx ecx, dl; movzx ecx, byte [rbx + rcx + ALIGN16] */
                        b1(&e, 0x0f); b1(&e, 0xb6); b1(&e, modrm(3, HOST_RCX, HOST_RDX));
                        b1(&e, 0x0f); b1(&e, 0xb6); b1(&e, modrm(2, HOST_RCX, 4));
                        b1(&e, (uint8_t)(HOST_RCX << 3 | HOST_RBX));
                        b4(&e, BT_TAB_ALIGN16);
                        check_jump(&e, &cs, k);
                    }
                }
                if (x->spfx)
                    b1(&e, x->spfx);
                uint8_t p = (uint8_t)(0x40 | (x->greg ? 4 : 0) | (mem && covered[k] ? 2 : 0) |
                                      (!mem && x->grm ? 1 : 0));
                if (p != 0x40)
                    b1(&e, p);
                b1(&e, 0x0f);
                if (x->smap)
                    b1(&e, x->smap);
                b1(&e, x->sop);
                if (mem)
                    mem_operand(&e, x, x->reg, covered[k]);
                else
                    b1(&e, modrm(3, x->reg, x->rm));
                imm_out(&e, x);
                break;
            }
            default:
                return;
            }
            if (seen && x->imul)
                imul_flags(&e, x->reg);
            else if (seen && is_logic(x) && !h->logic_af_clear)
                logic_flags(&e);
        }
        if (q + 1 < np && p->branch >= 0)
            p->taken = jump(&e, p->branch);         /* j<cc> taken: after the last part */
    }
    /* Fell off the end of the last part: its n instructions ran.  Its
     * branch goes on to the next block's host code where it can (chain),
     * as the emu's GOTO_AT would go on to that block. */
    const struct insn *j = &last->b->insns[last->n];
    uint32_t n = last->n;
    struct sites st = { out->site, out->site_back, 0 };
    if (last->branch >= 0) {
        size_t taken = jump(&e, last->branch);      /* j<cc> taken */
        chain(&e, b, &j->link[1], j->next, n | BT_BRANCH, last->bexit, &st, SIZE_MAX);
        chain(&e, b, &j->link[0], j->imm, n | BT_BRANCH | BT_TAKEN, last->bexit, &st, taken);
    } else if (last->branch == -1) {
        chain(&e, b, &j->link[0], j->imm, n | BT_BRANCH | BT_TAKEN, last->bexit, &st, SIZE_MAX);
    } else if (last->ret) {
        ret_chain(&e, (n - 1) | BT_BRANCH | BT_INDIRECT, last->bexit);
    } else {
        b1(&e, 0xba); b4(&e, n);
        bind(&e, jump(&e, -1), last->bexit);
    }
    /* The other parts' Jcc taken: as the last part's. */
    for (unsigned q = 0; q + 1 < np; q++) {
        const struct part *p = &parts[q];
        if (p->branch < 0)
            continue;
        const struct insn *pj = &p->b->insns[p->n];
        chain(&e, b, &pj->link[0], pj->imm, p->n | BT_BRANCH | BT_TAKEN, p->bexit, &st,
              p->taken);
    }
    if (e.overflow)
        return;
    if (!cs.placed && cs.n) {
        cs.placed = true;
        for (uint32_t s = 0; s < cs.n; s++) {
            unsigned q = part_of(parts, np, cs.c[s].index);
            parts[q].island |= q > 0;
        }
        goto emit;
    }
    out->ninsn = parts[0].n + (parts[0].branch != -2);
    out->parts = np;
    out->len = e.len;
    out->simd = simd;
}

/* ---- probing the host CPU ---- */

/* EFLAGS after `insn` on x (and y) from flags fin; one asm per immediate
 * form, as the translator copies them.  The pushes stay clear of the red
 * zone, where the compiler may keep locals. */
#define PROBE(insn, x, y, fin, f) \
    __asm__ volatile("lea -128(%%rsp), %%rsp; push %2; popfq; " insn "; pushfq; pop %1; " \
                     "lea 128(%%rsp), %%rsp" \
                     : "+r"(x), "=r"(f) : "r"(fin), "r"(y) : "cc")

static uint64_t probe_shift(unsigned sub, unsigned count, uint32_t v, uint64_t fin)
{
    uint64_t f = 0;
    uint32_t y = 0;
    (void)y;
#define SH(n) case n: \
        if (sub == 0) PROBE("roll $" #n ", %k0", v, y, fin, f); \
        else if (sub == 1) PROBE("rorl $" #n ", %k0", v, y, fin, f); \
        else if (sub == 4) PROBE("shll $" #n ", %k0", v, y, fin, f); \
        else if (sub == 5) PROBE("shrl $" #n ", %k0", v, y, fin, f); \
        else PROBE("sarl $" #n ", %k0", v, y, fin, f); \
        break;
    switch (count) {
    SH(1) SH(2) SH(3) SH(4) SH(5) SH(6) SH(7) SH(8) SH(9) SH(10) SH(11) SH(12) SH(13)
    SH(14) SH(15) SH(16) SH(17) SH(18) SH(19) SH(20) SH(21) SH(22) SH(23) SH(24) SH(25)
    SH(26) SH(27) SH(28) SH(29) SH(30) SH(31)
    default: break;
    }
#undef SH
    return f;
}

static void probe(struct bt_host *h)
{
    static const uint32_t vals[] = { 0, 1, 2, 0x0f, 0x10, 0x7f, 0x80, 0xff, 0x1234, 0x8000,
                                     0xffff, 0x12345678, 0x7fffffff, 0x80000000,
                                     0x80000001, 0xc0000000, 0xf0f0f0f0, 0xffffffff };
    const size_t nv = sizeof(vals) / sizeof(vals[0]);
    unsigned a, b, cc, d;
    bool lahf = __get_cpuid(0x80000001u, &a, &b, &cc, &d) && (cc & 1u);
    bool bmi2 = __get_cpuid_count(7, 0, &a, &b, &cc, &d) && (b & (1u << 8));
    h->usable = lahf && bmi2;
    h->logic_af_clear = true;
    memset(h->shift_as_emu, 0, sizeof(h->shift_as_emu));
    h->shift_as_emu[0] = h->shift_as_emu[1] = true;
    h->shift_as_emu[4] = h->shift_as_emu[5] = h->shift_as_emu[7] = true;
    for (size_t i = 0; i < nv; i++) {
        for (size_t j = 0; j < nv; j++) {
            for (uint64_t fin = 0x202; fin <= 0xad7; fin += 0x8d5) {   /* arith flags 0, 1 */
                uint32_t y = vals[j];
#define LOGIC(insn) do {                                                    \
        uint32_t x = vals[i];                                               \
        uint64_t f;                                                         \
        PROBE(insn, x, y, fin, f);                                          \
        h->logic_af_clear &= !(f & 0x10);                                   \
    } while (0)
                LOGIC("andl %3, %k0");
                LOGIC("orl %3, %k0");
                LOGIC("xorl %3, %k0");
                LOGIC("testl %3, %k0");
                LOGIC("andb %b3, %b0");
                LOGIC("xorw %w3, %w0");
#undef LOGIC
            }
        }
        for (unsigned sub = 0; sub <= 7; sub++) {
            if (sub == 2 || sub == 3 || sub == 6)
                continue;
            for (unsigned n = 1; n < 32; n++) {
                for (uint64_t fin = 0x202; fin <= 0xad7; fin += 0x8d5) {
                    uint32_t v = vals[i];
                    uint64_t f = probe_shift(sub, n, v, fin);
                    if (sub < 2) {      /* the emu's: ROL OF = MSB ^ CF (bit 0), ROR MSB ^ bit 30 */
                        uint32_t r = sub == 0 ? v << n | v >> (32 - n) : v >> n | v << (32 - n);
                        bool of = sub == 0 ? ((r >> 31) ^ r) & 1 : ((r >> 31) ^ (r >> 30)) & 1;
                        if (!!(f & 0x800) != of || (f & 0x10) != (fin & 0x10))
                            h->shift_as_emu[sub] = false;
                        continue;
                    }
                    /* the emu's: AF 0; OF = SHL: MSB(result) ^ CF, SHR:
                     * MSB(operand), SAR: 0 */
                    uint32_t r = sub == 4 ? v << n : sub == 5 ? v >> n
                                                              : (uint32_t)((int32_t)v >> n);
                    bool cf = sub == 4 ? (v >> (32 - n)) & 1 : (v >> (n - 1)) & 1;
                    bool of = sub == 4 ? ((r >> 31) ^ cf) : sub == 5 ? v >> 31 : 0;
                    if ((f & 0x10) || !!(f & 0x800) != of)
                        h->shift_as_emu[sub] = false;
                }
            }
        }
    }
}

static struct bt_host probed;
static pthread_once_t probed_once = PTHREAD_ONCE_INIT;

static void probe_once(void)
{
    probe(&probed);
}

/* The CPU does not change under a process: probed once (some 70 us). */
void bt_probe_host(struct bt_host *h)
{
    pthread_once(&probed_once, probe_once);
    *h = probed;
}

#endif
