"""The pytest plugin (hv.pytest_plugin) and the suite reader it stands on (hv.suite).

Most tests run pytest inside pytest (the `pytester` fixture) against a small
suite built here from FIXTURE_SUITE: raw hypercalls and a hand-written
`.hv_tests` table, no SDK, so the tests pin the plugin's behaviour whatever
the SDK's runner prints.  The sample suites of images/suites/ (built through
images/build.py) are checked at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import hv
from hv import suite
from hv.guest import Exit, TestResult

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "images" / "build"

# A guest test suite without the SDK.  main() runs the test named by
# hv.test=NAME; each body reports through TEST_RESULT (35) like the SDK would.
FIXTURE_SUITE = r"""
typedef unsigned int u32;

struct test {
    u32 magic;
    const char *name;
    void (*fn)(void);
    const char *file;
    u32 line;
    const char *markers;
    u32 reserved[2];
};

struct record {
    const char *file;
    u32 line;
    const char *expr, *lhs, *rhs, *message;
    u32 reserved;
};

static long hypercall(u32 nr, u32 a, u32 b, u32 c)
{
    long ret;
    __asm__ volatile("int $0x1f" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

static u32 length(const char *s) { u32 n = 0; while (s[n]) n++; return n; }
static void print(const char *s) { hypercall(32, 1, (u32)s, length(s)); }
static void report(u32 outcome, const struct record *r) { hypercall(35, outcome, (u32)r, 0); }

static void __attribute__((noreturn)) leave(u32 status)
{
    hypercall(33, status, 0, 0);
    for (;;) {}
}

static const struct record x_is_4 = { "suite.c", 42, "x == 4", "3", "4", 0, 0 };
static const struct record broke = { "suite.c", 50, 0, 0, 0, "something broke", 0 };
static const struct record away = { "suite.c", 60, 0, 0, 0, "not on this machine", 0 };

static const char *cmdline = "";

static void pass(void) { print("ok\n"); }
static void print_cmdline(void) { print(cmdline); print("\n"); }
static void fail_values(void) { print("checking x\n"); report(1, &x_is_4); leave(1); }
static void fail_message(void) { report(1, &broke); leave(1); }
static void skip(void) { report(2, &away); leave(0); }
static void spin(void) { print("spinning\n"); for (;;) __asm__ volatile(""); }
static void fault(void) { print((const char *)*(volatile u32 *)0x08000000); }
static void silent_exit(void) { leave(3); }

static void fail_here(void)
{
    /* __FILE__ is the absolute path gcc was given. */
    static const struct record here = { __FILE__, __LINE__, "y != 0", "0", "0", 0, 0 };
    report(1, &here);
    leave(1);
}

static void divide(void)
{
    u32 a = 1, d = 0, zero = 0;
    print("dividing\n");
    __asm__ volatile("divl %2" : "+a"(a), "+d"(d) : "r"(zero));
}

static void count_then_fail(void)
{
    char text[] = "line 00\n";
    for (u32 i = 1; i <= 30; i++) {
        text[5] = (char)('0' + i / 10);
        text[6] = (char)('0' + i % 10);
        print(text);
    }
    fail_values();
}

#define T(name, fn, markers) { 0x31545648, name, fn, "suite.c", __LINE__, markers, { 0, 0 } }
static const struct test tests[] __attribute__((section(".hv_tests"), used, aligned(4))) = {
    T("passes", pass, ""),
    T("fails_values", fail_values, ""),
    T("fails_message", fail_message, ""),
    T("skips", skip, ""),
    T("xfails", fail_values, "xfail"),
    T("slow_passes", pass, "slow"),
    T("divides_by_zero", divide, ""),
    T("spins", spin, "slow"),
    T("page_faults", fault, ""),
    T("exits_silently", silent_exit, ""),
    T("counts_then_fails", count_then_fail, ""),
    T("grouped", pass, " custom_marker , xdist_group=chat"),
    T("prints_cmdline", print_cmdline, ""),
    T("spins_briefly", spin, "hv_timeout=0.2"),
    T("fails_here", fail_here, ""),
};

static int same(const char *a, const char *b, u32 n)
{
    for (u32 i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

int main(const u32 *mb)
{
    const char *want = 0;
    if (mb[0] & 4)
        cmdline = (const char *)mb[4];
    for (const char *p = cmdline; *p && !want; p++)
        if (same(p, "hv.test=", 8))
            want = p + 8;
    if (!want)
        return 2;
    u32 n = 0;
    while (want[n] && want[n] != ' ')
        n++;
    for (u32 i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (length(tests[i].name) == n && same(tests[i].name, want, n)) {
            tests[i].fn();
            report(0, 0);
            return 0;
        }
    }
    print("no such test\n");
    return 2;
}

__asm__(".globl _start\n_start:\n push %ebx\n call main\n"
        " mov %eax, %ebx\n mov $33, %eax\n int $0x1f\n hlt\n");
"""

FIXTURE_NAMES = ["passes", "fails_values", "fails_message", "skips", "xfails", "slow_passes",
                 "divides_by_zero", "spins", "page_faults", "exits_silently",
                 "counts_then_fails", "grouped", "prints_cmdline", "spins_briefly", "fails_here"]

# Linked at 1 MiB (Guest ABI v1) without the SDK's linker script.
FIXTURE_FLAGS = ["-m32", "-march=i686", "-O1", "-ffreestanding", "-nostdlib", "-static",
                 "-fno-pic", "-fno-pie", "-no-pie", "-fno-stack-protector",
                 "-fno-asynchronous-unwind-tables", "-fcf-protection=none",
                 "-Wl,--build-id=none", "-Wl,-Ttext-segment=0x100000",
                 "-Wl,-z,noseparate-code"]


PLUGIN = ["-p", "hv.pytest_plugin", "-p", "no:cacheprovider"]


# ---- fixtures ----

@pytest.fixture(scope="session")
def fixture_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FIXTURE_SUITE built into an image (skips without gcc or the extension)."""
    try:
        from hv import _native  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"hv._native is not built: {exc}")
    gcc = os.environ.get("HV_CC", "gcc")
    if shutil.which(gcc) is None:
        pytest.skip(f"{gcc} not found: the fixture suite cannot be built")
    work = tmp_path_factory.mktemp("fixture_suite")
    (work / "suite.c").write_text(FIXTURE_SUITE)
    proc = subprocess.run([gcc, *FIXTURE_FLAGS, "-o", "suite.elf", work / "suite.c"], cwd=work,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building the fixture suite failed:\n{proc.stderr}", pytrace=False)
    return work / "suite.elf"


@pytest.fixture
def hvtest(pytester: pytest.Pytester, fixture_suite: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs pytest in-process with the plugin, the fixture suite copied in as suite.elf."""
    shutil.copy(fixture_suite, pytester.path / "suite.elf")
    # Only the plugins a test names: third-party plugins would slow the inner
    # runs down (pytester re-imports them every time) or change them, and
    # hv's own entry point, if installed, would clash with PLUGIN's -p.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*PLUGIN, *args)

    return run


@pytest.fixture
def hvtest_subprocess(hvtest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Like hvtest, in a fresh interpreter (for pytest-xdist)."""
    # The child must import the same hv as this process, installed or not.
    package_root = str(Path(hv.__file__).resolve().parent.parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [package_root, os.environ.get("PYTHONPATH")])))

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*PLUGIN, *args, timeout=300)

    return run


def _collected(result: pytest.RunResult) -> list[str]:
    """Node ids listed by `--collect-only -q`."""
    return [line for line in result.outlines if "::" in line]


# ---- hv.suite: reading the table ----

def test_read_suite_lists_the_table_in_order(fixture_suite: Path) -> None:
    cases = suite.read_suite(fixture_suite)
    assert [case.name for case in cases] == FIXTURE_NAMES
    first, grouped = cases[0], cases[FIXTURE_NAMES.index("grouped")]
    assert (first.file, first.markers) == ("suite.c", ())
    assert first.line > 0 and cases[1].line == first.line + 1
    assert grouped.markers == ("custom_marker", "xdist_group=chat")
    assert cases[4].markers == ("xfail",)


def test_read_suite_rereads_a_rebuilt_image(fixture_suite: Path, tmp_path: Path) -> None:
    image = tmp_path / "suite.elf"
    shutil.copy(fixture_suite, image)
    assert len(suite.read_suite(image)) == len(FIXTURE_NAMES)
    _patch_entry(image, 0, 0, 0xDEADBEEF)
    os.utime(image, ns=(1, 1))          # a different mtime, whatever the clock did
    with pytest.raises(suite.SuiteError, match="bad magic"):
        suite.read_suite(image)


def test_plain_guests_and_other_files_are_not_suites(tmp_path: Path, guest_images: Path) -> None:
    junk = tmp_path / "x.elf"
    junk.write_bytes(b"hello")
    assert not suite.is_suite(junk)
    assert not suite.is_suite(guest_images / "hello.elf")
    assert not suite.is_suite(tmp_path / "missing.elf")
    with pytest.raises(suite.NotASuite, match=r"hello\.elf: no \.hv_tests section"):
        suite.read_suite(guest_images / "hello.elf")


def _hv_tests(image: Path) -> tuple[int, int, int]:
    """(file offset, size, section header offset) of the image's .hv_tests section."""
    with open(image, "rb") as f:
        elf = ELFFile(f)
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".hv_tests")
        section = elf.get_section(index)
        shdr = elf["e_shoff"] + index * elf["e_shentsize"]
        return section["sh_offset"], section["sh_size"], shdr


def _patch_entry(image: Path, entry: int, field: int, value: int) -> None:
    offset, _, _ = _hv_tests(image)
    data = bytearray(image.read_bytes())
    struct.pack_into("<I", data, offset + 32 * entry + 4 * field, value)
    image.write_bytes(data)


def _corrupt_copy(source: Path, target: Path, entry: int, field: int, value: int) -> Path:
    shutil.copy(source, target)
    _patch_entry(target, entry, field, value)
    return target


@pytest.mark.parametrize(("entry", "field", "value", "problem"), [
    (0, 0, 0x12345678, "entry 0: bad magic 0x12345678 (expected 0x31545648)"),
    (2, 1, 0x0FF00000, "entry 2: name: address 0x0ff00000 is not in the file's loaded data"),
    (1, 2, 0x00001000, "entry 1 (fails_values): fn 0x00001000 is not in an executable segment"),
    (3, 5, 0x00900000, "entry 3 (skips): markers: address 0x00900000 is not in"),
])
def test_a_corrupt_entry_is_named(fixture_suite: Path, tmp_path: Path, entry: int, field: int,
                                  value: int, problem: str) -> None:
    image = _corrupt_copy(fixture_suite, tmp_path / "bad.elf", entry, field, value)
    with pytest.raises(suite.SuiteError) as info:
        suite.read_suite(image)
    assert str(info.value).startswith(f"{image}: corrupt .hv_tests table: {problem}")
    assert suite.is_suite(image)        # corrupt, but a suite: collecting it must fail loudly


def test_zero_records_are_padding(fixture_suite: Path, tmp_path: Path) -> None:
    image = tmp_path / "padded.elf"
    shutil.copy(fixture_suite, image)
    offset, _, _ = _hv_tests(image)
    data = bytearray(image.read_bytes())
    data[offset + 32:offset + 64] = bytes(32)
    image.write_bytes(data)
    names = [case.name for case in suite.read_suite(image)]
    assert names == FIXTURE_NAMES[:1] + FIXTURE_NAMES[2:]


def test_duplicate_names_and_a_ragged_table_are_corrupt(fixture_suite: Path,
                                                        tmp_path: Path) -> None:
    image = tmp_path / "dup.elf"
    shutil.copy(fixture_suite, image)
    offset, size, shdr = _hv_tests(image)
    data = bytearray(image.read_bytes())
    data[offset + 32:offset + 64] = data[offset:offset + 32]
    image.write_bytes(data)
    with pytest.raises(suite.SuiteError, match=r"entry 1: duplicate test name 'passes' "
                                               r"\(also entry 0\)"):
        suite.read_suite(image)
    struct.pack_into("<I", data, shdr + 20, size - 4)      # Elf32_Shdr.sh_size
    image.write_bytes(data)
    os.utime(image, ns=(2, 2))
    with pytest.raises(suite.SuiteError, match=f"size {size - 4} is not a multiple of 32"):
        suite.read_suite(image)


# ---- hv.suite: judging a run ----

def _exit(status: int | None, *results: TestResult, reason: str | None = None) -> Exit:
    return Exit(status, reason, b"", 0, 0.0, tuple(results))


ASSERTION = TestResult("failed", "t.c", 7, "x == 4", "3", "4", "why")


@pytest.mark.parametrize(("run", "outcome", "summary", "lines"), [
    (_exit(0, TestResult("passed")), "passed", "", ()),
    (_exit(1, ASSERTION), "failed", "HV_ASSERT failed: x == 4",
     ("t.c:7: HV_ASSERT failed: x == 4", "  left:  3", "  right: 4", "  message: why")),
    (_exit(1, TestResult("failed", "t.c", 9, message="boom")), "failed", "failed: boom",
     ("t.c:9: failed: boom",)),
    (_exit(None, reason="unhandled #DE at eip=0x00100134"), "failed",
     "guest killed: unhandled #DE at eip=0x00100134",
     ("guest killed: unhandled #DE at eip=0x00100134",)),
    (_exit(None, ASSERTION, reason="timeout"), "failed", "guest killed: timeout",
     ("guest killed: timeout", "t.c:7: HV_ASSERT failed: x == 4", "  left:  3", "  right: 4",
      "  message: why")),
    (_exit(3), "failed", "guest exited with status 3 without reporting a result",
     ("guest exited with status 3 without reporting a result",)),
    (_exit(4, TestResult("passed")), "failed", "guest exited with status 4 after reporting passed",
     ("guest exited with status 4 after reporting passed",)),
    (_exit(0, TestResult("skipped", "t.c", 3, message="no FPU")), "skipped", "no FPU",
     ("no FPU",)),
    (_exit(0, TestResult("skipped")), "skipped", "skipped by the guest",
     ("skipped by the guest",)),
    (_exit(2, TestResult("skipped")), "failed",
     "guest exited with status 2 after reporting skipped",
     ("guest exited with status 2 after reporting skipped",)),
    (_exit(0, TestResult("passed"), TestResult("passed")), "failed",
     "guest reported 2 results for one test (passed, passed)",
     ("guest reported 2 results for one test (passed, passed)",)),
    (_exit(1, TestResult("passed"), ASSERTION), "failed",
     "guest reported 2 results for one test (passed, failed)",
     ("guest reported 2 results for one test (passed, failed)",
      "t.c:7: HV_ASSERT failed: x == 4", "  left:  3", "  right: 4", "  message: why")),
])
def test_judge(run: Exit, outcome: str, summary: str, lines: tuple[str, ...]) -> None:
    verdict = suite.judge(run)
    assert (verdict.outcome, verdict.summary, verdict.lines) == (outcome, summary, lines)


# ---- the plugin: running tests ----

def test_a_passing_test(hvtest) -> None:
    result = hvtest("suite.elf::passes")
    result.assert_outcomes(passed=1)


def test_a_failed_assertion_shows_both_values_and_no_traceback(hvtest) -> None:
    result = hvtest("suite.elf::fails_values")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*_ fails_values _*",
        "suite.c:42: HV_ASSERT failed: x == 4",
        "  left:  3",
        "  right: 4",
        "*- guest console -*",
        "checking x",
        "*- Captured stdout call -*",
        "checking x",
        "FAILED suite.elf::fails_values - HV_ASSERT failed: x == 4",
    ])
    assert "Traceback" not in result.stdout.str()
    assert "pytest_plugin.py" not in result.stdout.str()


