/*
 * switcher_emu_decode.c: IA-32 instruction decoding into blocks of insns.
 *
 * Intel SDM vol. 2, chapter 2 (instruction format) and appendix A (opcode
 * map).  Only 32-bit addressing exists here: 0x67 is refused with #UD.  The
 * x87 escapes run on the host's x87 (switcher_emu_x87host.c), and MMX and
 * SSE to SSSE3 on its vector unit (switcher_emu_simdhost.c).  A block runs until a
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
    uint8_t pfx;            /* PFX_* seen so far: SSE's mandatory prefixes */
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

/*
 * MMX, SSE, SSE2, SSE3 and SSSE3 (SDM vol. 2, appendix A.3: the 0F, 0F 38
 * and 0F 3A maps).  The mandatory prefix picks the column: none, 66, F3, F2
 * (F2 or F3 wins over 66).  An entry gives the memory operand's size and
 * what the instruction does with it, the kind of register ModRM.reg and
 * ModRM.rm name (XMM, MMX or a general register) and the encoding's other
 * parts; 0 is #UD.  Each encoding runs as a host stub made from the very
 * same bytes (switcher_emu_simdhost.c).
 */
#define SK_X 1u
#define SK_M 2u
#define SK_G 3u
#define RK(k) ((k) << 9)
#define MK(k) ((k) << 11)
#define XX(n) (RK(SK_X) | MK(SK_X) | (n))               /* xmm, xmm/m */
#define XA (XX(16) | SI_ALIGN)                          /* xmm, xmm/m128 aligned */
#define MM(n) (RK(SK_M) | MK(SK_M) | (n))               /* mm, mm/m */
#define ST SI_STORE
#define RO SI_REGONLY
#define MO SI_MEMONLY
#define IB SI_IMM
#define GROUP(valid) (SI_GROUP | (uint32_t)(valid) << 24)

