/*
 * misc.c - the rest of the integer instruction set a compiler or a kernel
 * uses.
 *
 *   flag instructions: clc stc cmc cld std, lahf sahf, pushf popf (the bits
 *     that are writable both in a Linux process and in an hv guest)
 *   cbw cwde cwd cdq; daa das aaa aas aam aad over all AL values with AF/CF
 *     in (defined flags only); xlat
 *   lea with every 32-bit addressing form; nop forms
 *   16-bit operand size mov/add, moffs moves, sign/zero-extending loads
 *   jcc short and near, forward and backward, all 16 conditions over the 32
 *     flag combinations; loop loope loopne jecxz
 *   call/ret (incl. ret imm16), indirect call/jmp via register and memory
 *   enter (levels 0 1 2 3 and a masked 33) / leave; push/pop of registers,
 *     immediates, memory (ESP-based too), 16-bit, pusha/popa, push esp
 *
 * Anything that is an address is printed relative to its buffer, so the
 * output does not depend on where the image is loaded or where the stack is.
 */
#include "conf.h"

/* Flags that can be set and read back both in a Linux process and in an hv
 * guest (IF, IOPL, TF, AC, ID and NT are left alone), plus the fixed bits. */
#define F_RW (F_ARITH | F_DF)
#define F_SHOWN (F_RW | 0x2 | 0x8 | 0x20 | 0x8000)

/* ---- clc stc cmc cld std ------------------------------------------------- */

#define FLAGFN(name, bytes)                                                     \
    static u32 name(u32 fin)                                                    \
    {                                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN bytes FLAGS_OUT "\n\tcld"                     \
                         : [fo] "=r"(fo)                                        \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        return fo;                                                              \
    }

FLAGFN(do_clc, ".byte 0xf8")
FLAGFN(do_stc, ".byte 0xf9")
FLAGFN(do_cmc, ".byte 0xf5")
FLAGFN(do_cld, ".byte 0xfc")
FLAGFN(do_std, ".byte 0xfd")
FLAGFN(do_popf_only, "")

static void test_flag_insns(void)
{
    static const struct {
        const char *name;
        u32 (*fn)(u32);
    } ops[] = {{"clc", do_clc}, {"stc", do_stc}, {"cmc", do_cmc}, {"cld", do_cld},
               {"std", do_std}, {"popf", do_popf_only}};

    for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        u32 h = HASH_INIT;

        for (int s = 0; s < 128; s++) {
            u32 fin = cc_state(s) | (s & 64 ? F_DF : 0);

            h = check(h, ops[i].fn(fin) & F_SHOWN);
        }
        printf("%-4s %08x 8d7->%03x 002->%03x\n", ops[i].name, h, ops[i].fn(0x8d7) & F_SHOWN,
               ops[i].fn(0x002) & F_SHOWN);
    }
}

/* ---- lahf sahf, pushfw popfw -------------------------------------------- */

static u32 do_sahf(u32 eax, u32 fin)
{
    u32 fo;

    __asm__ volatile(FLAGS_IN "sahf" FLAGS_OUT "\n\tcld"
                     : [fo] "=r"(fo)
                     : "a"(eax), [fin] "r"(fin)
                     : "cc");
    return fo;
}

static u32 do_lahf(u32 eax, u32 fin)
{
    __asm__ volatile(FLAGS_IN "lahf\n\tcld" : "+a"(eax) : [fin] "r"(fin) : "cc");
    return eax;
}

/* popfw loads only the low 16 bits of EFLAGS; pushfw pushes 16 bits. */
static u32 do_popfw(u32 fin, u32 v16)
{
    u32 fo = 0xffff0000u;

    __asm__ volatile(FLAGS_IN "pushw %w[v]\n\tpopfw\n\tpushfw\n\tpopw %w[fo]\n\tcld"
                     : [fo] "+r"(fo)
                     : [v] "r"(v16), [fin] "r"(fin)
                     : "cc");
    return fo;
}

static void test_lahf_sahf(void)
{
    u32 h = HASH_INIT, h2 = HASH_INIT, h3 = HASH_INIT;

    for (u32 ah = 0; ah < 256; ah++) {
        for (int fi = 0; fi < 2; fi++) {
            u32 fin = fi ? 0x8d7 | F_DF : 0x002;

            h = check(h, do_sahf(0x12340056 | ah << 8, fin) & F_SHOWN);
        }
    }
    for (int s = 0; s < 64; s++)
        h2 = check(h2, do_lahf(0xa5a5a5a5, cc_state(s)));
    for (int s = 0; s < 128; s++) {
        u32 v = cc_state(s) | (s & 64 ? F_DF : 0);

        h3 = check(h3, do_popfw(0x8d7, v) & (0xffff0000u | F_SHOWN));
    }
    printf("sahf %08x ah=d5 -> %03x\n", h, do_sahf(0xd500, 0x002) & F_SHOWN);
    printf("lahf %08x 8d7 -> %08x 002 -> %08x\n", h2, do_lahf(0xa5a5a5a5, 0x8d7),
           do_lahf(0xa5a5a5a5, 0x002));
    printf("popfw %08x 0cd5 -> %08x\n", h3, do_popfw(0x002, 0x0cd5) & (0xffff0000u | F_SHOWN));
}

/* ---- pushf/popf: which bits are writable -------------------------------- */

