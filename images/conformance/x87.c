/*
 * x87.c - the x87 FPU against the real CPU, with every exception masked.
 *
 *   fadd fsub fsubr fmul fdiv fdivr (register and popping forms, m32fp,
 *     m64fp, m16int, m32int operands) over edge values: +-0, denormals,
 *     +-inf, quiet and signalling NaNs with payloads, an unnormal, the
 *     largest and smallest normals, values that round each way;
 *     in every rounding mode and precision
 *   fsqrt frndint fabs fchs fxtract fscale fprem fprem1 f2xm1 fyl2x
 *     fyl2xp1 fsin fcos fsincos fptan fpatan ftst fxam
 *   fcom fcomp fcompp fucom fucomp fucompp fcomi fucomi fcomip fucomip
 *     ficom (condition codes and EFLAGS)
 *   fld/fst/fstp m32 m64 m80, fild/fist/fistp m16 m32 m64, fisttp, fbld
 *     fbstp, the seven constants, in every rounding mode
 *   the stack: fxch ffree fincstp fdecstp, overflow and underflow, the tag
 *     word (fnstenv), fnsave/frstor, fcmovcc over all flag states
 *
 * Each result is the value(s) left and the status word, folded into one
 * hash per instruction form and rounding mode.
 */
#include "conf.h"

typedef struct { u8 b[10]; } f80;

static f80 mk(u32 sign_exp, u32 hi, u32 lo)
{
    f80 v;
    memcpy(v.b, &lo, 4);
    memcpy(v.b + 4, &hi, 4);
    v.b[8] = (u8)sign_exp;
    v.b[9] = (u8)(sign_exp >> 8);
    return v;
}

#define NVALS 24
static f80 vals[NVALS];

static void init_vals(void)
{
    int n = 0;
    vals[n++] = mk(0x0000, 0, 0);                       /* +0 */
    vals[n++] = mk(0x8000, 0, 0);                       /* -0 */
    vals[n++] = mk(0x3fff, 0x80000000u, 0);             /* 1 */
    vals[n++] = mk(0xbfff, 0x80000000u, 0);             /* -1 */
    vals[n++] = mk(0x4000, 0xc0000000u, 0);             /* 3 */
    vals[n++] = mk(0x3ffd, 0xaaaaaaaau, 0xaaaaaaabu);   /* 1/3 */
    vals[n++] = mk(0x3fff, 0x80000000u, 1);             /* 1 + 2^-63 */
    vals[n++] = mk(0x3fff, 0xffffffffu, 0xffffffffu);   /* 2 - 2^-63 */
    vals[n++] = mk(0x7ffe, 0xffffffffu, 0xffffffffu);   /* largest */
    vals[n++] = mk(0x0001, 0x80000000u, 0);             /* smallest normal */
    vals[n++] = mk(0x0000, 0, 1);                       /* smallest denormal */
    vals[n++] = mk(0x8000, 0x7fffffffu, 0xffffffffu);   /* -largest denormal */
    vals[n++] = mk(0x7fff, 0x80000000u, 0);             /* +inf */
    vals[n++] = mk(0xffff, 0x80000000u, 0);             /* -inf */
    vals[n++] = mk(0x7fff, 0xc0000000u, 0x1234u);       /* QNaN with payload */
    vals[n++] = mk(0xffff, 0xc0000000u, 0);             /* indefinite */
    vals[n++] = mk(0x7fff, 0x80000000u, 0x55u);         /* SNaN with payload */
    vals[n++] = mk(0x4000, 0x40000000u, 0);             /* unnormal */
    vals[n++] = mk(0x403e, 0x80000000u, 0);             /* 2^63 */
    vals[n++] = mk(0x401d, 0xc0000000u, 0);             /* 1.5 * 2^30 */
    vals[n++] = mk(0x4001, 0xc90fdaa2u, 0x2168c235u);   /* ~pi*2 */
    vals[n++] = mk(0xc00d, 0x9c400000u, 0x00000001u);   /* -20000 - a little */
    vals[n++] = mk(0x3f6a, 0x81234567u, 0x89abcdefu);   /* tiny: rounds in single */
    vals[n++] = mk(0x4ffe, 0xfedcba98u, 0x76543210u);   /* huge */
}

