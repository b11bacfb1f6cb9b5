"""The report of a farm run: pytest's JUnit XML read back, and rendered as one HTML file.

`farm run` has pytest write `<run dir>/junit.xml`; every <testcase> of a
guest test carries the property `node` (the machine that ran it) and the
guest console in <system-out>; a failed guest test also carries
`hv_manifest`, its manifest in `<run dir>/manifests/` (farm/manifests.py).
`write_html` turns that into `<run dir>/report.html` with
farm/templates/report.html.j2, with the commands that replay each such
failure here (`farm replay`, `hv replay`).  `farm run` also writes
`<run dir>/timeline.json` (`write_timeline`): how each node got ready and
when each test ran where; from it the report shows each node's boot,
provisioning, upload, test time and wall span, and an inline SVG chart of
tests over time per node (`timeline_svg`).

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

import json
import math
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from farm.errors import FarmError

__all__ = ["OUTCOMES", "Case", "NodeSetup", "NodeStats", "NodeSummary", "TimedTest", "Timeline",
           "by_node", "node_stats", "nodeid", "outcomes", "read_junit", "read_timeline",
           "replay_commands", "timeline_svg", "write_html", "write_timeline"]

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


# ---- the timeline (timeline.json) and per-node stats ----

TIMELINE_VERSION = 1


@dataclass(frozen=True)
class TimedTest:
    """One test on the timeline: seconds since the run started, on the controller's clock."""

    nodeid: str
    node: str
    start: float
    stop: float
    outcome: str        # one of OUTCOMES


@dataclass(frozen=True)
class NodeSetup:
    """How a node got ready for a run, as `farm run` measured it (timeline.json "nodes").

    Times are seconds; `*_start` are seconds since the run started (negative:
    before it).  `booted_now` is False for a node that was up before the run:
    its boot and provisioning then are the ones of the `farm up` (or earlier
    `farm run`) that booted it, kept in the run directory's state.json.
    """

    node: str
    kind: str = ""              # "qemu", "ssh"
    boot_how: str = ""          # "snapshot", "cold boot", "ssh host"
    booted_now: bool = False
    boot_start: float | None = None
    boot: float | None = None           # node start to its first SSH command answered
    provisioning: float | None = None   # then to ready: hv installed or checked, health check
    hv_check: float | None = None       # this run: hv checked (and installed if older)
    hv_installed: bool = False
    upload_start: float | None = None
    upload: float | None = None         # this run: mirroring the run's files
    files_sent: int = 0
    files: int = 0
    lost_at: float | None = None        # the node went down mid-run, seconds since start
    lost_why: str = ""


@dataclass(frozen=True)
class Timeline:
    """timeline.json: when the run started, each node's setup, each test."""

    started: float                      # time.time() on the controller
    nodes: dict[str, NodeSetup]
    tests: list[TimedTest]


def write_timeline(path: str | Path, timeline: Timeline) -> None:
    """Write `timeline` as timeline.json (docs/report.md has the format)."""
    nodes = {}
    for name, setup in timeline.nodes.items():
        entry = {k: v for k, v in asdict(setup).items() if k != "node"}
        nodes[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in entry.items()}
    doc = {"version": TIMELINE_VERSION, "started": timeline.started, "nodes": nodes,
           "fields": ["nodeid", "node", "start", "stop", "outcome"],
           "tests": [[t.nodeid, t.node, round(t.start, 4), round(t.stop, 4), t.outcome]
                     for t in timeline.tests]}
    try:
        Path(path).write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    except OSError as exc:
        raise FarmError(f"{path}: cannot write the timeline: {exc.strerror or exc}") from None


def read_timeline(path: str | Path) -> Timeline:
    """timeline.json read back; FarmError naming the file when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FarmError(f"{path}: cannot read the timeline: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise FarmError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != TIMELINE_VERSION:
        got = doc.get("version") if isinstance(doc, dict) else None
        raise FarmError(f"{path}: timeline version {got!r}, expected {TIMELINE_VERSION}")
    known = {f.name for f in fields(NodeSetup)} - {"node"}
    try:
        nodes = {str(name): NodeSetup(str(name), **{k: v for k, v in entry.items() if k in known})
                 for name, entry in doc.get("nodes", {}).items()}
        tests = [TimedTest(str(t[0]), str(t[1]), float(t[2]), float(t[3]), str(t[4]))
                 for t in doc.get("tests", [])]
        started = float(doc.get("started", 0.0))
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        raise FarmError(f"{path}: malformed timeline: {exc}") from None
    return Timeline(started, nodes, tests)


@dataclass(frozen=True)
class NodeStats:
    """A Nodes-table row's times: the node's setup and its tests' span."""

    node: str
    setup: NodeSetup
    tests: int                  # tests on the timeline
    test_time: float            # the sum of its tests' JUnit durations
    first_start: float | None   # its first test's start, seconds since the run started
    last_stop: float | None

    @property
    def wall_span(self) -> float | None:
        if self.first_start is None or self.last_stop is None:
            return None
        return self.last_stop - self.first_start


