/*
 * switcher_emu_decode.c: IA-32 instruction decoding into blocks of insns.
 *
 * Intel SDM vol. 2, chapter 2 (instruction format) and appendix A (opcode
 * map).  Only 32-bit addressing exists here: 0x67 is refused with #UD, as are
 * MMX and SSE, which our CPUID does not advertise.  The x87 escapes run on
 * the host's x87 (switcher_emu_x87host.c).  A block runs until a
 * control transfer, an exit to the host, BLOCK_MAX_INSNS, or the end of its
 * first page; the decoder then appends an EMU(op_fallthrough) to the next address.
 */
#include "switcher_emu.h"

extern emu_fn *const EMU(emu_alu)[3][9][5];
extern emu_fn *EMU(emu_fused_cmp_jcc)(emu_fn *cmp, int cond);
extern emu_fn *const EMU(emu_mov_generic)[5];
extern emu_fn *const EMU(emu_mov32)[5];

enum { F_RR, F_RI, F_RM, F_MR, F_MI };

#define MAX_INSN_LEN 15

struct dec {
    uint8_t buf[MAX_INSN_LEN];
    unsigned avail;         /* bytes of buf that could be fetched */
    unsigned pos;
    uint32_t eip;
    bool fetch_fault;       /* needed a byte past avail */
    bool too_long;
    bool fault_gp;          /* ... which is past the CS limit: #GP(0), not #PF */
    uint32_t fault_addr, fault_err;     /* the #PF for the byte at avail */
};

static uint8_t fetch(struct dec *d)
{
    if (d->pos >= d->avail) {
        if (d->pos >= MAX_INSN_LEN)
            d->too_long = true;
        else
            d->fetch_fault = true;
        return 0;
    }
    return d->buf[d->pos++];
}

static uint32_t fetch16(struct dec *d)
{
    uint32_t lo = fetch(d);
    return lo | (uint32_t)fetch(d) << 8;
}

static uint32_t fetch32(struct dec *d)
{
    uint32_t lo = fetch16(d);
    return lo | fetch16(d) << 16;
}

/* Iz: a word or a dword immediate, by operand size. */
static uint32_t fetch_z(struct dec *d, int sz)
{
    return sz == 2 ? fetch16(d) : fetch32(d);
}

static uint32_t fetch_sb(struct dec *d)
{
    return (uint32_t)(int32_t)(int8_t)fetch(d);
}

/* ModRM, SIB and displacement (SDM vol. 2, 2.1.5, tables 2-2 and 2-3). */
static void modrm(struct dec *d, struct insn *i)
{
    uint8_t m = fetch(d);
    unsigned mod = m >> 6, rm = m & 7;
    i->reg = (m >> 3) & 7;
    if (mod == 3) {
        i->rm = (uint8_t)rm;
        return;
    }
    i->rm = RM_MEM;
    i->base = REG_NONE;
    i->index = REG_NONE;
    if (rm == 4) {
        uint8_t sib = fetch(d);
        unsigned idx = (sib >> 3) & 7, base = sib & 7;
        i->scale = sib >> 6;
        if (idx != 4)
            i->index = (uint8_t)idx;
        if (base == 5 && mod == 0)
            i->disp = fetch32(d);
        else
            i->base = (uint8_t)base;
    } else if (rm == 5 && mod == 0) {
        i->disp = fetch32(d);
    } else {
        i->base = (uint8_t)rm;
    }
    if (mod == 1)
        i->disp = fetch_sb(d);
    else if (mod == 2)
        i->disp = fetch32(d);
}

static bool is_mem(const struct insn *i)
{
    return i->rm == RM_MEM;
}

/* Pick the ALU handler specialised for this operation, size and form. */
static emu_fn *alu_fn(int op, int sz, int form)
{
    return EMU(emu_alu)[sz_log(sz)][op][form];
}

static emu_fn *mov_fn(int sz, int form)
{
    return sz == 4 ? EMU(emu_mov32)[form] : EMU(emu_mov_generic)[form];
}

/* E,G (dst=E) or G,E (dst=G) forms of a two-operand instruction. */
static int eg_form(struct insn *i, bool g_is_dst)
{
    if (!is_mem(i)) {
        if (g_is_dst) {
            uint8_t t = i->reg;
            i->reg = i->rm;
            i->rm = t;
        }
        return F_RR;
    }
    return g_is_dst ? F_RM : F_MR;
}

/* Instruction outcome for the block builder. */
enum { D_NEXT, D_END };

static void set_ud(struct insn *i, const struct dec *d)
{
    i->fn = EMU(op_ud);
    i->imm2 = d->pos;
}

