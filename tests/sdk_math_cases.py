"""Arguments and exact answers for the SDK's math.h (tests/test_sdk_math.py).

`cases()` picks, per function, a few thousand arguments: random ones spread
over the whole domain on a log scale, and the hard ones (near multiples of
pi/2, huge arguments of sin and cos, subnormals, overflow thresholds, near
1 for the logarithms).  `math_program()` writes a guest that applies each
function to its arguments and prints every result's bits in hex; `ulps()`
measures a result against mpmath at 200 bits.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable

import mpmath

mpmath.mp.prec = 200
mp = mpmath.mp


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def from_bits(u: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", u))[0]


def float_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def from_float_bits(u: int) -> float:
    return struct.unpack("<f", struct.pack("<I", u))[0]


def to_float(x: float) -> float:
    """x rounded to float as C's (float)x does (inf beyond the range)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def _pow(x, y):
    """x^y as C99 F.9.4.4 has it at the pole; a negative x to a non-integer
    power is complex (expected: NaN)."""
    if x == 0 and y < 0:
        odd = mpmath.isint(y) and int(y) % 2 == 1
        return mpmath.mpf("-inf") if odd and mpmath.sign(x) < 0 else mpmath.mpf("inf")
    return mp.power(x, y)


# name: (mpmath function, domain (lo, hi), argument count)
ONE_ARG: dict[str, tuple[Callable, tuple[float, float]]] = {
    "sin": (mp.sin, (-1e308, 1e308)),
    "cos": (mp.cos, (-1e308, 1e308)),
    "tan": (mp.tan, (-1e308, 1e308)),
    "asin": (mp.asin, (-1, 1)),
    "acos": (mp.acos, (-1, 1)),
    "atan": (mp.atan, (-1e308, 1e308)),
    "exp": (mp.exp, (-746, 710)),
    "exp2": (lambda x: mpmath.power(2, x), (-1076, 1024)),
    "expm1": (mp.expm1, (-50, 710)),
    "log": (mp.log, (0, 1e308)),
    "log10": (mp.log10, (0, 1e308)),
    "log2": (lambda x: mp.log(x, 2), (0, 1e308)),
    "log1p": (mp.log1p, (-1, 1e308)),
    "sinh": (mp.sinh, (-711, 711)),
    "cosh": (mp.cosh, (-711, 711)),
    "tanh": (mp.tanh, (-30, 30)),
    "asinh": (mp.asinh, (-1e308, 1e308)),
    "acosh": (mp.acosh, (1, 1e308)),
    "atanh": (mp.atanh, (-1, 1)),
    "cbrt": (lambda x: mpmath.sign(x) * mp.cbrt(abs(x)), (-1e308, 1e308)),
}
TWO_ARG: dict[str, tuple[Callable, tuple[float, float]]] = {
    "pow": (lambda x, y: _pow(x, y), (0, 1e308)),
    "atan2": (mp.atan2, (-1e308, 1e308)),
    "hypot": (lambda x, y: mp.sqrt(x * x + y * y), (-1e308, 1e308)),
}


def _spread(rng: random.Random, lo: float, hi: float) -> float:
    """A random double in (lo, hi): a random sign where allowed, and a
    magnitude uniform on a log scale between 2^-1074 and the bound."""
    for _ in range(100):
        mag_hi = max(abs(lo), abs(hi))
        e = rng.uniform(-1074, math.log2(mag_hi))
        x = math.ldexp(rng.uniform(1, 2), int(math.floor(e)))
        if lo < 0 and (hi <= 0 or rng.random() < 0.5):
            x = -x
        if lo < x < hi:
            return x
    return (lo + hi) / 2


