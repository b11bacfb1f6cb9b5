"""`hv selftest`: prove that hv is installed, its extension loads and a guest really runs.

The farm health-checks a node with `python -m hv selftest`.  Such a node has
the hv wheel and nothing else (no compiler, no guest images), so the guest
is built here in memory: a one-segment ELF32 image holding a few dozen
hand-assembled i386 instructions.  The guest

1. computes a checksum in a loop of LOOP_COUNT iterations, seeded with the
   multiboot magic it finds in EAX at entry (so the entry state counts too);
2. writes `hv selftest guest: checksum 0x%08x\\n` with the WRITE hypercall,
   the hex digits produced by the guest itself (table look-ups and stores);
3. exits with the checksum folded to one byte (EXIT hypercall).

`expected()` computes the same values in Python.  The run passes only if
the guest exits (is not killed) with the expected status and console line,
after exactly the expected number of instructions (every switcher counts
exactly, docs/abi.md and docs/switchers.md).  The guest is run under every
switcher the extension has (emu, and bt on x86-64 hosts).
"""

from __future__ import annotations

import os
import platform
import struct
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

__all__ = ["LOOP_COUNT", "Expected", "SelftestResult", "build_guest", "expected", "selftest"]

LOOP_COUNT = 10_000             # iterations of the checksum loop
TIMEOUT = 10.0                  # wall-clock seconds per run: the guest needs about a millisecond
MEMORY_MIB = 64                 # the default guest RAM, as `hv run` uses

# Guest ABI v1 (docs/abi.md).
_BASE = 0x100000                # the image is loaded at 1 MiB
_ENTRY_EAX = 0x2BADB002         # multiboot v1 loader magic, EAX at entry
_HC_VECTOR = 0x1F
_HC_WRITE = 32
_HC_EXIT = 33
_STDOUT = 1

# ELF32 constants.
_EHDR_SIZE, _PHDR_SIZE = 52, 32
_ET_EXEC, _EM_386, _PT_LOAD = 2, 3, 1
_PF_X, _PF_W, _PF_R = 1, 2, 4

# The checksum: a linear congruential generator (Numerical Recipes' constants)
# stirred into an accumulator with shift, xor, rotate and add.
_LCG_MUL = 1664525
_LCG_ADD = 1013904223
_SHIFT = 13
_ROTATE = 5

_PREFIX = b"hv selftest guest: checksum 0x"
_PLACEHOLDER = b"????????"      # the guest overwrites it with the checksum in hex
_HEX_DIGITS = b"0123456789abcdef"
_MASK = 0xFFFF_FFFF


@dataclass(frozen=True)
class Expected:
    """What a correct run of build_guest()'s image produces."""

    checksum: int
    status: int
    console: bytes
    instructions: int       # retired instructions (every switcher counts them exactly)


@dataclass(frozen=True)
class SelftestResult:
    """The outcome of selftest().

    ok: every check passed.
    reason: the first failure, one line (None when ok).
    details: one line per step taken, for `hv selftest --verbose`.
    version, python: hv's version; the Python version and machine ("3.11.2 i686").
    switchers: the switchers the guest ran under (all those the extension has).
    instructions, elapsed: retired instructions and guest seconds, summed over the runs.
    """

    ok: bool
    reason: str | None
    details: tuple[str, ...]
    version: str
    python: str
    switchers: tuple[str, ...]
    instructions: int
    elapsed: float

    def summary(self) -> str:
        """The one line `hv selftest` prints."""
        if not self.ok:
            return f"hv selftest: FAILED: {self.reason}"
        names = "/".join(self.switchers)
        which = "switcher" if len(self.switchers) == 1 else "switchers"
        return (f"hv selftest: ok (hv {self.version}, python {self.python}, {which} {names}, "
                f"{self.instructions} instructions in {self.elapsed * 1e3:.1f} ms)")


# ---- the guest ----

class _Asm:
    """Just enough of an assembler: bytes in, with instruction counts and backward jumps."""

    def __init__(self, origin: int) -> None:
        self.origin = origin
        self.code = bytearray()
        self.count = 0              # instructions emitted so far

    def __call__(self, *parts: int | bytes) -> None:
        """Emit one instruction; ints are opcode/ModRM bytes, bytes are immediates."""
        for part in parts:
            self.code += bytes([part]) if isinstance(part, int) else part
        self.count += 1

    @property
    def here(self) -> int:
        return self.origin + len(self.code)

    def jnz_back(self, target: int) -> None:
        rel = target - (self.here + 2)
        if not -128 <= rel < 0:
            raise ValueError(f"jnz target {rel} bytes away does not fit a rel8")
        self(0x75, struct.pack("<b", rel))                  # jnz rel8


def _u32(value: int) -> bytes:
    return struct.pack("<I", value & _MASK)


