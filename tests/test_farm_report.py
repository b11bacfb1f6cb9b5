"""farm.report: pytest's JUnit XML of real guest suite runs read back, and the HTML report.

The runs are real: pytest in a subprocess on the sample suites, serial and
with pytest-xdist, and what farm.report reads is checked against what pytest
itself reported (its summary line, its collection, the testsuite attributes).
"""

from __future__ import annotations

import json
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
from farm.report import (
    BUCKETS,
    Case,
    NodeSetup,
    NodeSummary,
    TimedTest,
    Timeline,
    by_node,
    node_stats,
    nodeid,
    outcomes,
    read_junit,
    read_timeline,
    time_cells,
    timeline_svg,
    write_html,
    write_timeline,
)

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


# ---- per-node times and the chart (timeline.json) ----

SVG = "{http://www.w3.org/2000/svg}"


def _timeline(tests: list[tuple[str, str, float, float, str]],
              nodes: dict[str, NodeSetup] | None = None) -> Timeline:
    return Timeline(1_700_000_000.0, nodes or {}, [TimedTest(*t) for t in tests])


def _series(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)                  # well-formed, or this raises
    assert root.tag == f"{SVG}svg"
    found = [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]
    by_name = {g.get("data-node"): g for g in found}
    assert len(by_name) == len(found), "one series per node"
    return by_name


SETUPS = {
    "node-1": NodeSetup("node-1", kind="qemu", boot_how="snapshot", booted_now=True,
                        boot_start=0.5, boot=1.25, provisioning=2.0, hv_check=0.25,
                        upload_start=4.0, upload=0.5, files_sent=3, files=7),
    "node-2": NodeSetup("node-2", kind="qemu", boot_how="cold boot", booted_now=False,
                        boot_start=-600.0, boot=31.5, provisioning=4.0, hv_check=0.5,
                        upload_start=4.0, upload=0.75, files_sent=0, files=7,
                        lost_at=9.5, lost_why="connection lost"),
    "host-a": NodeSetup("host-a", kind="ssh", boot_how="ssh host", booted_now=False,
                        hv_check=3.0, hv_installed=True, upload_start=4.0, upload=1.0,
                        files_sent=7, files=7),
}
TESTS = [("s.elf::a", "node-1", 5.0, 6.0, "passed"), ("s.elf::b", "node-1", 6.0, 8.5, "failed"),
         ("s.elf::c", "node-2", 5.5, 7.0, "passed"), ("s.elf::d", "node-2", 7.0, 9.0, "xfailed")]


def test_node_stats_sum_each_nodes_span_and_keep_idle_nodes() -> None:
    summaries = [NodeSummary("node-1", 2, 1, 1, 0, 0, 3.25), NodeSummary("node-2", 2, 1, 0, 0, 0,
                                                                        3.5)]
    stats = node_stats(summaries, _timeline(TESTS, SETUPS))
    assert [s.node for s in stats] == ["host-a", "node-1", "node-2"]     # host-a ran nothing
    host, one, two = stats
    assert (one.tests, one.test_time, one.first_start, one.last_stop, one.wall_span) == (
        2, 3.25, 5.0, 8.5, 3.5)
    assert (two.tests, two.first_start, two.last_stop, two.wall_span) == (2, 5.5, 9.0, 3.5)
    assert (host.tests, host.test_time, host.wall_span) == (0, 0.0, None)
    assert two.setup is SETUPS["node-2"]
    # Without a timeline: the JUnit nodes, with no times.
    [bare] = node_stats(summaries[:1], None)
    assert (bare.node, bare.tests, bare.wall_span, bare.setup) == ("node-1", 0, None,
                                                                   NodeSetup("node-1"))