def test_a_failure_with_a_message(hvtest) -> None:
    result = hvtest("suite.elf::fails_message")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["suite.c:50: failed: something broke", "*guest console*",
                                 "(no output)"])


def test_the_console_tail_is_the_last_twenty_lines(hvtest) -> None:
    result = hvtest("suite.elf::counts_then_fails")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- guest console (last 20 of 31 lines) -*", "line 12",
                                 "line 30", "checking x", "*Captured stdout call*", "line 01"])
    tail = result.stdout.str().split("guest console")[1].split("Captured")[0]
    assert "line 11" not in tail


@pytest.mark.parametrize(("name", "reason"), [
    ("divides_by_zero", "guest killed: unhandled #DE at eip=0x*"),
    ("page_faults", "guest killed: unhandled #PF at eip=0x* cr2=0x08000000"),
    ("exits_silently", "guest exited with status 3 without reporting a result"),
])
def test_a_guest_that_crashes_or_reports_nothing_fails(hvtest, name: str, reason: str) -> None:
    result = hvtest(f"suite.elf::{name}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([reason, f"FAILED suite.elf::{name} - {reason[:20]}*"])


def test_tb_line_is_one_line_per_failure(hvtest) -> None:
    result = hvtest("suite.elf", "-k", "fails_values or divides", "--tb=line",
                    "--show-capture=no")
    result.stdout.fnmatch_lines(["=*FAILURES*=",
                                 "suite.c:42: HV_ASSERT failed: x == 4",
                                 "suite.c:*: guest killed: unhandled #DE at eip=0x*",
                                 "=*short test summary info*="])
    assert "left:" not in result.stdout.str() and "guest console" not in result.stdout.str()


def test_a_timeout_from_the_command_line(hvtest) -> None:
    result = hvtest("suite.elf::spins", "--hv-timeout", "0.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["guest killed: timeout", "*guest console*", "spinning"])


def test_a_timeout_from_the_ini_file(hvtest, pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhv_timeout = 0.2\n")
    result = hvtest("suite.elf::spins")
    result.stdout.fnmatch_lines(["guest killed: timeout"])


def test_a_timeout_from_a_table_marker(hvtest) -> None:
    result = hvtest("suite.elf::spins_briefly", "--durations=1")
    result.stdout.fnmatch_lines(["guest killed: timeout", "0.2*s call*spins_briefly"])


def test_more_command_line_for_the_guest(hvtest) -> None:
    result = hvtest("suite.elf::prints_cmdline", "--hv-cmdline", "demo.seed=5 verbose", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["hv.test=prints_cmdline demo.seed=5 verbose"])


def test_sources_under_rootdir_are_shown_relative(hvtest, fixture_suite: Path) -> None:
    source = fixture_suite.parent / "suite.c"
    result = hvtest("suite.elf::fails_here")
    result.stdout.fnmatch_lines([f"{source}:*: HV_ASSERT failed: y != 0"])
    result = hvtest("suite.elf::fails_here", f"--rootdir={fixture_suite.parent}")
    result.stdout.fnmatch_lines(["suite.c:*: HV_ASSERT failed: y != 0", "  left:  0"])


@pytest.mark.parametrize("option", [["--hv-timeout", "0"], ["--hv-timeout", "soon"],
                                    ["--hv-memory", "1"], ["--hv-switcher", "nope"],
                                    ["--hv-clock", "wall"], ["--hv-clock", "Virtual"]])
def test_bad_options_are_usage_errors(hvtest, option: list[str]) -> None:
    result = hvtest("suite.elf", *option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option[0]}*"])


def test_a_bad_clock_in_the_ini_file(hvtest, pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhv_clock = wall\n")
    result = hvtest("suite.elf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --hv-clock (ini hv_clock) must be virtual or host, "
                                 "not 'wall'"])


def _record_clocks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Guest.run replaced by a pass that records the guest's clock (no guest runs)."""
    clocks: list[str] = []

    def run(self, **kwargs):
        clocks.append(self.clock)
        return Exit(0, None, b"", 1, 0.0, (TestResult("passed"),))

    monkeypatch.setattr(hv.guest.Guest, "run", run)
    return clocks


@pytest.mark.parametrize(("args", "ini", "expected"), [
    ([], "", "virtual"),
    (["--hv-clock", "host"], "", "host"),
    (["--hv-clock", "virtual"], "hv_clock = host\n", "virtual"),
    ([], "hv_clock = host\n", "host"),
])
def test_the_clock_reaches_every_guest(hvtest, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch, args: list[str],
                                       ini: str, expected: str) -> None:
    clocks = _record_clocks(monkeypatch)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}")
    result = hvtest("suite.elf::passes", "suite.elf::fails_values", *args)
    result.assert_outcomes(passed=2)
    assert clocks == [expected, expected]


def test_the_host_clock_needs_device_support(hvtest) -> None:
    if hasattr(hv.guest._native(), "Bus"):
        result = hvtest("suite.elf::passes", "suite.elf::prints_cmdline", "--hv-clock", "host")
        result.assert_outcomes(passed=2)
    else:
        result = hvtest("suite.elf::passes", "--hv-clock", "host")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: --hv-clock host: this build of hv._native has no "
                                     "host clock; rebuild it"])