/* One-byte opcodes 00-3F with an ALU operation in bits 5:3. */
static void dec_alu(struct dec *d, struct insn *i, uint8_t b, int osz, bool *lockable)
{
    int op = b >> 3, form = b & 7;
    int sz = (form & 1) ? osz : 1;
    i->op = (uint8_t)op;
    i->size = (uint8_t)sz;
    if (form >= 4) {                        /* AL/eAX, imm */
        i->rm = HV_EAX;
        i->imm = form == 4 ? fetch(d) : fetch_z(d, sz);
        i->fn = alu_fn(op, sz, F_RI);
        return;
    }
    modrm(d, i);
    int f = eg_form(i, form >= 2);
    *lockable = f == F_MR && op != ALU_CMP;
    i->fn = alu_fn(op, sz, f);
}

/* Group 1: 80 Eb,Ib / 81 Ev,Iz / 83 Ev,Ib. */
static void dec_group1(struct dec *d, struct insn *i, uint8_t b, int osz, bool *lockable)
{
    int sz = (b == 0x80 || b == 0x82) ? 1 : osz;
    modrm(d, i);
    int op = i->reg;
    i->op = (uint8_t)op;
    i->size = (uint8_t)sz;
    i->imm = (b == 0x81 ? fetch_z(d, sz) : fetch_sb(d)) & sz_mask(sz);
    *lockable = is_mem(i) && op != ALU_CMP;
    i->fn = alu_fn(op, sz, is_mem(i) ? F_MI : F_RI);
}

/* Group 2 shifts: C0/C1 imm8, D0/D1 by one, D2/D3 by CL. */
static void dec_shift(struct dec *d, struct insn *i, uint8_t b, int osz)
{
    int sz = (b & 1) ? osz : 1;
    modrm(d, i);
    i->op = i->reg;
    i->size = (uint8_t)sz;
    if (b >= 0xd2) {
        i->fn = EMU(op_shift_cl);
        return;
    }
    i->imm = b <= 0xc1 ? fetch(d) : 1;
    i->fn = EMU(op_shift_imm);
    unsigned n = i->imm & 31;
    if (sz == 4 && !is_mem(i) && n != 0) {
        i->imm = n;
        if (i->op == 4 || i->op == 6)
            i->fn = EMU(op_shl32_ri);
        else if (i->op == 5)
            i->fn = EMU(op_shr32_ri);
        else if (i->op == 7)
            i->fn = EMU(op_sar32_ri);
    }
}

/* Group 3: F6/F7. */
static void dec_group3(struct dec *d, struct insn *i, uint8_t b, int osz, bool *lockable)
{
    int sz = b == 0xf6 ? 1 : osz;
    modrm(d, i);
    i->size = (uint8_t)sz;
    switch (i->reg) {
    case 0:
    case 1:
        i->imm = sz == 1 ? fetch(d) : fetch_z(d, sz);
        i->op = ALU_TEST;
        i->fn = alu_fn(ALU_TEST, sz, is_mem(i) ? F_MI : F_RI);
        break;
    case 2:
    case 3:
        i->op = i->reg;         /* NOT, NEG */
        i->fn = EMU(op_unary);
        *lockable = is_mem(i);
        break;
    default:
        i->op = i->reg;         /* MUL IMUL DIV IDIV */
        i->fn = EMU(op_muldiv);
        break;
    }
}

/* FE (group 4) and FF (group 5). */
static int dec_group45(struct dec *d, struct insn *i, uint8_t b, int osz, bool *lockable)
{
    modrm(d, i);
    i->size = (uint8_t)(b == 0xfe ? 1 : osz);
    switch (i->reg) {
    case 0:
    case 1:
        i->op = i->reg;
        i->fn = EMU(op_unary);
        *lockable = is_mem(i);
        return D_NEXT;
    }
    if (b == 0xfe) {
        set_ud(i, d);
        return D_END;
    }
    switch (i->reg) {
    case 2:
        i->size = 4;
        i->fn = EMU(op_call_e);
        return D_END;
    case 4:
        i->size = 4;
        i->fn = EMU(op_jmp_e);
        return D_END;
    case 3: case 5:
        if (!is_mem(i) || osz != 4) {
            set_ud(i, d);           /* m16:16 far pointers: not supported */
            return D_END;
        }
        i->op = 1;
        i->fn = i->reg == 3 ? EMU(op_call_far) : EMU(op_jmp_far);
        return D_END;
    case 6:
        i->fn = EMU(op_push_e);
        return D_NEXT;
    default:
        set_ud(i, d);
        return D_END;
    }
}

static void dec_movx(struct dec *d, struct insn *i, uint8_t b, int osz)
{
    modrm(d, i);
    i->size = (uint8_t)osz;
    i->imm2 = (b & 1) ? 2 : 1;
    i->op = b >= 0xbe;
    i->fn = EMU(op_movx);
    if (b == 0xb6 && osz == 4)
        i->fn = is_mem(i) ? EMU(op_movzxb32_m) : EMU(op_movzxb32_r);
}