def node_stats(summaries: list[NodeSummary], timeline: Timeline | None) -> list[NodeStats]:
    """Per-node times, for the nodes of `summaries` and any other node the timeline
    names (a node that ran nothing), in the order of by_node."""
    timeline = timeline or Timeline(0.0, {}, [])
    spans: dict[str, list[float]] = {}
    for t in timeline.tests:
        span = spans.setdefault(t.node, [t.start, t.stop, 0])
        span[0], span[1], span[2] = min(span[0], t.start), max(span[1], t.stop), span[2] + 1
    test_time = {s.node: s.duration for s in summaries}
    names = set(test_time) | set(spans) | set(timeline.nodes)
    out = []
    for name in sorted(names, key=_natural):
        span = spans.get(name)
        out.append(NodeStats(name, timeline.nodes.get(name, NodeSetup(name)),
                             int(span[2]) if span else 0, test_time.get(name, 0.0),
                             span[0] if span else None, span[1] if span else None))
    return out


# ---- the chart ----

CHART_WIDTH = 760
_LEFT, _RIGHT, _TOP, _LANE, _AXIS = 110, 60, 30, 34, 42
BUCKETS = 200       # at most this many steps per node's line, and failure ticks per node
_FAILING = ("failed", "error")


def _ticks(span: float) -> tuple[float, list[float]]:
    """A round step (1, 2 or 5 times a power of ten) giving 4 to 10 ticks over `span`."""
    step = 10.0 ** math.floor(math.log10(span / 5)) if span > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 10:
            step *= factor
            break
    return step, [k * step for k in range(int(span / step + 1e-9) + 1)]


def _tick_label(value: float) -> str:
    return f"{round(value, 6):g} s"


def timeline_svg(timeline: Timeline | None, stats: list[NodeStats]) -> Markup:
    """The inline SVG chart of the report: one lane per node, x = seconds since the
    run started; a step line of the node's completed tests (bucketed, so its size
    does not grow with the number of tests), red ticks where tests failed, shaded
    boot / provisioning / upload phases, and a cross where a node was lost."""
    timeline = timeline or Timeline(0.0, {}, [])
    names = [s.node for s in stats]
    per_node: dict[str, list[TimedTest]] = {name: [] for name in names}
    for t in timeline.tests:
        per_node.setdefault(t.node, []).append(t)
    names = sorted(per_node, key=_natural)
    setups = {s.node: s.setup for s in stats}
    ends = [t.stop for t in timeline.tests]
    for setup in setups.values():
        if setup.lost_at is not None:
            ends.append(setup.lost_at)
        if setup.upload_start is not None:
            ends.append(setup.upload_start + (setup.upload or 0))
        if setup.booted_now and setup.boot_start is not None:
            ends.append(setup.boot_start + (setup.boot or 0) + (setup.provisioning or 0))
    span = max([1.0, *ends])
    step, ticks = _ticks(span)
    if ticks[-1] < span - 1e-9:                # the axis ends on a round tick
        ticks.append(ticks[-1] + step)
    span = ticks[-1]
    plot_w = CHART_WIDTH - _LEFT - _RIGHT
    height = _TOP + _LANE * max(1, len(names)) + _AXIS
    most = max([len(v) for v in per_node.values()] + [1])

    def x(t: float) -> float:
        return round(_LEFT + max(0.0, min(t, span)) / span * plot_w, 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{CHART_WIDTH}" '
           f'height="{height}" viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
           f'font-family="sans-serif" font-size="11">',
           "<title>tests completed over time, per node</title>"]
    out += _legend()
    bottom = _TOP + _LANE * max(1, len(names))
    for tick in ticks:
        out.append(f'<line class="grid" x1="{x(tick)}" y1="{_TOP}" x2="{x(tick)}" '
                   f'y2="{bottom}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{x(tick)}" y="{bottom + 14}" text-anchor="middle">'
                   f'{_tick_label(tick)}</text>')
    out.append(f'<text class="axis" x="{_LEFT + plot_w / 2}" y="{bottom + 32}" '
               'text-anchor="middle">time since the run started</text>')
    if not names:
        out.append(f'<text x="{_LEFT + plot_w / 2}" y="{_TOP + _LANE / 2 + 4}" '
                   'text-anchor="middle" fill="#666">no test ran</text>')
    for row, name in enumerate(names):
        top = _TOP + row * _LANE
        out += _lane(name, per_node[name], setups.get(name, NodeSetup(name)), top, most, x,
                     span)
    out.append("</svg>")
    return Markup("\n".join(out))