/* The columns: none, 66, F3, F2. */
static const uint32_t simd_0f[256][4] = {
    [0x10] = { XX(16), XX(16), XX(4), XX(8) },          /* movups movupd movss movsd */
    [0x11] = { XX(16) | ST, XX(16) | ST, XX(4) | ST, XX(8) | ST },
    [0x12] = { XX(8), XX(8) | MO, XA, XX(8) },          /* movlps/movhlps movlpd movsldup movddup */
    [0x13] = { XX(8) | ST | MO, XX(8) | ST | MO, 0, 0 },
    [0x14] = { XA, XA, 0, 0 },                          /* unpcklps unpcklpd */
    [0x15] = { XA, XA, 0, 0 },
    [0x16] = { XX(8), XX(8) | MO, XA, 0 },              /* movhps/movlhps movhpd movshdup */
    [0x17] = { XX(8) | ST | MO, XX(8) | ST | MO, 0, 0 },
    [0x28] = { XA, XA, 0, 0 },                          /* movaps movapd */
    [0x29] = { XA | ST, XA | ST, 0, 0 },
    [0x2a] = { RK(SK_X) | MK(SK_M) | 8, RK(SK_X) | MK(SK_M) | 8,     /* cvtpi2ps cvtpi2pd */
               RK(SK_X) | MK(SK_G) | SI_GIN | 4, RK(SK_X) | MK(SK_G) | SI_GIN | 4 },
    [0x2b] = { XA | ST | MO, XA | ST | MO, 0, 0 },      /* movntps movntpd */
    [0x2c] = { RK(SK_M) | MK(SK_X) | 8, RK(SK_M) | MK(SK_X) | 16 | SI_ALIGN,
               RK(SK_G) | MK(SK_X) | SI_GOUT | 4, RK(SK_G) | MK(SK_X) | SI_GOUT | 8 },
    [0x2d] = { RK(SK_M) | MK(SK_X) | 8, RK(SK_M) | MK(SK_X) | 16 | SI_ALIGN,
               RK(SK_G) | MK(SK_X) | SI_GOUT | 4, RK(SK_G) | MK(SK_X) | SI_GOUT | 8 },
    [0x2e] = { XX(4) | SI_FLAGS, XX(8) | SI_FLAGS, 0, 0 },  /* ucomiss ucomisd */
    [0x2f] = { XX(4) | SI_FLAGS, XX(8) | SI_FLAGS, 0, 0 },  /* comiss comisd */
    [0x50] = { RK(SK_G) | MK(SK_X) | SI_GOUT | RO, RK(SK_G) | MK(SK_X) | SI_GOUT | RO, 0, 0 },
    [0x51] = { XA, XA, XX(4), XX(8) },                  /* sqrt */
    [0x52] = { XA, 0, XX(4), 0 },                       /* rsqrtps rsqrtss */
    [0x53] = { XA, 0, XX(4), 0 },                       /* rcpps rcpss */
    [0x54] = { XA, XA, 0, 0 }, [0x55] = { XA, XA, 0, 0 },   /* and andn */
    [0x56] = { XA, XA, 0, 0 }, [0x57] = { XA, XA, 0, 0 },   /* or xor */
    [0x58] = { XA, XA, XX(4), XX(8) }, [0x59] = { XA, XA, XX(4), XX(8) },   /* add mul */
    [0x5a] = { XX(8), XA, XX(4), XX(8) },               /* cvtps2pd cvtpd2ps cvtss2sd cvtsd2ss */
    [0x5b] = { XA, XA, XA, 0 },                         /* cvtdq2ps cvtps2dq cvttps2dq */
    [0x5c] = { XA, XA, XX(4), XX(8) }, [0x5d] = { XA, XA, XX(4), XX(8) },   /* sub min */
    [0x5e] = { XA, XA, XX(4), XX(8) }, [0x5f] = { XA, XA, XX(4), XX(8) },   /* div max */
    [0x60] = { MM(4), XA, 0, 0 }, [0x61] = { MM(4), XA, 0, 0 },     /* punpckl*: m32 for MMX */
    [0x62] = { MM(4), XA, 0, 0 }, [0x63] = { MM(8), XA, 0, 0 },
    [0x64] = { MM(8), XA, 0, 0 }, [0x65] = { MM(8), XA, 0, 0 },
    [0x66] = { MM(8), XA, 0, 0 }, [0x67] = { MM(8), XA, 0, 0 },
    [0x68] = { MM(8), XA, 0, 0 }, [0x69] = { MM(8), XA, 0, 0 },
    [0x6a] = { MM(8), XA, 0, 0 }, [0x6b] = { MM(8), XA, 0, 0 },
    [0x6c] = { 0, XA, 0, 0 }, [0x6d] = { 0, XA, 0, 0 },             /* punpck[lh]qdq */
    [0x6e] = { RK(SK_M) | MK(SK_G) | SI_GIN | 4, RK(SK_X) | MK(SK_G) | SI_GIN | 4, 0, 0 },
    [0x6f] = { MM(8), XA, XX(16), 0 },                  /* movq movdqa movdqu */
    [0x70] = { MM(8) | IB, XA | IB, XA | IB, XA | IB }, /* pshufw pshufd pshufhw pshuflw */
    [0x71] = { MK(SK_M) | RO | IB | GROUP(0x54), MK(SK_X) | RO | IB | GROUP(0x54), 0, 0 },
    [0x72] = { MK(SK_M) | RO | IB | GROUP(0x54), MK(SK_X) | RO | IB | GROUP(0x54), 0, 0 },
    [0x73] = { MK(SK_M) | RO | IB | GROUP(0x44), MK(SK_X) | RO | IB | GROUP(0xcc), 0, 0 },
    [0x74] = { MM(8), XA, 0, 0 }, [0x75] = { MM(8), XA, 0, 0 }, [0x76] = { MM(8), XA, 0, 0 },
    [0x77] = { SI_NOMODRM, 0, 0, 0 },                   /* emms */
    [0x7c] = { 0, XA, 0, XA }, [0x7d] = { 0, XA, 0, XA },   /* hadd hsub */
    [0x7e] = { RK(SK_M) | MK(SK_G) | SI_GOUT | ST | 4, RK(SK_X) | MK(SK_G) | SI_GOUT | ST | 4,
               XX(8), 0 },                              /* movd r/m32, mm / xmm; movq xmm, m64 */
    [0x7f] = { MM(8) | ST, XA | ST, XX(16) | ST, 0 },
    [0xc2] = { XA | IB, XA | IB, XX(4) | IB, XX(8) | IB },  /* cmp */
    [0xc3] = { RK(SK_G) | SI_GIN | ST | MO | 4, 0, 0, 0 },  /* movnti */
    [0xc4] = { RK(SK_M) | MK(SK_G) | SI_GIN | IB | 2, RK(SK_X) | MK(SK_G) | SI_GIN | IB | 2, 0, 0 },
    [0xc5] = { RK(SK_G) | MK(SK_M) | SI_GOUT | IB | RO, RK(SK_G) | MK(SK_X) | SI_GOUT | IB | RO,
               0, 0 },                                  /* pextrw */
    [0xc6] = { XA | IB, XA | IB, 0, 0 },                /* shufps shufpd */
    [0xd0] = { 0, XA, 0, XA },                          /* addsubpd addsubps */
    [0xd1] = { MM(8), XA, 0, 0 }, [0xd2] = { MM(8), XA, 0, 0 }, [0xd3] = { MM(8), XA, 0, 0 },
    [0xd4] = { MM(8), XA, 0, 0 }, [0xd5] = { MM(8), XA, 0, 0 },
    [0xd6] = { 0, XX(8) | ST, RK(SK_X) | MK(SK_M) | RO, RK(SK_M) | MK(SK_X) | RO },
    [0xd7] = { RK(SK_G) | MK(SK_M) | SI_GOUT | RO, RK(SK_G) | MK(SK_X) | SI_GOUT | RO, 0, 0 },
    [0xd8] = { MM(8), XA, 0, 0 }, [0xd9] = { MM(8), XA, 0, 0 }, [0xda] = { MM(8), XA, 0, 0 },
    [0xdb] = { MM(8), XA, 0, 0 }, [0xdc] = { MM(8), XA, 0, 0 }, [0xdd] = { MM(8), XA, 0, 0 },
    [0xde] = { MM(8), XA, 0, 0 }, [0xdf] = { MM(8), XA, 0, 0 },
    [0xe0] = { MM(8), XA, 0, 0 }, [0xe1] = { MM(8), XA, 0, 0 }, [0xe2] = { MM(8), XA, 0, 0 },
    [0xe3] = { MM(8), XA, 0, 0 }, [0xe4] = { MM(8), XA, 0, 0 }, [0xe5] = { MM(8), XA, 0, 0 },
    [0xe6] = { 0, XA, XX(8), XA },                      /* cvttpd2dq cvtdq2pd cvtpd2dq */
    [0xe7] = { MM(8) | ST | MO, XA | ST | MO, 0, 0 },   /* movntq movntdq */
    [0xe8] = { MM(8), XA, 0, 0 }, [0xe9] = { MM(8), XA, 0, 0 }, [0xea] = { MM(8), XA, 0, 0 },
    [0xeb] = { MM(8), XA, 0, 0 }, [0xec] = { MM(8), XA, 0, 0 }, [0xed] = { MM(8), XA, 0, 0 },
    [0xee] = { MM(8), XA, 0, 0 }, [0xef] = { MM(8), XA, 0, 0 },
    [0xf0] = { 0, 0, 0, XX(16) | MO },                  /* lddqu */
    [0xf1] = { MM(8), XA, 0, 0 }, [0xf2] = { MM(8), XA, 0, 0 }, [0xf3] = { MM(8), XA, 0, 0 },
    [0xf4] = { MM(8), XA, 0, 0 }, [0xf5] = { MM(8), XA, 0, 0 }, [0xf6] = { MM(8), XA, 0, 0 },
    [0xf7] = { MM(8) | RO | SI_MASKMOV, XX(16) | RO | SI_MASKMOV, 0, 0 },  /* maskmovq maskmovdqu */
    [0xf8] = { MM(8), XA, 0, 0 }, [0xf9] = { MM(8), XA, 0, 0 }, [0xfa] = { MM(8), XA, 0, 0 },
    [0xfb] = { MM(8), XA, 0, 0 }, [0xfc] = { MM(8), XA, 0, 0 }, [0xfd] = { MM(8), XA, 0, 0 },
    [0xfe] = { MM(8), XA, 0, 0 },
};