/* Two-byte opcodes 0F xx. */
static int dec_0f(struct dec *d, struct insn *i, int osz, bool *lockable)
{
    uint8_t b = fetch(d);
    if (b >= 0x80 && b <= 0x8f) {
        uint32_t rel = fetch_z(d, 4);
        i->op = b & 15;
        i->fn = EMU(op_jcc);
        i->imm = d->eip + d->pos + rel;
        return D_END;
    }
    if (b >= 0x40 && b <= 0x4f) {
        modrm(d, i);
        i->op = b & 15;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_cmovcc);
        return D_NEXT;
    }
    if (b >= 0x90 && b <= 0x9f) {
        modrm(d, i);
        i->op = b & 15;
        i->size = 1;
        i->fn = EMU(op_setcc);
        return D_NEXT;
    }
    if (b >= 0xc8) {
        i->rm = b & 7;
        i->fn = EMU(op_bswap);
        return D_NEXT;
    }
    switch (b) {
    case 0x0d: case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e:
    case 0x1f:
        modrm(d, i);                /* prefetch hints and multi-byte NOPs */
        i->fn = EMU(op_nop);
        return D_NEXT;
    case 0x31:
        i->fn = EMU(op_rdtsc);
        return D_NEXT;
    case 0x02: case 0x03:
        modrm(d, i);
        i->size = (uint8_t)osz;
        i->op = b == 0x03;          /* LAR 0, LSL 1 */
        i->fn = EMU(op_lar_lsl);
        return D_NEXT;
    case 0x34: case 0x35:
        i->op = b == 0x35;          /* SYSENTER 0, SYSEXIT 1 */
        i->fn = EMU(op_sysenter);
        return D_END;
    case 0x30: case 0x32:
        i->op = b == 0x30;          /* WRMSR 1, RDMSR 0 */
        i->fn = EMU(op_msr);
        return D_NEXT;
    case 0x20: case 0x22: {
        /* MOV r32, CRn / MOV CRn, r32: the mod field is ignored. */
        uint8_t m = fetch(d);
        i->reg = (m >> 3) & 7;
        i->rm = m & 7;
        if (i->reg == 1 || i->reg > 4) {
            set_ud(i, d);
            return D_END;
        }
        i->fn = b == 0x20 ? EMU(op_mov_from_cr) : EMU(op_mov_to_cr);
        return b == 0x20 ? D_NEXT : D_END;
    }
    case 0x01:
        modrm(d, i);
        i->size = (uint8_t)osz;
        if (i->reg <= 3 && is_mem(i)) {         /* SGDT SIDT LGDT LIDT */
            i->op = i->reg;
            i->fn = EMU(op_dtr);
            return i->reg >= 2 ? D_END : D_NEXT;
        }
        if (i->reg == 4 || i->reg == 6) {       /* SMSW, LMSW */
            i->op = i->reg == 6;
            i->fn = EMU(op_msw);
            return D_NEXT;
        }
        if (i->reg != 7 || !is_mem(i)) {
            set_ud(i, d);
            return D_END;
        }
        i->fn = EMU(op_invlpg);
        return D_END;
    case 0x00:
        modrm(d, i);
        i->size = (uint8_t)osz;
        if (i->reg == 4 || i->reg == 5) {
            i->op = (uint8_t)(i->reg - 2);      /* VERR 2, VERW 3 */
            i->fn = EMU(op_verify);
            return D_NEXT;
        }
        if (i->reg > 3) {
            set_ud(i, d);
            return D_END;
        }
        i->op = i->reg;             /* SLDT STR LLDT LTR */
        i->fn = EMU(op_sysseg);
        return D_NEXT;
    case 0x06:
        i->fn = EMU(op_clts);
        return D_NEXT;
    case 0x08: case 0x09:
        i->fn = EMU(op_wbinvd);     /* INVD, WBINVD */
        return D_NEXT;
    case 0xa2:
        i->fn = EMU(op_cpuid);
        return D_NEXT;
    case 0xa0: case 0xa8:
        i->reg = b == 0xa0 ? 4 : 5;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_push_sreg);
        return D_NEXT;
    case 0xa1: case 0xa9:
        i->reg = b == 0xa1 ? 4 : 5;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_pop_sreg);
        return D_NEXT;
    case 0xa3: case 0xab: case 0xb3: case 0xbb:
        modrm(d, i);
        i->size = (uint8_t)osz;
        i->op = (uint8_t)((b >> 3) & 3);    /* A3 BT, AB BTS, B3 BTR, BB BTC */
        i->fn = EMU(op_bt);
        *lockable = is_mem(i) && i->op != 0;
        return D_NEXT;
    case 0xba:
        modrm(d, i);
        if (i->reg < 4) {
            set_ud(i, d);
            return D_END;
        }
        i->size = (uint8_t)osz;
        i->op = (uint8_t)(i->reg - 4);
        i->imm = fetch(d);
        i->imm2 = 1;
        i->fn = EMU(op_bt);
        *lockable = is_mem(i) && i->op != 0;
        return D_NEXT;
    case 0xa4: case 0xa5: case 0xac: case 0xad:
        modrm(d, i);
        i->size = (uint8_t)osz;
        i->op = b >= 0xac;
        i->imm2 = b & 1;
        if (!(b & 1))
            i->imm = fetch(d);
        i->fn = EMU(op_shxd);
        return D_NEXT;
    case 0xaf:
        modrm(d, i);
        i->size = (uint8_t)osz;
        i->fn = EMU(op_imul);
        return D_NEXT;
    case 0xb0: case 0xb1:
        modrm(d, i);
        i->size = (uint8_t)(b == 0xb0 ? 1 : osz);
        i->fn = EMU(op_cmpxchg);
        *lockable = is_mem(i);
        return D_NEXT;
    case 0xb6: case 0xb7: case 0xbe: case 0xbf:
        dec_movx(d, i, b, osz);
        return D_NEXT;
    case 0xbc: case 0xbd:
        modrm(d, i);
        i->size = (uint8_t)osz;
        i->op = b == 0xbd;
        i->fn = EMU(op_bsx);
        return D_NEXT;
    case 0xc0: case 0xc1:
        modrm(d, i);
        i->size = (uint8_t)(b == 0xc0 ? 1 : osz);
        i->fn = EMU(op_xadd);
        *lockable = is_mem(i);
        return D_NEXT;
    case 0xc7:
        modrm(d, i);
        if (i->reg != 1 || !is_mem(i)) {
            set_ud(i, d);
            return D_END;
        }
        i->fn = EMU(op_cmpxchg8b);
        *lockable = true;
        return D_NEXT;
    default:
        set_ud(i, d);
        return D_END;
    }
}