def _code(origin: int, message: int, digits: int, table: int) -> tuple[bytes, int]:
    """The guest's machine code at `origin`, and how many instructions a run retires.

    message, digits and table are the guest addresses of the console line, of
    its eight placeholder digits and of the hex digit table.  Every branch but
    the loops' is taken the same way each run, so the count is a formula.
    Registers at entry: EAX = 0x2BADB002, ECX = EDX = 0 (docs/abi.md).
    """
    a = _Asm(origin)
    # -- the checksum: EAX = x (the LCG state, seeded by the entry EAX), EDX = sum
    a(0xB9, _u32(LOOP_COUNT))           # mov  ecx, LOOP_COUNT
    a(0x31, 0xD2)                       # xor  edx, edx
    setup = a.count
    loop = a.here
    a(0x69, 0xC0, _u32(_LCG_MUL))       # imul eax, eax, LCG_MUL
    a(0x05, _u32(_LCG_ADD))             # add  eax, LCG_ADD
    a(0x89, 0xC3)                       # mov  ebx, eax
    a(0xC1, 0xEB, _SHIFT)               # shr  ebx, SHIFT
    a(0x31, 0xDA)                       # xor  edx, ebx
    a(0xC1, 0xC2, _ROTATE)              # rol  edx, ROTATE
    a(0x01, 0xC2)                       # add  edx, eax
    a(0x49)                             # dec  ecx
    a.jnz_back(loop)                    # jnz  loop
    per_loop = a.count - setup
    # -- the checksum in hex into the message, most significant digit first
    a(0xBF, _u32(digits))               # mov  edi, digits
    a(0x89, 0xD6)                       # mov  esi, edx          (keep the checksum)
    a(0xB9, _u32(8))                    # mov  ecx, 8
    before_hex = a.count
    hex_loop = a.here
    a(0xC1, 0xC2, 4)                    # rol  edx, 4            (next nibble to the bottom)
    a(0x89, 0xD0)                       # mov  eax, edx
    a(0x83, 0xE0, 0x0F)                 # and  eax, 0x0f
    a(0x8A, 0x80, _u32(table))          # mov  al, [eax + table]
    a(0x88, 0x07)                       # mov  [edi], al
    a(0x47)                             # inc  edi
    a(0x49)                             # dec  ecx
    a.jnz_back(hex_loop)                # jnz  hex_loop
    per_digit = a.count - before_hex
    # -- WRITE(1, message, length); it returns the length
    length = len(_PREFIX) + len(_PLACEHOLDER) + 1
    a(0xB8, _u32(_HC_WRITE))            # mov  eax, WRITE
    a(0xBB, _u32(_STDOUT))              # mov  ebx, 1
    a(0xB9, _u32(message))              # mov  ecx, message
    a(0xBA, _u32(length))               # mov  edx, length
    a(0xCD, _HC_VECTOR)                 # int  0x1f
    # -- status = checksum folded to a byte; a wrong WRITE result spoils it too
    a(0x2D, _u32(length))               # sub  eax, length       (0 unless WRITE failed)
    a(0x31, 0xC6)                       # xor  esi, eax
    a(0x89, 0xF3)                       # mov  ebx, esi
    a(0xC1, 0xEB, 16)                   # shr  ebx, 16
    a(0x31, 0xF3)                       # xor  ebx, esi
    a(0x89, 0xD8)                       # mov  eax, ebx
    a(0xC1, 0xE8, 8)                    # shr  eax, 8
    a(0x31, 0xC3)                       # xor  ebx, eax          (EXIT keeps the low byte)
    a(0xB8, _u32(_HC_EXIT))             # mov  eax, EXIT
    a(0xCD, _HC_VECTOR)                 # int  0x1f
    retired = a.count
    a(0xEB, 0xFE)                       # jmp  .                 (EXIT does not return)
    straight = retired - per_loop - per_digit
    return bytes(a.code), straight + LOOP_COUNT * per_loop + 8 * per_digit


def build_guest() -> bytes:
    """The selftest guest: a complete ELF32 i386 image (Guest ABI v1), a few hundred bytes.

    One PT_LOAD (R, W, X) at 1 MiB holds the whole file: the ELF header and
    program header, the code, the console line and the hex digit table.
    """
    return _layout()[0]


def _layout() -> tuple[bytes, int]:
    """build_guest()'s image and the instruction count of one run."""
    code_at = _EHDR_SIZE + _PHDR_SIZE
    code_len = len(_code(0, 0, 0, 0)[0])    # every instruction has a fixed length
    message_at = code_at + code_len
    message = _PREFIX + _PLACEHOLDER + b"\n"
    table_at = message_at + len(message)
    code, instructions = _code(_BASE + code_at, _BASE + message_at,
                               _BASE + message_at + len(_PREFIX), _BASE + table_at)
    size = table_at + len(_HEX_DIGITS)
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)        # ELFCLASS32, LSB, version 1
    ehdr = struct.pack("<16sHHIIIIIHHHHHH", ident, _ET_EXEC, _EM_386, 1, _BASE + code_at,
                       _EHDR_SIZE, 0, 0, _EHDR_SIZE, _PHDR_SIZE, 1, 40, 0, 0)
    phdr = struct.pack("<8I", _PT_LOAD, 0, _BASE, _BASE, size, size, _PF_R | _PF_W | _PF_X,
                       0x1000)
    image = ehdr + phdr + code + message + _HEX_DIGITS
    assert len(image) == size
    return image, instructions


