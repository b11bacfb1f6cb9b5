"""Tests for test cases inside guest images: hv_test.h, the SDK's runner, the
.hv_tests descriptor table and the suites in images/suites/.

The suites are built by images/build.py (suite_<name>.elf and .linux); each
test case runs alone in a fresh guest selected with `hv.test=NAME`.  The
descriptor table is read straight from the ELF file with pyelftools, as the
pytest plugin does, and compared with what the guest's runner executes.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import hv
from hv import cc

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
BUILD = IMAGES / "build"
SUITES = IMAGES / "suites"
SUITE_NAMES = ("asserts", "crashes", "demo", "trivial")

MAGIC = 0x31545648          # "HVT1"
DESCRIPTOR = struct.Struct("<8I")
TIMEOUT = 30.0

GCC = os.environ.get("HV_CC", "gcc")
needs_gcc = pytest.mark.skipif(
    shutil.which(GCC) is None,
    reason=f"{GCC} not found: install gcc (Debian: apt-get install gcc) to build the suites",
)


# ---- fixtures ------------------------------------------------------------------


@pytest.fixture(scope="session")
def suites(native) -> Path:
    """images/build/ with every suite_<name>.elf and .linux built and up to date."""
    if shutil.which(GCC) is None:
        pytest.skip(f"{GCC} not found: the suites in images/suites/ cannot be built")
    BUILD.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers share images/build; one build at a time (as conftest does).
    with open(BUILD / ".tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([sys.executable, str(IMAGES / "build.py"), "suite_*"],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"python images/build.py suite_* failed ({proc.returncode}):\n"
                    f"{proc.stdout}{proc.stderr}", pytrace=False)
    for name in SUITE_NAMES:
        for suffix in (".elf", ".linux"):
            if not (BUILD / f"suite_{name}{suffix}").is_file():
                pytest.fail(f"images/build.py did not produce suite_{name}{suffix}",
                            pytrace=False)
    return BUILD


@pytest.fixture
def private_sdk_cache(tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep SDK objects compiled by these tests out of the user's ~/.cache."""
    monkeypatch.setenv("HV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sdk-cache"))


def suite(build: Path, name: str) -> Path:
    return build / f"suite_{name}.elf"


def run_test(image: Path, name: str | None = None, extra: str = "",
             timeout: float = TIMEOUT) -> hv.Exit:
    cmdline = " ".join(part for part in (f"hv.test={name}" if name else "", extra) if part)
    return hv.run(image, cmdline=cmdline, timeout=timeout)