static int dec_string(struct insn *i, uint8_t b, int osz)
{
    static const uint8_t kind[] = { 0, 0, 1, 1, 0, 0, 2, 2, 3, 3, 4, 4 };   /* A4..AF */
    i->size = (uint8_t)((b & 1) ? osz : 1);
    i->op = kind[b - 0xa4];
    i->fn = EMU(op_string);
    return D_NEXT;
}

/*
 * x87 escapes D8..DF (SDM vol. 2, appendix A.4).  Only encodings this CPU
 * executes reach the host's x87: the register forms in x87_reg_ok (the
 * documented ones and the long-standing aliases FSTP1, FCOM2, FCOMP3,
 * FXCH4, FCOMP5, FFREEP, FXCH7, FSTP8 and FSTP9), and the memory forms whose
 * operand x87_mem gives; anything else is #UD.
 */
static const uint64_t x87_reg_ok[8] = {
    ~0ull,                                          /* D8 */
    0x0000ffffull | 1ull << 16 | 0xff000000ull | 0x3ull << 32 | 0x3ull << 36 |
        0x7full << 40 | 0xffffull << 48,            /* D9 */
    0xffffffffull | 1ull << 41,                     /* DA */
    0xffffffffull | 0x3ull << 34 | 0xffffull << 40, /* DB */
    ~0ull,                                          /* DC */
    0xffffffffffffull,                              /* DD */
    0x00ffffffull | 1ull << 25 | 0xffffffffull << 32,   /* DE */
    0xffffffffull | 1ull << 32 | 0xffffull << 40,   /* DF */
};

#define XR(n) (X87_READ | (n))
#define XW(n) (X87_WRITE | (n))
#define XC X87_CONTROL
#define XN (X87_CONTROL | X87_NOWAIT)
/* Memory forms by escape and ModRM.reg: operand size and direction; 0 is #UD. */
static const uint16_t x87_mem[8][8] = {
    { XR(4), XR(4), XR(4), XR(4), XR(4), XR(4), XR(4), XR(4) },             /* D8 m32fp */
    { XR(4), 0, XW(4), XW(4), XC | XR(28), XC | XR(2), XN | XW(28), XN | XW(2) },   /* D9 */
    { XR(4), XR(4), XR(4), XR(4), XR(4), XR(4), XR(4), XR(4) },             /* DA m32int */
    { XR(4), XW(4), XW(4), XW(4), 0, XR(10), 0, XW(10) },                   /* DB */
    { XR(8), XR(8), XR(8), XR(8), XR(8), XR(8), XR(8), XR(8) },             /* DC m64fp */
    { XR(8), XW(8), XW(8), XW(8), XC | XR(108), 0, XN | XW(108), XN | XW(2) },  /* DD */
    { XR(2), XR(2), XR(2), XR(2), XR(2), XR(2), XR(2), XR(2) },             /* DE m16int */
    { XR(2), XW(2), XW(2), XW(2), XR(10), XR(8), XW(10), XW(8) },           /* DF */
};
#undef XR
#undef XW
#undef XC
#undef XN