def test_a_guest_skip_is_a_skip_at_the_test(hvtest) -> None:
    result = hvtest("suite.elf::skips", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] suite.c:*: not on this machine"])


def test_the_xfail_marker_makes_a_failure_xfailed(hvtest) -> None:
    result = hvtest("suite.elf::xfails", "-rx")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["XFAIL suite.elf::xfails*"])


def test_the_whole_fixture_suite(hvtest) -> None:
    result = hvtest("suite.elf", "--hv-timeout", "0.2")
    result.assert_outcomes(passed=4, failed=9, skipped=1, xfailed=1)


# ---- the plugin: selection and markers ----

def test_collection_yields_one_item_per_table_entry(hvtest) -> None:
    result = hvtest("suite.elf", "--collect-only", "-q")
    assert _collected(result) == [f"suite.elf::{name}" for name in FIXTURE_NAMES]


def test_k_selects_by_name(hvtest) -> None:
    result = hvtest("suite.elf", "-k", "fails_ and not counts")
    result.assert_outcomes(failed=3, deselected=len(FIXTURE_NAMES) - 3)
    result.stdout.fnmatch_lines(["FAILED suite.elf::fails_values*",
                                 "FAILED suite.elf::fails_message*",
                                 "FAILED suite.elf::fails_here*"])


