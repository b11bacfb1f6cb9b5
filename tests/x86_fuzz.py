"""Random differential testing of the emu switcher against the real CPU.

`generate(seed, count)` writes an assembly program made of `count` random test
cases (run `passes` times over, when asked).  Each case loads random values
into the registers, a scratch buffer and the arithmetic flags, executes one
random instruction, and records every register, EFLAGS and the scratch
buffer.  The same source is assembled twice:
as an hv guest (console via the WRITE hypercall) and as a static i386 Linux
program (write(2) through int $0x80).  Both dumps must agree on everything the
Intel SDM defines; each case carries the mask of the flags that are defined.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
ARITH = CF | PF | AF | ZF | SF | OF
REGS = ["eax", "ecx", "edx", "ebx", "ebp", "esi", "edi"]     # esp stays ours
SCRATCH = 32
RECORD = 4 * len(REGS) + 4 + SCRATCH
EDGES = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
         0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF]
CONDS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]
SUFFIX = {1: "b", 2: "w", 4: "l"}
NAMES = {
    1: ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"],
    2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"],
    4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"],
}


# x87 operands: 80-bit values as (sign and exponent, significand).
X87_EDGES = [(0, 0), (0x8000, 0), (0x3FFF, 1 << 63), (0xBFFF, 1 << 63), (0x4000, 3 << 62),
             (0x3FFD, 0xAAAAAAAAAAAAAAAB), (0x3FFF, (1 << 63) | 1), (0x7FFE, (1 << 64) - 1),
             (0x0001, 1 << 63), (0x0000, 1), (0x8000, (1 << 63) - 1), (0x7FFF, 1 << 63),
             (0xFFFF, 1 << 63), (0x7FFF, 0xC000000000001234), (0xFFFF, 0xC000000000000000),
             (0x7FFF, 0x8000000000000055), (0x4000, 1 << 62), (0x403E, 1 << 63),
             (0x4001, 0xC90FDAA22168C235), (0x3F6A, 0x8123456789ABCDEF),
             (0x4FFE, 0xFEDCBA9876543210)]
X87_REG = (["fadd", "fsub", "fsubr", "fmul", "fdiv", "fdivr"],
           ["faddp", "fsubp", "fsubrp", "fmulp", "fdivp", "fdivrp"])
X87_NOARG = ["fcompp", "fucompp", "fprem", "fprem1", "fscale", "fpatan", "fyl2x", "fyl2xp1",
             "fsqrt", "frndint", "fabs", "fchs", "ftst", "fxam", "f2xm1", "fsin", "fcos",
             "fsincos", "fptan", "fxtract", "fincstp", "fdecstp", "fld1", "fldz", "fldpi",
             "fldl2e", "fldl2t", "fldlg2", "fldln2", "fnstsw %ax", "fxch", "fnop"]
X87_ST1 = ["fcom", "fcomp", "fucom", "fucomp", "ffree", "fld", "fst", "fstp", "fxch"]
X87_MEM = ["fadds", "fsubs", "fsubrs", "fmuls", "fdivs", "fdivrs", "fcoms", "fcomps",
           "faddl", "fsubl", "fmull", "fdivrl", "fcoml", "fiadds", "fimuls", "fisubrl",
           "fidivl", "ficoml", "flds", "fldl", "filds", "fildl", "fildll", "fbld", "fsts",
           "fstl", "fstps", "fstpl", "fists", "fistl", "fistps", "fistpl", "fistpll",
           "fisttps", "fisttpl", "fisttpll", "fbstp"]

# MMX/SSE/SSE2/SSE3/SSSE3: "op %xmm1, %xmm0" forms (and "op %mm1, %mm0" for MMX).
SSE_RR = ["addps", "addss", "addpd", "addsd", "subps", "subsd", "mulps", "mulss", "mulpd",
          "divps", "divss", "divpd", "divsd", "minps", "maxss", "minpd", "maxsd", "sqrtps",
          "sqrtss", "sqrtpd", "sqrtsd", "rcpps", "rsqrtss", "andps", "andnpd", "orps", "xorpd",
          "unpcklps", "unpckhpd", "addsubps", "addsubpd", "haddps", "hsubpd", "cvtps2pd",
          "cvtpd2ps", "cvtss2sd", "cvtsd2ss", "cvtdq2ps", "cvtps2dq", "cvttps2dq", "cvtdq2pd",
          "cvtpd2dq", "cvttpd2dq", "movss", "movsd", "movhlps", "movlhps", "movsldup",
          "movshdup", "movddup", "movaps", "movapd", "movdqa", "movdqu", "movq",
          "paddq", "psubsw", "pmuludq", "pmaddwd", "psadbw", "pavgw", "pminub", "pmaxsw",
          "pcmpgtd", "packssdw", "packuswb", "punpcklqdq", "punpckhbw", "psllq", "psrad",
          "psrlw", "pshufb", "phaddsw", "phsubd", "pmaddubsw", "pmulhrsw", "psignw", "pabsd"]
SSE_IMM = ["cmpps", "cmpss", "cmppd", "cmpsd", "shufps", "shufpd", "pshufd", "pshuflw",
           "pshufhw", "palignr"]
SSE_SHIFT = ["psllw", "pslld", "psllq", "psrlw", "psrld", "psrlq", "psraw", "psrad", "pslldq",
             "psrldq"]
SSE_MEM = ["addps", "mulss", "divsd", "maxpd", "cvtps2pd", "cvtss2sd", "movlps", "movhpd",
           "movss", "movsd", "punpcklbw", "paddd", "pshufb", "psrld", "movddup", "lddqu",
           "movups", "movdqu"]
SSE_GPR = ["cvtss2si %xmm0, {g}", "cvttsd2si %xmm0, {g}", "cvtsi2ss {g}, %xmm0",
           "cvtsi2sd {g}, %xmm1", "movd %xmm1, {g}", "movd {g}, %xmm0", "pmovmskb %xmm0, {g}",
           "movmskps %xmm1, {g}", "movmskpd %xmm0, {g}", "pextrw $3, %xmm1, {g}",
           "pinsrw $5, {g}, %xmm0", "cvtsd2si scratch+16, {g}", "pextrw $1, %mm1, {g}",
           "movd {g}, %mm0", "pmovmskb %mm1, {g}"]
SSE_CMP = ["comiss", "ucomiss", "comisd", "ucomisd"]
MMX_RR = ["paddb", "paddsw", "psubusb", "pmullw", "pmulhuw", "pmaddwd", "pcmpeqw", "pcmpgtb",
          "packsswb", "punpckldq", "punpckhwd", "pand", "pandn", "pxor", "psllw", "psrlq",
          "psraw", "pavgb", "pminsw", "psadbw", "pmuludq", "paddq", "pshufb", "phaddd",
          "psignb", "pabsw", "pmulhrsw"]
SSE_F32 = [0, 0x80000000, 0x3F800000, 0xBF800000, 0x3EAAAAAB, 0x00800000, 0x7F7FFFFF, 1,
           0x807FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7FC12345, 0x7F800001, 0x4F000000,
           0xCF000000, 0x40200000]
SSE_F64 = [0, 1 << 63, 0x3FF0000000000000, 0x3FD5555555555555, 0x0010000000000000,
           0x7FEFFFFFFFFFFFFF, 1, 0x7FF0000000000000, 0x7FF8000000000000, 0x7FF0000000000001,
           0x41E0000000000000, 0xC1E0000000000000, 0x4004000000000000]


@dataclass
class Case:
    text: str           # the instruction under test, for reports
    mask: int           # defined arithmetic flags after it


def _value(rng: random.Random) -> int:
    if rng.random() < 0.5:
        return rng.choice(EDGES)
    return rng.getrandbits(32)


def _reg(rng: random.Random, sz: int, avoid_esp: bool = True) -> str:
    while True:
        n = rng.randrange(8)
        if not (avoid_esp and sz != 1 and n == 4):
            return "%" + NAMES[sz][n]


def _mem(rng: random.Random, sz: int) -> str:
    disp = rng.randrange(0, SCRATCH - sz + 1)
    return f"scratch+{disp}"


class Generator:
    """Builds one program; `cases` describes each test case in order."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.cases: list[Case] = []
        self.lines: list[str] = []

    # -- instruction templates: each returns (asm, defined-flag mask, regs) --
    def alu(self, sz):
        r = self.rng
        op = r.choice(["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test"])
        s = SUFFIX[sz]
        form = r.randrange(5)
        if op == "test" and form == 2:
            form = 3
        imm = _value(r) & ((1 << (8 * sz)) - 1)
        if form == 0:
            asm = f"{op}{s} {_reg(r, sz)}, {_reg(r, sz)}"
        elif form == 1:
            if sz > 1 and r.random() < 0.4:
                imm = r.randrange(-128, 128) & ((1 << (8 * sz)) - 1)
            asm = f"{op}{s} ${imm:#x}, {_reg(r, sz)}"
        elif form == 2:
            asm = f"{op}{s} {_mem(r, sz)}, {_reg(r, sz)}"
        elif form == 3:
            asm = f"{op}{s} {_reg(r, sz)}, {_mem(r, sz)}"
        else:
            asm = f"{op}{s} ${imm:#x}, {_mem(r, sz)}"
        mask = ARITH & ~AF if op in ("or", "and", "xor", "test") else ARITH
        return asm, mask

    def unary(self, sz):
        r = self.rng
        op = r.choice(["inc", "dec", "neg", "not"])
        dst = _reg(r, sz) if r.random() < 0.6 else _mem(r, sz)
        return f"{op}{SUFFIX[sz]} {dst}", ARITH

    def shift(self, sz):
        r = self.rng
        op = r.choice(["rol", "ror", "rcl", "rcr", "shl", "shr", "sar"])
        dst = _reg(r, sz) if r.random() < 0.7 else _mem(r, sz)
        kind = r.randrange(3)
        if kind == 0:
            count, src = 1, "$1"
        elif kind == 1:
            count = r.choice([0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, r.randrange(256)])
            src = f"${count}"
        else:
            count, src = None, "%cl"
        if src == "%cl" and dst in ("%cl", "%cx", "%ecx"):
            dst = "%" + NAMES[sz][3]
        return f"{op}{SUFFIX[sz]} {src}, {dst}", (op, sz, count)

    def shift_mask(self, spec, ecx):
        op, sz, count = spec
        n = (ecx & 0xFF if count is None else count) & 31
        bits = 8 * sz
        if n == 0:
            return ARITH
        if op in ("rol", "ror", "rcl", "rcr"):
            mask = ARITH
            if n != 1:
                mask &= ~OF
            return mask
        mask = ARITH & ~AF
        if n != 1:
            mask &= ~OF
        if n >= bits:
            mask &= ~CF
        return mask

    def muldiv(self, sz):
        r = self.rng
        op = r.choice(["mul", "imul", "imul2", "imul3"] if sz > 1 else ["mul", "imul"])
        s = SUFFIX[sz]
        src = _reg(r, sz) if r.random() < 0.6 else _mem(r, sz)
        if op == "imul2":
            return f"imul{s} {src}, {_reg(r, sz)}", CF | OF
        if op == "imul3":
            imm = r.randrange(-200, 200) if r.random() < 0.5 else _value(r) & 0x7FFF
            return f"imul{s} ${imm}, {src}, {_reg(r, sz)}", CF | OF
        return f"{op}{s} {src}", CF | OF

    def bits(self, sz):
        r = self.rng
        sz = 4 if sz == 1 else sz
        s = SUFFIX[sz]
        op = r.choice(["bt", "bts", "btr", "btc", "bsf", "bsr"])
        if op in ("bsf", "bsr"):
            return f"{op}{s} {_reg(r, sz)}, {_reg(r, sz)}", ZF
        if r.random() < 0.5:
            return f"{op}{s} ${r.randrange(64)}, {_reg(r, sz)}", CF
        return f"{op}{s} {_reg(r, sz)}, {_reg(r, sz)}", CF

    def misc(self, sz):
        r = self.rng
        s = SUFFIX[sz]
        k = r.randrange(13)
        if k == 0:
            return f"set{r.choice(CONDS)} {_reg(r, 1)}", ARITH
        if k == 1 and sz > 1:
            return f"cmov{r.choice(CONDS)}{s} {_reg(r, sz)}, {_reg(r, sz)}", ARITH
        if k == 2 and sz > 1:
            ext = r.choice(["movzbl", "movsbl", "movzwl", "movswl", "movzbw", "movsbw"])
            src = _reg(r, 1 if "b" in ext[4:5] else 2) if r.random() < 0.6 else _mem(r, 2)
            dst = _reg(r, 2 if ext.endswith("w") else 4)
            return f"{ext} {src}, {dst}", ARITH
        if 3 <= k <= 5:
            op = ["xchg", "xadd", "cmpxchg"][k - 3]
            dst = _reg(r, sz) if r.random() < .5 else _mem(r, sz)
            return f"{op}{s} {_reg(r, sz)}, {dst}", ARITH
        if k == 6:
            base, index = _reg(r, 4), _reg(r, 4)
            disp = r.choice([0, 1, -1, 127, -128, 0x12345678, r.getrandbits(32) - (1 << 31)])
            return f"leal {disp}({base},{index},{r.choice([1, 2, 4, 8])}), {_reg(r, 4)}", ARITH
        if k == 7:
            return r.choice(["cbtw", "cwtl", "cwtd", "cltd", "lahf", "sahf", "cmc", "clc", "stc",
                             "bswap %eax", "bswap %esi"]), ARITH
        if k == 8:
            return r.choice(["daa", "das"]), CF | AF | SF | ZF | PF
        if k == 9:
            return r.choice(["aaa", "aas"]), CF | AF
        if k == 10 and sz > 1:
            op = r.choice(["shld", "shrd"])
            n = r.randrange(0, 32 if sz == 4 else 17)
            mask = ARITH & ~AF & (ARITH if n == 1 else ~OF)
            if n == 0:
                mask = ARITH
            return f"{op}{s} ${n}, {_reg(r, sz)}, {_reg(r, sz)}", mask
        if k == 11:
            return self.compare_branch()
        return f"nop{'w' if sz == 2 else 'l'} 4(%eax,%ecx,2)", ARITH

    def x87(self, sz):
        """One x87 instruction on ST0 = scratch+10 and ST1 = scratch+0 (80-bit
        edge values), memory operands at scratch+20; afterwards the status
        word goes to scratch+30 and ST0, ST1 back to scratch+0 and +10."""
        r = self.rng
        k = r.randrange(6)
        if k == 0:
            op = r.choice(X87_REG[0])
            insn = f"{op} %st(1), %st" if r.random() < 0.5 else f"{op} %st, %st(1)"
        elif k == 1:
            insn = f"{r.choice(X87_REG[1])} %st, %st(1)"
        elif k == 2:
            insn = r.choice(X87_NOARG)
        elif k == 3:
            insn = f"{r.choice(X87_ST1)} %st(1)"
        elif k == 4:
            cond = r.choice(["b", "e", "be", "u", "nb", "ne", "nbe", "nu"])
            insn = r.choice([f"fcmov{cond} %st(1), %st", "fcomi %st(1), %st",
                             "fucomi %st(1), %st", "fcomip %st(1), %st", "fucomip %st(1), %st"])
        else:
            insn = f"{r.choice(X87_MEM)} scratch+20"
        rc, pc = r.randrange(4), r.choice([0, 2, 3])
        cw = 0x7F | 0x40 | (pc << 8) | (rc << 10)
        asm = (f"fninit\n  pushl ${cw:#x}\n  fldcw (%esp)\n  leal 4(%esp), %esp\n"
               f"  fldt scratch+0\n  fldt scratch+10\n  {insn}\n  fnstsw scratch+30\n"
               "  fstpt scratch+0\n  fstpt scratch+10\n  fninit")
        return asm, ARITH

    def sse(self, sz):
        """One MMX or SSE instruction on XMM0/XMM1 (or MM0/MM1) loaded from
        scratch+0 and scratch+16 and stored back; a random rounding mode, DAZ
        and FTZ, every exception masked; MXCSR afterwards lands in EBP."""
        r = self.rng
        k = r.randrange(8)
        mmx = False
        if k <= 2:
            insn = f"{r.choice(SSE_RR)} %xmm1, %xmm0"
        elif k == 3:
            insn = f"{r.choice(SSE_IMM)} ${r.randrange(256):#x}, %xmm1, %xmm0"
        elif k == 4:
            op = r.choice(SSE_SHIFT)
            insn = f"{op} ${r.choice([0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64, 200])}, %xmm0"
        elif k == 5:
            insn = f"{r.choice(SSE_MEM)} scratch+16, %xmm0"
        elif k == 6:
            insn = r.choice(SSE_GPR).format(g=_reg(r, 4).replace("%ebp", "%esi"))
            mmx = "%mm" in insn
        else:
            mmx = r.random() < 0.5
            if mmx:
                op = r.choice(MMX_RR + ["pshufw", "palignr"])
                imm = f"${r.randrange(256):#x}, " if op in ("pshufw", "palignr") else ""
                insn = f"{op} {imm}%mm1, %mm0"
            else:
                insn = f"{r.choice(SSE_CMP)} %xmm1, %xmm0"
        mx = 0x1F80 | (r.randrange(4) << 13) | r.choice([0, 0x40, 0x8000, 0x8040])
        asm = (f"pushl ${mx:#x}\n  ldmxcsr (%esp)\n  leal 4(%esp), %esp\n"
               "  movdqa scratch+0, %xmm0\n  movdqa scratch+16, %xmm1\n")
        if mmx:
            asm += "  movq scratch+0, %mm0\n  movq scratch+16, %mm1\n"
        asm += f"  {insn}\n  movdqa %xmm0, scratch+0\n  movdqa %xmm1, scratch+16\n"
        if mmx:
            asm += "  movq %mm0, scratch+8\n  movq %mm1, scratch+24\n  emms\n"
        asm += "  leal -4(%esp), %esp\n  stmxcsr (%esp)\n  popl %ebp"
        return asm, ARITH

    def sse_scratch(self) -> bytes:
        r = self.rng
        out = bytearray()
        kind = r.randrange(3)
        while len(out) < SCRATCH:
            if kind == 0:
                v = r.choice(SSE_F32) if r.random() < 0.7 else r.getrandbits(32)
                out += struct.pack("<I", v)
            elif kind == 1:
                v = r.choice(SSE_F64) if r.random() < 0.7 else r.getrandbits(64)
                out += struct.pack("<Q", v)
            else:
                out += struct.pack("<I", _value(r))
        return bytes(out)

    def x87_scratch(self) -> bytes:
        r = self.rng
        out = bytearray()
        for _ in range(2):
            if r.random() < 0.8:
                se, sig = r.choice(X87_EDGES)
            else:
                se, sig = r.getrandbits(16), r.getrandbits(64)
            out += struct.pack("<QH", sig, se)
        out += bytes(r.getrandbits(8) for _ in range(SCRATCH - len(out)))
        if r.random() < 0.5:        # an edge value as the memory operand too
            word = r.choice([0, 0x80000000, 0x3F800000, 1, 0x7F800000, 0x7FC00001, 0x7F800001,
                             0xFF7FFFFF, 0x7FFFFFFF])
            out[20:24] = struct.pack("<I", word)
        return bytes(out)

    def compare_branch(self):
        """CMP/TEST then Jcc, the pair the emu fuses; EDI records the path taken."""
        r = self.rng
        a, b = _reg(r, 4), _reg(r, 4)
        imm = _value(r) if r.random() < 0.5 else r.randrange(-128, 128) & 0xFFFFFFFF
        first = r.choice([f"cmpl {b}, {a}", f"cmpl ${imm:#x}, {a}", f"cmpl {_mem(r, 4)}, {a}",
                          f"cmpl {a}, {_mem(r, 4)}", f"cmpl ${imm:#x}, {_mem(r, 4)}",
                          f"testl {b}, {a}", f"testl ${imm:#x}, {a}"])
        asm = (f"{first}\n  j{r.choice(CONDS)} 1f\n  movl $0x1111, %edi\n  jmp 2f\n"
               "1:\n  movl $0x2222, %edi\n2:")
        return asm, ARITH & ~AF if first.startswith("test") else ARITH

    def one_case(self):
        r = self.rng
        sz = r.choice([1, 2, 4, 4])
        family = r.choice(["alu", "alu", "unary", "shift", "shift", "muldiv", "bits", "misc",
                           "misc", "x87", "sse", "sse"])
        regs = {name: _value(r) for name in REGS}
        if r.random() < 0.3:
            regs["ecx"] = r.randrange(40)
        if family == "shift":
            asm, spec = self.shift(sz)
            mask = self.shift_mask(spec, regs["ecx"])
        else:
            asm, mask = getattr(self, family)(sz)
        flags = r.choice([0, ARITH]) if r.random() < 0.3 else r.getrandbits(12) & ARITH
        scratch = bytes(r.getrandbits(8) for _ in range(SCRATCH))
        if family == "x87":
            scratch = self.x87_scratch()
        elif family == "sse":
            scratch = self.sse_scratch()
        self.emit_case(len(self.cases), regs, flags, scratch, asm)
        self.cases.append(Case(asm, mask))

    def emit_case(self, n, regs, flags, scratch, asm):
        out = f"out+{n * RECORD}"
        for k in range(0, SCRATCH, 4):
            (word,) = struct.unpack_from("<I", scratch, k)
            self.lines.append(f"  movl ${word:#x}, scratch+{k}")
        # The JMP starts a block: bt (docs/switchers.md) translates the run
        # from there (the register loads, then the case) up to PUSHF.
        self.lines.append(f"  pushl ${flags | 2:#x}\n  popfl\n  jmp 9f\n9:")
        for name, v in regs.items():
            self.lines.append(f"  movl ${v:#x}, %{name}")
        self.lines.append(f"  {asm}")
        self.lines.append("  pushfl")
        for k, name in enumerate(REGS):
            self.lines.append(f"  movl %{name}, {out}+{4 * k}")
        self.lines.append(f"  popl {out}+{4 * len(REGS)}")
        for k in range(0, SCRATCH, 4):
            dst = f"{out}+{4 * len(REGS) + 4 + k}"
            self.lines.append(f"  movl scratch+{k}, %eax\n  movl %eax, {dst}")

    def program(self, count: int, passes: int = 1) -> str:
        for _ in range(count):
            self.one_case()
        size = count * RECORD
        # More passes run the cases again, each writing the same records (a
        # translator that translates hot code sees them hot).
        again = ["fuzz_pass:"] if passes > 1 else []
        loop = ["  decl fuzz_passes", "  jnz fuzz_pass"] if passes > 1 else []
        return "\n".join([
            "  .text", "  .globl _start", "_start:", *SSE_PROLOGUE, *PAGING_PROLOGUE,
            *again, *self.lines, *loop,
            "#ifdef HV_TARGET_LINUX",
            "  movl $4, %eax\n  movl $1, %ebx\n  movl $out, %ecx",
            f"  movl ${size}, %edx\n  int $0x80",
            "  movl $1, %eax\n  movl $0, %ebx\n  int $0x80",
            "#else",
            "  movl $32, %eax\n  movl $1, %ebx\n  movl $out, %ecx",
            f"  movl ${size}, %edx\n  int $0x1f",
            "  movl $33, %eax\n  movl $0, %ebx\n  int $0x1f",
            "#endif",
            "  .data", f"fuzz_passes: .long {passes}",
            "  .bss", "  .align 16", f"scratch: .skip {SCRATCH}", f"out: .skip {size}",
            "#ifdef HV_PAGED", "  .align 4096", "fuzz_pd: .skip 4096", "fuzz_pt: .skip 65536",
            "#endif", "",
        ])