static void test_pushf_popf(void)
{
    u32 h = HASH_INIT;

    for (u32 s = 0; s < 512; s++) {
        /* Every combination of the arithmetic flags, DF and reserved bits. */
        u32 v = cc_state((int)(s & 63)) | (s & 64 ? F_DF : 0) | (s & 128 ? 0x8028 : 0);
        u32 fo;

        if (s & 256)
            v &= ~0x2u;         /* bit 1 reads as one whatever is written */
        __asm__ volatile("pushl %[v]\n\tpopfl\n\tpushfl\n\tpopl %[fo]\n\tcld"
                         : [fo] "=r"(fo)
                         : [v] "r"(v)
                         : "cc");
        h = check(h, fo & F_SHOWN);
    }
    printf("pushf/popf %08x\n", h);
}

/* ---- cbw cwde cwd cdq ---------------------------------------------------- */

static void test_convert(void)
{
    static const char *const names[4] = {"cbw", "cwde", "cwd", "cdq"};

    for (int op = 0; op < 4; op++) {
        u32 h = HASH_INIT;

        for (int i = 0; i < 16; i++) {
            u32 eax = edges[i] ^ 0x5a000000, edx = 0x33333333;

            switch (op) {
            case 0: __asm__(".byte 0x66, 0x98" : "+a"(eax), "+d"(edx)); break;
            case 1: __asm__(".byte 0x98" : "+a"(eax), "+d"(edx)); break;
            case 2: __asm__(".byte 0x66, 0x99" : "+a"(eax), "+d"(edx)); break;
            default: __asm__(".byte 0x99" : "+a"(eax), "+d"(edx)); break;
            }
            h = check(h, hash_u32(eax, edx));
            if (i == 4 || i == 8 || i == 12)
                printf("%-4s %08x -> %08x:%08x\n", names[op], edges[i] ^ 0x5a000000, edx, eax);
        }
        printf("%-4s %08x\n", names[op], h);
    }
}

/* ---- BCD adjust ------------------------------------------------------------ */

#define BCDFN(name, bytes)                                                      \
    static u32 name(u32 eax, u32 fin, u32 *fout)                                \
    {                                                                           \
        u32 fo;                                                                 \
        __asm__ volatile(FLAGS_IN bytes FLAGS_OUT                               \
                         : "+a"(eax), [fo] "=r"(fo)                             \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        *fout = fo;                                                             \
        return eax;                                                             \
    }

BCDFN(do_daa, ".byte 0x27")
BCDFN(do_das, ".byte 0x2f")
BCDFN(do_aaa, ".byte 0x37")
BCDFN(do_aas, ".byte 0x3f")
BCDFN(do_aam10, ".byte 0xd4, 10")
BCDFN(do_aam16, ".byte 0xd4, 16")
BCDFN(do_aam7, ".byte 0xd4, 7")
BCDFN(do_aad10, ".byte 0xd5, 10")
BCDFN(do_aad16, ".byte 0xd5, 16")
BCDFN(do_aad7, ".byte 0xd5, 7")

static void test_bcd(void)
{
    static const struct {
        const char *name;
        u32 (*fn)(u32, u32, u32 *);
        u32 mask;
    } ops[] = {
        {"daa", do_daa, F_CF | F_AF | F_SF | F_ZF | F_PF},
        {"das", do_das, F_CF | F_AF | F_SF | F_ZF | F_PF},
        {"aaa", do_aaa, F_CF | F_AF},
        {"aas", do_aas, F_CF | F_AF},
        {"aam10", do_aam10, F_SF | F_ZF | F_PF},
        {"aam16", do_aam16, F_SF | F_ZF | F_PF},
        {"aam7", do_aam7, F_SF | F_ZF | F_PF},
        {"aad10", do_aad10, F_SF | F_ZF | F_PF},
        {"aad16", do_aad16, F_SF | F_ZF | F_PF},
        {"aad7", do_aad7, F_SF | F_ZF | F_PF},
    };
    static const u32 ahs[3] = {0x00, 0xff, 0x37};
    static const u32 fins[4] = {0x002, F_CF | 0x2, F_AF | 0x2, F_CF | F_AF | 0x2};

    for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        u32 hf[4];

        for (int f = 0; f < 4; f++) {
            hf[f] = HASH_INIT;
            for (int a = 0; a < 3; a++) {
                for (u32 al = 0; al < 256; al++) {
                    u32 fo, r = ops[i].fn(0xc0de0000 | ahs[a] << 8 | al, fins[f], &fo);

                    hf[f] = check(hf[f], r ^ ((fo & ops[i].mask) << 20));
                }
            }
        }
        printf("%-5s cf0af0 %08x cf1 %08x af1 %08x both %08x\n", ops[i].name, hf[0], hf[1],
               hf[2], hf[3]);
        for (int k = 0; k < 4; k++) {
            static const u32 als[4] = {0x09, 0x9a, 0xfa, 0x0f};
            u32 fo, r = ops[i].fn(0xc0de3700 | als[k], fins[k], &fo);

            printf("%-5s ax=37%02x fin=%03x -> %08x fl=%03x\n", ops[i].name, als[k], fins[k],
                   r, fo & ops[i].mask);
        }
    }
}

/* ---- xlat -------------------------------------------------------------------- */