/* SSSE3 in 0F 38 (pshufb, phadd*, pmaddubsw, phsub*, psign*, pmulhrsw,
 * pabs*) and 0F 3A 0F (palignr): an MMX and an XMM form each. */
static const uint64_t ssse3_0f38 = 0xfffull | 0x7ull << 28;
static const uint32_t ssse3_form[2] = { MM(8), XA };

#undef XX
#undef XA
#undef MM
#undef ST
#undef RO
#undef MO
#undef IB
#undef GROUP

/* The host encoding of ModRM.reg or ModRM.rm: a general register runs as
 * EAX; anything else keeps its number. */
static unsigned simd_field(unsigned kind, unsigned n)
{
    return kind == SK_G ? 0 : n;
}

static void simd_add_xmm(struct emu_simd_enc *e, unsigned r)
{
    if (e->nxmm == 0 || e->xmm[0] != r)
        e->xmm[e->nxmm++] = (uint8_t)r;
}

/* A vector instruction after its 0F (map 0), 0F 38 (1) or 0F 3A (2) and
 * opcode byte b. */
static int dec_simd(struct dec *d, struct insn *i, unsigned map, uint8_t b)
{
    unsigned col = (d->pfx & PFX_REP) ? 2 : (d->pfx & PFX_REPNE) ? 3 : (d->pfx & PFX_OPSIZE) ? 1 : 0;
    uint32_t e;
    if (map == 0)
        e = simd_0f[b][col];
    else if (map == 1)
        e = col < 2 && b < 64 && ((ssse3_0f38 >> b) & 1) ? ssse3_form[col] : 0;
    else
        e = col < 2 && b == 0x0f ? ssse3_form[col] | SI_IMM : 0;
    if (!(e & SI_NOMODRM)) {
        modrm(d, i);
        if (d->fetch_fault)
            return D_END;
    }
    bool reg_form = !(e & SI_NOMODRM) && !is_mem(i);
    if (!e || (reg_form && (e & SI_MEMONLY)) || (!reg_form && (e & SI_REGONLY)) ||
        ((e & SI_GROUP) && !((e >> 24 >> i->reg) & 1u))) {
        set_ud(i, d);
        return D_END;
    }
    e &= 0x00ffffffu;
    unsigned rk = (e & SI_GROUP) ? 0 : SI_REGK(e), mk = reg_form ? SI_RMK(e) : 0;
    uint8_t imm = (e & SI_IMM) ? fetch(d) : 0;
    if (d->fetch_fault || d->too_long)
        return D_END;

    struct emu_simd_enc enc = { .len = 0 };
    static const uint8_t pfx_byte[4] = { 0, 0x66, 0xf3, 0xf2 };
    if (col)
        enc.bytes[enc.len++] = pfx_byte[col];
    enc.bytes[enc.len++] = 0x0f;
    if (map)
        enc.bytes[enc.len++] = map == 1 ? 0x38 : 0x3a;
    enc.bytes[enc.len++] = b;
    if (!(e & SI_NOMODRM)) {
        unsigned regf = simd_field(rk, i->reg);
        enc.bytes[enc.len++] = (uint8_t)(reg_form ? 0xc0u | regf << 3 | simd_field(mk, i->rm)
                                                  : regf << 3 | 6u);
    }
    if (e & SI_IMM)
        enc.bytes[enc.len++] = imm;
    if (rk == SK_X)
        simd_add_xmm(&enc, i->reg);
    if (mk == SK_X)
        simd_add_xmm(&enc, i->rm);
    if (rk == SK_M || mk == SK_M || (e & SI_NOMODRM))
        e |= SI_MMX;
    if (rk == SK_X || mk == SK_X)
        e |= SI_XMM;
    if (rk == SK_G || mk == SK_G) {
        i->op = rk == SK_G ? i->reg : i->rm;
        if (e & SI_GIN)
            enc.flags |= SIMD_GPR_IN;
        if (e & SI_GOUT)
            enc.flags |= SIMD_GPR_OUT;
    } else {
        e &= ~(uint32_t)(SI_GIN | SI_GOUT);
    }
    if (e & SI_FLAGS)
        enc.flags |= SIMD_FLAGS_OUT;
    if (e & SI_MASKMOV) {
        /* The store goes to DS:EDI (or an override): a read-modify-write of
         * the operand's copy at [rsi]. */
        enc.flags |= SIMD_MASKMOV;
        i->rm = RM_MEM;
        i->base = HV_EDI;
        i->index = REG_NONE;
        i->disp = 0;
    }
    if (reg_form && !(e & SI_MASKMOV))
        e &= ~(uint32_t)SI_SIZE;
    void *stub = emu_simd_stub_for(&enc);
    if (!stub) {
        i->fn = EMU(op_simd_full);
        return D_END;
    }
    i->stub = stub;
    i->imm2 = e;
    i->fn = EMU(op_simd);
    return D_NEXT;
}