# The hv guest turns the SSE unit on (CR4.OSFXSR and OSXMMEXCPT), as an
# operating system does; a Linux process has it on already.
SSE_PROLOGUE = [
    "#ifndef HV_TARGET_LINUX",
    "  movl %cr4, %eax\n  orl $0x600, %eax\n  movl %eax, %cr4",
    "#endif",
]


# Built with -DHV_PAGED, the hv guest first identity-maps 64 MiB with 4 KiB
# pages and turns paging on (NEW_PGTABLE), so the cases run through the emu's
# paged handlers and its soft TLB.
PAGING_PROLOGUE = [
    "#ifdef HV_PAGED",
    "  xorl %eax, %eax",
    "1:\n  movl %eax, %edx\n  shll $12, %edx\n  orl $3, %edx",
    "  movl %edx, fuzz_pt(,%eax,4)\n  incl %eax\n  cmpl $16384, %eax\n  jb 1b",
    "  xorl %eax, %eax",
    "2:\n  movl %eax, %edx\n  shll $12, %edx\n  addl $fuzz_pt, %edx\n  orl $3, %edx",
    "  movl %edx, fuzz_pd(,%eax,4)\n  incl %eax\n  cmpl $16, %eax\n  jb 2b",
    "  movl $4, %eax\n  movl $fuzz_pd, %ebx\n  int $0x1f",
    "  testl %eax, %eax\n  jz 3f\n  movl $33, %eax\n  movl $99, %ebx\n  int $0x1f",
    "3:",
    "#endif",
]