def line_of(source: Path, text: str) -> int:
    """The 1-based number of the first line of source that contains text."""
    for number, line in enumerate(source.read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not found in {source}")


# ---- reading the descriptor table with pyelftools -------------------------------


@dataclass(frozen=True)
class Descriptor:
    name: str
    fn: int
    file: str
    line: int
    markers: tuple[str, ...]


def read_string(elf: ELFFile, address: int) -> str:
    """The NUL-terminated string at a (physical = virtual) address, through the
    PT_LOAD segment that holds it."""
    for seg in elf.iter_segments():
        start = seg["p_paddr"]
        if seg["p_type"] == "PT_LOAD" and start <= address < start + seg["p_filesz"]:
            data = seg.data()[address - start:]
            end = data.index(b"\0")
            return data[:end].decode()
    raise AssertionError(f"address 0x{address:08x} is in no loaded segment")


def read_descriptors(path: Path) -> list[Descriptor]:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        section = elf.get_section_by_name(".hv_tests")
        assert section is not None, f"{path} has no .hv_tests section"
        data = section.data()
        assert len(data) % DESCRIPTOR.size == 0
        # The section lies inside a loaded segment, where the runner can walk it.
        addr = section["sh_addr"]
        assert any(seg["p_type"] == "PT_LOAD" and seg["p_paddr"] <= addr
                   and addr + len(data) <= seg["p_paddr"] + seg["p_filesz"]
                   for seg in elf.iter_segments())
        symbols = elf.get_section_by_name(".symtab")
        assert symbols.get_symbol_by_name("__hv_tests_start")[0]["st_value"] == addr
        assert symbols.get_symbol_by_name("__hv_tests_end")[0]["st_value"] == addr + len(data)
        found = []
        for offset in range(0, len(data), DESCRIPTOR.size):
            magic, name, fn, file, line, markers, r0, r1 = DESCRIPTOR.unpack_from(data, offset)
            assert magic == MAGIC and r0 == 0 and r1 == 0
            marker_text = read_string(elf, markers)
            found.append(Descriptor(
                name=read_string(elf, name), fn=fn, file=read_string(elf, file), line=line,
                markers=tuple(marker_text.split(",")) if marker_text else ()))
        # The body is the global function hv_test__<name>.
        for desc in found:
            (sym,) = symbols.get_symbol_by_name(f"hv_test__{desc.name}")
            assert sym["st_value"] == desc.fn and sym["st_info"]["bind"] == "STB_GLOBAL"
        return found


# ---- one test at a time ---------------------------------------------------------


def test_passing_test_reports_one_pass(suites: Path) -> None:
    source = SUITES / "demo" / "test_ring.c"
    result = run_test(suite(suites, "demo"), "ring_is_fifo")
    assert (result.status, result.reason) == (0, None)
    assert result.console == b"PASS ring_is_fifo\n"
    assert result.results == (hv.TestResult(
        "passed", file=str(source), line=line_of(source, "HV_TEST(ring_is_fifo)")),)


def test_failing_assert_eq_reports_expression_and_values(suites: Path) -> None:
    source = SUITES / "asserts" / "asserts.c"
    result = run_test(suite(suites, "asserts"), "eq_int")
    assert (result.status, result.reason) == (1, None)
    line = line_of(source, "HV_ASSERT_EQ(x, 4);")
    assert result.results == (hv.TestResult(
        "failed", file=str(source), line=line, expr="x == 4", lhs="3", rhs="4"),)
    assert result.console == f"FAIL eq_int: {source}:{line}: x == 4 (3 vs 4)\n".encode()


def test_demo_xfail_shows_two_different_values(suites: Path) -> None:
    (report,) = run_test(suite(suites, "demo"), "ring_accepts_any_capacity").results
    assert report.outcome == "failed"
    assert report.expr == "ring_init(&r, odd, sizeof(odd)) == 0"
    assert (report.lhs, report.rhs) == ("-1", "0")
    assert report.file.endswith("test_ring.c")


@pytest.mark.parametrize(("name", "expr", "lhs", "rhs"), [
    ("gt_negative", "x > 0", "-5", "0"),
    ("eq_unsigned_large", "u == 7u", "4000000000", "7"),
    ("eq_unsigned_max_vs_minus_one", "u == m", "4294967295", "-1"),
    ("eq_int64_extremes", "lo == INT64_MAX", "-9223372036854775808", "9223372036854775807"),
    ("lt_uint64_max", "big < 0", "18446744073709551615", "0"),
    ("eq_chars", "c == uc", "-1", "255"),
    ("ne_equal", "a != -7", "-7", "-7"),
    ("le_greater", "a <= LIMIT", "11", "10"),
    ("ge_smaller", "a >= 2ull", "1", "2"),
    ("eq_pointer", "p == NULL", "0x00001234", "0x00000000"),
    ("failure_in_a_helper", "value > 0", "-2", "0"),
])
def test_comparison_values_are_formatted_by_type(suites: Path, name, expr, lhs, rhs) -> None:
    result = run_test(suite(suites, "asserts"), name)
    assert result.status == 1
    (report,) = result.results
    assert (report.outcome, report.expr, report.lhs, report.rhs, report.message) == (
        "failed", expr, lhs, rhs, None)


def test_passing_comparisons_and_single_evaluation(suites: Path) -> None:
    for name in ("comparisons_hold", "operands_are_evaluated_once"):
        result = run_test(suite(suites, "asserts"), name)
        assert result.status == 0, result.console
        assert [r.outcome for r in result.results] == ["passed"]


def test_plain_assert_reports_the_expression_only(suites: Path) -> None:
    (report,) = run_test(suite(suites, "asserts"), "plain_assert").results
    assert report.expr == 'ready == 1 && "the device came up"'
    assert (report.lhs, report.rhs, report.message) == (None, None, None)


def test_streq_shows_quoted_escaped_strings(suites: Path) -> None:
    (report,) = run_test(suite(suites, "asserts"), "streq_differs").results
    assert report.expr == r'strcmp("say \"hi\"\n", "say ' + "'hi'" + r'\t\x01") == 0'
    assert report.lhs == r'"say \"hi\"\n"'
    assert report.rhs == r'"say ' + "'hi'" + r'\t\x01"'
    (report,) = run_test(suite(suites, "asserts"), "streq_null").results
    assert (report.lhs, report.rhs) == ("NULL", '""')


def test_memeq_shows_bytes_from_the_first_difference(suites: Path) -> None:
    (report,) = run_test(suite(suites, "asserts"), "memeq_differs").results
    assert report.expr == "memcmp(a, b, sizeof(a)) == 0"
    assert (report.lhs, report.rhs) == ("04 05 06", "ff 05 06")
    assert report.message == "first difference at byte 3 of 6"


def test_hv_fail_formats_its_message(suites: Path) -> None:
    source = SUITES / "asserts" / "asserts.c"
    result = run_test(suite(suites, "asserts"), "fail_message")
    assert result.status == 1
    assert result.results == (hv.TestResult(
        "failed", file=str(source), line=line_of(source, 'HV_FAIL("got %d'),
        message="got 42 (expected 7)"),)


def test_hv_skip_reports_skipped_and_exits_0(suites: Path) -> None:
    result = run_test(suite(suites, "asserts"), "skip_message")
    assert (result.status, result.reason) == (0, None)
    (report,) = result.results
    assert (report.outcome, report.message, report.expr) == ("skipped", "needs a network", None)
    assert result.console.startswith(b"SKIP skip_message: ")


def test_demo_skip_unless_a_seed_is_given(suites: Path) -> None:
    image = suite(suites, "demo")
    skipped = run_test(image, "alloc_fuzz")
    assert [r.outcome for r in skipped.results] == ["skipped"] and skipped.status == 0
    assert skipped.results[0].message == "no demo.seed=N on the command line"
    fuzzed = run_test(image, "alloc_fuzz", extra="demo.seed=7")
    assert [r.outcome for r in fuzzed.results] == ["passed"] and fuzzed.status == 0


def test_console_output_is_flushed_before_the_report(suites: Path) -> None:
    result = run_test(suite(suites, "asserts"), "output_then_fail")
    assert result.console.startswith(b"partial line\nFAIL output_then_fail: ")
    assert result.results[0].expr == "1 + 1 == 3"


@pytest.mark.parametrize("cmdline", ["hv.test=nope", "quiet hv.test=nope other=1"])
def test_unknown_test_name_fails_with_status_1(suites: Path, cmdline: str) -> None:
    result = hv.run(suite(suites, "demo"), cmdline=cmdline, timeout=TIMEOUT)
    assert (result.status, result.reason) == (1, None)
    assert result.results == (hv.TestResult("failed", message="no test named nope"),)
    assert result.console == b"FAIL: no test named nope\n"


def test_name_must_match_whole(suites: Path) -> None:
    # A prefix of a real name is not that test.
    result = run_test(suite(suites, "demo"), "ring_is")
    assert result.results[0].message == "no test named ring_is"


# ---- every test in one boot -----------------------------------------------------


def test_no_hv_test_runs_every_test_in_table_order(suites: Path) -> None:
    image = suite(suites, "demo")
    table = read_descriptors(image)
    result = run_test(image)
    assert (result.status, result.reason) == (1, None)      # the xfail test fails
    lines = result.console.decode().splitlines()
    assert lines[-1] == "32 passed, 1 failed, 1 skipped"
    ran = [re.match(r"(PASS|FAIL|SKIP) (\w+)", line).group(2) for line in lines[:-1]]
    assert ran == [desc.name for desc in table]
    assert [r.outcome for r in result.results].count("passed") == 32
    failed = [r for r in result.results if r.outcome == "failed"]
    assert [(r.lhs, r.rhs) for r in failed] == [("-1", "0")]


def test_run_all_continues_after_failures(suites: Path) -> None:
    result = run_test(suite(suites, "asserts"))
    assert result.status == 1
    outcomes = [r.outcome for r in result.results]
    assert len(outcomes) == len(read_descriptors(suite(suites, "asserts")))
    assert outcomes.count("passed") == 2 and outcomes.count("skipped") == 1
    assert result.console.decode().splitlines()[-1] == "2 passed, 18 failed, 1 skipped"


def test_run_all_of_a_passing_suite_exits_0(suites: Path) -> None:
    result = run_test(suite(suites, "trivial"))
    assert (result.status, result.reason) == (0, None)
    assert len(result.results) == 1000
    assert {r.outcome for r in result.results} == {"passed"}


# ---- the descriptor table --------------------------------------------------------


def test_descriptor_table_matches_the_source(suites: Path) -> None:
    table = read_descriptors(suite(suites, "demo"))
    assert len(table) == 34
    names = [desc.name for desc in table]
    assert len(set(names)) == len(names)
    for desc in table:
        source = Path(desc.file)
        assert source.parent == SUITES / "demo"
        marked = "HV_TEST_MARKED(" if desc.markers else "HV_TEST("
        assert desc.line == line_of(source, f"{marked}{desc.name}")
    # Link order (sorted files), then source order within a file.
    files = [Path(desc.file).name for desc in table]
    assert files == sorted(files)
    ring = [desc.name for desc in table if desc.file.endswith("test_ring.c")]
    in_source = re.findall(r"^HV_TEST(?:_MARKED)?\((\w+)",
                           (SUITES / "demo" / "test_ring.c").read_text(), re.M)
    assert ring == in_source


def test_markers(suites: Path) -> None:
    markers = {desc.name: desc.markers for desc in read_descriptors(suite(suites, "demo"))}
    assert markers["ring_accepts_any_capacity"] == ("xfail",)
    assert sorted(name for name, marks in markers.items() if "slow" in marks) == [
        "alloc_random_workload", "fmt_round_trips_through_strtoull",
        "ring_stress_producer_consumer"]
    assert markers["ring_is_fifo"] == ()
    asserts = read_descriptors(suite(suites, "asserts"))
    assert {desc.markers for desc in asserts} == {(), ("xfail",)}


def test_every_descriptor_runs_as_named(suites: Path) -> None:
    """What the table lists is exactly what the runner executes, one at a time."""
    image = suite(suites, "demo")
    for desc in read_descriptors(image):
        if "slow" in desc.markers:
            continue
        result = run_test(image, desc.name)
        assert len(result.results) == 1, (desc.name, result)
        assert result.console.decode().split()[1].rstrip(":") == desc.name
        if result.results[0].outcome == "passed":
            assert (result.results[0].file, result.results[0].line) == (desc.file, desc.line)


def test_trivial_suite_has_1000_tests_in_order(suites: Path) -> None:
    table = read_descriptors(suite(suites, "trivial"))
    assert [desc.name for desc in table] == [f"t{i:03d}" for i in range(1000)]
    for name in ("t000", "t537", "t999"):
        result = run_test(suite(suites, "trivial"), name)
        assert result.status == 0 and result.results[0].outcome == "passed"


def test_an_image_without_tests_has_an_empty_table(guest_images: Path) -> None:
    with open(guest_images / "hello.elf", "rb") as f:
        section = ELFFile(f).get_section_by_name(".hv_tests")
        assert section is None or section.data_size == 0


# ---- slow tests really work -------------------------------------------------------


@pytest.mark.parametrize("name", ["ring_stress_producer_consumer",
                                  "fmt_round_trips_through_strtoull",
                                  "alloc_random_workload"])
def test_slow_demo_tests_pass(suites: Path, name: str) -> None:
    result = run_test(suite(suites, "demo"), name, timeout=120)
    assert (result.status, result.reason) == (0, None), result.console
    assert [r.outcome for r in result.results] == ["passed"]
    assert result.instructions > 50_000_000          # real work, not a stub


# ---- misbehaving tests only the host can catch ----------------------------------


@pytest.mark.parametrize(("name", "status", "reason", "outcomes"), [
    ("passes", 0, None, ["passed"]),
    ("divide_by_zero", None, r"unhandled #DE at eip=0x[0-9a-f]{8}", []),
    ("infinite_loop", None, "timeout", []),
    ("write_outside_ram", None, r"unhandled #PF at eip=0x[0-9a-f]{8} cr2=0x08000000", []),
    ("exit_without_report", 0, None, []),
    ("exit_3_without_report", 3, None, []),
    ("crash_after_passing", None, r"unhandled #DE at eip=0x[0-9a-f]{8}", ["passed"]),
])
def test_crashes_suite(suites: Path, name, status, reason, outcomes) -> None:
    result = run_test(suite(suites, "crashes"), name, timeout=0.5)
    assert result.status == status
    if reason is None:
        assert result.reason is None
    else:
        assert re.fullmatch(reason, result.reason)
    assert [r.outcome for r in result.results] == outcomes


# ---- the Linux reference target ------------------------------------------------


def run_linux(exe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *args], capture_output=True, check=False, timeout=120)