static void test_xlat(void)
{
    static u8 table[256];
    u32 h = HASH_INIT;

    for (int i = 0; i < 256; i++)
        table[i] = (u8)(i * 91 + 17);
    for (u32 al = 0; al < 256; al++) {
        u32 eax = 0x12345600 | al;

        __asm__ volatile(".byte 0xd7" : "+a"(eax) : "b"(table), "m"(table));
        h = check(h, eax);
    }
    printf("xlat %08x\n", h);
}

/* ---- lea --------------------------------------------------------------------- */

/* EBX ECX EDX ESI EDI EBP hold fixed values; EAX starts as 0xdead0000 (the
 * 16-bit form must keep its upper half).  ESP-based results are made
 * relative by subtracting ESP. */
#define LEAFN(name, body)                                                       \
    static u32 name(void)                                                       \
    {                                                                           \
        u32 r = 0xdead0000;                                                     \
        __asm__ volatile("pushl %%ebp\n\tmovl $0x00100400, %%ebp\n\t" body     \
                         "\n\tpopl %%ebp"                                       \
                         : "+a"(r)                                              \
                         : "b"(0x12340000), "c"(0x30), "d"(0x7ffffff0),         \
                           "S"(0x55), "D"(0xfffffff0));                         \
        return r;                                                               \
    }

LEAFN(lea01, "leal 0x12(%%ebx), %%eax")
LEAFN(lea02, "leal -0x80(%%ebx), %%eax")
LEAFN(lea03, "leal 0x12345678(%%ebx), %%eax")
LEAFN(lea04, "leal -0x1000(%%ecx), %%eax")
LEAFN(lea05, "leal (%%ebx), %%eax")
LEAFN(lea06, "leal (%%ebx,%%ecx), %%eax")
LEAFN(lea07, "leal (%%ebx,%%ecx,2), %%eax")
LEAFN(lea08, "leal (%%ebx,%%ecx,4), %%eax")
LEAFN(lea09, "leal (%%ebx,%%ecx,8), %%eax")
LEAFN(lea10, "leal 0x7f(%%esi,%%edi,4), %%eax")
LEAFN(lea11, "leal 0x12345678(%%esi,%%edx,8), %%eax")
LEAFN(lea12, "leal 0x12345678(,%%ecx,4), %%eax")
LEAFN(lea13, ".byte 0x8d, 0x04, 0x0d\n\t.long 0x12345678")        /* (,%ecx,1) */
LEAFN(lea14, ".byte 0x8d, 0x05\n\t.long 0x00001234")              /* disp32 */
LEAFN(lea15, "leal (%%ebp), %%eax")
LEAFN(lea16, "leal 0x10(%%ebp,%%ecx,2), %%eax")
LEAFN(lea17, ".byte 0x8d, 0x85\n\t.long 0x11223344")              /* disp32(%ebp) */
LEAFN(lea18, ".byte 0x8d, 0x44, 0x25, 0x10")                      /* 0x10(%ebp,%eiz) */
LEAFN(lea19, "leal (%%esp), %%eax\n\tsubl %%esp, %%eax")
LEAFN(lea20, "leal 0x40(%%esp), %%eax\n\tsubl %%esp, %%eax")
LEAFN(lea21, "leal -0x40(%%esp,%%ecx,4), %%eax\n\tsubl %%esp, %%eax")
LEAFN(lea22, ".byte 0x8d, 0x04, 0xe3")                            /* (%ebx,%eiz,8) */
LEAFN(lea23, ".byte 0x8d, 0x04, 0x25\n\t.long 0x12345678")        /* SIB, no base/index */
LEAFN(lea24, ".byte 0x66, 0x8d, 0x43, 0x12")                      /* lea 0x12(%ebx), %ax */
LEAFN(lea25, "leal 0x10(%%edx,%%edx,1), %%eax")                   /* wraps */
LEAFN(lea26, "leal -1(%%edi,%%edi,8), %%eax")
LEAFN(lea27, ".byte 0x8d, 0x84, 0x24\n\t.long 0x100\n\tsubl %%esp, %%eax") /* disp32(%esp) */
LEAFN(lea28, ".byte 0x8d, 0x41, 0xff")                            /* -1(%ecx) */
LEAFN(lea29, ".byte 0x8d, 0x42, 0x10")                            /* 0x10(%edx) */
LEAFN(lea30, ".byte 0x8d, 0x46, 0x01")                            /* 1(%esi) */
LEAFN(lea31, ".byte 0x8d, 0x47, 0x80")                            /* -0x80(%edi) */
LEAFN(lea32, ".byte 0x8d, 0x04, 0x3e")                            /* (%esi,%edi) */
LEAFN(lea33, ".byte 0x8d, 0x44, 0x7d, 0x08")                      /* 8(%ebp,%edi,2) */
LEAFN(lea34, ".byte 0x8d, 0x84, 0xb3\n\t.long 0x80000000")        /* (%ebx,%esi,4) */

static u32 (*const lea_fns[])(void) = {
    lea01, lea02, lea03, lea04, lea05, lea06, lea07, lea08, lea09, lea10, lea11, lea12,
    lea13, lea14, lea15, lea16, lea17, lea18, lea19, lea20, lea21, lea22, lea23, lea24,
    lea25, lea26, lea27, lea28, lea29, lea30, lea31, lea32, lea33, lea34,
};

