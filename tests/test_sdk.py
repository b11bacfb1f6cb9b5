"""Tests for the guest SDK (images/sdk), `hv cc` (hv/cc.py) and images/build.py.

The SDK's libc is checked by building small programs for the Linux reference
target and running them natively (i386 Linux binaries run on these x86_64
hosts), comparing their output with answers computed in Python.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile

from hv import cc

REPO = Path(__file__).resolve().parent.parent
GUESTS = REPO / "images" / "guests"
OPT_LEVELS = ["-O0", "-O2", "-O3", "-Os"]
STRICT = ["-Wall", "-Wextra", "-Werror"]

needs_gcc = pytest.mark.skipif(
    shutil.which(os.environ.get("HV_CC", "gcc")) is None,
    reason="gcc not found: install gcc (Debian: apt-get install gcc) to build guests",
)


@pytest.fixture(scope="session")
def sdk_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sdk-cache")


@pytest.fixture(autouse=True)
def _private_sdk_cache(sdk_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep compiled SDK objects out of the user's ~/.cache during tests."""
    monkeypatch.setenv("HV_CACHE_DIR", str(sdk_cache))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def run_linux(tmp_path_factory: pytest.TempPathFactory):
    """A function that builds C source for the Linux target and runs it natively."""
    if shutil.which(os.environ.get("HV_CC", "gcc")) is None:
        pytest.skip("gcc not found: install gcc to build guests")
    workdir = tmp_path_factory.mktemp("linux")
    probe = cc.compile_guest(
        [write(workdir / "probe.c", "#include <hv_guest.h>\nint main(void) { return 3; }\n")],
        workdir / "probe.linux", target="linux",
    )
    if subprocess.run([probe], check=False).returncode != 3:
        pytest.skip("this host cannot run i386 Linux programs")

    def run(name: str, source: str, cflags=(), args=()) -> subprocess.CompletedProcess:
        exe = cc.compile_guest([write(workdir / f"{name}.c", source)], workdir / f"{name}.linux",
                               [*STRICT, *cflags], target="linux")
        return subprocess.run([exe, *args], capture_output=True, check=False, timeout=60)

    return run


# ---- hv cc: the image it produces ---------------------------------------------


@needs_gcc
def test_hv_cc_builds_abi_v1_image(tmp_path: Path) -> None:
    elf_path = cc.compile_guest([GUESTS / "hello.c"], tmp_path / "hello.elf")
    data = elf_path.read_bytes()
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 32
        assert elf["e_type"] == "ET_EXEC"
        assert elf["e_machine"] == "EM_386"
        loads = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
        entry = elf["e_entry"]
    assert len(loads) == 2
    for seg in loads:
        assert seg["p_paddr"] >= 0x100000
        assert seg["p_vaddr"] == seg["p_paddr"]
        assert seg["p_vaddr"] % 4096 == 0
    text, rw = loads
    assert text["p_flags"] == P_FLAGS.PF_R | P_FLAGS.PF_X
    assert rw["p_flags"] == P_FLAGS.PF_R | P_FLAGS.PF_W
    assert text["p_vaddr"] <= entry < text["p_vaddr"] + text["p_memsz"]
    assert_multiboot_header(data)


def assert_multiboot_header(data: bytes) -> None:
    """Multiboot v1: magic, flags, checksum, 4-byte aligned in the first 8 KiB."""
    offset = data.find((0x1BADB002).to_bytes(4, "little"))
    assert 0 <= offset < 8192 - 12 and offset % 4 == 0
    magic, flags, checksum = (int.from_bytes(data[offset + i:offset + i + 4], "little")
                              for i in (0, 4, 8))
    assert (magic + flags + checksum) % 2**32 == 0
    assert flags & 0x10000 == 0    # an ELF image: no a.out load addresses


@needs_gcc
@pytest.mark.parametrize("opt", OPT_LEVELS)
@pytest.mark.parametrize("target", cc.TARGETS)
def test_sample_guests_compile_cleanly(tmp_path: Path, opt: str, target: str) -> None:
    """The SDK headers and libc, and every sample, are -Wall -Wextra -Werror clean."""
    for source in sorted(GUESTS.glob("*.c")):
        cc.compile_guest([source], tmp_path / source.stem, [opt, *STRICT, "-Wshadow"], target,
                         capture=True)


@needs_gcc
def test_main_default_output_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(GUESTS / "hello.c", tmp_path / "greet.c")
    assert cc.main(["greet.c", "-Wall"]) == 0
    assert (tmp_path / "greet.elf").is_file()
    assert cc.main(["--linux", "greet.c"]) == 0
    assert (tmp_path / "greet.linux").is_file()
    assert cc.main(["-o", "out/x.img", "greet.c", "-O0"]) == 0
    assert (tmp_path / "out" / "x.img").is_file()


@needs_gcc
def test_linux_target_runs_and_exits(run_linux) -> None:
    result = run_linux("hello", (GUESTS / "hello.c").read_text())
    assert result.returncode == 0
    assert result.stdout == b"Hello from an hv guest!\n"


@needs_gcc
def test_linux_target_cmdline_is_argv(run_linux) -> None:
    source = (GUESTS / "exit_status.c").read_text()
    assert run_linux("exit_default", source).returncode == 42
    result = run_linux("exit_five", source, args=["verbose", "status=5"])
    assert result.returncode == 5
    assert result.stdout == b"exiting with status 5\n"