def test_m_selects_by_table_marker(hvtest) -> None:
    result = hvtest("suite.elf", "-m", "slow", "--collect-only", "-q")
    assert _collected(result) == ["suite.elf::slow_passes", "suite.elf::spins"]
    result = hvtest("suite.elf", "-m", "not slow", "--collect-only", "-q")
    assert len(_collected(result)) == len(FIXTURE_NAMES) - 2


def test_unknown_table_markers_are_registered(hvtest) -> None:
    result = hvtest("suite.elf", "-m", "custom_marker", "--strict-markers",
                    "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1, deselected=len(FIXTURE_NAMES) - 1)
    result = hvtest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.hv_timeout(seconds):*"])


# ---- the plugin: what is collected ----

def test_an_invalid_image_is_one_collection_error(hvtest, pytester: pytest.Pytester) -> None:
    (pytester.path / "x.elf").write_bytes(b"not an image")
    result = hvtest("x.elf", "suite.elf")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting x.elf*",
                                 r"x.elf: not an ELF file (no \x7fELF magic)",
                                 "=*short test summary info*="])
    assert "Traceback" not in result.stdout.str()


def test_a_corrupt_table_is_one_collection_error(hvtest, pytester: pytest.Pytester,
                                                 fixture_suite: Path) -> None:
    _corrupt_copy(fixture_suite, pytester.path / "bad.elf", 1, 0, 0)
    result = hvtest("bad.elf")
    result.stdout.fnmatch_lines([
        "*ERROR collecting bad.elf*",
        "bad.elf: corrupt .hv_tests table: entry 1: bad magic 0x00000000 (expected 0x31545648)",
        "=*short test summary info*="])
    result.assert_outcomes(errors=1)