static void test_lea(void)
{
    u32 h = HASH_INIT;

    for (unsigned i = 0; i < sizeof(lea_fns) / sizeof(lea_fns[0]); i++) {
        u32 r = lea_fns[i]();

        h = check(h, r);
        printf("lea%02u %08x\n", i + 1, r);
    }
    /* lea35 clobbers EBX inside its asm, so it is run separately. */
    {
        u32 r = 0, b = 0x01020304;

        __asm__ volatile(".byte 0x8d, 0x1c, 0x1b" : "+b"(b), "+a"(r));
        h = check(h, b);
        printf("lea35 %08x\n", b);
    }
    printf("lea %08x\n", h);
}

/* ---- nops ------------------------------------------------------------------ */

static u32 g_fin, g_fo;

static void test_nops(void)
{
    u32 a = 0x11111111, b = 0x22222222, c = 0x33333333, d = 0x44444444;
    u32 s = 0x55555555, di = 0x66666666;
    u32 h = HASH_INIT;

    for (int fi = 0; fi < 2; fi++) {
        g_fin = fi ? 0x8d7 : 0x002;
        __asm__ volatile("pushl %[fin]\n\tpopfl\n\t"
                         ".byte 0x90\n\t"
                         ".byte 0x66, 0x90\n\t"
                         ".byte 0xf3, 0x90\n\t"                         /* pause */
                         ".byte 0x0f, 0x1f, 0x00\n\t"
                         ".byte 0x0f, 0x1f, 0x40, 0x00\n\t"
                         ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"
                         ".byte 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"
                         ".byte 0x0f, 0x1f, 0x80, 0, 0, 0, 0\n\t"
                         ".byte 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0\n\t"
                         ".byte 0x66, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0\n\t"
                         ".byte 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0\n\t"
                         ".byte 0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0\n\t"
                         ".byte 0x0f, 0x1f, 0xc0\n\t"                   /* nop %eax */
                         ".byte 0x66, 0x0f, 0x1f, 0xc3\n\t"             /* nop %bx */
                         ".byte 0x0f, 0x1f, 0x04, 0x24\n\t"             /* nopl (%esp) */
                         ".byte 0xf3, 0x0f, 0x1e, 0xfb\n\t"             /* endbr32 */
                         ".byte 0x89, 0xf6\n\t"                         /* mov %esi,%esi */
                         ".byte 0x8d, 0x76, 0x00\n\t"                   /* lea 0(%esi),%esi */
                         ".byte 0x8d, 0xb4, 0x26, 0, 0, 0, 0\n\t"
                         ".byte 0x8d, 0xbc, 0x27, 0, 0, 0, 0\n\t"
                         ".byte 0x87, 0xdb\n\t"                         /* xchg %ebx,%ebx */
                         "pushfl\n\tpopl %[fo]"
                         : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+S"(s), "+D"(di),
                           [fo] "=m"(g_fo)
                         : [fin] "m"(g_fin)
                         : "cc", "memory");
        h = check(h, a ^ (b << 1) ^ (c << 2) ^ (d << 3) ^ (s << 4) ^ (di << 5));
        h = check(h, g_fo & F_SHOWN);
    }
    printf("nops %08x fl=%03x\n", h, g_fo & F_SHOWN);
}

/* ---- 16-bit operand size, moffs, byte registers, extending loads --------- */

u32 conf_var[4];

static void test_opsize(void)
{
    u32 h = HASH_INIT, a, b, c, d;
    static u32 mem[4];

    mem[0] = 0x01020304;
    mem[1] = 0x05060708;
    a = 0xdeadbeef;
    b = 0xcafebabe;
    c = 0x12345678;
    d = 0x9abcdef0;
    __asm__ volatile("movw $0x1234, %%ax\n\t"               /* 66 b8 iw */
                     "movw %%cx, %%dx\n\t"                  /* 66 89 ca */
                     "movb %%ch, %%bl\n\t"
                     "movb $0x5a, %%ah\n\t"                 /* b4 ib */
                     "movb %%ah, %%bh\n\t"
                     "movw %%cx, (%%esi)\n\t"
                     "movw 6(%%esi), %%cx\n\t"
                     "movw $0xbeef, 8(%%esi)\n\t"           /* 66 c7 46 08 iw */
                     "movb $0x7f, 9(%%esi)\n\t"             /* c6 46 09 ib */
                     "addw %%dx, %%cx\n\t"
                     "addw $0x1234, %%dx\n\t"
                     "addw $5, %%bx\n\t"
                     "subw 8(%%esi), %%ax\n\t"
                     "incw 12(%%esi)\n\t"
                     "decw %%dx\n\t"
                     : "+a"(a), "+b"(b), "+c"(c), "+d"(d)
                     : "S"(mem)
                     : "cc", "memory");
    h = check(h, a);
    h = check(h, b);
    h = check(h, c);
    h = check(h, d);
    for (int i = 0; i < 4; i++)
        h = check(h, mem[i]);
    printf("opsize regs %08x %08x %08x %08x mem %08x %08x %08x %08x\n", a, b, c, d, mem[0],
           mem[1], mem[2], mem[3]);

    /* moffs forms a0-a3, and mov imm to r/m (c6/c7). */
    conf_var[0] = 0x11223344;
    conf_var[1] = 0x55667788;
    a = 0xa5a5a5a5;
    __asm__ volatile(".byte 0xa0\n\t.long conf_var+1\n\t"      /* mov conf_var+1, %al */
                     ".byte 0xa3\n\t.long conf_var+8\n\t"      /* mov %eax, conf_var+8 */
                     ".byte 0x66, 0xa1\n\t.long conf_var+5\n\t" /* mov conf_var+5, %ax */
                     ".byte 0xa2\n\t.long conf_var+12\n\t"     /* mov %al, conf_var+12 */
                     ".byte 0x66, 0xa3\n\t.long conf_var+14\n\t" /* mov %ax, conf_var+14 */
                     ".byte 0xa1\n\t.long conf_var\n\t"        /* mov conf_var, %eax */
                     ".byte 0xc7, 0x05\n\t.long conf_var+4\n\t.long 0xfeedf00d"
                     : "+a"(a)
                     :
                     : "memory");
    for (int i = 0; i < 4; i++)
        h = check(h, conf_var[i]);
    h = check(h, a);
    printf("moffs eax=%08x var %08x %08x %08x %08x\n", a, conf_var[0], conf_var[1], conf_var[2],
           conf_var[3]);

    /* Sign/zero-extending loads as the compiler emits them. */
    {
        static volatile const int8_t sc[4] = {-128, -1, 0, 127};
        static volatile const uint8_t uc[4] = {0x80, 0xff, 0, 0x7f};
        static volatile const int16_t ss[4] = {-32768, -1, 0, 32767};
        static volatile const uint16_t us[4] = {0x8000, 0xffff, 0, 0x7fff};
        u32 x = 0;

        for (int i = 0; i < 4; i++) {
            x = check(x, (u32)(int32_t)sc[i]);
            x = check(x, (u32)uc[i]);
            x = check(x, (u32)(int32_t)ss[i]);
            x = check(x, (u32)us[i]);
            x = check(x, (u32)(int16_t)sc[i] & 0xffff);
        }
        printf("ext loads %08x sc0=%08x ss0=%08x\n", x, (u32)(int32_t)sc[0],
               (u32)(int32_t)ss[0]);
    }
    printf("opsize %08x\n", h);
}