def test_linux_target_prints_the_same_report(suites: Path) -> None:
    exe = suites / "suite_asserts.linux"
    if run_linux(exe, "hv.test=comparisons_hold").returncode != 0:
        pytest.skip("this host cannot run i386 Linux programs")
    failing = run_linux(exe, "hv.test=eq_int")
    assert failing.returncode == 1
    assert failing.stdout == run_test(suite(suites, "asserts"), "eq_int").console
    skipped = run_linux(exe, "hv.test=skip_message")
    assert skipped.returncode == 0 and skipped.stdout.startswith(b"SKIP skip_message: ")
    unknown = run_linux(exe, "hv.test=nope")
    assert (unknown.returncode, unknown.stdout) == (1, b"FAIL: no test named nope\n")
    # Every test in one run: byte for byte what the hv image prints.
    everything = run_linux(exe)
    assert everything.returncode == 1
    assert everything.stdout == run_test(suite(suites, "asserts")).console


def test_linux_demo_agrees_with_hv(suites: Path) -> None:
    exe = suites / "suite_demo.linux"
    native_run = run_linux(exe)
    if native_run.returncode not in (0, 1):
        pytest.skip("this host cannot run i386 Linux programs")
    assert native_run.stdout == run_test(suite(suites, "demo")).console


# ---- hv cc: building suites -------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@needs_gcc
@pytest.mark.usefixtures("native", "private_sdk_cache")
@pytest.mark.parametrize("opt", ["-O0", "-Os"])
def test_reports_are_the_same_at_every_level(suites: Path, tmp_path: Path, opt: str) -> None:
    source = SUITES / "asserts" / "asserts.c"
    image = cc.compile_guest([source], tmp_path / "asserts.elf",
                             [opt, "-Wall", "-Wextra", "-Werror"], capture=True)
    reference = run_test(suite(suites, "asserts"))
    result = run_test(image)
    assert result.results == reference.results
    assert result.console == reference.console