def generate(seed: int, count: int, passes: int = 1) -> tuple[str, list[Case]]:
    g = Generator(seed)
    return g.program(count, passes), g.cases


def compare(cases: list[Case], native: bytes, emu: bytes) -> list[str]:
    """Describe every difference that the SDM says cannot happen."""
    problems = []
    if len(native) != len(emu):
        return [f"dump sizes differ: native {len(native)} bytes, emu {len(emu)} bytes"]
    for n, case in enumerate(cases):
        a = native[n * RECORD:(n + 1) * RECORD]
        b = emu[n * RECORD:(n + 1) * RECORD]
        ra = struct.unpack_from(f"<{len(REGS) + 1}I", a)
        rb = struct.unpack_from(f"<{len(REGS) + 1}I", b)
        diffs = [f"{name}: cpu {x:#010x} emu {y:#010x}"
                 for name, x, y in zip(REGS, ra, rb, strict=False) if x != y]
        fa, fb = ra[-1] & case.mask, rb[-1] & case.mask
        if fa != fb:
            diffs.append(f"flags: cpu {fa:#05x} emu {fb:#05x} (mask {case.mask:#05x})")
        if a[-SCRATCH:] != b[-SCRATCH:]:
            diffs.append(f"memory: cpu {a[-SCRATCH:].hex()} emu {b[-SCRATCH:].hex()}")
        if diffs:
            problems.append(f"case {n}: {case.text}: " + "; ".join(diffs))
    return problems