static int dec_x87(struct dec *d, struct insn *i, uint8_t b)
{
    unsigned esc = b & 7u;
    uint8_t m = d->pos < d->avail ? d->buf[d->pos] : 0;
    modrm(d, i);
    if (d->fetch_fault)
        return D_END;
    i->op = (uint8_t)esc;
    i->imm2 = m;
    if (m >= 0xc0) {
        if (!((x87_reg_ok[esc] >> (m - 0xc0)) & 1)) {
            set_ud(i, d);
            return D_END;
        }
        uint32_t info = 0;
        if (esc == 3 && (m == 0xe2 || m == 0xe3))
            info = X87_CONTROL | X87_NOWAIT;        /* FNCLEX, FNINIT */
        else if (esc == 7 && m == 0xe0)
            info = X87_CONTROL | X87_NOWAIT | X87_STSW_AX;  /* FNSTSW AX */
        else if ((esc == 3 || esc == 7) && m >= 0xe8 && m <= 0xf7)
            info = X87_FLAGS;                       /* F(U)COMI(P) */
        i->imm = info;
    } else {
        uint32_t info = x87_mem[esc][i->reg];
        if (!info) {
            set_ud(i, d);
            return D_END;
        }
        i->imm = info;
    }
    i->fn = EMU(op_x87);
    return D_NEXT;
}