@needs_gcc
@pytest.mark.usefixtures("native", "private_sdk_cache")
def test_hv_cc_builds_a_suite_without_main(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "twice.c", "int twice(int x) { return 2 * x; }\n")
    write(tmp_path / "mytests.c", """#include <hv_test.h>
int twice(int x);
HV_TEST(doubles) { HV_ASSERT_EQ(twice(21), 42); }
HV_TEST_MARKED(doubles_wrong, "xfail") { HV_ASSERT_EQ(twice(2), 5); }
""")
    monkeypatch.chdir(tmp_path)
    assert cc.main(["-o", "mysuite.elf", "mytests.c", "twice.c"]) == 0
    assert [(d.name, d.markers) for d in read_descriptors(tmp_path / "mysuite.elf")] == [
        ("doubles", ()), ("doubles_wrong", ("xfail",))]
    assert run_test(tmp_path / "mysuite.elf", "doubles").status == 0
    (report,) = run_test(tmp_path / "mysuite.elf", "doubles_wrong").results
    assert (report.expr, report.lhs, report.rhs, report.file, report.line) == (
        "twice(2) == 5", "4", "5", "mytests.c", 4)


@needs_gcc
@pytest.mark.usefixtures("native", "private_sdk_cache")
def test_own_main_can_call_the_runner(tmp_path: Path) -> None:
    source = write(tmp_path / "m.c", """#include <hv_test.h>
int main(void)
{
    printf("%u tests\\n", (unsigned)hv_test_count());
    HV_ASSERT(hv_test_find("one") == hv_test_get(0));
    HV_ASSERT(hv_test_find("two") == NULL);
    return hv_test_main();
}
HV_TEST(one) { }
""")
    image = cc.compile_guest([source], tmp_path / "m.elf", ["-Wall", "-Wextra", "-Werror"],
                             capture=True)
    result = run_test(image)
    assert result.console == b"1 tests\nPASS one\n1 passed, 0 failed, 0 skipped\n"
    assert result.status == 0


