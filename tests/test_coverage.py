"""Guest code coverage (hv.coverage): hv run --coverage and pytest --hv-cov.

The guests are built with `hv cc -g -O0`, so that every marked source line
has instructions of its own.  Lines are found by the markers in their
comments: RUN ran, NOT-RUN did not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hv
from hv import cc, coverage

pytest_plugins = ["pytester"]

PROGRAM = r"""
#include <hv_guest.h>

static int classify(int x)
{
    if (x > 100) {
        printf("big\n");            /* NOT-RUN big */
        return 1;                   /* NOT-RUN big */
    }
    printf("small\n");              /* RUN small */
    return 0;
}

int main(void)
{
    int n = 0;
    for (int k = 0; k < 3; k++)
        n += classify(k);           /* RUN loop */
    return n;
}
"""

SUITE = r"""
#include <hv_test.h>

static volatile int seen;

static void branch(int x)
{
    if (x) {
        seen = 1;                   /* ONLY-A */
    } else {
        seen = 2;                   /* ONLY-B */
    }
}

HV_TEST(a) { branch(1); }
HV_TEST(b) { branch(0); }
"""

# A store outside guest RAM faults mid-block and kills the guest: the rest
# of that block must not count as run.
FAULT = r"""
#include <hv_guest.h>

volatile int x;