/* Rounding control (bits 10-11) and precision control (bits 8-9), all masked. */
static u16 cw_of(int rc, int pc)
{
    static const u16 pcs[3] = { 0x000, 0x200, 0x300 };  /* 24, 53, 64 bits */
    return (u16)(0x7f | 0x40 | pcs[pc] | rc << 10);
}

static u32 hash_f80(u32 h, const f80 *v)
{
    u32 a, b;
    memcpy(&a, v->b, 4);
    memcpy(&b, v->b + 4, 4);
    h = check(h, a);
    h = check(h, b);
    return check(h, (u32)v->b[8] | (u32)v->b[9] << 8);
}

/* A two-operand form: ST0 = a, ST1 = b, run `insn`, then store what is left
 * (up to two values) and the status word. */
#define BINOP(name, insn)                                                       \
    static u32 name(u32 h, u16 cw, const f80 *a, const f80 *b)                 \
    {                                                                          \
        f80 r0, r1;                                                            \
        u16 sw;                                                                \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t" \
                         insn "\n\tfnstsw %[sw]\n\tfstpt %[r0]\n\tfstpt %[r1]\n\tfninit" \
                         : [r0] "=m"(r0), [r1] "=m"(r1), [sw] "=m"(sw)          \
                         : [cw] "m"(cw), [a] "m"(*a), [b] "m"(*b) : "memory"); \
        h = hash_f80(h, &r0);                                                  \
        h = hash_f80(h, &r1);                                                  \
        return check(h, sw);                                                   \
    }

BINOP(do_fadd, "fadd %%st(1), %%st")
BINOP(do_fsub, "fsub %%st(1), %%st")
BINOP(do_fsubr, "fsubr %%st(1), %%st")
BINOP(do_fmul, "fmul %%st(1), %%st")
BINOP(do_fdiv, "fdiv %%st(1), %%st")
BINOP(do_fdivr, "fdivr %%st(1), %%st")
BINOP(do_faddst1, ".byte 0xdc, 0xc1")           /* fadd st(1), st */
BINOP(do_fsubst1, ".byte 0xdc, 0xe9")           /* DC E8+i: st(i) = st(i) - st */
BINOP(do_fsubrst1, ".byte 0xdc, 0xe1")          /* DC E0+i: st(i) = st - st(i) */
BINOP(do_fdivst1, ".byte 0xdc, 0xf9")
BINOP(do_fdivrst1, ".byte 0xdc, 0xf1")
BINOP(do_fsubp, ".byte 0xde, 0xe9\n\tfldz")     /* popping; refill the stack */
BINOP(do_fdivrp, ".byte 0xde, 0xf1\n\tfldz")
BINOP(do_fscale, "fscale")
BINOP(do_fprem, "fprem")
BINOP(do_fprem1, "fprem1")
BINOP(do_fpatan, "fpatan\n\tfldz")
BINOP(do_fyl2x, "fyl2x\n\tfldz")
BINOP(do_fyl2xp1, "fyl2xp1\n\tfldz")
BINOP(do_fcom, "fcom %%st(1)")
BINOP(do_fucom, "fucom %%st(1)")
BINOP(do_fcompp, "fcompp\n\tfldz\n\tfldz")
BINOP(do_fucompp, "fucompp\n\tfldz\n\tfldz")
BINOP(do_fxch, "fxch %%st(1)")
/* One operand (ST1 is left alone or takes a second result). */
BINOP(do_fsqrt, "fsqrt")
BINOP(do_frndint, "frndint")
BINOP(do_fabs, "fabs")
BINOP(do_fchs, "fchs")
BINOP(do_ftst, "ftst")
BINOP(do_fxam, "fxam")
BINOP(do_f2xm1, "f2xm1")
BINOP(do_fsin, "fsin")
BINOP(do_fcos, "fcos")
BINOP(do_fxtract, "fstp %%st(1)\n\tfxtract")
BINOP(do_fsincos, "fstp %%st(1)\n\tfsincos")
BINOP(do_fptan, "fstp %%st(1)\n\tfptan")

typedef u32 binfn(u32, u16, const f80 *, const f80 *);

static void run_binary(const char *name, binfn *fn, bool unary)
{
    u32 all = HASH_INIT;
    for (int rc = 0; rc < 4; rc++) {
        u32 h = HASH_INIT;
        for (int pc = 0; pc < 3; pc++)
            for (int x = 0; x < NVALS; x++)
                for (int y = 0; y < (unary ? 1 : NVALS); y++)
                    h = fn(h, cw_of(rc, pc), &vals[x], &vals[unary ? 2 : y]);
        printf("%-10s rc%d %08x\n", name, rc, h);
        all = hash_u32(all, h);
    }
    printf("%-10s all %08x\n", name, all);
}

/* FCOMI and friends: EFLAGS and the status word. */
#define FLAGOP(name, insn)                                                      \
    static u32 name(u32 h, u16 cw, const f80 *a, const f80 *b)                 \
    {                                                                          \
        u32 fl;                                                                \
        u16 sw;                                                                \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t" \
                         "pushl $0x8d5\n\tpopfl\n\t" insn "\n\tpushfl\n\tpopl %[fl]\n\t" \
                         "fnstsw %[sw]\n\tfninit"                              \
                         : [fl] "=r"(fl), [sw] "=m"(sw)                         \
                         : [cw] "m"(cw), [a] "m"(*a), [b] "m"(*b) : "memory", "cc"); \
        return check(check(h, fl & 0x8d5u), sw);                               \
    }

FLAGOP(do_fcomi, "fcomi %%st(1), %%st")
FLAGOP(do_fucomi, "fucomi %%st(1), %%st")
FLAGOP(do_fcomip, "fcomip %%st(1), %%st")
FLAGOP(do_fucomip, "fucomip %%st(1), %%st")

/* Memory forms: ST0 = a, the operand is mem (4 or 8 bytes). */
#define MEMOP(name, insn, type)                                                 \
    static u32 name(u32 h, u16 cw, const f80 *a, const type *m)                \
    {                                                                          \
        f80 r0;                                                                \
        u16 sw;                                                                \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[a]\n\t" insn " %[m]\n\t" \
                         "fnstsw %[sw]\n\tfstpt %[r0]\n\tfninit"               \
                         : [r0] "=m"(r0), [sw] "=m"(sw)                         \
                         : [cw] "m"(cw), [a] "m"(*a), [m] "m"(*m) : "memory"); \
        return check(hash_f80(h, &r0), sw);                                    \
    }

MEMOP(do_fadds, "fadds", u32)
MEMOP(do_fsubrs, "fsubrs", u32)
MEMOP(do_fmuls, "fmuls", u32)
MEMOP(do_fdivs, "fdivs", u32)
MEMOP(do_faddl, "faddl", u64)
MEMOP(do_fsubl, "fsubl", u64)
MEMOP(do_fdivrl, "fdivrl", u64)
MEMOP(do_fiadds, "fiadds", u16)
MEMOP(do_fimull, "fimull", u32)
MEMOP(do_fidivrl, "fidivrl", u32)
MEMOP(do_fcoms, "fcoms", u32)
MEMOP(do_ficoml, "ficoml", u32)

static const u32 m32s[] = { 0, 0x80000000u, 0x3f800000u, 0x00000001u, 0x807fffffu,
                            0x7f800000u, 0xff800000u, 0x7fc00001u, 0x7f800001u, 0x7f7fffffu,
                            0x3eaaaaabu, 0x4b000001u };
static const u64 m64s[] = { 0, 0x8000000000000000ull, 0x3ff0000000000000ull, 1,
                            0x7ff0000000000000ull, 0x7ff8000000000001ull, 0x7ff0000000000001ull,
                            0x7fefffffffffffffull, 0x3fd5555555555555ull, 0xc0e86a0000000001ull };
static const u32 ints[] = { 0, 1, 0xffffffffu, 0x7fffffffu, 0x80000000u, 3, 0x12345678u,
                            0xffff8000u, 0x7fff };

static void run_mem(void)
{
    static const struct { const char *name; u32 (*fn)(u32, u16, const f80 *, const u32 *); }
        f32[] = { { "fadds", do_fadds }, { "fsubrs", do_fsubrs }, { "fmuls", do_fmuls },
                  { "fdivs", do_fdivs }, { "fcoms", do_fcoms } },
        fi32[] = { { "fimull", do_fimull }, { "fidivrl", do_fidivrl }, { "ficoml", do_ficoml } };
    static const struct { const char *name; u32 (*fn)(u32, u16, const f80 *, const u64 *); }
        f64[] = { { "faddl", do_faddl }, { "fsubl", do_fsubl }, { "fdivrl", do_fdivrl } };
    for (unsigned k = 0; k < sizeof(f32) / sizeof(f32[0]); k++) {
        u32 h = HASH_INIT;
        for (int rc = 0; rc < 4; rc++)
            for (int x = 0; x < NVALS; x++)
                for (unsigned y = 0; y < sizeof(m32s) / 4; y++)
                    h = f32[k].fn(h, cw_of(rc, 2), &vals[x], &m32s[y]);
        printf("%-10s %08x\n", f32[k].name, h);
    }
    for (unsigned k = 0; k < sizeof(fi32) / sizeof(fi32[0]); k++) {
        u32 h = HASH_INIT;
        for (int rc = 0; rc < 4; rc++)
            for (int x = 0; x < NVALS; x++)
                for (unsigned y = 0; y < sizeof(ints) / 4; y++)
                    h = fi32[k].fn(h, cw_of(rc, 1), &vals[x], &ints[y]);
        printf("%-10s %08x\n", fi32[k].name, h);
    }
    for (unsigned k = 0; k < sizeof(f64) / sizeof(f64[0]); k++) {
        u32 h = HASH_INIT;
        for (int rc = 0; rc < 4; rc++)
            for (int x = 0; x < NVALS; x++)
                for (unsigned y = 0; y < sizeof(m64s) / 8; y++)
                    h = f64[k].fn(h, cw_of(rc, 2), &vals[x], &m64s[y]);
        printf("%-10s %08x\n", f64[k].name, h);
    }
    u32 h = HASH_INIT;
    for (int x = 0; x < NVALS; x++)
        for (unsigned y = 0; y < sizeof(ints) / 4; y++) {
            u16 v16 = (u16)ints[y];
            h = do_fiadds(h, cw_of(0, 2), &vals[x], &v16);
        }
    printf("%-10s %08x\n", "fiadds", h);
}

/* Stores of every format, and loads back, in every rounding mode. */
static void run_store_load(void)
{
    u32 hs = HASH_INIT, hl = HASH_INIT;
    for (int rc = 0; rc < 4; rc++) {
        u16 cw = cw_of(rc, 2);
        for (int x = 0; x < NVALS; x++) {
            u32 s32 = 0x11111111u;
            u64 s64 = 0x2222222222222222ull, i64 = 0x3333333333333333ull,
                t64 = 0x4444444444444444ull;
            u32 i32 = 0x55555555u, t32 = 0x66666666u;
            u16 i16 = 0x7777, t16 = 0x8888, sw;
            u8 bcd[10];
            memset(bcd, 0x99, sizeof(bcd));
            __asm__ volatile(
                "fninit\n\tfldcw %[cw]\n\t"
                "fldt %[v]\n\tfsts %[s32]\n\tfstl %[s64]\n\t"
                "fistl %[i32]\n\tfists %[i16]\n\tfistpll %[i64]\n\t"
                "fldt %[v]\n\tfisttpl %[t32]\n\tfldt %[v]\n\tfisttps %[t16]\n\t"
                "fldt %[v]\n\tfisttpll %[t64]\n\tfldt %[v]\n\tfbstp %[bcd]\n\t"
                "fnstsw %[sw]\n\tfninit"
                : [s32] "=m"(s32), [s64] "=m"(s64), [i32] "=m"(i32), [i16] "=m"(i16),
                  [i64] "=m"(i64), [t32] "=m"(t32), [t16] "=m"(t16), [t64] "=m"(t64),
                  [bcd] "=m"(bcd), [sw] "=m"(sw)
                : [cw] "m"(cw), [v] "m"(vals[x]) : "memory");
            hs = check(check(check(hs, s32), (u32)s64), (u32)(s64 >> 32));
            hs = check(check(check(hs, i32), i16), (u32)i64 ^ (u32)(i64 >> 7));
            hs = check(check(check(hs, t32), t16), (u32)t64 ^ (u32)(t64 >> 9));
            for (int k = 0; k < 10; k++)
                hs = check(hs, bcd[k]);
            hs = check(hs, sw);
        }
        for (unsigned y = 0; y < sizeof(m32s) / 4; y++) {
            f80 r;
            u16 sw;
            __asm__ volatile("fninit\n\tfldcw %[cw]\n\tflds %[m]\n\tfnstsw %[sw]\n\t"
                             "fstpt %[r]\n\tfninit"
                             : [r] "=m"(r), [sw] "=m"(sw) : [cw] "m"(cw), [m] "m"(m32s[y]));
            hl = check(hash_f80(hl, &r), sw);
        }
        for (unsigned y = 0; y < sizeof(m64s) / 8; y++) {
            f80 r;
            u16 sw;
            __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldl %[m]\n\tfildl %[i]\n\t"
                             "fildll %[m]\n\tfaddp\n\tfaddp\n\tfnstsw %[sw]\n\t"
                             "fstpt %[r]\n\tfninit"
                             : [r] "=m"(r), [sw] "=m"(sw)
                             : [cw] "m"(cw), [m] "m"(m64s[y]), [i] "m"(ints[y % 9]));
            hl = check(hash_f80(hl, &r), sw);
        }
    }
    static const u8 bcds[3][10] = { { 0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0, 0x80 },
                                    { 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0x99, 0 },
                                    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80 } };
    for (int k = 0; k < 3; k++) {
        f80 r;
        __asm__ volatile("fninit\n\tfbld %[m]\n\tfstpt %[r]" : [r] "=m"(r) : [m] "m"(bcds[k]));
        hl = hash_f80(hl, &r);
    }
    printf("%-10s %08x\n", "stores", hs);
    printf("%-10s %08x\n", "loads", hl);
}

static void run_constants(void)
{
    u32 h = HASH_INIT;
    for (int rc = 0; rc < 4; rc++) {
        u16 cw = cw_of(rc, 2);
        f80 r[7];
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfld1\n\tfldl2t\n\tfldl2e\n\tfldpi\n\t"
                         "fldlg2\n\tfldln2\n\tfldz\n\t"
                         "fstpt %[r6]\n\tfstpt %[r5]\n\tfstpt %[r4]\n\tfstpt %[r3]\n\t"
                         "fstpt %[r2]\n\tfstpt %[r1]\n\tfstpt %[r0]\n\tfninit"
                         : [r0] "=m"(r[0]), [r1] "=m"(r[1]), [r2] "=m"(r[2]), [r3] "=m"(r[3]),
                           [r4] "=m"(r[4]), [r5] "=m"(r[5]), [r6] "=m"(r[6])
                         : [cw] "m"(cw));
        for (int k = 0; k < 7; k++)
            h = hash_f80(h, &r[k]);
    }
    printf("%-10s %08x\n", "constants", h);
}