@needs_gcc
@pytest.mark.usefixtures("private_sdk_cache")
def test_duplicate_test_names_fail_to_link(tmp_path: Path) -> None:
    text = "#include <hv_test.h>\nHV_TEST(same) { }\n"
    first, second = write(tmp_path / "a.c", text), write(tmp_path / "b.c", text)
    with pytest.raises(cc.CcError) as info:
        cc.compile_guest([first, second], tmp_path / "dup.elf", capture=True)
    assert "multiple definition of `hv_test__same'" in info.value.diagnostics
    both = write(tmp_path / "c.c", text + "HV_TEST_MARKED(same, \"slow\") { }\n")
    with pytest.raises(cc.CcError) as info:
        cc.compile_guest([both], tmp_path / "dup2.elf", capture=True)
    assert "redefinition" in info.value.diagnostics


@needs_gcc
@pytest.mark.usefixtures("private_sdk_cache")
def test_linux_target_compiles_a_suite(tmp_path: Path) -> None:
    source = write(tmp_path / "t.c", """#include <hv_test.h>
HV_TEST(first) { HV_ASSERT_EQ(1u, 1); }
HV_TEST(second) { unsigned x = 4000000000u; HV_ASSERT_EQ(x, 3); }
""")
    exe = cc.compile_guest([source], tmp_path / "t.linux", ["-Wall", "-Wextra", "-Werror"],
                           target="linux", capture=True)
    proc = run_linux(exe, "hv.test=second")
    if proc.returncode not in (0, 1):
        pytest.skip("this host cannot run i386 Linux programs")
    assert proc.returncode == 1
    assert proc.stdout == f"FAIL second: {source}:3: x == 3 (4000000000 vs 3)\n".encode()
    assert run_linux(exe).stdout.decode().splitlines() == [
        "PASS first", f"FAIL second: {source}:3: x == 3 (4000000000 vs 3)",
        "1 passed, 1 failed, 0 skipped"]