def _legend() -> list[str]:
    items = [("rect", "#dbe7f5", "boot"), ("rect", "#e6dcf2", "provisioning"),
             ("rect", "#f0ead0", "file upload"), ("line", "#1f5fa8", "tests completed"),
             ("tick", "#c0182b", "failed"), ("cross", "#c0182b", "node lost")]
    out = ['<g class="legend">']
    pos = _LEFT
    for shape, colour, label in items:
        if shape == "rect":
            out.append(f'<rect x="{pos}" y="8" width="14" height="10" fill="{colour}"/>')
        elif shape == "line":
            out.append(f'<line x1="{pos}" y1="13" x2="{pos + 14}" y2="13" stroke="{colour}" '
                       'stroke-width="2"/>')
        elif shape == "tick":
            out.append(f'<line x1="{pos + 7}" y1="7" x2="{pos + 7}" y2="19" stroke="{colour}" '
                       'stroke-width="2"/>')
        else:
            out.append(_cross(pos + 7, 13, colour))
        out.append(f'<text x="{pos + 18}" y="17">{label}</text>')
        pos += 26 + 6.2 * len(label)
    out.append("</g>")
    return out


def _cross(cx: float, cy: float, colour: str) -> str:
    return (f'<path d="M{cx - 4},{cy - 4}L{cx + 4},{cy + 4}M{cx - 4},{cy + 4}L{cx + 4},{cy - 4}"'
            f' stroke="{colour}" stroke-width="2"/>')


def _lane(name: str, tests: list[TimedTest], setup: NodeSetup, top: float, most: int, x,
          span: float) -> list[str]:
    low, high = top + _LANE - 4, top + 6            # y of 0 tests and of `most` tests
    failing = sum(t.outcome in _FAILING for t in tests)
    out = [f'<g class="series" data-node="{escape(name)}" data-tests="{len(tests)}" '
           f'data-failed="{failing}">',
           f'<text x="{_LEFT - 6}" y="{top + _LANE / 2 + 4}" text-anchor="end">'
           f'{escape(name or "(no node)")}</text>',
           f'<line x1="{_LEFT}" y1="{low}" x2="{x(span)}" y2="{low}" '
           'stroke="#bbb"/>']
    phases = []
    if setup.booted_now and setup.boot_start is not None:
        boot_end = setup.boot_start + (setup.boot or 0)
        phases += [("boot", "#dbe7f5", setup.boot_start, boot_end),
                   ("provisioning", "#e6dcf2", boot_end, boot_end + (setup.provisioning or 0))]
    if setup.upload_start is not None and setup.hv_check:     # this run's hv check, just before
        phases.append(("hv installed" if setup.hv_installed else "hv check", "#e6dcf2",
                       setup.upload_start - setup.hv_check, setup.upload_start))
    if setup.upload_start is not None:
        phases.append(("file upload", "#f0ead0", setup.upload_start,
                       setup.upload_start + (setup.upload or 0)))
    for label, colour, start, stop in phases:
        if stop > start:
            out.append(f'<rect class="phase" x="{x(start)}" y="{high}" '
                       f'width="{max(0.5, round(x(stop) - x(start), 1))}" height="{low - high}" '
                       f'fill="{colour}"><title>{escape(name)}: {label} '
                       f'{stop - start:.1f} s</title></rect>')
    if tests:
        stops = sorted(t.stop for t in tests)
        width = span / BUCKETS
        counts: dict[int, int] = {}
        fails: dict[int, int] = {}
        for t in tests:
            k = min(BUCKETS - 1, int(max(0.0, t.stop) / width))
            counts[k] = counts.get(k, 0) + 1
            if t.outcome in _FAILING:
                fails[k] = fails.get(k, 0) + 1
        done = 0
        first = min(counts)
        path = [f"M{x(first * width)},{low}"]
        for k in sorted(counts):
            done += counts[k]
            y = round(low - (low - high) * done / most, 1)
            path.append(f"H{x((k + 1) * width)}V{y}")
        out.append(f'<path class="tests" d="{"".join(path)}" fill="none" stroke="#1f5fa8" '
                   f'stroke-width="1.5"><title>{escape(name)}: {len(tests)} tests, '
                   f'{stops[0]:.1f} s to {stops[-1]:.1f} s</title></path>')
        for k in sorted(fails):
            out.append(f'<line class="fail" x1="{x((k + 0.5) * width)}" y1="{high}" '
                       f'x2="{x((k + 0.5) * width)}" y2="{low}" stroke="#c0182b" '
                       f'stroke-width="1.5"><title>{fails[k]} failed</title></line>')
    out.append(f'<text x="{x(span) + 6}" y="{top + _LANE / 2 + 4}">{len(tests)}</text>')
    if setup.lost_at is not None:
        out.append(f'<g class="lost">{_cross(x(setup.lost_at), (low + high) / 2, "#c0182b")}'
                   f'<title>{escape(name)} lost at {setup.lost_at:.1f} s: '
                   f'{escape(setup.lost_why)}</title></g>')
    out.append("</g>")
    return out