def test_an_image_the_loader_refuses(hvtest, pytester: pytest.Pytester) -> None:
    data = bytearray((pytester.path / "suite.elf").read_bytes())
    data[4] = 2                                         # EI_CLASS = ELFCLASS64
    (pytester.path / "wide.elf").write_bytes(data)
    result = hvtest("wide.elf")
    result.stdout.fnmatch_lines(["wide.elf: 64-bit ELF (ELFCLASS64); hv runs 32-bit*"])
    result.assert_outcomes(errors=1)


def test_a_plain_guest_named_on_the_command_line(hvtest, pytester: pytest.Pytester,
                                                 guest_images: Path) -> None:
    shutil.copy(guest_images / "hello.elf", pytester.path / "hello.elf")
    result = hvtest("hello.elf")
    result.stdout.fnmatch_lines(["hello.elf: no .hv_tests section (not a guest test suite)"])


def test_a_directory_yields_its_suites_only(hvtest, pytester: pytest.Pytester,
                                            guest_images: Path) -> None:
    images = pytester.mkdir("images")
    shutil.move(pytester.path / "suite.elf", images / "suite.elf")
    shutil.copy(guest_images / "hello.elf", images / "hello.elf")
    (images / "junk.elf").write_bytes(b"junk")
    result = hvtest("images", "--collect-only", "-q")
    assert _collected(result) == [f"images/suite.elf::{name}" for name in FIXTURE_NAMES]