/* The stack: overflow, underflow, tags, fxch, ffree, fincstp, fdecstp, and
 * an FNSAVE/FRSTOR round trip.  FNSTENV's CW, SW and TW are printed. */
static void run_stack(void)
{
    u32 env[7], env2[7], env3[7];
    f80 r0, r1;
    __asm__ volatile("fninit\n\t"
                     "fld1\n\tfldz\n\tfldpi\n\tfld1\n\tfldz\n\tfldpi\n\tfld1\n\tfldz\n\t"
                     "fldpi\n\t"                                 /* the ninth: overflow */
                     "fnstenv %[e]\n\tfldcw %[e]\n\t"
                     "ffree %%st(2)\n\tfincstp\n\tfdecstp\n\tfxch %%st(3)\n\t"
                     "fnstenv %[e2]\n\tfldcw %[e2]\n\t"
                     "fninit\n\tfadd %%st(1), %%st\n\t"          /* underflow */
                     "fnstenv %[e3]\n\tfldcw %[e3]\n\tfstpt %[r0]\n\t"
                     "fninit\n\tfldpi\n\tfxch %%st(2)\n\tfstpt %[r1]\n\tfninit"
                     : [e] "=m"(env), [e2] "=m"(env2), [e3] "=m"(env3), [r0] "=m"(r0),
                       [r1] "=m"(r1) :: "memory");
    printf("overflow: cw %04x sw %04x tw %04x\n", env[0] & 0xffff, env[1] & 0xffff,
           env[2] & 0xffff);
    printf("ffree/fincstp/fdecstp/fxch: sw %04x tw %04x\n", env2[1] & 0xffff, env2[2] & 0xffff);
    printf("underflow: sw %04x tw %04x\n", env3[1] & 0xffff, env3[2] & 0xffff);
    u32 h = hash_f80(hash_f80(HASH_INIT, &r0), &r1);
    printf("stack values %08x\n", h);

    static u8 image[108], again[108];
    __asm__ volatile("fninit\n\tfldpi\n\tfld1\n\tfldl2e\n\tfnsave %[s]\n\t"
                     "fld1\n\tfrstor %[s]\n\tfnsave %[t]\n\tfninit"
                     : [s] "+m"(image), [t] "=m"(again) :: "memory");
    /* Skip FIP, FCS/FOP, FDP, FDS (offsets 12..27): they hold addresses. */
    h = HASH_INIT;
    for (int k = 0; k < 108; k++)
        if (k < 12 || k >= 28)
            h = check(h, (u32)image[k] << 8 | again[k]);
    printf("fnsave/frstor %08x\n", h);

    /* FCMOVcc over the 16 CF/ZF/PF states. */
    h = HASH_INIT;
    for (u32 st = 0; st < 16; st++) {
        u32 fl = (st & 1 ? F_CF : 0) | (st & 2 ? F_ZF : 0) | (st & 4 ? F_PF : 0) | F_FIXED;
        f80 res[8];
#define FCMOV(n, insn)                                                          \
        __asm__ volatile("fninit\n\tfld1\n\tfldz\n\tpushl %[fl]\n\tpopfl\n\t"  \
                         insn " %%st(1), %%st\n\tfstpt %[r]\n\tfninit"         \
                         : [r] "=m"(res[n]) : [fl] "r"(fl) : "cc", "memory")
        FCMOV(0, "fcmovb");
        FCMOV(1, "fcmove");
        FCMOV(2, "fcmovbe");
        FCMOV(3, "fcmovu");
        FCMOV(4, "fcmovnb");
        FCMOV(5, "fcmovne");
        FCMOV(6, "fcmovnbe");
        FCMOV(7, "fcmovnu");
#undef FCMOV
        for (int k = 0; k < 8; k++)
            h = hash_f80(h, &res[k]);
    }
    printf("fcmovcc %08x\n", h);
}