/* Group 15 (0F AE), no prefix: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR and
 * CLFLUSH on memory; LFENCE, MFENCE and SFENCE, which order nothing here. */
static int dec_group15(struct dec *d, struct insn *i)
{
    modrm(d, i);
    if (d->fetch_fault)
        return D_END;
    unsigned r = i->reg;
    if (d->pfx & (PFX_REP | PFX_REPNE | PFX_OPSIZE)) {
        set_ud(i, d);
        return D_END;
    }
    if (!is_mem(i)) {
        if (r < 5) {
            set_ud(i, d);
            return D_END;
        }
        i->fn = EMU(op_nop);
        return D_NEXT;
    }
    switch (r) {
    case 0: case 1:
        i->op = (uint8_t)r;
        i->fn = EMU(op_fxsr);
        return D_NEXT;
    case 2: case 3:
        i->op = (uint8_t)(r - 2);
        i->fn = EMU(op_mxcsr);
        return D_NEXT;
    case 7:
        i->fn = EMU(op_clflush);
        return D_NEXT;
    default:
        set_ud(i, d);
        return D_END;
    }
}

/* Two-byte opcodes 0F xx. */
static int dec_0f(struct dec *d, struct insn *i, int osz, bool *lockable)
{
    uint8_t b = fetch(d);
    if (simd_0f[b][0] | simd_0f[b][1] | simd_0f[b][2] | simd_0f[b][3])
        return dec_simd(d, i, 0, b);
    if (b == 0x38 || b == 0x3a) {
        uint8_t b3 = fetch(d);
        if (d->fetch_fault || d->too_long)
            return D_END;
        return dec_simd(d, i, b == 0x38 ? 1 : 2, b3);
    }
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
    if (b >= 0xc8 && b <= 0xcf) {
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
    case 0xae:
        return dec_group15(d, i);
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
            d.pfx = pfx;
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
        if (HV_UNLIKELY(c->nbp) && emu_bp_has(c, pc))
            break;          /* a breakpoint starts a block of its own */
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