def test_hv_images_adds_suites_to_testpaths(hvtest, pytester: pytest.Pytester) -> None:
    images = pytester.mkdir("images")
    shutil.move(pytester.path / "suite.elf", images / "suite.elf")
    (images / "junk.elf").write_bytes(b"junk")
    pytester.mkdir("tests")
    pytester.makepyfile(**{"tests/test_python.py": "def test_python():\n    pass\n"})
    pytester.makeini("[pytest]\ntestpaths = tests\nhv_images = images/*.elf\n")
    result = hvtest("--collect-only", "-q")
    assert _collected(result) == ["tests/test_python.py::test_python",
                                  *(f"images/suite.elf::{name}" for name in FIXTURE_NAMES)]
    # Paths on the command line replace testpaths, and hv_images with them.
    result = hvtest("tests", "--collect-only", "-q")
    assert _collected(result) == ["tests/test_python.py::test_python"]


def test_suites_are_not_collected_unless_asked_for(hvtest, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_python="def test_python():\n    pass\n")
    result = hvtest("--collect-only", "-q")
    assert _collected(result) == ["test_python.py::test_python"]


def test_ordinary_python_tests_run_as_before(hvtest, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_python="""
        import pytest
        def test_ok(): pass
        def test_bad(): assert 1 == 2
        @pytest.mark.xfail
        def test_x(): assert 0
    """)
    result = hvtest("test_python.py")
    result.assert_outcomes(passed=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2*"])


# ---- the plugin: JUnit XML ----

def _junit(path: Path) -> dict[str, ET.Element]:
    """testcase elements by node id ("suite.elf::name"; xdist's @group suffix dropped)."""
    cases = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        file = case.get("classname").replace(".", "/").replace("/elf", ".elf")
        cases[f"{file}::{case.get('name').split('@')[0]}"] = case
    return cases


def _outcome(case: ET.Element) -> str:
    for child in case:
        if child.tag in ("failure", "error"):
            return child.tag
        if child.tag == "skipped":
            return child.get("type", "skipped")
    return "passed"


def _properties(case: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in case.iter("property")}


def test_junit_has_the_console_and_the_node(hvtest, pytester: pytest.Pytester) -> None:
    result = hvtest("suite.elf", "--hv-timeout", "0.2", "--junitxml=out.xml")
    result.assert_outcomes(passed=4, failed=9, skipped=1, xfailed=1)
    cases = _junit(pytester.path / "out.xml")
    assert set(cases) == {f"suite.elf::{name}" for name in FIXTURE_NAMES}
    failed = cases["suite.elf::fails_values"]
    assert failed.find("failure").get("message") == "HV_ASSERT failed: x == 4"
    assert failed.find("system-out").text == "checking x\n"
    assert cases["suite.elf::passes"].find("system-out").text == "ok\n"
    assert cases["suite.elf::exits_silently"].find("system-out") is None    # no console
    for nodeid, case in cases.items():
        properties = _properties(case)
        assert properties.pop("node") == socket.gethostname()
        # A failed guest test (an xfail too) keeps its manifest.
        failed = _outcome(case) == "failure" or nodeid == "suite.elf::xfails"
        assert set(properties) == ({"hv_manifest", "hv_replay"} if failed else set())


def _hv_replay(manifest: str) -> subprocess.CompletedProcess:
    """`python -m hv replay MANIFEST`, with the hv this process imported."""
    package_root = str(Path(hv.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "hv", "replay", manifest], capture_output=True,
                          text=True, timeout=120, env=env)


def test_a_failed_test_keeps_a_manifest_that_replays(hvtest, pytester: pytest.Pytester) -> None:
    result = hvtest("suite.elf::fails_values", "suite.elf::passes", "--junitxml=out.xml")
    result.assert_outcomes(passed=1, failed=1)
    path = pytester.path / "hv-manifests" / "suite.elf_fails_values.json"
    result.stdout.fnmatch_lines(["suite.c:42: HV_ASSERT failed: x == 4", "  left:  3",
                                 "  right: 4",
                                 "replay: hv replay hv-manifests/suite.elf_fails_values.json",
                                 "*- guest console -*"])
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]    # failures only
    recorded = json.loads(path.read_text())
    assert recorded["origin"] == {"tool": "pytest", "nodeid": "suite.elf::fails_values",
                                  "node": socket.gethostname(), "rootdir": str(pytester.path)}
    assert recorded["image"]["path"] == str(pytester.path / "suite.elf")
    assert (recorded["cmdline"], recorded["timeout"]) == ("hv.test=fails_values", 60.0)
    assert recorded["result"]["status"] == 1
    assert recorded["result"]["test_results"] == ["failed"]
    case = _junit(pytester.path / "out.xml")["suite.elf::fails_values"]
    assert _properties(case) == {"node": socket.gethostname(), "hv_manifest": str(path),
                                 "hv_replay": f"hv replay {path}"}
    done = _hv_replay(str(path))
    assert (done.returncode, done.stdout) == (0, "checking x\n")
    count = recorded["result"]["instructions"]
    assert done.stderr == (f"hv replay: same as the recording (exit status 1, {count} "
                           "instructions, console 11 bytes)\n")


