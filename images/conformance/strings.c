/*
 * strings.c - movs stos lods cmps scas.
 *
 * Byte, word (0x66) and dword forms; without prefix, with rep/repe (f3) and,
 * for cmps/scas, repne (f2); DF clear and set; counts 0, 1, 5 and 16; for
 * cmps/scas a difference (or, for repne, a match) at several positions.
 * After each run the ESI/EDI deltas, ECX, EAX, the flags (movs/stos/lods
 * change none, a rep with ECX=0 changes none, cmps/scas set all six as cmp
 * does) and both whole buffers, guard bytes included, are compared.
 */
#include "conf.h"

struct st {
    u32 esi, edi, ecx, eax, fin, fo;
};

typedef void (*str_fn)(struct st *s);

/* DF comes in with the flags; the body is followed by cld, since the ABI
 * wants DF clear again before C code runs. */
#define STRFN(name, bytes)                                                      \
    static void name(struct st *s)                                              \
    {                                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN bytes "\n\tpushfl\n\tpopl %[fo]\n\tcld"       \
                         : "+S"(s->esi), "+D"(s->edi), "+c"(s->ecx), "+a"(s->eax), \
                           [fo] "=r"(fo)                                        \
                         : [fin] "r"(s->fin)                                    \
                         : "cc", "memory");                                     \
        s->fo = fo;                                                             \
    }