# ---- images/build.py: the suites rule --------------------------------------------


@pytest.fixture(scope="module")
def build_module():
    spec = importlib.util.spec_from_file_location("hv_images_build_suites",
                                                  IMAGES / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module    # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def test_plan_makes_one_image_per_suite_directory(tmp_path: Path, build_module) -> None:
    images = tmp_path / "images"
    (images / "suites" / "lib").mkdir(parents=True)
    (images / "suites" / "empty").mkdir()
    write(images / "suites" / "lib" / "b.c", "int b;\n")
    write(images / "suites" / "lib" / "a.c", "/* hv-cflags: -DA */\nint a;\n")
    write(images / "suites" / "lib" / "notes.txt", "not a source\n")
    jobs = build_module.plan(images)
    assert [job.name for job in jobs] == ["suite_lib.elf", "suite_lib.linux"]
    assert [path.name for path in jobs[0].inputs] == ["a.c", "b.c"]
    assert jobs[0].cflags == ("-DA",) and jobs[0].source == images / "suites" / "lib"


def test_suite_variants_must_agree(tmp_path: Path, build_module) -> None:
    images = tmp_path / "images"
    (images / "suites" / "x").mkdir(parents=True)
    write(images / "suites" / "x" / "a.c", "/* hv-variants: O0 Os */\nint a;\n")
    write(images / "suites" / "x" / "b.c", "int b;\n")
    assert [job.name for job in build_module.plan(images)] == [
        "suite_x-O0.elf", "suite_x-O0.linux", "suite_x-Os.elf", "suite_x-Os.linux"]
    write(images / "suites" / "x" / "b.c", "/* hv-variants: O2 */\nint b;\n")
    with pytest.raises(build_module.BuildError, match="disagree"):
        build_module.plan(images)


@needs_gcc
@pytest.mark.usefixtures("private_sdk_cache")
def test_build_suite_and_rebuild_when_a_file_changes(tmp_path: Path, build_module) -> None:
    images = tmp_path / "images"
    (images / "suites" / "s").mkdir(parents=True)
    write(images / "suites" / "s" / "lib.c", "int three(void) { return 3; }\n")
    write(images / "suites" / "s" / "lib.h", "int three(void);\n")
    write(images / "suites" / "s" / "tests.c",
          '#include <hv_test.h>\n#include "lib.h"\nHV_TEST(t) { HV_ASSERT_EQ(three(), 3); }\n')
    report = build_module.build_all(images, jobs=2, check=True)
    assert sorted(job.name for job in report.built) == ["suite_s.elf", "suite_s.linux"]
    assert [d.name for d in read_descriptors(images / "build" / "suite_s.elf")] == ["t"]
    assert build_module.build_all(images).built == []
    header = images / "suites" / "s" / "lib.h"
    # Newer than the outputs, however long the build took on a loaded machine.
    built = max(path.stat().st_mtime for path in (images / "build").glob("suite_s.*"))
    os.utime(header, (built + 10,) * 2)
    assert len(build_module.build_all(images).built) == 2
