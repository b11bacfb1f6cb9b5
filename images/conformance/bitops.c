/*
 * bitops.c - bsf bsr, bt bts btr btc, bswap, setcc, cmovcc, movzx movsx.
 *
 * Defined results only (Intel SDM vol. 2):
 *   - bsf/bsr: ZF always; the destination only when the source is not zero.
 *   - bt*: CF is the selected bit, ZF is unaffected (compared, both states);
 *     OF SF AF PF are undefined.  Register bit offsets into memory are
 *     signed and address outside the operand (below and above); immediate
 *     offsets are masked to the operand size.  The whole buffer around the
 *     operand is hashed after each store.
 *   - setcc/cmovcc: all sixteen conditions over all 32 combinations of
 *     CF PF ZF SF OF, register and memory operands; flags unchanged.
 *   - movzx/movsx from 8 and 16 bits, register (also AH..BH) and memory.
 */
#include "conf.h"

/* ---- bsf (0f bc) and bsr (0f bd), destination EAX, source ECX / (%esi). */

typedef u32 (*scan_fn)(u32 dst, u32 src, u32 fin, u32 *fout);

#define BODY_SCAN(body)                                                         \
    {                                                                           \
        u32 fo, m = src;                                                        \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(dst), [fo] "=r"(fo)                             \
                         : "c"(src), "S"(&m), [fin] "r"(fin)                    \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return dst;                                                             \
    }