/* ---- jcc ------------------------------------------------------------------- */

/* Each returns 0 when taken forward, 2 when taken backward, 1 when not. */
#define JCC(cc)                                                                 \
    static u32 jshort_##cc(u32 fin)                                             \
    {                                                                           \
        u32 r;                                                                  \
        __asm__ volatile("xorl %%eax, %%eax\n\t" FLAGS_IN                       \
                         ".byte 0x70+" #cc ", 0x05\n\t"                         \
                         ".byte 0xb8\n\t.long 1"                                \
                         : "=&a"(r)                                             \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        return r;                                                               \
    }                                                                           \
    static u32 jnear_##cc(u32 fin)                                              \
    {                                                                           \
        u32 r;                                                                  \
        __asm__ volatile("xorl %%eax, %%eax\n\t" FLAGS_IN                       \
                         ".byte 0x0f, 0x80+" #cc "\n\t.long 5\n\t"              \
                         ".byte 0xb8\n\t.long 1"                                \
                         : "=&a"(r)                                             \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        return r;                                                               \
    }                                                                           \
    static u32 jback_##cc(u32 fin)                                              \
    {                                                                           \
        u32 r;                                                                  \
        __asm__ volatile(".byte 0xb8\n\t.long 3\n\t"                            \
                         ".byte 0xeb, 2f-1f\n"                                  \
                         "1:\t.byte 0xb8\n\t.long 2\n\t"                        \
                         ".byte 0xeb, 3f-4f\n"                                  \
                         "4:\n"                                                 \
                         "2:\tpushl %[fin]\n\tpopfl\n\t"                        \
                         ".byte 0x70+" #cc ", 1b-5f\n"                          \
                         "5:\t.byte 0xb8\n\t.long 1\n"                          \
                         "3:"                                                   \
                         : "=&a"(r)                                             \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        return r;                                                               \
    }                                                                           \
    static u32 jbacknear_##cc(u32 fin)                                          \
    {                                                                           \
        u32 r;                                                                  \
        __asm__ volatile(".byte 0xb8\n\t.long 3\n\t"                            \
                         ".byte 0xeb, 2f-1f\n"                                  \
                         "1:\t.byte 0xb8\n\t.long 2\n\t"                        \
                         ".byte 0xeb, 3f-4f\n"                                  \
                         "4:\n"                                                 \
                         "2:\tpushl %[fin]\n\tpopfl\n\t"                        \
                         ".byte 0x0f, 0x80+" #cc "\n\t.long 1b-5f\n"            \
                         "5:\t.byte 0xb8\n\t.long 1\n"                          \
                         "3:"                                                   \
                         : "=&a"(r)                                             \
                         : [fin] "r"(fin)                                       \
                         : "cc");                                               \
        return r;                                                               \
    }

#define CCS(X)                                                                  \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)   \
    X(14) X(15)

CCS(JCC)

typedef u32 (*jcc_fn)(u32 fin);

#define JCC_TAB(cc) {jshort_##cc, jnear_##cc, jback_##cc, jbacknear_##cc},

static const jcc_fn jcc_fns[16][4] = {CCS(JCC_TAB)};

static void test_jcc(void)
{
    static const char *const names[16] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                          "s", "ns", "p", "np", "l", "ge", "le", "g"};
    static const u32 taken_val[4] = {0, 0, 2, 2};

    for (int cc = 0; cc < 16; cc++) {
        u32 taken[4] = {0, 0, 0, 0};

        for (int s = 0; s < 32; s++) {
            for (int f = 0; f < 4; f++) {
                u32 r = jcc_fns[cc][f](cc_state(s));

                conf_checks++;
                if (r == taken_val[f])
                    taken[f] |= 1u << s;
                else if (r != 1)
                    taken[f] |= 0x80000000u;    /* impossible on a CPU */
            }
        }
        printf("j%-2s short %08x near %08x back %08x backnear %08x\n", names[cc], taken[0],
               taken[1], taken[2], taken[3]);
    }
}

/* ---- loop loope loopne jecxz ------------------------------------------------ */

struct loopres {
    u32 iters, ecx, fl;
};

/* Body: inc EDX; test EDX, ESI (ZF = !(EDX & ESI)); then the loop insn. */
#define LOOPFN(name, opc)                                                       \
    static struct loopres name(u32 ecx, u32 mask)                               \
    {                                                                           \
        struct loopres r;                                                       \
        u32 edx = 0, fo;                                                        \
        __asm__ volatile("1:\tincl %%edx\n\t"                                   \
                         "testl %%edx, %%esi\n\t"                               \
                         ".byte " #opc ", 1b-2f\n"                              \
                         "2:\tpushfl\n\tpopl %[fo]"                             \
                         : "+c"(ecx), "+d"(edx), [fo] "=r"(fo)                  \
                         : "S"(mask)                                            \
                         : "cc");                                               \
        r.iters = edx;                                                          \
        r.ecx = ecx;                                                            \
        r.fl = fo;                                                              \
        return r;                                                               \
    }

LOOPFN(do_loop, 0xe2)
LOOPFN(do_loope, 0xe1)
LOOPFN(do_loopne, 0xe0)

static u32 do_jecxz(u32 ecx)
{
    u32 r;

    __asm__ volatile("xorl %%eax, %%eax\n\t"
                     ".byte 0xe3, 0x05\n\t"
                     ".byte 0xb8\n\t.long 1"
                     : "=&a"(r)
                     : "c"(ecx)
                     : "cc");
    return r;
}

static void test_loops(void)
{
    static const u32 counts[] = {1, 2, 5, 15, 16, 17, 40};
    static const u32 masks[] = {0x10, 0xffffffef, 0x0, 0xffffffff, 0x4};

    for (int op = 0; op < 3; op++) {
        static const char *const names[3] = {"loop", "loope", "loopne"};
        static struct loopres (*const fns[3])(u32, u32) = {do_loop, do_loope, do_loopne};
        u32 h = HASH_INIT;

        for (unsigned ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
            for (unsigned mi = 0; mi < sizeof(masks) / sizeof(masks[0]); mi++) {
                struct loopres r = fns[op](counts[ci], masks[mi]);

                h = check(h, hash_u32(hash_u32(r.iters, r.ecx), r.fl & F_ARITH));
                if (ci == 4 && mi < 2)
                    printf("%-6s ecx=%u mask=%08x -> iters=%u ecx=%u fl=%03x\n", names[op],
                           counts[ci], masks[mi], r.iters, r.ecx, r.fl & F_ARITH);
            }
        }
        printf("%-6s %08x\n", names[op], h);
    }
    printf("jecxz 0:%u 1:%u 10000:%u ffffffff:%u\n", do_jecxz(0), do_jecxz(1),
           do_jecxz(0x10000), do_jecxz(0xffffffff));
    conf_checks += 4;
}

/* ---- call / ret / indirect transfers ---------------------------------------- */

__asm__(".text\n"
        ".globl conf_ret8\n"
        "conf_ret8:\n\t"
        "movl 4(%esp), %eax\n\t"
        "addl 8(%esp), %eax\n\t"
        "ret $8\n"
        ".globl conf_ret0\n"
        "conf_ret0:\n\t"
        "movl $0x1234, %eax\n\t"
        "ret\n"
        ".globl conf_ret_c2\n"
        "conf_ret_c2:\n\t"
        "movl $0x4321, %eax\n\t"
        ".byte 0xc2, 0x00, 0x00\n");      /* ret $0 */

void conf_ret0(void);
void conf_ret_c2(void);
static void (*volatile g_fnptr)(void) = conf_ret0;
static void (*const g_fntab[3])(void) = {conf_ret0, conf_ret_c2, conf_ret0};

static void test_calls(void)
{
    u32 a, d, delta;

    /* call rel32 to a function that returns with ret $8; ESP must balance. */
    __asm__ volatile("movl %%esp, %%edx\n\t"
                     "pushl $3\n\tpushl $4\n\t"
                     "call conf_ret8\n\t"
                     "subl %%esp, %%edx"
                     : "=&a"(a), "=&d"(delta)
                     :
                     : "cc", "memory", "ecx");
    printf("ret imm16: eax=%u esp delta=%d\n", a, (int)delta);

    /* The pushed return address is the address after the call. */
    __asm__ volatile("call 1f\n"
                     "1:\tpopl %%eax\n\t"
                     "subl $1b, %%eax"
                     : "=a"(a)
                     :
                     : "cc");
    printf("call pushes next eip: %d\n", (int)a);

    /* ret to a pushed address; jmp rel8/rel32 with zero displacement. */
    __asm__ volatile("movl $7, %%eax\n\t"
                     "pushl $1f\n\t"
                     "ret\n\t"
                     "movl $99, %%eax\n"
                     "1:\t.byte 0xeb, 0x00\n\t"
                     ".byte 0xe9\n\t.long 0\n\t"
                     ".byte 0xe9\n\t.long 5\n\t"
                     "movl $98, %%eax"
                     : "=a"(a)
                     :
                     : "cc", "memory");
    printf("ret to pushed, jmp rel: %u\n", a);

    /* Indirect call through a register, memory, and a table with SIB. */
    d = (u32)(uintptr_t)conf_ret_c2;
    __asm__ volatile("call *%%edx" : "=a"(a) : "d"(d) : "cc", "memory", "ecx");
    printf("call *reg: %08x\n", a);
    __asm__ volatile("call *%1" : "=a"(a) : "m"(g_fnptr) : "cc", "memory", "ecx", "edx");
    printf("call *mem: %08x\n", a);
    __asm__ volatile("call *(%%esi,%%ecx,4)"
                     : "=a"(a)
                     : "S"(g_fntab), "c"(1)
                     : "cc", "memory", "edx");
    printf("call *(sib): %08x\n", a);

    /* Indirect jmp through a register, memory, and a table. */
    __asm__ volatile("movl $1f, %%edx\n\t"
                     "movl $11, %%eax\n\t"
                     "jmp *%%edx\n\t"
                     "movl $12, %%eax\n"
                     "1:"
                     : "=&a"(a)
                     :
                     : "edx", "cc");
    printf("jmp *reg: %u\n", a);
    {
        static u32 targets[2];
        u32 r;

        __asm__ volatile("movl $1f, (%%esi)\n\t"
                         "movl $2f, 4(%%esi)\n\t"
                         "movl $21, %%eax\n\t"
                         "jmp *4(%%esi)\n"
                         "1:\tmovl $22, %%eax\n"
                         "2:\tmovl $1, %%ecx\n\t"
                         "jmp *3f(,%%ecx,4)\n\t"
                         ".pushsection .rodata\n\t.p2align 2\n"
                         "3:\t.long 4f, 5f\n\t"
                         ".popsection\n"
                         "4:\tmovl $23, %%eax\n"
                         "5:\tnop"
                         : "=&a"(r)
                         : "S"(targets)
                         : "ecx", "cc", "memory");
        printf("jmp *mem, jmp *table: %u\n", r);
    }
    conf_checks += 9;
}

/* ---- enter / leave, push / pop on a private stack ------------------------ */

/* A stack and a fake frame chain the tests switch to.  Values that are
 * addresses inside them are printed as offsets. */
#define STACK_WORDS 2048
u32 conf_stack[STACK_WORDS];
u32 conf_frame[16];
u32 conf_saved[4];
u32 conf_out[16];

static u32 norm(u32 v)
{
    u32 s = (u32)(uintptr_t)conf_stack, f = (u32)(uintptr_t)conf_frame;

    if (v >= s && v <= s + sizeof(conf_stack))
        return 0x5000000u + (v - s);
    if (v >= f && v <= f + sizeof(conf_frame))
        return 0xf000000u + (v - f);
    return v;
}

static void reset_stack(void)
{
    for (unsigned i = 0; i < STACK_WORDS; i++)
        conf_stack[i] = 0xcccc0000u + i;
    for (unsigned i = 0; i < 16; i++)
        conf_frame[i] = 0xfeed0000u + i;
    memset(conf_out, 0, sizeof(conf_out));
}

/* Print the top n words of the private stack and the captured outputs. */
static u32 dump_stack(const char *name, unsigned n, unsigned nout)
{
    u32 h = HASH_INIT;

    printf("%s:", name);
    for (unsigned i = STACK_WORDS - n; i < STACK_WORDS; i++) {
        h = check(h, norm(conf_stack[i]));
        printf(" %x", norm(conf_stack[i]));
    }
    printf(" |");
    for (unsigned i = 0; i < nout; i++) {
        h = check(h, norm(conf_out[i]));
        printf(" %x", norm(conf_out[i]));
    }
    printf("\n");
    return h;
}

#define ON_PRIVATE_STACK(body)                                                  \
    __asm__ volatile("movl %%esp, conf_saved\n\t"                               \
                     "movl %%ebp, conf_saved+4\n\t"                             \
                     "movl $conf_stack+" STR(STACK_WORDS) "*4, %%esp\n\t"                         \
                     "movl $conf_frame+48, %%ebp\n\t" body "\n\t"               \
                     "movl conf_saved+4, %%ebp\n\t"                             \
                     "movl conf_saved, %%esp"                                   \
                     :                                                          \
                     :                                                          \
                     : "eax", "ebx", "ecx", "edx", "esi", "edi", "cc", "memory")

#define ENTER_TEST(name, size, level)                                           \
    static void name(void)                                                      \
    {                                                                           \
        reset_stack();                                                          \
        ON_PRIVATE_STACK(".byte 0xc8\n\t.word " #size "\n\t.byte " #level "\n\t" \
                         "movl %%esp, conf_out\n\t"                             \
                         "movl %%ebp, conf_out+4\n\t"                           \
                         "movl -4(%%ebp), %%eax\n\tmovl %%eax, conf_out+8\n\t"  \
                         "leave\n\t"                                            \
                         "movl %%esp, conf_out+12\n\t"                          \
                         "movl %%ebp, conf_out+16");                            \
    }

ENTER_TEST(enter_0_0, 0, 0)
ENTER_TEST(enter_8_0, 8, 0)
ENTER_TEST(enter_16_1, 16, 1)
ENTER_TEST(enter_4_2, 4, 2)
ENTER_TEST(enter_12_3, 12, 3)
ENTER_TEST(enter_4096_3, 0x1000, 3)
ENTER_TEST(enter_8_33, 8, 33)

static void test_enter(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {{"enter 0,0", enter_0_0},   {"enter 8,0", enter_8_0},
                 {"enter 16,1", enter_16_1}, {"enter 4,2", enter_4_2},
                 {"enter 12,3", enter_12_3}, {"enter 4096,3", enter_4096_3},
                 {"enter 8,33", enter_8_33}};

    for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        tests[i].fn();
        dump_stack(tests[i].name, 6, 5);
    }
}

static void test_push_pop(void)
{
    /* Pushes of every kind. */
    reset_stack();
    conf_frame[0] = 0x13579bdf;
    ON_PRIVATE_STACK("movl $0x11112222, %%eax\n\t"
                     ".byte 0x6a, 0x12\n\t"                 /* push $0x12 */
                     ".byte 0x6a, 0xfd\n\t"                 /* push $-3 */
                     ".byte 0x68\n\t.long 0x12345678\n\t"   /* push $imm32 */
                     "pushl %%eax\n\t"
                     ".byte 0x66, 0x50\n\t"                 /* pushw %ax */
                     ".byte 0x66, 0x68\n\t.word 0xabcd\n\t" /* pushw $imm16 */
                     ".byte 0x66, 0x6a, 0xfe\n\t"           /* pushw $-2 */
                     "pushl conf_frame\n\t"                 /* ff 35 */
                     "pushw conf_frame\n\t"                 /* 66 ff 35 */
                     "pushl %%esp\n\t"                      /* old ESP */
                     "pushl 4(%%esp)\n\t"                   /* address before push */
                     "movl %%esp, conf_out");
    dump_stack("push", 12, 1);

    /* Pops of every kind, including into ESP-based memory. */
    reset_stack();
    ON_PRIVATE_STACK("movl $0, %%eax\n\tmovl $0x77778888, %%edx\n\t"
                     "pushl $0xaaaa0001\n\tpushl $0xaaaa0002\n\tpushl $0xaaaa0003\n\t"
                     "pushl $0xaaaa0004\n\tpushl $0xaaaa0005\n\tpushl $0xaaaa0006\n\t"
                     "popl %%ecx\n\t"                       /* 0006 */
                     "popl conf_out+4\n\t"                  /* 8f 05: 0005 */
                     "popw %%dx\n\t"                        /* 66 5a: low half of 0004 */
                     "popw conf_out+8\n\t"                  /* 66 8f 05: high half */
                     "popl 4(%%esp)\n\t"                    /* EA after the pop */
                     "movl %%ecx, conf_out+12\n\t"
                     "movl %%edx, conf_out+16\n\t"
                     "movl %%esp, conf_out");
    dump_stack("pop", 6, 5);

    /* pusha / popa (pushes the ESP from before the first push). */
    reset_stack();
    ON_PRIVATE_STACK("movl $0xa0, %%eax\n\tmovl $0xc0, %%ecx\n\tmovl $0xd0, %%edx\n\t"
                     "movl $0xb0, %%ebx\n\tmovl $0x50, %%esi\n\tmovl $0xd1, %%edi\n\t"
                     "movl $0xbb, %%ebp\n\t"
                     "pushal\n\t"
                     "movl %%esp, conf_out\n\t"
                     "movl $0, 12(%%esp)\n\t"               /* popa skips ESP */
                     "addl $1, 28(%%esp)\n\t"               /* EAX slot */
                     "xorl %%eax, %%eax\n\txorl %%ecx, %%ecx\n\txorl %%edx, %%edx\n\t"
                     "xorl %%ebx, %%ebx\n\txorl %%esi, %%esi\n\txorl %%edi, %%edi\n\t"
                     "popal\n\t"
                     "movl %%esp, conf_out+4\n\tmovl %%eax, conf_out+8\n\t"
                     "movl %%ecx, conf_out+12\n\tmovl %%edx, conf_out+16\n\t"
                     "movl %%ebx, conf_out+20\n\tmovl %%esi, conf_out+24\n\t"
                     "movl %%edi, conf_out+28\n\tmovl %%ebp, conf_out+32\n\t"
                     ".byte 0x66, 0x60\n\t"                 /* pushaw */
                     "movl %%esp, conf_out+36\n\t"
                     /* The pushed SP is an address: keep it aside. */
                     "movzwl 6(%%esp), %%eax\n\tmovl %%eax, conf_out+44\n\t"
                     "movw $0x5555, 6(%%esp)\n\t"
                     ".byte 0x66, 0x61\n\t"                 /* popaw */
                     "movl %%esp, conf_out+40");
    /* pushaw stored the low half of ESP as it was before the pushes. */
    conf_out[11] = conf_out[11] == ((conf_out[9] + 16) & 0xffff);
    dump_stack("pusha", 12, 12);
}

int main(void)
{
    test_flag_insns();
    test_lahf_sahf();
    test_pushf_popf();
    test_convert();
    test_bcd();
    test_xlat();
    test_lea();
    test_nops();
    test_opsize();
    test_jcc();
    test_loops();
    test_calls();
    test_enter();
    test_push_pop();
    return conf_done("misc");
}