def test_a_timed_out_test_replays_to_the_same_instruction(hvtest,
                                                          pytester: pytest.Pytester) -> None:
    result = hvtest("suite.elf::spins_briefly", "--hv-manifests", "kept")
    result.stdout.fnmatch_lines(["guest killed: timeout",
                                 "replay: hv replay kept/suite.elf_spins_briefly.json"])
    path = pytester.path / "kept" / "suite.elf_spins_briefly.json"
    count = json.loads(path.read_text())["result"]["instructions"]
    done = _hv_replay(str(path))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == ("hv replay: same as the recording (killed: timeout, "
                                            f"{count} instructions, console 9 bytes)")


def test_a_failure_without_a_manifest_has_no_replay_line(hvtest,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for Guest.run whose Exit, made by hand, has no manifest.
    monkeypatch.setattr(hv.guest.Guest, "run", lambda self, **kwargs: Exit(3, None, b"", 1, 0.0))
    result = hvtest("suite.elf::passes")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["guest exited with status 3 without reporting a result"])
    assert "replay:" not in result.stdout.str()


def test_manifests_go_under_basetemp_without_junit(hvtest, pytester: pytest.Pytester) -> None:
    result = hvtest("suite.elf::divides_by_zero", f"--basetemp={pytester.path / 'base'}")
    result.stdout.fnmatch_lines(["replay: hv replay base/hv-manifests/"
                                 "suite.elf_divides_by_zero.json"])
    assert (pytester.path / "base" / "hv-manifests" / "suite.elf_divides_by_zero.json").is_file()