#define SIZES(nm, opc, pfx, pname)                                              \
    STRFN(nm##_b_##pname, pfx ".byte " #opc)                                    \
    STRFN(nm##_w_##pname, pfx ".byte 0x66, " #opc "+1")                         \
    STRFN(nm##_d_##pname, pfx ".byte " #opc "+1")

#define NOREP ""
#define REP ".byte 0xf3\n\t"
#define REPNE ".byte 0xf2\n\t"

SIZES(movs, 0xa4, NOREP, none)
SIZES(movs, 0xa4, REP, rep)
SIZES(stos, 0xaa, NOREP, none)
SIZES(stos, 0xaa, REP, rep)
SIZES(lods, 0xac, NOREP, none)
SIZES(lods, 0xac, REP, rep)
SIZES(cmps, 0xa6, NOREP, none)
SIZES(cmps, 0xa6, REP, rep)
SIZES(cmps, 0xa6, REPNE, repne)
SIZES(scas, 0xae, NOREP, none)
SIZES(scas, 0xae, REP, rep)
SIZES(scas, 0xae, REPNE, repne)

/* The prefix after the operand-size prefix, and a segment override (flat
 * DS, ES: same memory) in front of movs. */
STRFN(movs_d_rep66, ".byte 0x66, 0xf3, 0xa5")
STRFN(movs_b_ds, ".byte 0xf3, 0x3e, 0xa4")
STRFN(lods_b_es, ".byte 0x26, 0xac")
STRFN(cmps_b_ss, ".byte 0x36, 0xf3, 0xa6")

enum kind { K_MOVS, K_STOS, K_LODS, K_CMPS, K_SCAS };

struct op {
    const char *name;
    enum kind kind;
    int size;
    int rep;        /* 0 none, 1 rep/repe, 2 repne */
    str_fn fn;
};

#define OPS(nm, kind, pname, rep)                                               \
    {#nm "b " #pname, kind, 1, rep, nm##_b_##pname},                            \
    {#nm "w " #pname, kind, 2, rep, nm##_w_##pname},                            \
    {#nm "d " #pname, kind, 4, rep, nm##_d_##pname}

static const struct op ops[] = {
    OPS(movs, K_MOVS, none, 0), OPS(movs, K_MOVS, rep, 1),
    OPS(stos, K_STOS, none, 0), OPS(stos, K_STOS, rep, 1),
    OPS(lods, K_LODS, none, 0), OPS(lods, K_LODS, rep, 1),
    OPS(cmps, K_CMPS, none, 0), OPS(cmps, K_CMPS, rep, 1), OPS(cmps, K_CMPS, repne, 2),
    OPS(scas, K_SCAS, none, 0), OPS(scas, K_SCAS, rep, 1), OPS(scas, K_SCAS, repne, 2),
    {"movsw 66 f3", K_MOVS, 2, 1, movs_d_rep66},
    {"movsb rep ds:", K_MOVS, 1, 1, movs_b_ds},
    {"lodsb es:", K_LODS, 1, 0, lods_b_es},
    {"cmpsb repe ss:", K_CMPS, 1, 1, cmps_b_ss},
};

/* Source (ESI) and destination (EDI) buffers: 16 guard bytes, 64 bytes of
 * elements, 16 guard bytes. */
static u8 buf_a[96], buf_b[96];

static u8 pat(unsigned i) { return (u8)(i * 37 + 5); }

static u32 elem_a(unsigned idx, int size)
{
    u32 v = 0;

    for (int i = size - 1; i >= 0; i--)
        v = (v << 8) | buf_a[16 + idx * size + i];
    return v;
}

static void set_b(unsigned idx, int size, u32 v)
{
    for (int i = 0; i < size; i++)
        buf_b[16 + idx * size + i] = (u8)(v >> (8 * i));
}

/*
 * Prepare buffers for op with the "special" element at index k (k >= 16:
 * none).  cmps repe: B equals A except at k; cmps repne: B differs from A
 * everywhere except at k.  scas repe: B holds EAX's value except at k;
 * scas repne: B differs from EAX except at k.  Others: A and B patterns.
 */
static u32 prepare(const struct op *op, unsigned k)
{
    u32 eax = 0xa1b2c3d4;
    int sz = op->size;

    for (unsigned i = 0; i < 96; i++) {
        buf_a[i] = pat(i);
        buf_b[i] = (u8)(pat(i + 50) ^ 0x5a);
    }
    if (op->kind == K_CMPS) {
        for (unsigned i = 0; i < 64u / sz; i++) {
            u32 a = elem_a(i, sz);
            int same = op->rep == 2 ? i == k : i != k;

            set_b(i, sz, same ? a : a ^ (i & 1 ? 0x80 : 0x01) << (8 * (i % sz)));
        }
    } else if (op->kind == K_SCAS) {
        for (unsigned i = 0; i < 64u / sz; i++) {
            int same = op->rep == 2 ? i == k : i != k;

            set_b(i, sz, same ? eax : eax ^ (0x3u << (i % (8 * sz - 1))));
        }
    }
    return eax;
}

static u32 buf_hash(void)
{
    u32 h = HASH_INIT;

    for (unsigned i = 0; i < 96; i += 4) {
        h = hash_u32(h, (u32)buf_a[i] | buf_a[i + 1] << 8 | buf_a[i + 2] << 16 |
                            (u32)buf_a[i + 3] << 24);
        h = hash_u32(h, (u32)buf_b[i] | buf_b[i + 1] << 8 | buf_b[i + 2] << 16 |
                            (u32)buf_b[i + 3] << 24);
    }
    return h;
}

static const u32 counts[] = {0, 1, 5, 16};
static const unsigned ks[] = {0, 2, 4, 99};

static u32 run_case(const struct op *op, int df, u32 count, unsigned k, u32 fin, int show)
{
    struct st s;
    u32 base_a = (u32)(uintptr_t)buf_a, base_b = (u32)(uintptr_t)buf_b;
    u32 off = df ? 16 + 64 - (u32)op->size : 16;
    u32 h;
    const u32 mask = F_ARITH | F_DF;
    unsigned kk = k;

    /* k counts elements in processing order. */
    if (df && k < 16)
        k = 64 / (u32)op->size - 1 - k;
    s.eax = prepare(op, k) ^ (op->kind == K_SCAS ? 0 : 0x01010101);
    s.esi = base_a + off;
    s.edi = base_b + off;
    s.ecx = count | (op->rep ? 0 : 0xabcd0000);
    s.fin = fin | (df ? F_DF : 0);
    op->fn(&s);
    h = hash_u32(HASH_INIT, s.esi - base_a - off);
    h = hash_u32(h, s.edi - base_b - off);
    h = hash_u32(h, s.ecx);
    h = hash_u32(h, s.eax);
    h = hash_u32(h, s.fo & mask);
    h = hash_u32(h, buf_hash());
    if (show)
        printf("%-14s df=%d n=%-2u k=%-2u dsi=%d ddi=%d ecx=%08x eax=%08x fl=%03x\n",
               op->name, df, count, kk, (int)(s.esi - base_a - off),
               (int)(s.edi - base_b - off), s.ecx, s.eax, s.fo & mask);
    return h;
}

int main(void)
{
    static const u32 fins[2] = {0x002, 0x8d7};

    for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        const struct op *op = &ops[i];
        u32 hdf[2];
        int cmp = op->kind == K_CMPS || op->kind == K_SCAS;

        for (int df = 0; df < 2; df++) {
            hdf[df] = HASH_INIT;
            for (unsigned ci = 0; ci < 4; ci++) {
                for (unsigned ki = 0; ki < (cmp ? 4u : 1u); ki++) {
                    for (int fi = 0; fi < 2; fi++) {
                        u32 count = counts[ci];
                        int show = fi == 1 && (cmp ? op->rep && ci == 3 : ci == 2);
                        u32 v = run_case(op, df, count, ks[ki], fins[fi], show);

                        hdf[df] = check(hdf[df], v);
                    }
                }
            }
        }
        printf("%-14s df0 %08x df1 %08x\n", op->name, hdf[0], hdf[1]);
    }
    return conf_done("strings");
}