def _near_pio2(count: int, rng: random.Random) -> list[float]:
    """Doubles next to k*pi/2 for small and large k, and famous hard cases."""
    out = [from_bits(0x7fefffffffffffff), 6381956970095103 * 2.0 ** 797, 5.319372648326541e255,
           1e22, 1e308, 2.0 ** 1023, 1.5707963267948966, 3.141592653589793, 4.71238898038469,
           355.0, 103993.0, 8.0e15]
    for _ in range(count):
        k = rng.choice([rng.randint(1, 64), rng.randint(1, 10 ** 6), rng.randint(1, 2 ** 60)])
        x = float(k * mp.pi / 2)
        out += [x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)]
    return out


def _specials(name: str) -> list[float]:
    tiny = [5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-20, 1e-10]
    common = tiny + [-t for t in tiny] + [0.5, 1.0, 2.0, 0.1, 0.7, 1.5]
    extra = {
        "exp": [709.782712893384, 709.7827128933841, -745.1332191019411, -708.3964185322641,
                -744.44007192138, 1e-17, -1e-17, 0.34657359027997264, 0.6931471805599453],
        "exp2": [1023.9999999999999, -1074.0, -1022.5, -1022.0, 0.5, 10.0, -1075.0],
        "expm1": [1e-17, -1e-17, 0.34, -0.34, 709.78, -40.0],
        "log": [1.0000000000000002, 0.9999999999999999, 1.1, 0.9, math.e, 2.0 ** -1074],
        "log2": [8.0, 1024.0, 2.0 ** -1074, 1.0000000000000002, 0.9999999999999999],
        "log10": [10.0, 1000.0, 1e22, 1e-300, 1.0000000000000002],
        "log1p": [-0.9999999999999999, 1e-17, -0.2928932188134524, 0.41421356237309503],
        "asin": [1.0, -1.0, 0.9999999999999999, 0.5, -0.5],
        "acos": [1.0, -1.0, 0.9999999999999999, -0.9999999999999999, 0.5],
        "atanh": [0.9999999999999999, -0.9999999999999999, 0.5],
        "acosh": [1.0, 1.0000000000000002, 2.0, 1e300],
        "sinh": [710.4758600739439, -710.4758600739439, 1e-17],
        "cosh": [710.4758600739439, 710.47586007394398],
        "cbrt": [27.0, -8.0, 1e-300, 3.0, 1e308],
    }
    domain = (ONE_ARG[name][1] if name in ONE_ARG else (-1e308, 1e308))
    vals = common + extra.get(name, [])
    return [v for v in vals if domain[0] < v < domain[1] or v in (domain[0], domain[1])]