def test_time_cells_say_how_each_node_got_ready() -> None:
    stats = {s.node: s for s in node_stats([], _timeline(TESTS, SETUPS))}
    assert time_cells(stats["node-1"]) == {
        "boot": ("1.2 s", "from a snapshot"),
        "provisioning": ("2.2 s", "incl. the run's hv check, 0.2 s"),
        "upload": ("0.5 s", "3 of 7 files sent"),
        "wall span": ("3.5 s", "5.0 s to 8.5 s")}
    two = time_cells(stats["node-2"])             # up before the run: no fake zeros
    assert two["boot"] == ("already up", "booted in 31.5 s, cold boot")
    assert two["provisioning"] == ("already up", "hv checked in 0.5 s")
    host = time_cells(stats["host-a"])
    assert host["boot"] == ("\N{EM DASH}", "SSH host, not booted by farm")
    assert host["provisioning"] == ("3.0 s", "newer hv installed")
    assert host["wall span"] == ("\N{EM DASH}", "")


def test_timeline_json_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "timeline.json"
    timeline = _timeline(TESTS, SETUPS)
    write_timeline(path, timeline)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["fields"] == ["nodeid", "node", "start", "stop", "outcome"]
    assert doc["tests"][1] == ["s.elf::b", "node-1", 6.0, 8.5, "failed"]
    assert doc["nodes"]["node-2"]["lost_at"] == 9.5 and "node" not in doc["nodes"]["node-2"]
    assert read_timeline(path) == timeline


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ('{"version": 7}', "timeline version 7, expected 1"),
    ("[]", "timeline version None, expected 1"),
    ('{"version": 1, "tests": [["a", "n", "soon", 1, "passed"]]}', "malformed timeline"),
    ('{"version": 1, "tests": [["a"]]}', "malformed timeline"),
])
def test_a_bad_timeline_is_one_line_naming_the_file(tmp_path: Path, text: str,
                                                    message: str) -> None:
    path = tmp_path / "timeline.json"
    path.write_text(text)
    with pytest.raises(FarmError) as info:
        read_timeline(path)
    assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)
    with pytest.raises(FarmError, match="cannot read the timeline: No such file"):
        read_timeline(tmp_path / "missing.json")


def test_svg_has_a_series_per_node_with_its_counts_and_the_lost_node() -> None:
    timeline = _timeline(TESTS, SETUPS)
    svg = timeline_svg(timeline, node_stats([], timeline))
    series = _series(svg)
    assert sorted(series) == ["host-a", "node-1", "node-2"]
    assert {n: (g.get("data-tests"), g.get("data-failed")) for n, g in series.items()} == {
        "host-a": ("0", "0"), "node-1": ("2", "1"), "node-2": ("2", "0")}
    classes = {n: [e.get("class") for e in g] for n, g in series.items()}
    assert classes["node-2"].count("lost") == 1 and classes["node-1"].count("lost") == 0
    assert classes["node-1"].count("fail") == 1 and classes["node-2"].count("fail") == 0
    assert classes["host-a"].count("tests") == 0        # no line for a node that ran nothing
    # node-1 was booted in this run: boot, provisioning and upload shaded; node-2 was up
    phases = {n: [e.findtext(f"{SVG}title") for e in g if e.get("class") == "phase"]
              for n, g in series.items()}
    assert phases["node-1"] == ["node-1: boot 1.2 s", "node-1: provisioning 2.0 s",
                                "node-1: hv check 0.2 s", "node-1: file upload 0.5 s"]
    assert phases["node-2"] == ["node-2: hv check 0.5 s", "node-2: file upload 0.8 s"]
    assert phases["host-a"] == ["host-a: hv installed 3.0 s", "host-a: file upload 1.0 s"]
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "time since the run started" in texts and "0 s" in texts and "10 s" in texts
    assert {"boot", "provisioning", "tests completed", "failed", "node lost"} <= set(texts)