/* Everything after the prefixes of a one-byte opcode. */
static int dec_main(struct dec *d, struct insn *i, uint8_t b, int osz, bool *lockable)
{
    if (b < 0x40 && (b & 7) < 6) {
        dec_alu(d, i, b, osz, lockable);
        return D_NEXT;
    }
    if (b >= 0x40 && b <= 0x4f) {
        i->rm = b & 7;
        i->size = (uint8_t)osz;
        i->op = b >= 0x48;
        i->fn = osz == 4 ? (b >= 0x48 ? EMU(op_dec32_r) : EMU(op_inc32_r)) : EMU(op_unary);
        return D_NEXT;
    }
    if (b >= 0x50 && b <= 0x5f) {
        i->rm = b & 7;
        i->size = (uint8_t)osz;
        if (b < 0x58)
            i->fn = osz == 4 ? EMU(op_push32_r) : EMU(op_push_r);
        else
            i->fn = osz == 4 ? EMU(op_pop32_r) : EMU(op_pop_r);
        return D_NEXT;
    }
    if (b >= 0x70 && b <= 0x7f) {
        uint32_t rel = fetch_sb(d);
        i->op = b & 15;
        i->fn = EMU(op_jcc);
        i->imm = d->eip + d->pos + rel;
        return D_END;
    }
    if (b >= 0x91 && b <= 0x97) {
        i->rm = b & 7;
        i->reg = HV_EAX;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_xchg);
        return D_NEXT;
    }
    if (b >= 0xb0 && b <= 0xbf) {
        int sz = b < 0xb8 ? 1 : osz;
        i->rm = b & 7;
        i->size = (uint8_t)sz;
        i->imm = sz == 1 ? fetch(d) : fetch_z(d, sz);
        i->fn = mov_fn(sz, F_RI);
        return D_NEXT;
    }
    if ((b >= 0xa4 && b <= 0xa7) || (b >= 0xaa && b <= 0xaf))
        return dec_string(i, b, osz);

    switch (b) {
    case 0x06: case 0x0e: case 0x16: case 0x1e:
        i->reg = b >> 3;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_push_sreg);
        return D_NEXT;
    case 0x07: case 0x17: case 0x1f:
        i->reg = b >> 3;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_pop_sreg);
        return D_NEXT;
    case 0x0f:
        return dec_0f(d, i, osz, lockable);
    case 0x27: case 0x2f: case 0x37: case 0x3f:
        i->op = (uint8_t)((b >> 3) - 4);    /* DAA DAS AAA AAS */
        i->fn = EMU(op_bcd);
        return D_NEXT;
    case 0x60:
        i->size = (uint8_t)osz;
        i->fn = EMU(op_pusha);
        return D_NEXT;
    case 0x61:
        i->size = (uint8_t)osz;
        i->fn = EMU(op_popa);
        return D_NEXT;
    case 0x68: case 0x6a:
        i->size = (uint8_t)osz;
        i->imm = (b == 0x68 ? fetch_z(d, osz) : fetch_sb(d)) & sz_mask(osz);
        i->fn = EMU(op_push_i);
        return D_NEXT;
    case 0x69: case 0x6b:
        modrm(d, i);
        i->size = (uint8_t)osz;
        i->imm = b == 0x69 ? fetch_z(d, osz) : fetch_sb(d);
        i->imm2 = 1;
        i->fn = EMU(op_imul);
        return D_NEXT;
    case 0x80: case 0x81: case 0x82: case 0x83:
        dec_group1(d, i, b, osz, lockable);
        return D_NEXT;
    case 0x84: case 0x85:
        modrm(d, i);
        i->size = (uint8_t)(b == 0x84 ? 1 : osz);
        i->op = ALU_TEST;
        i->fn = alu_fn(ALU_TEST, i->size, eg_form(i, false));
        return D_NEXT;
    case 0x86: case 0x87:
        modrm(d, i);
        i->size = (uint8_t)(b == 0x86 ? 1 : osz);
        i->fn = EMU(op_xchg);
        *lockable = is_mem(i);
        return D_NEXT;
    case 0x88: case 0x89: case 0x8a: case 0x8b: {
        modrm(d, i);
        int sz = (b & 1) ? osz : 1;
        i->size = (uint8_t)sz;
        i->fn = mov_fn(sz, eg_form(i, b >= 0x8a));
        return D_NEXT;
    }
    case 0x8c:
        modrm(d, i);
        if (i->reg > 5)
            break;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_mov_from_sreg);
        return D_NEXT;
    case 0x8d:
        modrm(d, i);
        if (!is_mem(i))
            break;
        i->size = (uint8_t)osz;
        i->fn = osz == 4 ? EMU(op_lea32) : EMU(op_lea);
        return D_NEXT;
    case 0x8e:
        modrm(d, i);
        if (i->reg > 5 || i->reg == 1)
            break;
        i->fn = EMU(op_mov_to_sreg);
        return D_NEXT;
    case 0x8f:
        modrm(d, i);
        if (i->reg != 0)
            break;
        i->size = (uint8_t)osz;
        i->fn = EMU(op_pop_e);
        return D_NEXT;
    case 0x90:
        i->fn = EMU(op_nop);             /* NOP, PAUSE */
        return D_NEXT;
    case 0x9b:
        i->fn = EMU(op_fwait);
        return D_NEXT;
    case 0xd8: case 0xd9: case 0xda: case 0xdb: case 0xdc: case 0xdd: case 0xde: case 0xdf:
        return dec_x87(d, i, b);
    case 0x98: case 0x99:
        i->size = (uint8_t)osz;
        i->op = b & 1;
        i->fn = EMU(op_convert);
        return D_NEXT;
    case 0x9c:
        i->size = (uint8_t)osz;
        i->fn = EMU(op_pushf);
        return D_NEXT;
    case 0x9d:
        i->size = (uint8_t)osz;
        i->fn = EMU(op_popf);
        return D_NEXT;
    case 0x9e:
        i->fn = EMU(op_sahf);
        return D_NEXT;
    case 0x9f:
        i->fn = EMU(op_lahf);
        return D_NEXT;
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
        int sz = (b & 1) ? osz : 1;
        i->rm = RM_MEM;
        i->base = i->index = REG_NONE;
        i->disp = fetch32(d);
        i->reg = HV_EAX;
        i->size = (uint8_t)sz;
        i->fn = mov_fn(sz, b >= 0xa2 ? F_MR : F_RM);
        return D_NEXT;
    }
    case 0xa8: case 0xa9: {
        int sz = b == 0xa8 ? 1 : osz;
        i->rm = HV_EAX;
        i->size = (uint8_t)sz;
        i->op = ALU_TEST;
        i->imm = sz == 1 ? fetch(d) : fetch_z(d, sz);
        i->fn = alu_fn(ALU_TEST, sz, F_RI);
        return D_NEXT;
    }
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        dec_shift(d, i, b, osz);
        return D_NEXT;
    case 0xc2: case 0xc3:
        i->imm = b == 0xc2 ? fetch16(d) : 0;
        i->fn = EMU(op_ret);
        return D_END;
    case 0xca: case 0xcb:
        if (osz != 4)
            break;
        i->imm = b == 0xca ? fetch16(d) : 0;
        i->fn = EMU(op_ret_far);
        return D_END;
    case 0xea: case 0x9a:
        if (osz != 4)
            break;                  /* ptr16:16 far pointers: not supported */
        i->imm = fetch32(d);
        i->imm2 = fetch16(d);
        i->fn = b == 0xea ? EMU(op_jmp_far) : EMU(op_call_far);
        return D_END;
    case 0xc6: case 0xc7: {
        modrm(d, i);
        if (i->reg != 0)
            break;
        int sz = b == 0xc6 ? 1 : osz;
        i->size = (uint8_t)sz;
        i->imm = sz == 1 ? fetch(d) : fetch_z(d, sz);
        i->fn = mov_fn(sz, is_mem(i) ? F_MI : F_RI);
        return D_NEXT;
    }
    case 0xc8:
        if (osz != 4)
            break;
        i->imm = fetch16(d);
        i->imm2 = fetch(d);
        i->fn = EMU(op_enter);
        return D_NEXT;
    case 0xc9:
        if (osz != 4)
            break;
        i->fn = EMU(op_leave);
        return D_NEXT;
    case 0xcc:
        i->imm = HV_VEC_BP;
        i->fn = EMU(op_int);
        return D_END;
    case 0xcd:
        i->imm = fetch(d);
        i->fn = EMU(op_int);
        return D_END;
    case 0xce:
        i->fn = EMU(op_into);
        return D_END;
    case 0xcf:
        if (osz != 4)
            break;
        i->fn = EMU(op_iret);
        return D_END;
    case 0xd4: case 0xd5:
        i->op = b == 0xd4 ? 4 : 5;
        i->imm = fetch(d);
        i->fn = EMU(op_bcd);
        return D_NEXT;
    case 0xd7:
        i->fn = EMU(op_xlat);
        return D_NEXT;
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: {
        uint32_t rel = fetch_sb(d);
        i->op = b & 3;
        i->imm = d->eip + d->pos + rel;
        i->fn = EMU(op_loop);
        return D_END;
    }
    case 0x6c: case 0x6d: case 0x6e: case 0x6f:
        i->size = (uint8_t)((b & 1) ? osz : 1);
        i->op = b >= 0x6e;          /* INS 0, OUTS 1 */
        i->fn = EMU(op_port_string);
        return D_END;               /* devices may act on the guest */
    case 0xe4: case 0xe5: case 0xe6: case 0xe7:
        i->imm = fetch(d);
        i->size = (uint8_t)((b & 1) ? osz : 1);
        i->fn = b >= 0xe6 ? EMU(op_out) : EMU(op_in);
        return D_END;
    case 0xec: case 0xed: case 0xee: case 0xef:
        i->op = 1;
        i->size = (uint8_t)((b & 1) ? osz : 1);
        i->fn = b >= 0xee ? EMU(op_out) : EMU(op_in);
        return D_END;
    case 0xe8: case 0xe9: {
        uint32_t rel = fetch32(d);
        i->imm = d->eip + d->pos + rel;
        i->fn = b == 0xe8 ? EMU(op_call) : EMU(op_jmp);
        return D_END;
    }
    case 0xeb: {
        uint32_t rel = fetch_sb(d);
        i->imm = d->eip + d->pos + rel;
        i->fn = EMU(op_jmp);
        return D_END;
    }
    case 0xf4:
        i->fn = EMU(op_hlt);
        return D_END;
    case 0xf5: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd: {
        static const uint8_t which[] = { 2, 0, 0, 0, 1, 5, 6, 3, 4 };    /* F5..FD */
        i->op = which[b - 0xf5];
        i->fn = EMU(op_flagbit);
        return D_NEXT;
    }
    case 0xf6: case 0xf7:
        dec_group3(d, i, b, osz, lockable);
        return D_NEXT;
    case 0xfe: case 0xff:
        return dec_group45(d, i, b, osz, lockable);
    default:
        break;
    }
    set_ud(i, d);
    return D_END;
}

