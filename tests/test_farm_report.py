"""farm.report: pytest's JUnit XML of real guest suite runs read back, and the HTML report.

The runs are real: pytest in a subprocess on the sample suites, serial and
with pytest-xdist, and what farm.report reads is checked against what pytest
itself reported (its summary line, its collection, the testsuite attributes).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import markupsafe
import pytest

from farm.errors import FarmError
from farm.report import Case, NodeSummary, by_node, nodeid, outcomes, read_junit, write_html

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "images" / "build"
SUITES = ["images/build/suite_demo.elf", "images/build/suite_asserts.elf"]


# ---- real runs ----

@dataclass(frozen=True)
class Run:
    junit: Path
    summary: dict[str, int]        # pytest's summary line, e.g. {"passed": 2, "failed": 18}
    output: str


@pytest.fixture(scope="module")
def suites(sample_suites) -> None:
    """images/build/suite_*.elf, built and up to date (skips without gcc)."""


def _pytest(*args: str, node: str | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("HV_NODE", None)
    if node is not None:
        env["HV_NODE"] = node
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             *args, *SUITES], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _output(proc: subprocess.Popen[str]) -> str:
    stdout, stderr = proc.communicate(timeout=300)
    return stdout + stderr


def _start(junit: Path, *args: str, node: str | None = None) -> tuple[Path, subprocess.Popen[str]]:
    return junit, _pytest(f"--junitxml={junit}", *args, node=node)


def _finish(junit: Path, proc: subprocess.Popen[str]) -> Run:
    output = _output(proc)
    last = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)]
    assert last, output
    summary = {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", last[-1])}
    return Run(junit, summary, output)


@pytest.fixture(scope="module")
def runs(suites: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The two suites run three ways: the xfail-marked asserts failing (serially and
    on two xdist workers) and as marked."""
    tmp = tmp_path_factory.mktemp("runs")
    started = {"serial": _start(tmp / "serial.xml", "--runxfail", node="node-x"),
               "xdist": _start(tmp / "xdist.xml", "--runxfail", "-n", "2"),
               "marked": _start(tmp / "marked.xml", node="node-y")}     # all at once
    return {way: _finish(*run) for way, run in started.items()}


def _expected(summary: dict[str, int]) -> dict[str, int]:
    """pytest's summary counts, which the report's outcomes match one for one (JUnit
    writes xfailed and xpassed tests as skips; the report tells them apart)."""
    return {"passed": summary.get("passed", 0), "failed": summary.get("failed", 0),
            "error": summary.get("error", 0) + summary.get("errors", 0),
            "skipped": summary.get("skipped", 0), "xfailed": summary.get("xfailed", 0),
            "xpassed": summary.get("xpassed", 0)}


@pytest.mark.parametrize("way", ["serial", "xdist", "marked"])
def test_counts_match_what_pytest_reported(runs: dict[str, Run], way: str) -> None:
    run = runs[way]
    cases = read_junit(run.junit)
    expected = _expected(run.summary)
    assert {outcome: sum(c.outcome == outcome for c in cases) for outcome in expected} == expected
    suite = ET.parse(run.junit).getroot().find("testsuite")
    assert suite is not None
    [summary] = by_node(cases)
    assert (summary.tests, summary.failed, summary.errors,
            summary.skipped + summary.xfailed + summary.xpassed) == (
        int(suite.get("tests")), int(suite.get("failures")), int(suite.get("errors")),
        int(suite.get("skipped")))
    assert (summary.xfailed, summary.xpassed) == (expected["xfailed"], expected["xpassed"])
    assert summary.passed == expected["passed"]
    assert summary.duration == pytest.approx(sum(c.duration for c in cases))


def test_the_run_with_failures_has_failures(runs: dict[str, Run]) -> None:
    assert runs["serial"].summary["failed"] > 0
    assert "failed" not in runs["marked"].summary


def test_node_ids_are_the_ones_pytest_collects(suites: None, runs: dict[str, Run]) -> None:
    output = _output(_pytest("--collect-only"))
    collected = {line for line in output.splitlines() if "::" in line}
    assert any(i.startswith("images/build/suite_demo.elf::") for i in collected)
    for run in runs.values():
        assert set(outcomes(run.junit)) == collected


def test_each_test_names_the_node_that_ran_it(runs: dict[str, Run]) -> None:
    assert {c.node for c in read_junit(runs["serial"].junit)} == {"node-x"}
    assert {c.node for c in read_junit(runs["marked"].junit)} == {"node-y"}
    # Without HV_NODE, xdist workers report the host's name.
    assert [s.node for s in by_node(read_junit(runs["xdist"].junit))] == [socket.gethostname()]