def test_svg_step_line_climbs_to_the_node_count() -> None:
    tests = [(f"s.elf::t{k}", "node-1", k * 0.1, k * 0.1 + 0.05, "passed") for k in range(40)]
    tests.append(("s.elf::u", "node-2", 1.0, 1.5, "passed"))
    timeline = _timeline(tests)
    series = _series(timeline_svg(timeline, node_stats([], timeline)))
    path = next(e for e in series["node-1"] if e.get("class") == "tests").get("d")
    ys = [float(v) for v in re.findall(r"V([\d.]+)", path)]
    assert ys == sorted(ys, reverse=True) and len(ys) > 1      # up and up (y grows down)
    xs = [float(v) for v in re.findall(r"H([\d.]+)", path)]
    assert xs == sorted(xs)
    other = next(e for e in series["node-2"] if e.get("class") == "tests").get("d")
    one_test = float(re.findall(r"V([\d.]+)", other)[-1])
    assert one_test > ys[-1]           # one test climbs less than 40: one scale for all lanes


def test_svg_with_no_test_and_no_node() -> None:
    empty = _timeline([])
    root = ET.fromstring(timeline_svg(empty, []))
    assert _series(timeline_svg(empty, [])) == {}
    assert "no test ran" in [t.text for t in root.iter(f"{SVG}text")]


def test_svg_of_thousands_of_tests_stays_small() -> None:
    tests = [(f"s.elf::t{k}", f"node-{k % 3 + 1}", k * 0.01, k * 0.01 + 0.008,
              "failed" if k % 7 == 0 else "passed") for k in range(5000)]
    timeline = _timeline(tests)
    svg = timeline_svg(timeline, node_stats([], timeline))
    series = _series(svg)
    assert {n: int(g.get("data-tests")) for n, g in series.items()} == {
        "node-1": 1667, "node-2": 1667, "node-3": 1666}
    assert sum(int(g.get("data-failed")) for g in series.values()) == len(range(0, 5000, 7))
    for g in series.values():
        assert len(list(g.iter())) <= 2 * BUCKETS + 20     # a tick (and title) per bucket
        path = next(e for e in g if e.get("class") == "tests").get("d")
        assert path.count("V") <= BUCKETS
    assert len(svg) < 120_000


def test_html_with_a_timeline_shows_the_times_and_the_chart(two_nodes: Path,
                                                            tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    tests = [("s/a.elf::one", "node-10", 1.0, 2.5, "passed"),
             ("s/a.elf::two", "node-10", 2.5, 4.75, "failed")]
    setups = {"node-10": SETUPS["node-1"], "node-3": SETUPS["node-2"]}
    summaries = write_html(two_nodes, html_path, timeline=_timeline(tests, setups))
    assert summaries == by_node(read_junit(two_nodes))        # the JUnit nodes, as before
    html = html_path.read_text()
    table = html.split("<h2>Nodes</h2>")[1].split("<h2>Tests</h2>")[0]
    for head in ("boot", "provisioning", "file upload", "test time", "wall span"):
        assert f"<th>{head}</th>" in table
    rows = re.findall(r"<tr><td>(.*?)</tr>", table, re.S)
    assert [r.split("<", 1)[0] for r in rows] == ["(no node)", "node-2", "node-3", "node-10"]
    node10 = rows[3]
    assert '<td class="num boot">1.2 s<br><small>from a snapshot</small></td>' in node10
    assert '<td class="num test-time">3.750 s</td>' in node10
    assert '<td class="num wall-span">3.8 s<br><small>1.0 s to 4.8 s</small></td>' in node10
    node3 = rows[2]                      # ran nothing: no JUnit record, still a row
    assert "lost at\n9.5 s" in node3 and "already up" in node3
    series = _series(table[table.index("<svg"):table.index("</svg>") + 6])
    assert sorted(series) == ["", "node-10", "node-2", "node-3"]
    assert "<script" not in html


def test_html_without_a_timeline_has_no_chart(two_nodes: Path, tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    write_html(two_nodes, html_path)
    html = html_path.read_text()
    assert "<svg" not in html and "<th>boot</th>" not in html
    assert "<th>test time</th>" in html
