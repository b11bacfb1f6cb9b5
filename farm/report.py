"""The report of a farm run: pytest's JUnit XML read back, and rendered as one HTML file.

`farm run` has pytest write `<run dir>/junit.xml`; every <testcase> of a
guest test carries the property `node` (the machine that ran it) and the
guest console in <system-out>; a failed guest test also carries
`hv_manifest`, its manifest in `<run dir>/manifests/` (farm/manifests.py).
`write_html` turns that into `<run dir>/report.html` with
farm/templates/report.html.j2, with the commands that replay each such
failure here (`farm replay`, `hv replay`).

Node ids.  JUnit XML has no node id: pytest writes the id
`images/build/suite_demo.elf::fmt_decimal_basics` as classname
`images.build.suite_demo.elf` and name `fmt_decimal_basics` (every "/" of the
path becomes "."; a ".py" suffix is dropped).  `nodeid` inverts that: the
path ends at the first component "elf" (`<path>.elf`), else at the first
component that starts with "Test" (a Python test class) or at the end
(`<path>.py`); later components are "::" parts.  This is exact for guest
suites whose path has no "." other than the one in ".elf", and for Python
test files in the usual layout.  Whatever it gets wrong, it gets wrong the same
way in every run, so `outcomes` of two runs compare correctly.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from farm.errors import FarmError

__all__ = ["OUTCOMES", "Case", "NodeSummary", "by_node", "nodeid", "outcomes", "read_junit",
           "replay_commands", "write_html"]

#: A case's outcome; the order is the one of the report's test table.  As in
#: pytest's summary line, an xfail is "xfailed" (JUnit: <skipped
#: type="pytest.xfail">) and a non-strict xpass "xpassed" (JUnit: <skipped>
#: "xfail-marked test passes unexpectedly"), not "skipped".
OUTCOMES = ("failed", "error", "xpassed", "skipped", "xfailed", "passed")
_XPASS_MESSAGE = "xfail-marked test passes unexpectedly"

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                          undefined=jinja2.StrictUndefined, autoescape=True)

# The JUnit child element of a testcase that decides its outcome, strongest first.
_RESULTS = {"failure": "failed", "error": "error", "skipped": "skipped"}


@dataclass(frozen=True)
class Case:
    """One <testcase> of a JUnit report."""

    nodeid: str
    classname: str
    name: str
    outcome: str        # one of OUTCOMES
    duration: float     # seconds
    node: str           # the "node" property; "" if the test has none
    message: str        # the failure/error/skip message
    details: str        # the traceback (pytest's longrepr text)
    console: str        # <system-out>: the guest console
    manifest: str = ""  # the "hv_manifest" property: a failed guest test's manifest, or ""


@dataclass(frozen=True)
class NodeSummary:
    """The counts of one node's tests."""

    node: str
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    duration: float     # the sum of the tests' durations, seconds
    xfailed: int = 0
    xpassed: int = 0


# ---- reading ----

def read_junit(path: str | Path) -> list[Case]:
    """The test cases of pytest's JUnit XML file `path`, in file order."""
    root = _parse(Path(path))
    return [_case(element, path, n) for n, element in enumerate(root.iter("testcase"), 1)]


def outcomes(path: str | Path) -> dict[str, str]:
    """Node id -> outcome of each test in the JUnit file `path`."""
    return {case.nodeid: case.outcome for case in read_junit(path)}


def nodeid(classname: str, name: str) -> str:
    """The pytest node id that JUnit wrote as `classname` and `name` (see the module doc)."""
    if not classname:              # a collection error: the name is the dotted path
        return _path_id(name.split("."))
    return "::".join([_path_id(classname.split(".")), name])


def _path_id(parts: list[str]) -> str:
    if "elf" in parts[1:]:
        end = parts.index("elf", 1)
        return "::".join(["/".join(parts[:end]) + ".elf", *parts[end + 1:]])
    end = next((i for i, part in enumerate(parts) if i and part.startswith("Test")), len(parts))
    return "::".join(["/".join(parts[:end]) + ".py", *parts[end:]])