int main(void)
{
    init_vals();
    static const struct { const char *name; binfn *fn; bool unary; } ops[] = {
        { "fadd", do_fadd, 0 }, { "fsub", do_fsub, 0 }, { "fsubr", do_fsubr, 0 },
        { "fmul", do_fmul, 0 }, { "fdiv", do_fdiv, 0 }, { "fdivr", do_fdivr, 0 },
        { "fadd st1", do_faddst1, 0 }, { "fsub st1", do_fsubst1, 0 },
        { "fsubr st1", do_fsubrst1, 0 }, { "fdiv st1", do_fdivst1, 0 },
        { "fdivr st1", do_fdivrst1, 0 }, { "fsubp", do_fsubp, 0 }, { "fdivrp", do_fdivrp, 0 },
        { "fscale", do_fscale, 0 }, { "fprem", do_fprem, 0 }, { "fprem1", do_fprem1, 0 },
        { "fpatan", do_fpatan, 0 }, { "fyl2x", do_fyl2x, 0 }, { "fyl2xp1", do_fyl2xp1, 0 },
        { "fcom", do_fcom, 0 }, { "fucom", do_fucom, 0 }, { "fcompp", do_fcompp, 0 },
        { "fucompp", do_fucompp, 0 }, { "fxch", do_fxch, 0 },
        { "fcomi", do_fcomi, 0 }, { "fucomi", do_fucomi, 0 }, { "fcomip", do_fcomip, 0 },
        { "fucomip", do_fucomip, 0 },
        { "fsqrt", do_fsqrt, 1 }, { "frndint", do_frndint, 1 }, { "fabs", do_fabs, 1 },
        { "fchs", do_fchs, 1 }, { "ftst", do_ftst, 1 }, { "fxam", do_fxam, 1 },
        { "f2xm1", do_f2xm1, 1 }, { "fsin", do_fsin, 1 }, { "fcos", do_fcos, 1 },
        { "fxtract", do_fxtract, 1 }, { "fsincos", do_fsincos, 1 }, { "fptan", do_fptan, 1 },
    };
    for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        run_binary(ops[k].name, ops[k].fn, ops[k].unary);
    run_mem();
    run_store_load();
    run_constants();
    run_stack();
    return conf_done("x87");
}