def test_junit_node_comes_from_hv_node(hvtest, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HV_NODE", "farm-node-7")
    hvtest("suite.elf::passes", "--junitxml=out.xml")
    (case,) = _junit(pytester.path / "out.xml").values()
    assert _properties(case) == {"node": "farm-node-7"}


def test_junit_logging_does_not_double_the_console(hvtest, pytester: pytest.Pytester) -> None:
    hvtest("suite.elf::passes", "--junitxml=out.xml", "-o", "junit_logging=system-out")
    (case,) = _junit(pytester.path / "out.xml").values()
    (out,) = case.findall("system-out")
    assert "ok" in out.text


# ---- the plugin: pytest-xdist ----

def _outcomes(run, pytester: pytest.Pytester, name: str, *args: str) -> dict[str, str]:
    run("suite.elf", "--hv-timeout", "0.3", f"--junitxml={name}", *args)
    return {nodeid: _outcome(case) for nodeid, case in _junit(pytester.path / name).items()}


@pytest.mark.parametrize("dist", ["load", "loadgroup", "worksteal"])
def test_xdist_gives_the_same_results(hvtest_subprocess, pytester: pytest.Pytester,
                                      dist: str) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    serial = _outcomes(hvtest_subprocess, pytester, "serial.xml")
    spread = _outcomes(hvtest_subprocess, pytester, "spread.xml", "-p", "xdist.plugin",
                       "-n", "2", "--dist", dist)
    assert len(serial) == len(FIXTURE_NAMES)
    assert spread == serial
    xml = ET.parse(pytester.path / "spread.xml").getroot()
    assert all(_properties(case)["node"] for case in xml.iter("testcase"))
    # The workers wrote the manifests; their paths reached the controller's JUnit file.
    kept = [_properties(case).get("hv_manifest") for case in xml.iter("testcase")
            if _outcome(case) == "failure"]
    assert kept and all(path and Path(path).is_file() for path in kept)
    assert "checking x" in "".join(out.text for out in xml.iter("system-out"))


def test_xdist_workers_name_their_node(hvtest_subprocess, pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    hvtest_subprocess("suite.elf", "-k", "passes or skips", "-p", "xdist.plugin",
                      "--dist", "load", "--tx", "2*popen//env:HV_NODE=node3",
                      "--junitxml=out.xml")
    nodes = {_properties(case)["node"] for case in _junit(pytester.path / "out.xml").values()}
    assert nodes == {"node3"}


# ---- the sample suites of images/suites/ ----

def _sample(pytester: pytest.Pytester, build: Path, name: str) -> str:
    shutil.copy(build / name, pytester.path / name)
    return name


def test_sample_demo_suite_passes(hvtest, pytester: pytest.Pytester,
                                  sample_suites: Path) -> None:
    name = _sample(pytester, sample_suites, "suite_demo.elf")
    result = hvtest(name, "-rsx")
    assert result.ret == pytest.ExitCode.OK
    outcomes = result.parseoutcomes()
    assert outcomes.get("xfailed") == 1 and outcomes.get("skipped", 0) >= 1
    slow = _collected(hvtest(name, "-m", "slow", "--collect-only", "-q"))
    everything = _collected(hvtest(name, "--collect-only", "-q"))
    assert 0 < len(slow) < len(everything)


def test_sample_trivial_suite(hvtest, pytester: pytest.Pytester, sample_suites: Path) -> None:
    if not (sample_suites / "suite_trivial.elf").is_file():
        pytest.skip("suite_trivial.elf is not built")
    result = hvtest(_sample(pytester, sample_suites, "suite_trivial.elf"), "-q")
    result.assert_outcomes(passed=1000)


def test_sample_crashes_suite(hvtest, pytester: pytest.Pytester, sample_suites: Path) -> None:
    if not (sample_suites / "suite_crashes.elf").is_file():
        pytest.skip("suite_crashes.elf is not built")
    result = hvtest(_sample(pytester, sample_suites, "suite_crashes.elf"), "--hv-timeout", "1")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("failed", 0) >= 4
    text = result.stdout.str()
    for reason in ("guest killed: unhandled #DE", "guest killed: timeout",
                   "guest killed: unhandled #PF", "without reporting a result"):
        assert reason in text