def _parse(path: Path) -> ET.Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FarmError(f"{path}: cannot read the JUnit report: {exc.strerror or exc}") from None
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FarmError(f"{path}: not valid JUnit XML: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise FarmError(f"{path}: not a JUnit report (root element <{root.tag}>, "
                        "not <testsuites>)")
    return root


def _case(element: ET.Element, path: str | Path, n: int) -> Case:
    classname, name = element.get("classname", ""), element.get("name")
    if name is None:
        raise FarmError(f"{path}: testcase #{n} has no name")
    try:
        duration = float(element.get("time", "0"))
    except ValueError:
        raise FarmError(f"{path}: testcase #{n} ({name}): time is not a number: "
                        f"{element.get('time')!r}") from None
    results = [child for child in element if child.tag in _RESULTS]
    outcome = min((_outcome_of(r) for r in results), key=OUTCOMES.index, default="passed")
    first = next((r for r in results if _outcome_of(r) == outcome), None)
    return Case(nodeid=nodeid(classname, name), classname=classname, name=name,
                outcome=outcome, duration=duration, node=_property(element, "node"),
                message=first.get("message", "") if first is not None else "",
                details="\n\n".join((r.text or "").strip("\n") for r in results),
                console="".join(out.text or "" for out in element.iter("system-out")),
                manifest=_property(element, "hv_manifest"))


def _outcome_of(result: ET.Element) -> str:
    outcome = _RESULTS[result.tag]
    if outcome == "skipped" and result.get("type") == "pytest.xfail":
        return "xfailed"
    if outcome == "skipped" and result.get("message") == _XPASS_MESSAGE:
        return "xpassed"
    return outcome


def _property(element: ET.Element, name: str) -> str:
    for prop in element.iter("property"):
        if prop.get("name") == name:
            return prop.get("value", "")
    return ""


# ---- summing up ----

def by_node(cases: Iterable[Case]) -> list[NodeSummary]:
    """Per-node counts and total durations, sorted by node name (node-2 before node-10)."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.node, []).append(case)
    return [_summary(node, groups[node]) for node in sorted(groups, key=_natural)]


def _summary(node: str, cases: list[Case]) -> NodeSummary:
    count = {outcome: sum(case.outcome == outcome for case in cases) for outcome in OUTCOMES}
    return NodeSummary(node=node, tests=len(cases), passed=count["passed"],
                       failed=count["failed"], errors=count["error"], skipped=count["skipped"],
                       duration=sum(case.duration for case in cases),
                       xfailed=count["xfailed"], xpassed=count["xpassed"])


def _total(summaries: list[NodeSummary]) -> NodeSummary:
    return NodeSummary(node="all nodes", tests=sum(s.tests for s in summaries),
                       passed=sum(s.passed for s in summaries),
                       failed=sum(s.failed for s in summaries),
                       errors=sum(s.errors for s in summaries),
                       skipped=sum(s.skipped for s in summaries),
                       duration=sum(s.duration for s in summaries),
                       xfailed=sum(s.xfailed for s in summaries),
                       xpassed=sum(s.xpassed for s in summaries))


def _natural(text: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", text) if part]


# ---- HTML ----

def write_html(junit_path: str | Path, html_path: str | Path, *, title: str = "farm run",
               extra: dict[str, str] | None = None) -> list[NodeSummary]:
    """Render the JUnit file as the single-file HTML report `html_path`; the per-node summary.

    `extra` is shown as "key: value" lines in the header (the command, when
    it started, the exit code, nodes that failed, ...).
    """
    cases = read_junit(junit_path)
    summaries = by_node(cases)
    ordered = sorted(cases, key=lambda case: (OUTCOMES.index(case.outcome), case.nodeid))
    junit = str(Path(junit_path).resolve())
    html = _env.get_template("report.html.j2").render(
        title=title, extra=extra or {}, total=_total(summaries), nodes=summaries,
        cases=ordered, failures=[case for case in ordered if case.outcome in ("failed", "error")],
        junit=junit, replays={case.nodeid: replay_commands(junit, case) for case in cases
                              if case.manifest})
    try:
        Path(html_path).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise FarmError(f"{html_path}: cannot write the report: {exc.strerror or exc}") from None
    return summaries


def replay_commands(junit: str, case: Case) -> list[str]:
    """The commands that replay a failed guest test here: `farm replay ...`, `hv replay ...`."""
    from farm.manifests import replay_command

    return [replay_command(junit, case.nodeid), f"hv replay {shlex.quote(case.manifest)}"]


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    """Console text with control characters shown as #xNN, like the plugin does for XML."""
    return _CONTROL.sub(lambda m: f"#x{ord(m.group()):02X}", text.replace("\r\n", "\n"))


def _seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 60 else f"{int(value // 60)} min {value % 60:04.1f} s"


_env.filters["visible"] = _visible
_env.filters["seconds"] = _seconds