int main(void)
{
    x = 1;                                  /* RUN before */
    *(volatile int *)0xf0000000u = 5;       /* RUN fault */
    x = 2;                                  /* NOT-RUN after */
    x = 3;                                  /* NOT-RUN after */
    return x;
}
"""


def _line(source: str, marker: str) -> int:
    for no, text in enumerate(source.splitlines(), 1):
        if marker in text:
            return no
    raise AssertionError(f"no {marker!r} in the source")


def _lines(source: str, marker: str) -> list[int]:
    return [no for no, text in enumerate(source.splitlines(), 1) if marker in text]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    try:
        from hv import _native  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"hv._native is not built: {exc}")
    work = tmp_path_factory.mktemp("coverage")
    out = {}
    for name, text in (("program", PROGRAM), ("suite", SUITE), ("fault", FAULT)):
        src = work / f"{name}.c"
        src.write_text(text)
        cc.compile_guest([src], work / f"{name}.elf", ["-g", "-O0"], capture=True)
        out[name] = work / f"{name}.elf"
        out[name + "_src"] = src
    return out


def _file(lines: coverage.FileLines, src: Path) -> dict[int, int]:
    return lines[os.path.normpath(str(src))]


def test_hv_run_coverage_marks_the_lines_that_ran(built, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "hv", "run", "--coverage", str(tmp_path / "cov"),
                           str(built["program"])], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(hv.__file__).parent.parent)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "small\n" * 3
    lines = _file(coverage.read_lcov(tmp_path / "cov" / "coverage.info"), built["program_src"])
    assert lines[_line(PROGRAM, "RUN small")] == 3
    assert lines[_line(PROGRAM, "RUN loop")] == 3
    for no in _lines(PROGRAM, "NOT-RUN"):
        assert lines[no] == 0
    page = (tmp_path / "cov" / "index.html").read_text()
    assert "program.c" in page


def test_lines_without_code_are_not_in_the_report(built) -> None:
    data = coverage.start()
    try:
        hv.run(built["program"])
    finally:
        coverage.stop()
    lines = _file(coverage.all_lines(data), built["program_src"])
    assert 1 not in lines            # the blank first line
    assert _line(PROGRAM, "#include") not in lines


def test_a_block_left_part_way_counts_only_what_ran(built) -> None:
    data = coverage.start()
    try:
        ex = hv.run(built["fault"])
    finally:
        coverage.stop()
    assert ex.killed and "#PF" in ex.reason
    lines = _file(coverage.all_lines(data), built["fault_src"])
    assert lines[_line(FAULT, "RUN before")] == 1
    assert lines[_line(FAULT, "RUN fault")] == 1
    assert [lines[no] for no in _lines(FAULT, "NOT-RUN")] == [0, 0]


def _run_test(image: Path, name: str) -> coverage.Data:
    data = coverage.start()
    try:
        ex = hv.Guest(image, cmdline=f"hv.test={name}").run()
    finally:
        coverage.stop()
    assert ex.status == 0, ex.console
    return data


def test_two_runs_merge(built, tmp_path: Path) -> None:
    a = _run_test(built["suite"], "a")
    b = _run_test(built["suite"], "b")
    only_a, only_b = _line(SUITE, "ONLY-A"), _line(SUITE, "ONLY-B")
    lines_a = _file(coverage.all_lines(a), built["suite_src"])
    assert (lines_a[only_a], lines_a[only_b]) == (1, 0)
    # Through the data files, as xdist workers hand them over.
    a.save(tmp_path / "a.json")
    b.save(tmp_path / "b.json")
    merged = coverage.Data.load_all([tmp_path / "a.json", tmp_path / "b.json"])
    lines = _file(coverage.all_lines(merged), built["suite_src"])
    assert (lines[only_a], lines[only_b]) == (1, 1)
    assert lines[_line(SUITE, "if (x)")] == 2


def test_coverage_costs_nothing_to_the_result(built) -> None:
    plain = hv.run(built["program"])
    coverage.start()
    try:
        counted = hv.run(built["program"])
    finally:
        coverage.stop()
    assert (counted.status, counted.console, counted.instructions) == \
        (plain.status, plain.console, plain.instructions)


def test_pytest_hv_cov_merges_xdist_workers(built, pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    shutil.copy(built["suite"], pytester.path / "suite.elf")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", str(Path(hv.__file__).resolve().parent.parent))
    result = pytester.runpytest_subprocess(
        "-p", "hv.pytest_plugin", "-p", "no:cacheprovider", "-p", "xdist.plugin", "-n", "2",
        "--hv-cov=covdir", "suite.elf", timeout=300)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["hv coverage: *coverage.info*"])
    covdir = pytester.path / "covdir"
    lines = _file(coverage.read_lcov(covdir / "coverage.info"), built["suite_src"])
    assert (lines[_line(SUITE, "ONLY-A")], lines[_line(SUITE, "ONLY-B")]) == (1, 1)
    assert not list(covdir.glob(".hvcov-*.json"))       # the parts were merged away
    assert (covdir / "index.html").is_file()


def test_pytest_hv_cov_one_test(built, pytester: pytest.Pytester,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(built["suite"], pytester.path / "suite.elf")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest("-p", "hv.pytest_plugin", "-p", "no:cacheprovider",
                                "--hv-cov", "-k", "a", "suite.elf")
    result.assert_outcomes(passed=1)
    lines = _file(coverage.read_lcov(pytester.path / "hv-coverage" / "coverage.info"),
                  built["suite_src"])
    assert (lines[_line(SUITE, "ONLY-A")], lines[_line(SUITE, "ONLY-B")]) == (1, 0)


# ---- docs/debugging.md, "Coverage" ----

DOC = Path(__file__).resolve().parent.parent / "docs" / "debugging.md"


def _section() -> str:
    text = DOC.read_text()
    return text[text.index("## Coverage"):]


def test_the_console_example_of_docs_debugging_md(tmp_path: Path) -> None:
    import re

    section = _section()
    source = re.search(r"\$ cat parity\.c\n(.*?)\$ hv cc", section, re.S).group(1)
    shown = re.search(r"(SF:.*?LH:\d+)\n", section, re.S).group(1).splitlines()
    (tmp_path / "parity.c").write_text(source)
    image = cc.compile_guest([tmp_path / "parity.c"], tmp_path / "parity.elf", ["-g", "-O0"],
                             capture=True)
    data = coverage.start()
    try:
        ex = hv.run(image)
    finally:
        coverage.stop()
    assert ex.console == b"1 is odd\n"
    coverage.write_report(data, tmp_path / "cov")
    lines = coverage.read_lcov(tmp_path / "cov" / "coverage.info")[str(tmp_path / "parity.c")]
    want = [r for r in shown if r.startswith("DA:")]
    assert [f"DA:{no},{n}" for no, n in sorted(lines.items())] == want
    written = (tmp_path / "cov" / "coverage.info").read_text().split("end_of_record")
    record = next(r for r in written if f"SF:{tmp_path / 'parity.c'}" in r).split()
    assert [r for r in record if r.startswith("BR")] == [r for r in shown if r.startswith("BR")]


def test_the_python_example_of_docs_debugging_md(built, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    example = re.search(r"```python\n(.*?)```", _section(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    example = example.replace("images/build/hello.elf", str(built["program"]))
    exec(compile(example, "debugging.md", "exec"), {})
    assert (tmp_path / "cov" / "coverage.info").is_file()


def test_an_image_without_dwarf_is_named(built, tmp_path: Path) -> None:
    bare = tmp_path / "bare.elf"
    cc.compile_guest([built["program_src"]], bare, ["-O0"], capture=True)
    proc = subprocess.run([sys.executable, "-m", "hv", "run", "--coverage", str(tmp_path / "cov"),
                           str(bare)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(hv.__file__).parent.parent)})
    assert proc.returncode == 0, proc.stderr
    assert f"hv: coverage: {bare} has no DWARF line table (build it with 'hv cc -g')" in \
        proc.stderr


def _branches(info: Path, src: Path) -> dict[int, list[tuple[int, int, int]]]:
    """BRDA records of src: line -> [(block, branch, count)]."""
    out: dict[int, list[tuple[int, int, int]]] = {}
    current = False
    for text in info.read_text().splitlines():
        if text.startswith("SF:"):
            current = text[3:] == str(src)
        elif current and text.startswith("BRDA:"):
            line, block, branch, count = map(int, text[5:].split(","))
            out.setdefault(line, []).append((block, branch, count))
    return out


def test_branches_count_each_outcome_and_merge(built, tmp_path: Path) -> None:
    a = _run_test(built["suite"], "a")
    b = _run_test(built["suite"], "b")
    line = _line(SUITE, "if (x)")
    one = coverage.all_branches(a)[str(built["suite_src"])][line]
    assert [(t, n) for _, t, n in one] in ([(1, 0)], [(0, 1)])    # one way only
    a.save(tmp_path / "a.json")
    b.save(tmp_path / "b.json")
    merged = coverage.Data.load_all([tmp_path / "a.json", tmp_path / "b.json"])
    coverage.write_report(merged, tmp_path / "cov")
    assert _branches(tmp_path / "cov" / "coverage.info", built["suite_src"])[line] == \
        [(0, 0, 1), (0, 1, 1)]
    loop = _line(PROGRAM, "for (int k")
    data = coverage.start()
    try:
        hv.run(built["program"])
    finally:
        coverage.stop()
    # for (k = 0; k < 3; k++): the test runs 4 times, 3 one way and once the other.
    outcomes = coverage.all_branches(data)[str(built["program_src"])][loop]
    assert [sorted([t, n]) for _, t, n in outcomes] == [[1, 3]]