# ---- HTML ----

def write_html(junit_path: str | Path, html_path: str | Path, *, title: str = "farm run",
               extra: dict[str, str] | None = None,
               timeline: Timeline | str | Path | None = None) -> list[NodeSummary]:
    """Render the JUnit file as the single-file HTML report `html_path`; the per-node summary.

    `extra` is shown as "key: value" lines in the header (the command, when
    it started, the exit code, nodes that failed, ...).  `timeline` (a
    Timeline or a timeline.json) adds each node's boot, provisioning, upload,
    test time and wall span to the Nodes table, and the chart of tests over time.
    """
    cases = read_junit(junit_path)
    if timeline is not None and not isinstance(timeline, Timeline):
        timeline = read_timeline(timeline)
    summaries = by_node(cases)
    stats = node_stats(summaries, timeline)
    counts = {s.node: s for s in summaries}
    rows = [(counts.get(st.node) or NodeSummary(st.node, 0, 0, 0, 0, 0, 0.0), st)
            for st in stats]
    ordered = sorted(cases, key=lambda case: (OUTCOMES.index(case.outcome), case.nodeid))
    junit = str(Path(junit_path).resolve())
    html = _env.get_template("report.html.j2").render(
        title=title, extra=extra or {}, total=_total(summaries), nodes=summaries, rows=rows,
        timed=timeline is not None, chart=timeline_svg(timeline, stats) if timeline else "",
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


def _short(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {value % 60:04.1f} s"


_HOW = {"snapshot": "from a snapshot", "cold boot": "cold boot"}


def time_cells(st: NodeStats) -> dict[str, tuple[str, str]]:
    """The Nodes table's time cells of one node: column -> (value, note under it)."""
    setup = st.setup
    how = _HOW.get(setup.boot_how, setup.boot_how)
    if setup.kind == "qemu" and setup.booted_now and setup.boot is not None:
        boot = (_short(setup.boot), how)
    elif setup.kind == "qemu":
        boot = ("already up", f"booted in {_short(setup.boot)}, {how}" if setup.boot is not None
                else "")
    elif setup.kind == "ssh":
        boot = ("\N{EM DASH}", "SSH host, not booted by farm")
    else:
        boot = ("\N{EM DASH}", "")
    check = setup.hv_check or 0.0
    if setup.booted_now and setup.provisioning is not None:
        prov = (_short(setup.provisioning + check),
                "newer hv installed" if setup.hv_installed else
                (f"incl. the run's hv check, {_short(check)}" if setup.hv_check is not None
                 else ""))
    elif setup.hv_installed:
        prov = (_short(check), "newer hv installed")
    elif setup.kind:
        prov = ("already up", f"hv checked in {_short(check)}" if setup.hv_check is not None
                else "")
    else:
        prov = ("\N{EM DASH}", "")
    upload = ((_short(setup.upload), f"{setup.files_sent} of {setup.files} files sent")
              if setup.upload is not None else ("\N{EM DASH}", ""))
    span = st.wall_span
    wall = ((_short(span), f"{st.first_start:.1f} s to {st.last_stop:.1f} s")
            if span is not None else ("\N{EM DASH}", ""))
    return {"boot": boot, "provisioning": prov, "upload": upload, "wall span": wall}


_env.filters["visible"] = _visible
_env.filters["seconds"] = _seconds
_env.globals["time_cells"] = time_cells