def cases(count: int = 2000, seed: int = 10) -> dict[str, list[tuple[float, ...]]]:
    """Per function, the argument tuples to try."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[float, ...]]] = {}
    for name, (_, (lo, hi)) in ONE_ARG.items():
        args = _specials(name)
        if name in ("sin", "cos", "tan"):
            args += _near_pio2(count // 6, rng)
            args += [rng.uniform(-10, 10) for _ in range(count // 4)]
        args += [_spread(rng, lo, hi) for _ in range(count - len(args))]
        out[name] = [(x,) for x in args]
    pow_args = [(2.0, 0.5), (10.0, 22.0), (10.0, -5.0), (3.0, 2.0), (2.0, 1023.0),
                (2.0, -1074.0), (0.5, 1074.0), (1.0000000000000002, 1e16),
                (0.9999999999999999, -1e16), (-2.0, 3.0), (-8.0, 1 / 3), (-0.5, -3.0),
                (1e300, 1.02), (7.0, 364.0), (1e-300, -1.02)]
    for _ in range(count - len(pow_args)):
        x = _spread(rng, 0, 1e308) if rng.random() < 0.5 else rng.uniform(0, 4)
        # an exponent that keeps x^y near the range of double most of the time
        lx = math.log(x)
        limit = 700 / abs(lx) if lx else 1e6
        y = rng.uniform(-limit, limit) if rng.random() < 0.8 else float(rng.randint(-40, 40))
        if rng.random() < 0.1:
            x = -x
            y = float(round(y))
        pow_args.append((x, y))
    out["pow"] = pow_args
    out["atan2"] = [(_spread(rng, -1e308, 1e308), _spread(rng, -1e308, 1e308))
                    for _ in range(count)] + [(1.0, -1.0), (-1.0, -1.0), (1e-300, -1.0),
                                              (5e-324, 1e308), (1e308, 5e-324)]
    out["hypot"] = [(_spread(rng, -1e308, 1e308), _spread(rng, -1e308, 1e308))
                    for _ in range(count)] + [(3.0, 4.0), (1e308, 1e308), (5e-324, 5e-324)]
    return out


def exact(name: str, args: tuple[float, ...]):
    fn = (ONE_ARG.get(name) or TWO_ARG[name])[0]
    return fn(*(mpmath.mpf(a) for a in args))


def ulps(result: float, value, single: bool = False) -> float:
    """|result - value| in units in the last place of value (as double or
    float); a result of inf for a value beyond the largest finite counts 0."""
    p, emin, emax = (24, -126, 128) if single else (53, -1022, 1024)
    if mpmath.isnan(value) or isinstance(value, mpmath.mpc):
        return 0.0 if math.isnan(result) else math.inf
    if math.isnan(result):
        return math.inf
    limit = mpmath.ldexp(1, emax) * (1 - mpmath.ldexp(1, -p - 1))
    if math.isinf(result):
        return 0.0 if abs(value) >= limit and (result > 0) == (value > 0) else math.inf
    if value == 0:
        return 0.0 if result == 0 else math.inf
    e = max(int(mpmath.floor(mpmath.log(abs(value), 2))), emin)
    # log2 can land one below for values just under a power of two
    if abs(value) >= mpmath.ldexp(1, e + 1):
        e += 1
    return float(abs(mpmath.mpf(result) - value) / mpmath.ldexp(1, e - p + 1))


def math_program(table: dict[str, list[tuple[float, ...]]]) -> str:
    """A guest that prints `name` and then, per argument tuple, the double
    result's bits and the float function's bits (of the arguments rounded
    to float), in hex, one line each."""
    lines = ["#include <hv_guest.h>", "#include <math.h>", "#include <stdint.h>", "",
             "static double d(uint64_t u) { union { uint64_t u; double d; } v; v.u = u; "
             "return v.d; }",
             "static uint64_t b(double x) { union { uint64_t u; double d; } v; v.d = x; "
             "return v.u; }",
             "static uint32_t bf(float x) { union { uint32_t u; float f; } v; v.f = x; "
             "return v.u; }", ""]
    body = []
    for name, args in table.items():
        arity = len(args[0])
        rows = ", ".join("{" + ", ".join(f"0x{bits(a):016x}ull" for a in tup) + "}"
                         for tup in args)
        lines.append(f"static const uint64_t args_{name}[][{arity}] = {{{rows}}};")
        call = ", ".join(f"d(args_{name}[i][{k}])" for k in range(arity))
        callf = ", ".join(f"(float)d(args_{name}[i][{k}])" for k in range(arity))
        body.append(f'    printf("{name}\\n");')
        body.append(f"    for (i = 0; i < sizeof(args_{name}) / sizeof(args_{name}[0]); i++)")
        body.append(f'        printf("%016llx %08lx\\n", (unsigned long long)b({name}({call})), '
                    f"(unsigned long)bf({name}f({callf})));")
    lines += ["", "int main(void)", "{", "    unsigned i;", "", *body, "    return 0;", "}", ""]
    return "\n".join(lines)


def parse_output(text: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    current: list[tuple[float, float]] = []
    for line in text.splitlines():
        if " " not in line:
            current = out.setdefault(line, [])
            continue
        dh, fh = line.split()
        current.append((from_bits(int(dh, 16)), from_float_bits(int(fh, 16))))
    return out