def test_xdist_run_has_the_same_outcomes_as_a_serial_one(runs: dict[str, Run]) -> None:
    serial, spread = outcomes(runs["serial"].junit), outcomes(runs["xdist"].junit)
    assert spread == serial
    assert outcomes(runs["marked"].junit) != serial


def test_failures_carry_message_details_and_console(runs: dict[str, Run]) -> None:
    cases = {c.nodeid: c for c in read_junit(runs["serial"].junit)}
    case = cases["images/build/suite_asserts.elf::lt_uint64_max"]
    assert case.outcome == "failed"
    assert case.message == "HV_ASSERT failed: big < 0"
    assert "left:  18446744073709551615" in case.details
    assert case.console.startswith("FAIL lt_uint64_max: ")
    assert "big < 0" in case.console
    skip = cases["images/build/suite_demo.elf::alloc_fuzz"]
    assert (skip.outcome, skip.message) == ("skipped", "no demo.seed=N on the command line")


def test_html_shows_every_failing_console_escaped(runs: dict[str, Run], tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    extra = {"command": "farm run <suites> && more", "exit code": "1"}
    summaries = write_html(runs["serial"].junit, html_path, title="farm <run>", extra=extra)
    html = html_path.read_text()
    cases = read_junit(runs["serial"].junit)
    assert summaries == by_node(cases)
    failing = [c for c in cases if c.outcome in ("failed", "error")]
    assert failing
    for case in failing:
        assert case.console
        assert str(markupsafe.escape(case.console)) in html
        assert str(markupsafe.escape(case.details)) in html
    assert "big &lt; 0 (18446744073709551615 vs 0)" in html
    assert "big < 0" not in html
    assert "<title>farm &lt;run&gt;</title>" in html
    assert "farm run &lt;suites&gt; &amp;&amp; more" in html
    assert "<script" not in html and "http" not in html


def test_html_lists_failures_first(runs: dict[str, Run], tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    write_html(runs["serial"].junit, html_path)
    table = html_path.read_text().split("<h2>Tests</h2>")[1].split("<h2>Failures</h2>")[0]
    shown = re.findall(r'<td class="outcome (\w+)">', table)
    assert len(shown) == len(read_junit(runs["serial"].junit))
    assert shown == sorted(shown, key=["failed", "error", "skipped", "passed"].index)


# ---- handcrafted reports ----

TWO_NODES = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="2" skipped="2"
  tests="8" time="9.9">
<testcase classname="s.a.elf" name="one" time="1.5">
  <properties><property name="node" value="node-10" /></properties>
  <system-out>PASS one</system-out></testcase>
<testcase classname="s.a.elf" name="two" time="2.25">
  <properties><property name="node" value="node-10" /></properties>
  <failure message="x &lt; 1">a.c:3: x &lt; 1</failure>
  <system-out>FAIL two: x &lt; 1 &amp; y&#133;
</system-out></testcase>
<testcase classname="s.a.elf" name="three" time="0.25">
  <properties><property name="node" value="node-2" /></properties>
  <skipped type="pytest.xfail" message="known" /></testcase>
<testcase classname="s.a.elf" name="four" time="0.5">
  <properties><property name="other" value="x" /><property name="node" value="node-2" />
  </properties>
  <failure message="call">call failed</failure>
  <error message="failed on teardown with &quot;boom&quot;">teardown trace</error></testcase>
<testcase classname="s.a.elf" name="five" time="1">
  <properties><property name="node" value="node-2" /></properties>
  <error message="failed on setup with &quot;no&quot;">setup trace</error></testcase>
<testcase classname="s.a.elf" name="six" time="0.125">
  <properties><property name="node" value="node-2" /></properties>
  <skipped type="pytest.skip" message="later">a.c:9: later</skipped></testcase>
<testcase classname="s.a.elf" name="seven" time="0.125">
  <properties><property name="node" value="node-2" /></properties></testcase>
<testcase classname="" name="s.broken.elf" time="0.000">
  <error message="collection failure">s/broken.elf: no .hv_tests section</error></testcase>
</testsuite></testsuites>
"""


@pytest.fixture
def two_nodes(tmp_path: Path) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(TWO_NODES)
    return path


def test_handcrafted_two_nodes_sum_per_node(two_nodes: Path) -> None:
    assert by_node(read_junit(two_nodes)) == [
        NodeSummary("", tests=1, passed=0, failed=0, errors=1, skipped=0, duration=0.0),
        NodeSummary("node-2", tests=5, passed=1, failed=1, errors=1, skipped=1, duration=2.0,
                    xfailed=1),
        NodeSummary("node-10", tests=2, passed=1, failed=1, errors=0, skipped=0, duration=3.75),
    ]


def test_handcrafted_cases(two_nodes: Path) -> None:
    cases = {c.name: c for c in read_junit(two_nodes)}
    assert cases["two"] == Case(
        nodeid="s/a.elf::two", classname="s.a.elf", name="two", outcome="failed",
        duration=2.25, node="node-10", message="x < 1", details="a.c:3: x < 1",
        console="FAIL two: x < 1 & y\x85\n")
    # A failed test whose teardown errs too is a failure, with both tracebacks.
    assert cases["four"].outcome == "failed"
    assert cases["four"].message == "call"
    assert cases["four"].details == "call failed\n\nteardown trace"
    assert cases["five"].message == 'failed on setup with "no"'
    assert cases["s.broken.elf"].nodeid == "s/broken.elf"
    assert outcomes(two_nodes) == {
        "s/a.elf::one": "passed", "s/a.elf::two": "failed", "s/a.elf::three": "xfailed",
        "s/a.elf::four": "failed", "s/a.elf::five": "error", "s/a.elf::six": "skipped",
        "s/a.elf::seven": "passed", "s/broken.elf": "error"}


def test_handcrafted_html(two_nodes: Path, tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    write_html(two_nodes, html_path, extra={"bad nodes": "node-3"})
    html = html_path.read_text()
    assert "FAIL two: x &lt; 1 &amp; y#x85\n" in html          # C1 control shown as #xNN
    assert "\x85" not in html
    assert "<dt>bad nodes</dt><dd>node-3</dd>" in html
    assert html.index("<td>node-2</td>") < html.index("<td>node-10</td>")
    assert html.index('id="case-') > html.index("<h2>Failures</h2>")
    assert html.count('class="failure"') == 4                # two, four, five, broken


@pytest.mark.parametrize("classname, name, expected", [
    ("images.build.suite_demo.elf", "fmt_decimal_basics",
     "images/build/suite_demo.elf::fmt_decimal_basics"),
    ("suite.elf", "t", "suite.elf::t"),
    ("", "images.build.hello.elf", "images/build/hello.elf"),
    ("tests.test_x", "test_y[a.b::c]", "tests/test_x.py::test_y[a.b::c]"),
    ("tests.test_x.TestZ", "test_y", "tests/test_x.py::TestZ::test_y"),
    ("", "tests.test_x", "tests/test_x.py"),
])
def test_nodeid_inverts_what_junit_writes(classname: str, name: str, expected: str) -> None:
    assert nodeid(classname, name) == expected


# ---- mistakes ----

@pytest.mark.parametrize("text, message", [
    ("", "not valid JUnit XML: no element found"),
    ("<testsuites><testsuite>", "not valid JUnit XML: no element found"),
    ("<html></html>", "not a JUnit report (root element <html>, not <testsuites>)"),
    ('<testsuite><testcase classname="a" /></testsuite>', "testcase #1 has no name"),
    ('<testsuite><testcase name="t" time="soon" /></testsuite>',
     "testcase #1 (t): time is not a number: 'soon'"),
])
def test_malformed_junit_is_one_line_naming_the_file(tmp_path: Path, text: str,
                                                     message: str) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(text)
    with pytest.raises(FarmError) as info:
        read_junit(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_missing_junit_names_the_file_and_writes_no_html(tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    with pytest.raises(FarmError) as info:
        write_html(tmp_path / "junit.xml", html_path)
    assert str(info.value) == (f"{tmp_path / 'junit.xml'}: cannot read the JUnit report: "
                               "No such file or directory")
    assert not html_path.exists()
    with pytest.raises(FarmError, match=r"junit\.xml: cannot read"):
        outcomes(tmp_path / "junit.xml")


def test_an_xpass_is_told_from_a_skip(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text('''<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="0" skipped="2"
  tests="2" time="0.1">
<testcase classname="s.a.elf" name="lucky" time="0.1">
  <skipped message="xfail-marked test passes unexpectedly" /></testcase>
<testcase classname="s.a.elf" name="later" time="0.0">
  <skipped type="pytest.skip" message="later">a.c:9: later</skipped></testcase>
</testsuite></testsuites>
''')
    assert outcomes(junit) == {"s/a.elf::lucky": "xpassed", "s/a.elf::later": "skipped"}
    [summary] = by_node(read_junit(junit))
    assert (summary.skipped, summary.xpassed, summary.xfailed) == (1, 1, 0)
    html = tmp_path / "report.html"
    write_html(junit, html)
    assert "1 skipped</span>" in html.read_text() and "1 xpassed</span>" in html.read_text()