/* The instruction bytes at d->eip: from RAM (the flat build), or at CS's
 * base plus eip through the translations of one or two virtual pages, no
 * further than the CS limit. */
static void fetch_code(struct cpu *c, struct dec *d)
{
#if EMU_PAGED
#if EMU_SEG
    uint32_t va = c->seg[HV_CS].base + d->eip, ppage, limit = c->seg[HV_CS].limit;
#else
    uint32_t va = d->eip, ppage, limit = 0xffffffffu;
#endif
    unsigned room = d->eip > limit ? 0 : limit - d->eip >= MAX_INSN_LEN ? MAX_INSN_LEN
                                                                        : limit - d->eip + 1;
    d->avail = 0;
    d->fault_gp = room < MAX_INSN_LEN;
    while (d->avail < room) {
        const uint8_t *p = emu_fetch_ptr(c, va, &ppage);
        if (!p) {
            d->fault_addr = c->pf_addr;
            d->fault_err = c->pf_err;
            d->fault_gp = false;
            return;
        }
        unsigned n = HV_PAGE_SIZE - (va & 0xfffu);
        if (n > room - d->avail)
            n = room - d->avail;
        memcpy(d->buf + d->avail, p, n);
        d->avail += n;
        va += n;
    }
#else
    uint32_t left = d->eip < c->ram_size ? c->ram_size - d->eip : 0;
    d->avail = left < MAX_INSN_LEN ? left : MAX_INSN_LEN;
    if (d->avail)
        memcpy(d->buf, c->ram + d->eip, d->avail);
    d->fault_addr = d->eip + d->avail;  /* the first byte outside RAM */
    d->fault_err = 0;
#endif
}