@needs_gcc
def test_linux_target_debug_ports_and_unknown_hypercall(run_linux) -> None:
    result = run_linux("ports", (GUESTS / "debug_ports.c").read_text())
    assert (result.returncode, result.stdout) == (7, b"hello through port 0xe9\n")
    result = run_linux("unknown", (GUESTS / "unknown_hypercall.c").read_text())
    assert result.stdout == b"hypercall 99 returned -38\n"


@needs_gcc
def test_console_is_flushed_on_exit(run_linux) -> None:
    source = """#include <hv_guest.h>
int main(void) { printf("no newline"); putchar('!'); hv_exit(9); }
"""
    result = run_linux("flush", source)
    assert (result.returncode, result.stdout) == (9, b"no newline!")


# ---- hv cc: user errors ------------------------------------------------------


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("hv cc: error:")]


def test_missing_source_is_a_one_line_error(tmp_path, capfd, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cc.main(["nope.c"]) != 0
    err = capfd.readouterr().err
    assert error_lines(err) == ["hv cc: error: no such file: nope.c"]
    assert "Traceback" not in err


def test_no_sources_is_a_one_line_error(capfd) -> None:
    assert cc.main(["-O2"]) != 0
    err = capfd.readouterr().err
    assert len(error_lines(err)) == 1 and "no input files" in err


def test_missing_compiler_is_a_one_line_error(tmp_path, capfd, monkeypatch) -> None:
    monkeypatch.setenv("HV_CC", str(tmp_path / "no-such-gcc"))
    source = write(tmp_path / "a.c", "int main(void) { return 0; }\n")
    assert cc.main([str(source), "-o", str(tmp_path / "a.elf")]) != 0
    (line,) = error_lines(capfd.readouterr().err)
    assert "not found" in line


@needs_gcc
def test_compile_failure_passes_gcc_diagnostics_through(tmp_path, capfd) -> None:
    source = write(tmp_path / "broken.c", "int main(void) { return undefined_name; }\n")
    assert cc.main([str(source), "-o", str(tmp_path / "broken.elf")]) != 0
    err = capfd.readouterr().err
    assert "undefined_name" in err    # gcc's own message
    (line,) = error_lines(err)
    assert "broken.c failed" in line and "Traceback" not in err
    assert not (tmp_path / "broken.elf").exists()
    assert not list(tmp_path.glob(".broken.elf.*"))    # no temporary left behind


@needs_gcc
def test_compile_guest_capture_raises_with_diagnostics(tmp_path) -> None:
    source = write(tmp_path / "broken.c", "int main(void) { return undefined_name; }\n")
    with pytest.raises(cc.CcError) as info:
        cc.compile_guest([source], tmp_path / "broken.elf", capture=True)
    assert "undefined_name" in info.value.diagnostics


def test_unknown_target_is_rejected(tmp_path) -> None:
    source = write(tmp_path / "a.c", "int main(void) { return 0; }\n")
    with pytest.raises(cc.CcError, match="unknown target"):
        cc.compile_guest([source], tmp_path / "a.elf", target="windows")


# ---- printf family -----------------------------------------------------------
#
# The oracle is the host C library's own snprintf, called through ctypes: it
# *is* C's printf semantics.  Python's % operator is close but differs on
# "%#o" (0o10 vs 010), "%#x" of 0 ("0x0" vs "0"), "%.0d" of 0 ("0" vs ""),
# and has no length modifiers; test_oracle_agrees_with_python_percent checks
# the oracle against Python where the two agree.

LIBC = ctypes.CDLL(None)

# Guest length modifier -> (bits of the value, host modifier of the same width).
LENGTHS = {"": (32, ""), "hh": (8, "hh"), "h": (16, "h"), "l": (32, ""), "ll": (64, "ll"),
           "z": (32, ""), "t": (32, ""), "j": (64, "ll")}
INT_VALUES = [0, 1, -1, 7, -7, 42, 127, -128, 128, 255, 256, 32767, -32768, 65535, 65536,
              2**31 - 1, -2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, -2**63, 2**64 - 1,
              1234567890123, -987654321, 0x0123456789ABCDEF]
SPECS = [f + w + p for f in ["", "-", "0", "+", " ", "#", "-0", "+0", "- ", "0#", "-#", "+ "]
         for w in ["", "1", "6", "24"] for p in ["", ".0", ".1", ".5", ".22"]]


def c_snprintf(fmt: str, *args) -> str:
    buf = ctypes.create_string_buffer(4096)
    n = LIBC.snprintf(buf, len(buf), fmt.encode(), *args)
    return buf.raw[:n].decode("latin-1")


def wrap(value: int, bits: int) -> int:
    """value as a two's-complement number of `bits` bits (signed)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def integer_cases() -> list[tuple[str, bool, int, str]]:
    """(guest format, 64-bit argument?, argument bits, expected output)."""
    cases = []
    for conv in "diuxXo":
        for length, (bits, host_length) in LENGTHS.items():
            wide = bits == 64
            for i, value in enumerate(INT_VALUES):
                arg = wrap(value, 64 if wide else 32)
                host_arg = ctypes.c_longlong(arg) if wide else ctypes.c_int(arg)
                # Every value gets the bare spec plus a rotating share of the others.
                for spec in ["", *SPECS[i % 23::23]]:
                    expected = c_snprintf(f"%{spec}{host_length}{conv}", host_arg)
                    cases.append((f"%{spec}{length}{conv}", wide, arg % 2**64, expected))
    return cases


def other_cases() -> list[tuple[str, str, str]]:
    """(guest format, C argument expression, expected) for %s %c %p %%."""
    cases = []
    for spec in ["", "10", "-10", ".3", "10.3", "-10.0", ".10", ".0", "-1"]:
        for text in ["", "a", "hello", "hello, world!"]:
            expected = c_snprintf(f"[%{spec}s]", ctypes.c_char_p(text.encode()))
            cases.append((f"[%{spec}s]", c_string(text), expected))
        expected = c_snprintf(f"[%{spec}s]", ctypes.c_char_p(None))
        cases.append((f"[%{spec}s]", "(const char *)0", expected))
    for spec in ["", "5", "-5", "1"]:
        for ch in "Az ~":
            expected = c_snprintf(f"[%{spec}c]", ctypes.c_int(ord(ch)))
            cases.append((f"[%{spec}c]", str(ord(ch)), expected))
    for spec in ["", "20", "-20", "1"]:
        for ptr in [0, 1, 0x100000, 0xDEADBEEF, 0xFFFFFFFF]:
            expected = c_snprintf(f"[%{spec}p]", ctypes.c_void_p(ptr or None))
            cases.append((f"[%{spec}p]", f"(void *)0x{ptr:x}u", expected))
    cases.append(("100%% sure, %d%%", "5", "100% sure, 5%"))
    return cases


STAR_WIDTH, STAR_PREC, STAR_BOTH = 1, 2, 3    # which '*' arguments a format takes


def star_cases() -> list[tuple[str, int, int, int, int, str]]:
    """(format, kind, width, precision, value, expected) for '*' width and precision."""
    cases = []
    for fmt in ["[%*d]", "[%-*d]", "[%0*d]", "[%*x]"]:
        for width in [-8, -1, 0, 3, 10]:
            for value in [0, 42, -42, 2**31 - 1]:
                cases.append((fmt, STAR_WIDTH, width, 0, value, c_snprintf(fmt, width, value)))
    for fmt in ["[%.*d]", "[%8.*X]"]:
        for prec in [-1, 0, 2, 8]:
            for value in [0, 42, -42]:
                cases.append((fmt, STAR_PREC, 0, prec, value, c_snprintf(fmt, prec, value)))
    for width in [-6, 6]:
        for prec in [-1, 0, 3]:
            expected = c_snprintf("[%*.*d]", width, prec, 42)
            cases.append(("[%*.*d]", STAR_BOTH, width, prec, 42, expected))
    return cases


def printf_program() -> tuple[str, str]:
    """A guest that prints every case, and the output expected from it."""
    lines = ["#include <hv_guest.h>",
             "struct icase { const char *fmt; int wide; unsigned long long v; };",
             "static const struct icase icases[] = {"]
    expected = []
    for fmt, wide, value, out in integer_cases():
        lines.append(f"    {{{c_string(fmt)}, {int(wide)}, 0x{value:x}ull}},")
        expected.append(f"{out}|{len(out)}\n")
    lines += ["};",
              "struct starcase { const char *fmt; int kind, w, p, v; };",
              "static const struct starcase stars[] = {"]
    for fmt, kind, width, prec, value, out in star_cases():
        lines.append(f"    {{{c_string(fmt)}, {kind}, {width}, {prec}, {value}}},")
        expected.append(f"{out}|{len(out)}\n")
    lines += ["};", "int main(void) {", "    unsigned i; int n;",
              "    for (i = 0; i < sizeof(icases) / sizeof(icases[0]); i++) {",
              "        const struct icase *c = &icases[i];",
              "        n = c->wide ? printf(c->fmt, c->v) : printf(c->fmt, (unsigned)c->v);",
              '        printf("|%d\\n", n);', "    }",
              "    for (i = 0; i < sizeof(stars) / sizeof(stars[0]); i++) {",
              "        const struct starcase *c = &stars[i];",
              f"        if (c->kind == {STAR_BOTH}) n = printf(c->fmt, c->w, c->p, c->v);",
              f"        else if (c->kind == {STAR_PREC}) n = printf(c->fmt, c->p, c->v);",
              "        else n = printf(c->fmt, c->w, c->v);",
              '        printf("|%d\\n", n);', "    }"]
    for fmt, arg, out in other_cases():
        lines.append(f'    n = printf({c_string(fmt)}, {arg}); printf("|%d\\n", n);')
        expected.append(f"{out}|{len(out)}\n")
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n", "".join(expected)


@needs_gcc
@pytest.mark.parametrize("opt", OPT_LEVELS)
def test_printf_matches_c_library(run_linux, opt: str) -> None:
    source, expected = printf_program()
    result = run_linux(f"printf{opt}", source, [opt, "-Wno-format"])
    assert result.returncode == 0
    got = result.stdout.decode("latin-1").splitlines(keepends=True)
    want = expected.splitlines(keepends=True)
    mismatches = [(i, g, w) for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w]
    assert not mismatches[:10]
    assert len(got) == len(want)


def test_oracle_agrees_with_python_percent() -> None:
    """Sanity check of the ctypes oracle where C and Python formatting agree."""
    for spec in ["", "-", "0", "+", " ", "-+", "08", "-8", "+12", ".3", "10.4"]:
        for value in [0, 5, -5, 123456, -2**31]:
            for conv in "dxX":
                # C ignores '+' and ' ' for unsigned conversions; Python does not.
                if conv in "xX" and (value < 0 or "+" in spec or " " in spec):
                    continue
                fmt = f"%{spec}{conv}"
                assert c_snprintf(fmt, ctypes.c_int(value)) == fmt % value


SNPRINTF_SOURCE = r"""#include <hv_guest.h>
static void show(size_t size) {
    char buf[32];
    int n;
    memset(buf, 'X', sizeof(buf));
    buf[sizeof(buf) - 1] = 0;
    n = snprintf(buf, size, "%s=%d", "abcdef", 12345);
    printf("%u [%s] %d\n", (unsigned)size, buf, n);
}
int main(void) {
    char big[64];
    show(0); show(1); show(2); show(7); show(12); show(13); show(31);
    printf("sprintf %d [%s]\n", sprintf(big, "%05d|%-4s|%x", 42, "ab", 255), big);
    return 0;
}
"""


@needs_gcc
@pytest.mark.parametrize("opt", OPT_LEVELS)
def test_snprintf_truncates_and_counts(run_linux, opt: str) -> None:
    full = "abcdef=12345"
    want = []
    for size in [0, 1, 2, 7, 12, 13, 31]:
        shown = "X" * 31 if size == 0 else full[: size - 1]
        want.append(f"{size} [{shown}] {len(full)}\n")
    want.append("sprintf 13 [00042|ab  |ff]\n")
    result = run_linux(f"snprintf{opt}", SNPRINTF_SOURCE, [opt])
    assert result.stdout.decode() == "".join(want)


# ---- string functions and number parsing ------------------------------------

STRING_SOURCE = r"""#include <hv_guest.h>
static int sign(int v) { return v < 0 ? -1 : v > 0; }
static long at(const char *base, const char *p) { return p ? (long)(p - base) : -1; }
static void hex(const char *label, const unsigned char *p, size_t n) {
    printf("%s", label);
    while (n--) printf(" %02x", *p++);
    printf("\n");
}
int main(void) {
    static const char *words[] = { "", "a", "ab", "abc", "abd", "b", "\xff", "hello world" };
    unsigned char buf[40], ref[40];
    unsigned i, j;
    for (i = 0; i < 8; i++) {
        const char *s = words[i];
        printf("len %u %u %u\n", (unsigned)strlen(s), (unsigned)strnlen(s, 2),
               (unsigned)strnlen(s, 100));
        for (j = 0; j < 8; j++)
            printf("cmp %u %u %d %d %d\n", i, j, sign(strcmp(s, words[j])),
                   sign(strncmp(s, words[j], 2)), sign(memcmp(s, words[j], 1)));
        printf("chr %ld %ld %ld %ld\n", at(s, strchr(s, 'b')), at(s, strrchr(s, 'l')),
               at(s, strchr(s, 0)), at(s, strstr(s, "lo w")));
    }
    printf("strstr %ld %ld %ld\n", at("abcabc", strstr("abcabc", "cab")),
           at("abc", strstr("abc", "")), at("abc", strstr("abc", "abcd")));
    for (i = 0; i < 8; i++) {
        for (j = 0; j < 8; j++) {
            memset(buf, 0xAA, sizeof(buf));
            memcpy(buf + i, "0123456789abcdefghijklmnopqrstu", 20 + j);
            hex("cpy", buf, 32);
        }
    }
    for (i = 0; i < 8; i++) {
        memcpy(buf, "0123456789abcdefghijklmnopqrstuvwxyzABC", 40);
        memmove(buf + i, buf + 3, 17 + i);
        hex("fwd", buf, 40);
        memcpy(buf, "0123456789abcdefghijklmnopqrstuvwxyzABC", 40);
        memmove(buf + 3, buf + i, 17 + i);
        hex("bwd", buf, 40);
        memset(buf, 0, sizeof(buf));
        memset(buf + i, 0x100 + 'x', 13 + i);
        hex("set", buf, 32);
    }
    memset(ref, 'Z', sizeof(ref));
    strncpy((char *)ref, "abc", 8);
    hex("ncpy", ref, 10);
    strcpy((char *)buf, "join");
    strcat((char *)buf, "ed");
    printf("cpy %s %p\n", strcpy((char *)ref, (char *)buf) == (char *)ref ? "ok" : "bad",
           memchr(buf, 'q', 6));
    return 0;
}
"""


def string_expected() -> str:
    """What STRING_SOURCE prints, computed with Python's bytes operations."""
    words = [b"", b"a", b"ab", b"abc", b"abd", b"b", b"\xff", b"hello world"]
    out = []

    def sign(a: bytes, b: bytes) -> int:
        return (a > b) - (a < b)

    def find(s: bytes, sub: bytes) -> int:
        return s.find(sub)

    for s in words:
        out.append(f"len {len(s)} {min(len(s), 2)} {len(s)}")
        for t in words:
            # memcmp(s, t, 1) compares the first byte, or the NUL terminator.
            first_s, first_t = (s + bytes(1))[:1], (t + bytes(1))[:1]
            out.append(f"cmp {words.index(s)} {words.index(t)} {sign(s, t)} "
                       f"{sign(s[:2], t[:2])} {sign(first_s, first_t)}")
        out.append(f"chr {find(s, b'b')} {s.rfind(b'l')} {len(s)} {find(s, b'lo w')}")
    out.append("strstr 2 0 -1")
    pattern = b"0123456789abcdefghijklmnopqrstu"
    for i in range(8):
        for j in range(8):
            buf = bytearray(b"\xaa" * 40)
            buf[i:i + 20 + j] = pattern[:20 + j]
            out.append("cpy " + " ".join(f"{b:02x}" for b in buf[:32]))
    alphabet = b"0123456789abcdefghijklmnopqrstuvwxyzABC\0"
    for i in range(8):
        buf = bytearray(alphabet)
        buf[i:i + 17 + i] = alphabet[3:3 + 17 + i]
        out.append("fwd " + " ".join(f"{b:02x}" for b in buf))
        buf = bytearray(alphabet)
        buf[3:3 + 17 + i] = alphabet[i:i + 17 + i]
        out.append("bwd " + " ".join(f"{b:02x}" for b in buf))
        buf = bytearray(40)
        buf[i:i + 13 + i] = b"x" * (13 + i)
        out.append("set " + " ".join(f"{b:02x}" for b in buf[:32]))
    out.append("ncpy 61 62 63 00 00 00 00 00 5a 5a")
    out.append("cpy ok (nil)")
    return "\n".join(out) + "\n"


@needs_gcc
@pytest.mark.parametrize("opt", OPT_LEVELS)
def test_string_functions(run_linux, opt: str) -> None:
    result = run_linux(f"strings{opt}", STRING_SOURCE, [opt])
    assert result.returncode == 0
    assert result.stdout.decode("latin-1") == string_expected()


STRTOL_CASES = [  # (text, base, strtoul, strtol, characters consumed, atoi)
    ("0", 10, 0, 0, 1, 0), ("42", 10, 42, 42, 2, 42), ("  -17xyz", 10, 2**32 - 17, -17, 5, -17),
    ("+8", 0, 8, 8, 2, 8), ("0x1f", 0, 31, 31, 4, 0), ("0X1F", 16, 31, 31, 4, 0),
    ("017", 0, 15, 15, 3, 17), ("0x", 0, 0, 0, 1, 0), ("z", 36, 35, 35, 1, 0),
    ("", 10, 0, 0, 0, 0), ("-", 10, 0, 0, 0, 0),
    ("4294967295", 10, 2**32 - 1, 2**31 - 1, 10, 2**31 - 1),
    ("4294967296", 10, 2**32 - 1, 2**31 - 1, 10, 2**31 - 1),
    ("2147483648", 10, 2**31, 2**31 - 1, 10, 2**31 - 1),
    ("-2147483648", 10, 2**31, -(2**31), 11, -(2**31)),
    # strtoul negates in unsigned arithmetic; strtol clamps to LONG_MIN.
    ("-2147483649", 10, 2**31 - 1, -(2**31), 11, -(2**31)),
    ("ffffffff", 16, 2**32 - 1, 2**31 - 1, 8, 0),
    ("99999999999999999999", 10, 2**32 - 1, 2**31 - 1, 20, 2**31 - 1),
]


@needs_gcc
def test_number_parsing(run_linux) -> None:
    body = "".join(
        f'    v = strtoul("{text}", &end, {base}); w = strtol("{text}", 0, {base});\n'
        f'    printf("%lu %ld %d %d\\n", v, w, (int)(end - "{text}"), atoi("{text}"));\n'
        for text, base, *_ in STRTOL_CASES
    )
    source = ("#include <hv_guest.h>\nint main(void) {\n"
              "    unsigned long v; long w; char *end;\n"
              f"{body}    return 0;\n}}\n")
    want = "".join(f"{ul} {sl} {used} {atoi_value}\n"
                   for _, _, ul, sl, used, atoi_value in STRTOL_CASES)
    result = run_linux("strtol", source, ["-O2"])
    assert result.stdout.decode() == want


# ---- 64-bit division helpers -------------------------------------------------

DIV_VALUES = [0, 1, 2, 3, 7, 10, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 1,
              2**33 - 7, 2**53 + 3, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1,
              0x123456789ABCDEF0, 0xFEDCBA9876543210, 0x00000001FFFFFFFF]

DIVISION_SOURCE = r"""#include <hv_guest.h>
uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
int64_t __divmoddi4(int64_t a, int64_t b, int64_t *rem);
static volatile uint64_t values[] = { VALUES };
int main(void) {
    unsigned i, j, n = sizeof(values) / sizeof(values[0]);
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            uint64_t a = values[i], b = values[j], ur;
            int64_t sa = (int64_t)a, sb = (int64_t)b, sr;
            if (b == 0 || (sa == INT64_MIN && sb == -1))
                continue;    /* #DE, or signed overflow (undefined in C) */
            printf("%llx %llx %llx %llx", a / b, a % b, (uint64_t)(sa / sb), (uint64_t)(sa % sb));
            printf(" %llx", __udivmoddi4(a, b, &ur));
            printf(" %llx", ur);
            printf(" %llx", (uint64_t)__divmoddi4(sa, sb, &sr));
            printf(" %llx\n", (uint64_t)sr);
        }
    }
    return 0;
}
"""


def division_expected() -> str:
    out = []
    for a in DIV_VALUES:
        for b in DIV_VALUES:
            sa, sb = wrap(a, 64), wrap(b, 64)
            if b == 0 or (sa == -(2**63) and sb == -1):
                continue
            q = abs(sa) // abs(sb) * (1 if (sa < 0) == (sb < 0) else -1)   # C truncates
            r = sa - q * sb
            row = [a // b, a % b, q % 2**64, r % 2**64]
            row += [a // b, a % b, q % 2**64, r % 2**64]
            out.append(" ".join(f"{v:x}" for v in row))
    return "\n".join(out) + "\n"


@needs_gcc
@pytest.mark.parametrize("opt", OPT_LEVELS)
def test_64bit_division_helpers(run_linux, opt: str) -> None:
    values = ", ".join(f"0x{v:x}ull" for v in DIV_VALUES)
    result = run_linux(f"div{opt}", DIVISION_SOURCE.replace("VALUES", values), [opt])
    assert result.returncode == 0
    assert result.stdout.decode() == division_expected()


@needs_gcc
def test_64bit_division_by_zero_traps(run_linux) -> None:
    source = """#include <hv_guest.h>
static volatile uint64_t zero = 0, n = 1ull << 40;
int main(void) { printf("%llu\\n", n / zero); return 0; }
"""
    result = run_linux("divzero64", source)
    assert result.returncode == -8    # SIGFPE: a real #DE, as under hv
    assert result.stdout == b""


# ---- images/build.py ---------------------------------------------------------


@pytest.fixture(scope="module")
def build_module():
    spec = importlib.util.spec_from_file_location("hv_images_build", REPO / "images" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module    # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


VARIANT_SOURCE = """/* hv-variants: O0 Os */
/* hv-cflags: -DANSWER=41 -DSTEP=1 */
#include <hv_guest.h>
int main(void) { printf("answer %d\\n", ANSWER + STEP); return 0; }
"""


@needs_gcc
def test_build_variants_and_cflags(tmp_path: Path, build_module) -> None:
    images = tmp_path / "images"
    write(images / "conformance" / "mix.c", VARIANT_SOURCE)
    write(images / "guests" / "plain.c", "#include <hv_guest.h>\nint main(void){return 0;}\n")
    write(images / "traps" / "t.c", "#include <hv_guest.h>\nint main(void){return 0;}\n")
    report = build_module.build_all(images, jobs=2, check=True)
    names = sorted(job.name for job in report.built)
    assert names == ["conf_mix-O0.elf", "conf_mix-O0.linux", "conf_mix-Os.elf",
                     "conf_mix-Os.linux", "plain.elf", "trap_t.elf"]
    run = subprocess.run([images / "build" / "conf_mix-Os.linux"], capture_output=True,
                         check=False)
    assert run.stdout == b"answer 42\n"

    again = build_module.build_all(images, jobs=2)
    assert again.built == [] and len(again.up_to_date) == 6

    # Newer than its image, however long the first build took.
    source = images / "guests" / "plain.c"
    built = (images / "build" / "plain.elf").stat().st_mtime
    os.utime(source, (built + 10,) * 2)
    assert [job.name for job in build_module.build_all(images).built] == ["plain.elf"]


def test_variant_directive_parsing(tmp_path: Path, build_module) -> None:
    source = write(tmp_path / "a.c", "/* hv-variants: O0 O1 O2 O3 Os */\nint x;\n")
    assert build_module.parse_directives(source) == (["O0", "O1", "O2", "O3", "Os"], [])
    source = write(tmp_path / "b.c", "int x;\n/* hv-variants: O0 */\n")
    assert build_module.parse_directives(source) == (None, [])    # not on the first lines
    source = write(tmp_path / "c.c", "/* hv-variants: O2 O4 */\n")
    with pytest.raises(build_module.BuildError, match="O4"):
        build_module.parse_directives(source)


def test_plan_names_outputs_by_rule(tmp_path: Path, build_module) -> None:
    images = tmp_path / "images"
    for directory in ("guests", "conformance", "bench", "traps"):
        write(images / directory / "x.c", "int main(void) { return 0; }\n")
    names = [job.name for job in build_module.plan(images)]
    assert names == ["x.elf", "conf_x.elf", "conf_x.linux", "bench_x.elf", "bench_x.linux",
                     "trap_x.elf"]
    assert [job.opt for job in build_module.plan(images)] == ["O2"] * 6
    only = build_module.plan(images, kinds=["bench"], patterns=["*.linux"])
    assert [job.name for job in only] == ["bench_x.linux"]


@needs_gcc
def test_build_failure_is_reported(tmp_path: Path, build_module) -> None:
    images = tmp_path / "images"
    write(images / "guests" / "bad.c", "int main(void) { return nope; }\n")
    write(images / "guests" / "good.c", "int main(void) { return 0; }\n")
    report = build_module.build_all(images)
    assert not report.ok
    assert [job.name for job in report.built] == ["good.elf"]
    (job, error), = report.failed
    assert job.name == "bad.elf" and "nope" in error
    with pytest.raises(build_module.BuildError, match="bad.elf"):
        build_module.build_all(images, check=True)


# ---- the rest of the libc: heap, sorting, setjmp, ctype, inttypes, abort ------


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_libc_extras_match_linux(native, run_linux, tmp_path, opt: str) -> None:
    """The same program under hv and as a Linux process: the heap survives
    scrambled frees and reallocs, qsort, bsearch, setjmp/longjmp, alloca,
    ctype and inttypes work, and abort() exits with 134 in both."""
    import hv

    source = (REPO / "tests" / "sdk_programs" / "libc_extras.c").read_text()
    native_run = run_linux(f"libc_extras{opt}", source, [opt])
    assert native_run.returncode == 134, native_run.stderr
    assert b"heap: 0 corrupted bytes\n" in native_run.stdout
    image = cc.compile_guest([write(tmp_path / "libc_extras.c", source)],
                             tmp_path / "libc_extras.elf", [*STRICT, opt])
    ex = hv.run(image, timeout=60)
    assert ex.reason is None, ex.reason
    assert ex.status == 134
    assert bytes(ex.console) == native_run.stdout


@needs_gcc
def test_a_program_may_define_its_own_libc_functions(tmp_path) -> None:
    """The heap, qsort and errno are archive members: a program that brings
    its own links without "multiple definition"."""
    source = write(tmp_path / "own.c", """#include <hv_guest.h>
#include <stddef.h>
int errno;
void *malloc(size_t n) { static char pool[64]; (void)n; return pool; }
void free(void *p) { (void)p; }
void qsort(void *b, size_t n, size_t s, int (*c)(const void *, const void *))
{ (void)b; (void)n; (void)s; (void)c; }
int main(void) { free(malloc(4)); qsort(0, 0, 0, 0); return errno; }
""")
    for target in ("hv", "linux"):
        cc.compile_guest([source], tmp_path / f"own.{target}", STRICT, target=target)


@needs_gcc
def test_link_failure_names_the_missing_libc_functions(tmp_path, capfd) -> None:
    """A link that fails for libc functions the SDK lacks ends with one hint
    line naming them (and only those: the program's own missing function is
    gcc's business)."""
    source = write(tmp_path / "needs.c", """#include <hv_guest.h>
double erf(double);
double tgamma(double);
int mine(void);
int main(void) { return (int)erf(tgamma(2.0)) + mine(); }
""")
    assert cc.main([str(source), "-o", str(tmp_path / "needs.elf")]) != 0
    err = capfd.readouterr().err
    hints = [line for line in err.splitlines() if "hint:" in line]
    assert hints == ["hv cc: hint: the SDK's libc has no erf(), tgamma() yet (docs/sdk.md lists "
                     "what it has); define it in your program or link a library that does"]
    assert "undefined reference to `mine'" in err
    with pytest.raises(cc.CcError) as info:
        cc.compile_guest([source], tmp_path / "again.elf", capture=True)
    assert "no erf(), tgamma() yet" in info.value.diagnostics


# ---- stdio, strings, time, atexit, libgcc helpers, main's arguments --------


CALENDAR_TIMES = [0, 68169600, 951782400, 1234567890, 2147483647, -1, -2147483648,
                  1609459199, 1104537600]
CALENDAR_FORMAT = ("%Y-%m-%d %H:%M:%S %a %A %b %B %j %U %W %V %G %g %u %w %e %C %y %I %p %D %F"
                   " %T %R %r %c %x %X %z %s %%")


def _calendar_oracle() -> list[str]:
    """What the host C library's strftime and asctime print for the
    calendar lines of libc_stdio.c (%s filled in by hand: Python's would
    use the local time zone)."""
    import time

    return [f"{t}: {time.strftime(CALENDAR_FORMAT.replace('%s', str(t)), time.gmtime(t))} | "
            f"{time.asctime(time.gmtime(t))}" for t in CALENDAR_TIMES]


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_libc_stdio_matches_linux(native, tmp_path, opt: str) -> None:
    """FILE streams, strerror/perror, strings.h, strtok and friends, div and
    rand, atexit, the calendar, clrsb and complex arithmetic, and main's
    arguments: the same bytes under hv and as a Linux process (stderr in
    its place), exit status 0 from a main without a return statement."""
    import hv

    source = REPO / "tests" / "sdk_programs" / "libc_stdio.c"
    exe = cc.compile_guest([source], tmp_path / "libc_stdio.linux", [*STRICT, opt],
                           target="linux")
    linux = subprocess.run([exe, "one", "hv.test=x", "two"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
                           check=False)
    assert linux.returncode == 0, linux.stdout
    image = cc.compile_guest([source], tmp_path / "libc_stdio.elf", [*STRICT, opt])
    ex = hv.run(image, cmdline="one hv.test=x two", timeout=60)
    assert (ex.reason, ex.status) == (None, 0)
    assert bytes(ex.console) == linux.stdout
    lines = linux.stdout.decode().splitlines()
    assert lines[0] == "argc 3: [one] [two] argv[argc] NULL"
    for want in ["buffered, then stderr beef",
                 "fopen NULL errno 2 (No such file or directory)",
                 "perror: Numerical argument out of domain",
                 "strerror(0) Success; strerror(9999) Unknown error 9999",
                 "getchar -1 fgets NULL feof 1",
                 "[alpha][beta][gamma]<a><><b>",
                 "div -3 -1 ldiv -3 1 lldiv -3333333333 -1",
                 "clrsb 29 60",
                 "complex (-5,10) (44,8)/100 (3,-1)",
                 "annex G: inf*2 inf 1, 1/0 inf 1, 1/inf zero 1",
                 "mktime 980906455 -> 2001-01-31 02:00:55 wday 3 yday 30"]:
        assert want in lines
    calendar = [line for line in lines if line.split(":")[0].lstrip("-").isdigit()]
    assert calendar == _calendar_oracle()
    assert lines[-2:] == ["atexit: registered last, runs first",
                          "atexit: registered first, runs last"]


def _sdk_has(function: str, tmp_path: Path) -> bool:
    source = write(tmp_path / f"probe_{function}.c", "#include <hv_guest.h>\n"
                   f"int main(void) {{ return (int){function}(\"1\", 0); }}\n")
    try:
        cc.compile_guest([source], tmp_path / f"probe_{function}.linux", target="linux",
                         capture=True)
    except cc.CcError:
        return False
    return True


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_sscanf_matches_the_c_library(native, tmp_path, opt: str) -> None:
    """sscanf under hv, as a Linux process and from the host's own C library
    (the oracle, built natively with its real headers): the same lines.
    The floating conversions join in once the SDK has strtod."""
    import hv

    source = REPO / "tests" / "sdk_programs" / "libc_scanf.c"
    floats = _sdk_has("strtod", tmp_path)
    flags = ["-DSCAN_FLOATS"] if floats else ["-DOWN_STRTOD"]
    oracle_exe = tmp_path / "scanf.native"
    subprocess.run(["gcc", "-O1", *(["-DSCAN_FLOATS"] if floats else []), "-o", oracle_exe,
                    source], check=True)
    oracle = subprocess.run([oracle_exe], capture_output=True, check=True, timeout=60).stdout
    exe = cc.compile_guest([source], tmp_path / "scanf.linux", [*STRICT, opt, *flags],
                           target="linux")
    linux = subprocess.run([exe], capture_output=True, check=False, timeout=60)
    assert linux.returncode == 0
    assert linux.stdout.decode().splitlines() == oracle.decode().splitlines()
    image = cc.compile_guest([source], tmp_path / "scanf.elf", [*STRICT, opt, *flags])
    ex = hv.run(image, timeout=60)
    assert (ex.reason, ex.status) == (None, 0)
    assert bytes(ex.console) == linux.stdout


ARGS_PROGRAM = """#include <hv_guest.h>
int main(int argc, char **argv)
{
    printf("argc=%d", argc);
    for (int k = 0; k <= argc; k++)
        printf(" [%s]", argv[k] ? argv[k] : "NULL");
    printf(" cmdline=[%s]\\n", hv_cmdline());
    argv[1][0] = 'X';               /* arguments are the program's to change */
    printf("after: [%s] cmdline=[%s]\\n", argv[1], hv_cmdline());
}
"""


@needs_gcc
def test_main_gets_argc_and_argv_under_hv(native, tmp_path, capfd) -> None:
    """argv[0] is the name the image was linked under, the hv. words are
    taken out, argv[argc] is NULL, the words are a copy of the command line,
    and main without a return exits 0 (hosted C), by the API and the CLI."""
    import hv
    from hv import cli

    image = cc.compile_guest([write(tmp_path / "args.c", ARGS_PROGRAM)],
                             tmp_path / "show args.elf", STRICT)
    ex = hv.run(image, cmdline="a  b hv.test=x\tc hv.seed=1", timeout=30)
    assert (ex.reason, ex.status) == (None, 0)
    assert bytes(ex.console).decode() == (
        "argc=4 [show args.elf] [a] [b] [c] [NULL] cmdline=[a  b hv.test=x\tc hv.seed=1]\n"
        "after: [X] cmdline=[a  b hv.test=x\tc hv.seed=1]\n")
    capfd.readouterr()
    assert cli.main(["run", "--cmdline", "only", str(image)]) == 0
    assert "argc=2 [show args.elf] [only] [NULL]" in capfd.readouterr().out


@needs_gcc
def test_main_gets_argc_and_argv_on_linux(run_linux) -> None:
    result = run_linux("args", ARGS_PROGRAM.replace('argv[1][0] = \'X\';', ""),
                       args=["a", "hv.test=x", "c"])
    assert result.returncode == 0
    first = result.stdout.decode().splitlines()[0]
    assert first.startswith("argc=3 [") and first.endswith(
        "args.linux] [a] [c] [NULL] cmdline=[a hv.test=x c]")


@needs_gcc
def test_time_starts_in_2000_under_the_virtual_clock(native, tmp_path) -> None:
    """Under hv's virtual clock the wall clock is the RTC's 2000-01-01 plus
    the guest clock, so a short program always sees the same second."""
    import hv

    image = cc.compile_guest([write(tmp_path / "now.c", """#include <hv_guest.h>
#include <sys/time.h>
#include <time.h>
int main(void)
{
    struct timeval tv;
    struct timespec mono;
    char when[32];
    time_t now = time(NULL);
    gettimeofday(&tv, NULL);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    strftime(when, sizeof(when), "%F %T", gmtime(&now));
    printf("%ld %s %ld %d %d\\n", (long)now, when, (long)tv.tv_sec, mono.tv_sec == 0,
           clock() > 0 && clock() < CLOCKS_PER_SEC);
    return 0;
}
""")], tmp_path / "now.elf", STRICT)
    ex = hv.run(image, timeout=30)
    assert bytes(ex.console) == b"946684800 2000-01-01 00:00:00 946684800 1 1\n"


@needs_gcc
def test_a_program_may_define_its_own_string_functions(run_linux) -> None:
    """Every SDK definition is weak: a program's own strlen, memcpy, llabs
    and strdup win over the SDK's (which the SDK itself then calls too)."""
    result = run_linux("own_string", """#include <hv_guest.h>
static int calls;
size_t strlen(const char *s) { size_t n = 0; calls++; while (s[n]) n++; return n; }
long long llabs(long long v) { return v + 1; }
char *strdup(const char *s) { return (char *)(uintptr_t)s; }
int main(void)
{
    int before = calls;
    puts("puts");                   /* the SDK's puts measures with our strlen */
    int n = (int)strlen("ab");
    printf("%d %d %s %d\\n", n, (int)llabs(-5), strdup("mine"), calls - before);
    return 0;
}
""")
    assert result.returncode == 0
    assert result.stdout == b"puts\n2 -4 mine 2\n"


@needs_gcc
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_trapv_overflow_aborts(native, run_linux, tmp_path, opt: str) -> None:
    """-ftrapv arithmetic calls the SDK's __addvsi3 and friends: right
    results without overflow, abort() (status 134) on it, on both targets."""
    import hv

    source = """#include <hv_guest.h>
int main(int argc, char **argv)
{
    volatile int a = 40000, b = -7;
    volatile long long c = 3000000000ll;
    (void)argv;
    printf("%d %d %d %lld %lld\\n", a + b, a - b, a * b, -c, c * 3);
    volatile int big = 0x7fffffff;
    return argc > 1 ? big - argc : big + argc;     /* +1 overflows */
}
"""
    linux = run_linux(f"trapv{opt}", source, [opt, "-ftrapv"])
    assert (linux.returncode, linux.stdout) == (134, b"39993 40007 -280000 -3000000000 "
                                                b"9000000000\n")
    image = cc.compile_guest([write(tmp_path / "trapv.c", source)], tmp_path / "trapv.elf",
                             [*STRICT, opt, "-ftrapv"])
    ex = hv.run(image, timeout=30)
    assert (ex.status, bytes(ex.console)) == (134, linux.stdout)