#define SCAN(nm, opc, sz)                                                       \
    static u32 nm##sz##_r(u32 dst, u32 src, u32 fin, u32 *fout)                 \
        BODY_SCAN(P##sz ".byte 0x0f, " #opc ", 0xc1")                           \
    static u32 nm##sz##_m(u32 dst, u32 src, u32 fin, u32 *fout)                 \
        BODY_SCAN(P##sz ".byte 0x0f, " #opc ", 0x06")

SCAN(bsf, 0xbc, 16)
SCAN(bsf, 0xbc, 32)
SCAN(bsr, 0xbd, 16)
SCAN(bsr, 0xbd, 32)

static const u32 scan_values[] = {
    0x0, 0x1, 0x2, 0x3, 0x80, 0x100, 0x8000, 0x10000, 0x18000, 0x7fffffff,
    0x80000000, 0x80000001, 0xffffffff, 0xffff0000, 0x0000ffff, 0x00f00f00,
    0x12345678, 0x40000000, 0x00010001, 0xfffe0000,
};
#define NSCAN (sizeof(scan_values) / sizeof(scan_values[0]))

static void run_scan(const char *name, int size, scan_fn r, scan_fn m)
{
    u32 h = HASH_INIT;

    for (unsigned i = 0; i < NSCAN; i++) {
        for (int fi = 0; fi < 2; fi++) {
            u32 fin = fi ? 0x8d7 : 0x002, src = scan_values[i];
            u32 zero = size == 16 ? (src & 0xffff) == 0 : src == 0;
            scan_fn fns[2] = {r, m};

            for (int k = 0; k < 2; k++) {
                u32 fo, d = fns[k](0xdeadbeef, src, fin, &fo);

                h = check(h, (zero ? 0 : d) ^ ((fo & F_ZF) << 24));
                if (k == 0 && fi == 0 && (i < 4 || i == 10))
                    printf("%s%d %08x -> %08x zf=%u\n", name, size, src, zero ? 0 : d,
                           (fo & F_ZF) != 0);
            }
        }
    }
    printf("%s%d %08x\n", name, size, h);
}

/* ---- bt/bts/btr/btc ------------------------------------------------------ */

typedef u32 (*bt_fn)(u32 *mem, u32 dst, u32 off, u32 fin, u32 *fout);

/* Register base in EAX (returned), bit offset in ECX. */
#define BODY_BTR(body)                                                          \
    {                                                                           \
        u32 fo;                                                                 \
        (void)mem;                                                              \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+a"(dst), [fo] "=r"(fo)                             \
                         : "c"(off), [fin] "r"(fin)                             \
                         : "cc");                                               \
        *fout = fo;                                                             \
        return dst;                                                             \
    }

/* Memory base at (%esi) = mem, bit offset in ECX. */
#define BODY_BTM(body)                                                          \
    {                                                                           \
        u32 fo;                                                                 \
        (void)dst;                                                              \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : [fo] "=r"(fo)                                        \
                         : "c"(off), "S"(mem), [fin] "r"(fin)                   \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return 0;                                                               \
    }

#define BTFN(name) static u32 name(u32 *mem, u32 dst, u32 off, u32 fin, u32 *fout)

/* Immediate offsets tested (all masked by the CPU to the operand size). */
#define BT_IMMS(X, ...)                                                         \
    X(0, __VA_ARGS__) X(1, __VA_ARGS__) X(7, __VA_ARGS__) X(8, __VA_ARGS__)     \
    X(15, __VA_ARGS__) X(16, __VA_ARGS__) X(17, __VA_ARGS__) X(31, __VA_ARGS__) \
    X(32, __VA_ARGS__) X(33, __VA_ARGS__) X(63, __VA_ARGS__) X(127, __VA_ARGS__) \
    X(128, __VA_ARGS__) X(200, __VA_ARGS__) X(255, __VA_ARGS__)
static const u32 bt_imms[] = {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 127, 128, 200, 255};
#define NBTIMM (sizeof(bt_imms) / sizeof(bt_imms[0]))

#define BT_IMM(i, nm, ext, sz)                                                  \
    BTFN(nm##sz##_ri_##i)                                                       \
    {                                                                           \
        (void)off;                                                              \
        BODY_BTR(P##sz ".byte 0x0f, 0xba, 0xc0+(" #ext "<<3), " #i)             \
    }                                                                           \
    BTFN(nm##sz##_mi_##i)                                                       \
    {                                                                           \
        (void)off;                                                              \
        BODY_BTM(P##sz ".byte 0x0f, 0xba, 0x06+(" #ext "<<3), " #i)             \
    }

#define BT_TAB_R(i, nm, ext, sz) nm##sz##_ri_##i,
#define BT_TAB_M(i, nm, ext, sz) nm##sz##_mi_##i,

/* 0f a3/ab/b3/bb: bt/bts/btr/btc r/m, r (modrm reg = ECX). */
#define BT(nm, opc, ext, sz)                                                    \
    BTFN(nm##sz##_rr) BODY_BTR(P##sz ".byte 0x0f, " #opc ", 0xc8")              \
    BTFN(nm##sz##_mr) BODY_BTM(P##sz ".byte 0x0f, " #opc ", 0x0e")              \
    BT_IMMS(BT_IMM, nm, ext, sz)                                                \
    static const bt_fn nm##sz##_ri[NBTIMM] = {BT_IMMS(BT_TAB_R, nm, ext, sz)};  \
    static const bt_fn nm##sz##_mi[NBTIMM] = {BT_IMMS(BT_TAB_M, nm, ext, sz)};

#define BT_BOTH(nm, opc, ext) BT(nm, opc, ext, 16) BT(nm, opc, ext, 32)

BT_BOTH(bt, 0xa3, 4)
BT_BOTH(bts, 0xab, 5)
BT_BOTH(btr, 0xb3, 6)
BT_BOTH(btc, 0xbb, 7)

struct bt_op {
    const char *name;
    int size;
    bt_fn rr, mr;
    const bt_fn *ri, *mi;
};

#define BT_OPS(nm)                                                              \
    {#nm, 16, nm##16_rr, nm##16_mr, nm##16_ri, nm##16_mi},                      \
    {#nm, 32, nm##32_rr, nm##32_mr, nm##32_ri, nm##32_mi}

static const struct bt_op bt_ops[] = {BT_OPS(bt), BT_OPS(bts), BT_OPS(btr), BT_OPS(btc)};

/* Register bit offsets: small, beyond the operand, negative (as 32-bit and
 * as 16-bit values; for 16-bit operands the upper half must be ignored). */
static const u32 bt_offs[] = {
    0, 1, 5, 15, 16, 17, 31, 32, 33, 63, 64, 100, 127,
    0xffffffff, 0xfffffffe, 0xffffffe0, 0xffffffdf, 0xffffff9c, 0xffffff81,
    0x1230ffff, 0xabcd0010, 0x0000fff0, 0x8000ffe1,
};
#define NBTOFF (sizeof(bt_offs) / sizeof(bt_offs[0]))

/* A 64-byte buffer; memory forms address its middle, so offsets between
 * -256 and +255 bits stay inside it. */
static u32 bt_buf[16];

static void bt_fill(void)
{
    for (int i = 0; i < 16; i++)
        bt_buf[i] = 0x9e3779b9u * (u32)(i + 1) ^ 0x0f0f00ffu;
}

static u32 bt_buf_hash(void)
{
    u32 h = HASH_INIT;

    for (int i = 0; i < 16; i++)
        h = hash_u32(h, bt_buf[i]);
    return h;
}

/* Would a register offset address outside bt_buf? */
static int bt_off_ok(int size, u32 off)
{
    int32_t o = size == 16 ? (int16_t)off : (int32_t)off;

    return o >= -256 && o < 256;
}

static const u32 bt_values[] = {0x0, 0xffffffff, 0x80000001, 0x12345678, 0xa5a55a5a};

static void run_bt(const struct bt_op *op)
{
    u32 hrr = HASH_INIT, hmr = HASH_INIT, hri = HASH_INIT, hmi = HASH_INIT;
    const u32 mask = F_CF | F_ZF;

    for (unsigned vi = 0; vi < sizeof(bt_values) / sizeof(bt_values[0]); vi++) {
        for (int fi = 0; fi < 2; fi++) {
            u32 fin = fi ? 0x8d7 : 0x002, fo, r;

            for (unsigned oi = 0; oi < NBTOFF; oi++) {
                r = op->rr(0, bt_values[vi], bt_offs[oi], fin, &fo);
                hrr = check(hrr, r ^ ((fo & mask) << 24));
                if (!bt_off_ok(op->size, bt_offs[oi]))
                    continue;
                bt_fill();
                bt_buf[8] = bt_values[vi];
                op->mr(&bt_buf[8], 0, bt_offs[oi], fin, &fo);
                hmr = check(hmr, bt_buf_hash() ^ (fo & mask));
            }
            for (unsigned ii = 0; ii < NBTIMM; ii++) {
                r = op->ri[ii](0, bt_values[vi], 0, fin, &fo);
                hri = check(hri, r ^ ((fo & mask) << 24));
                bt_fill();
                bt_buf[8] = bt_values[vi];
                op->mi[ii](&bt_buf[8], 0, 0, fin, &fo);
                hmi = check(hmi, bt_buf_hash() ^ (fo & mask));
            }
        }
    }
    printf("%s%d rr %08x mr %08x ri %08x mi %08x\n", op->name, op->size, hrr, hmr, hri, hmi);
    /* Full lines: which dword/word a negative and a large offset reach. */
    for (int k = 0; k < 3; k++) {
        static const u32 offs[3] = {0xffffffdf, 100, 0x1230ffff};
        u32 fo, changed = 0, after[16];

        if (!bt_off_ok(op->size, offs[k]))
            continue;
        bt_fill();
        op->mr(&bt_buf[8], 0, offs[k], 0x002, &fo);
        memcpy(after, bt_buf, sizeof(after));
        bt_fill();
        for (int i = 0; i < 16; i++)
            if (after[i] != bt_buf[i])
                changed |= 1u << i;
        printf("%s%d mem off=%08x cf=%u changed=%04x\n", op->name, op->size, offs[k],
               fo & F_CF, changed);
    }
}

/* ---- bswap (0f c8+r) on every register but ESP. ------------------------- */

static u32 run_bswap(void)
{
    u32 h = HASH_INIT;

    for (int i = 0; i < 16; i++) {
        u32 v = edges[i] ^ 0x12005600u, a = v, c = v, d = v, b = v, s = v, di = v, bp = v;

        __asm__ volatile(".byte 0x0f, 0xc8\n\t.byte 0x0f, 0xc9\n\t.byte 0x0f, 0xca\n\t"
                         ".byte 0x0f, 0xcb\n\t.byte 0x0f, 0xce\n\t.byte 0x0f, 0xcf"
                         : "+a"(a), "+c"(c), "+d"(d), "+b"(b), "+S"(s), "+D"(di));
        __asm__ volatile("pushl %%ebp\n\tmovl %0, %%ebp\n\t.byte 0x0f, 0xcd\n\t"
                         "movl %%ebp, %0\n\tpopl %%ebp"
                         : "+D"(bp));
        h = check(h, a);
        h = check(h, c ^ 1);
        h = check(h, d ^ 2);
        h = check(h, b ^ 3);
        h = check(h, s ^ 6);
        h = check(h, di ^ 7);
        h = check(h, bp ^ 5);
        if (i == 11)
            printf("bswap %08x -> %08x\n", v, a);
    }
    printf("bswap %08x\n", h);
    return h;
}

/* ---- setcc (0f 90+cc) and cmovcc (0f 40+cc). ---------------------------- */

typedef u32 (*cc_fn)(u32 dst, u32 src, u32 fin, u32 *fout);

/* Destination ECX (CL for setcc) or (%esi); cmov source EDX or (%esi). */
#define BODY_CC(body)                                                           \
    {                                                                           \
        u32 fo, m = src;                                                        \
        __asm__ volatile(FLAGS_IN body FLAGS_OUT                                \
                         : "+c"(dst), [fo] "=r"(fo)                             \
                         : "d"(src), "S"(&m), [fin] "r"(fin)                    \
                         : "cc", "memory");                                     \
        *fout = fo;                                                             \
        return dst ^ (m << 1);                                                  \
    }

#define CCFN(name) static u32 name(u32 dst, u32 src, u32 fin, u32 *fout)

#define CC(cc)                                                                  \
    CCFN(set_r_##cc) BODY_CC(".byte 0x0f, 0x90+" #cc ", 0xc1")                  \
    CCFN(set_h_##cc) BODY_CC(".byte 0x0f, 0x90+" #cc ", 0xc5")                  \
    CCFN(set_m_##cc) BODY_CC(".byte 0x0f, 0x90+" #cc ", 0x06")                  \
    CCFN(cmov32_r_##cc) BODY_CC(".byte 0x0f, 0x40+" #cc ", 0xca")               \
    CCFN(cmov32_m_##cc) BODY_CC(".byte 0x0f, 0x40+" #cc ", 0x0e")               \
    CCFN(cmov16_r_##cc) BODY_CC(P16 ".byte 0x0f, 0x40+" #cc ", 0xca")           \
    CCFN(cmov16_m_##cc) BODY_CC(P16 ".byte 0x0f, 0x40+" #cc ", 0x0e")

#define CCS(X)                                                                  \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)   \
    X(14) X(15)

CCS(CC)

#define CC_TAB(cc) {set_r_##cc, set_h_##cc, set_m_##cc, cmov32_r_##cc,          \
                    cmov32_m_##cc, cmov16_r_##cc, cmov16_m_##cc},

static const cc_fn cc_fns[16][7] = {CCS(CC_TAB)};
static const char *const cc_forms[7] = {"set r", "set h", "set m", "cmov32 r", "cmov32 m",
                                        "cmov16 r", "cmov16 m"};
static const char *const cc_names[16] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                         "s", "ns", "p", "np", "l", "ge", "le", "g"};

/* setcc and cmovcc over the 32 combinations of CF PF ZF SF OF (cc_state, conf.h). */
static void run_cc(void)
{
    for (int cc = 0; cc < 16; cc++) {
        u32 taken = 0, h[7];

        for (int f = 0; f < 7; f++)
            h[f] = HASH_INIT;
        for (int s = 0; s < 32; s++) {
            for (int f = 0; f < 7; f++) {
                u32 fo, fin = cc_state(s) | (s & 1 ? F_AF : 0);
                u32 r = cc_fns[cc][f](0x11223344, 0xa5b6c7d8, fin, &fo);

                /* Flags must come back unchanged (all six compared). */
                h[f] = check(h[f], r ^ ((fo & F_ARITH) << 20));
                if (f == 0 && ((r ^ (0xa5b6c7d8u << 1)) & 0xff) == 0x01)
                    taken |= 1u << s;
            }
        }
        printf("cc %-2s taken=%08x", cc_names[cc], taken);
        for (int f = 0; f < 7; f++)
            printf(" %08x", h[f]);
        printf("\n");
    }
    (void)cc_forms;
}

/* ---- movzx (0f b6/b7) and movsx (0f be/bf). ----------------------------- */

#define MOVX(nm, opc, pfx)                                                      \
    static u32 nm##_r(u32 dst, u32 src)                                         \
    {                                                                           \
        __asm__(pfx ".byte 0x0f, " #opc ", 0xca" : "+c"(dst) : "d"(src));       \
        return dst;                                                             \
    }                                                                           \
    static u32 nm##_m(u32 dst, u32 src)                                         \
    {                                                                           \
        __asm__(pfx ".byte 0x0f, " #opc ", 0x0e" : "+c"(dst) : "S"(&src), "m"(src)); \
        return dst;                                                             \
    }

MOVX(movzx32b, 0xb6, "")
MOVX(movzx32w, 0xb7, "")
MOVX(movsx32b, 0xbe, "")
MOVX(movsx32w, 0xbf, "")
MOVX(movzx16b, 0xb6, P16)
MOVX(movsx16b, 0xbe, P16)

/* From DH (modrm rm=6). */
static u32 movzx32h(u32 dst, u32 src)
{
    __asm__(".byte 0x0f, 0xb6, 0xce" : "+c"(dst) : "d"(src));
    return dst;
}

static u32 movsx32h(u32 dst, u32 src)
{
    __asm__(".byte 0x0f, 0xbe, 0xce" : "+c"(dst) : "d"(src));
    return dst;
}

typedef u32 (*movx_fn)(u32 dst, u32 src);

static void run_movx(void)
{
    static const struct {
        const char *name;
        movx_fn fn;
    } fns[] = {
        {"movzx32b r", movzx32b_r}, {"movzx32b m", movzx32b_m}, {"movzx32w r", movzx32w_r},
        {"movzx32w m", movzx32w_m}, {"movsx32b r", movsx32b_r}, {"movsx32b m", movsx32b_m},
        {"movsx32w r", movsx32w_r}, {"movsx32w m", movsx32w_m}, {"movzx16b r", movzx16b_r},
        {"movzx16b m", movzx16b_m}, {"movsx16b r", movsx16b_r}, {"movsx16b m", movsx16b_m},
        {"movzx32h r", movzx32h},   {"movsx32h r", movsx32h},
    };

    for (unsigned f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
        u32 h = HASH_INIT;

        for (int i = 0; i < 16; i++) {
            u32 v = edges[i] ^ (edges[15 - i] << 8);

            h = check(h, fns[f].fn(0xdeadbeef, v));
        }
        printf("%s %08x 8080ff80 -> %08x\n", fns[f].name, h, fns[f].fn(0xdeadbeef, 0x8080ff80));
    }
}

int main(void)
{
    run_scan("bsf", 16, bsf16_r, bsf16_m);
    run_scan("bsf", 32, bsf32_r, bsf32_m);
    run_scan("bsr", 16, bsr16_r, bsr16_m);
    run_scan("bsr", 32, bsr32_r, bsr32_m);
    for (unsigned i = 0; i < sizeof(bt_ops) / sizeof(bt_ops[0]); i++)
        run_bt(&bt_ops[i]);
    run_bswap();
    run_cc();
    run_movx();
    return conf_done("bitops");
}