def expected() -> Expected:
    """What the guest must produce, computed in Python."""
    x, total = _ENTRY_EAX, 0
    for _ in range(LOOP_COUNT):
        x = (x * _LCG_MUL + _LCG_ADD) & _MASK
        total ^= x >> _SHIFT
        total = ((total << _ROTATE) | (total >> (32 - _ROTATE))) & _MASK
        total = (total + x) & _MASK
    folded = total ^ (total >> 16)
    status = (folded ^ (folded >> 8)) & 0xFF
    console = _PREFIX + f"{total:08x}".encode() + b"\n"
    return Expected(total, status, console, _layout()[1])


# ---- the selftest ----

class _Failed(Exception):
    """A check failed; the message is the one-line reason."""


def selftest(guest: bytes | None = None, switchers: Sequence[str] | None = None) -> SelftestResult:
    """Build the guest, run it under each switcher and check what it did.

    guest: the image to run instead of build_guest()'s (tests pass a broken one);
        it is still held to expected().
    switchers: the switchers to use instead of all those the extension has.
    Never raises (but for KeyboardInterrupt): a failure is a result with ok=False.
    """
    details: list[str] = []
    python = f"{platform.python_version()} {platform.machine()}"
    version = "?"
    names: tuple[str, ...] = ()
    instructions, elapsed = 0, 0.0
    try:
        import hv
        from hv import guest as api

        version = hv.__version__
        details.append(f"hv {version} in {os.path.dirname(hv.__file__ or '?')}")
        details.append(f"python {python}")
        try:
            native = api._native()
        except ImportError as exc:
            raise _Failed(f"the C extension does not load: {exc}") from None
        details.append(f"extension {native.__file__}")
        names = tuple(switchers) if switchers is not None else api.switchers()
        if not names:
            raise _Failed("the extension has no switcher")
        details.append(f"switchers {', '.join(names)}")
        want = expected()
        image = build_guest() if guest is None else bytes(guest)
        details.append(f"guest image {len(image)} bytes; expecting status {want.status}, "
                       f"console {want.console!r}")
        with tempfile.TemporaryDirectory(prefix="hv-selftest-") as tmp:
            path = os.path.join(tmp, "selftest.elf")
            with open(path, "wb") as f:
                f.write(image)
            for name in names:
                count, seconds = _run_one(hv, path, name, want, details)
                instructions += count
                elapsed += seconds
    except _Failed as exc:
        return SelftestResult(False, str(exc), tuple(details), version, python, names,
                              instructions, elapsed)
    except Exception as exc:        # a health check reports; it does not crash
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        return SelftestResult(False, f"unexpected error: {reason}", tuple(details), version,
                              python, names, instructions, elapsed)
    return SelftestResult(True, None, tuple(details), version, python, names, instructions,
                          elapsed)


def _run_one(hv: ModuleType, path: str, switcher: str, want: Expected,
             details: list[str]) -> tuple[int, float]:
    """Run the guest at `path` once under `switcher` and check it; (instructions, seconds)."""
    try:
        guest = hv.Guest(path, memory_mib=MEMORY_MIB, switcher=switcher)
    except hv.ImageError as exc:
        raise _Failed(f"the selftest guest was refused: {exc}") from None
    except ValueError as exc:                   # unknown switcher
        raise _Failed(str(exc)) from None
    started = time.perf_counter()
    # The budget only stops a runaway guest; a correct run retires far fewer.
    ex = guest.run(timeout=TIMEOUT, max_instructions=100 * want.instructions)
    wall = time.perf_counter() - started
    details.append(f"switcher {switcher}: status {ex.status}, reason {ex.reason}, "
                   f"console {ex.console!r}, {ex.instructions} instructions in "
                   f"{ex.elapsed * 1e3:.3f} ms ({wall * 1e3:.3f} ms with loading)")
    where = f"switcher {switcher}"
    if ex.killed:
        raise _Failed(f"{where}: guest killed: {ex.reason}")
    if ex.status != want.status:
        raise _Failed(f"{where}: guest exited with status {ex.status}, expected "
                      f"{want.status} (it computed something else)")
    if ex.console != want.console:
        raise _Failed(f"{where}: guest console {ex.console!r}, expected {want.console!r}")
    if ex.instructions != want.instructions:
        raise _Failed(f"{where}: {ex.instructions} instructions retired, expected "
                      f"{want.instructions}")
    return ex.instructions, ex.elapsed