/* Decode the instruction at eip into i. */
static int decode_one(struct cpu *c, uint32_t eip, struct insn *i)
{
    struct dec d = { .eip = eip };
    fetch_code(c, &d);

    memset(i, 0, sizeof(*i));
    i->eip = eip;
    i->base = i->index = REG_NONE;
    i->size = 4;

    int osz = 4, seg = -1;
    uint8_t pfx = 0, b;
    for (;;) {
        b = fetch(&d);
        if (d.fetch_fault || d.too_long)
            break;
        if (b == 0x66) {
            osz = 2;
            pfx |= PFX_OPSIZE;
        } else if (b == 0xf0) {
            pfx |= PFX_LOCK;
        } else if (b == 0xf2) {
            pfx = (uint8_t)((pfx & ~PFX_REP) | PFX_REPNE);
        } else if (b == 0xf3) {
            pfx = (uint8_t)((pfx & ~PFX_REPNE) | PFX_REP);
        } else if (b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e) {
            seg = (b >> 3) & 3;     /* ES CS SS DS: the last override counts */
        } else if (b == 0x64 || b == 0x65) {
            seg = b - 0x64 + HV_FS;
        } else {
            break;
        }
    }
    int res = D_END;
    bool lockable = false;
    if (!d.fetch_fault && !d.too_long) {
        if (b == 0x67) {
            set_ud(i, &d);          /* 16-bit addressing is not supported */
        } else {
            res = dec_main(&d, i, b, osz, &lockable);
            if ((pfx & PFX_LOCK) && !lockable && i->fn != EMU(op_ud)) {
                set_ud(i, &d);
                res = D_END;
            }
        }
    }
    i->pfx = pfx;
    i->next = eip + d.pos;
    /* The memory operand's segment: the override, else SS for an EBP or ESP
     * base, else DS (SDM vol. 1, 3.7.4). */
    if (seg >= 0)
        i->seg = (uint8_t)seg;
    else
        i->seg = i->base == HV_ESP || i->base == HV_EBP ? HV_SS : HV_DS;
    if (d.fetch_fault) {
        i->fn = EMU(op_fetch_fault);
        i->imm = d.fault_addr;
        i->imm2 = d.fault_err;
        i->op = d.fault_gp;
        return D_END;
    }
    if (d.too_long) {
        i->fn = EMU(op_gp);
        return D_END;
    }
    return res;
}

void EMU(emu_decode_block)(struct cpu *c, uint32_t eip, struct block *b, unsigned max_insns)
{
    /* Pages are linear: eip plus the CS base (0 outside the segmented build). */
#if EMU_SEG
    uint32_t csb = c->seg[HV_CS].base;
#else
    uint32_t csb = 0;
#endif
    uint32_t pc = eip, page = (csb + eip) >> 12, last = page;
    unsigned n = 0;
    while (n < max_insns) {
        struct insn *i = &b->insns[n++];
        int res = decode_one(c, pc, i);
#if EMU_PAGED
        /* A fetch fault is not cached behind other code: the guest may map
         * the page without telling us (a CPU never caches a not-present
         * translation), so that instruction is looked up afresh. */
        if (i->fn == EMU(op_fetch_fault) && n > 1) {
            n--;
            break;
        }
#endif
        if (i->next > pc && ((csb + i->next - 1) >> 12) > last)
            last = (csb + i->next - 1) >> 12;
        pc = i->next;
        /* A compare followed by a conditional jump runs as one handler. */
        if (i->fn == EMU(op_jcc) && n >= 2) {
            emu_fn *fused = EMU(emu_fused_cmp_jcc)(i[-1].fn, i->op);
            if (fused)
                i[-1].fn = fused;
        }
        if (res == D_END || ((csb + pc) >> 12) != page)
            break;
    }
    for (unsigned k = 0; k < n; k++)
        b->insns[k].remain = (uint8_t)(n - k);
    struct insn *end = &b->insns[n];
    memset(end, 0, sizeof(*end));
    end->fn = EMU(op_fallthrough);
    end->eip = end->next = pc;
    b->eip = eip;
    b->ninsn = n;
#if EMU_PAGED
    /* The physical pages behind the block's one or two virtual pages; a page
     * that could not be fetched holds none of its code. */
    b->npages = 0;
    for (uint32_t vp = page; vp <= last; vp++) {
        uint32_t ppage;
        if (!emu_fetch_ptr(c, vp << 12, &ppage))
            break;
        if (b->npages == 0 || b->ppage[0] != ppage)
            b->ppage[b->npages++] = ppage;
    }
#else
    /* Blocks that fault on fetch outside RAM are not tied to any page. */
    bool in_ram = eip < c->ram_size && last < (c->ram_size >> 12);
    b->ppage[0] = page;
    b->ppage[1] = page + 1;
    b->npages = in_ram ? last - page + 1 : 0;
#endif
}
