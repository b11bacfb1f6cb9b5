"""`farm run`: pytest on the controller, one xdist worker per node.

Each ready node gets an execnet ssh gateway built from the run directory's
ssh_config (`--tx ssh=NODE//ssh_config=...//python=...//chdir=...`).  The
files the run needs (the guest images and directories named on the command
line, plus pytest's config files) are mirrored into the node's work
directory with fabric beforehand, at the same relative paths, so node ids
are the same as in a local run.

`FarmPlugin` lives in the controller.  When a node dies mid-run it marks
the node bad in the run directory, puts the test that was running back in
the queue for another node (once), and keeps every result that already
came back.  Each test's JUnit record names the node that ran it, and
`farm.manifests.ManifestKeeper` keeps each failed guest test's manifest in
the run directory as its report arrives (`farm replay` reruns it here).
It also keeps a tuple per report (when it arrived, the worker, start, stop,
outcome), from which `farm_run` writes `<run dir>/timeline.json` at the
end, with each node's boot, provisioning and upload times (farm/report.py).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from farm import mux, provision, qemu, remote, snapshot
from farm import nodes as farm_nodes
from farm.errors import FarmError
from farm.inventory import Inventory
from farm.manifests import DIRECTORY as MANIFESTS
from farm.manifests import ManifestKeeper
from farm.report import NodeSetup, TimedTest, Timeline
from farm.state import NodeState, RunDir
from hv.pytest_plugin import NODE_ENV

__all__ = ["FarmPlugin", "farm_run", "tx_spec", "upload_set"]

DEFAULT_SUITE = "images/build/suite_demo.elf"
CONFIG_FILES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg",
                "conftest.py")
RESERVED = ("-n", "--numprocesses", "--tx", "--dist", "-d", "--junitxml", "--junit-xml",
            "--rootdir", "--rsyncdir", "--px")
# Why farm refuses an xdist or pytest option, and what to do instead.
REFUSED = {
    "--tx": "farm starts one xdist worker per node itself; choose the nodes with the "
            "inventory (-i) and -n N",
    "--dist": "farm spreads tests with --dist load, which its rescheduling of a lost "
              "node's tests relies on",
    "-d": "farm starts its workers itself (xdist's -d/--tx); choose the nodes with -n N",
    "--rootdir": "farm runs pytest with --rootdir=. so that test ids are the same on the "
                 "nodes; run farm from the directory you want as the root",
    "--rsyncdir": "farm mirrors the files a run needs itself (only what changed); name them "
                  "on the command line",
    "--px": "farm starts its workers itself; choose the nodes with -n N",
}
MAX_UPLOAD_FILES = 20000
NODE_MANIFESTS = ".hv-manifests"    # a node's own copies of the manifests, in its work dir
# pytest would rewrite the asserts of every module in hv's distribution, farm
# included; farm is already running, and its asserts need no rewriting.
QUIET = ["-W", "ignore:Module already imported so cannot be rewritten; farm"
               ":pytest.PytestAssertRewriteWarning"]


def tx_spec(run: RunDir, node: NodeState) -> str:
    """The execnet spec that starts an xdist worker on `node`: on a node restored
    from a snapshot, forked by its warm zygote (farm/warm.py), which falls back to
    the node's Python by itself."""
    python = node.python
    if node.kind == "qemu" and "snapshot" in node.extra:
        python = f"{node.python} -I -S {snapshot.WARM_CLIENT}"
    return (f"ssh={node.name}//ssh_config={run.ssh_config.resolve()}//python={python}"
            f"//chdir={node.workdir}//env:{NODE_ENV}={node.name}")


def _reserved(arg: str) -> str | None:
    for opt in RESERVED:
        if arg == opt or arg.startswith(opt + "=") or (
                len(opt) == 2 and arg.startswith(opt) and not arg.startswith("--")):
            return opt
    return None


def take_options(args: list[str]) -> tuple[list[str], int | None, str | None]:
    """The options farm run takes for itself from pytest's: (the rest, -n N as a
    node count, --junitxml PATH)."""
    rest: list[str] = []
    count: int | None = None
    junit: str | None = None
    it = iter(range(len(args)))
    for k in it:
        arg = args[k]
        opt = _reserved(arg)
        if opt is None:
            rest.append(arg)
            continue
        if opt in REFUSED:
            raise FarmError(f"farm run does not take {opt}: {REFUSED[opt]}")
        if arg == opt:                       # the value is the next argument
            if k + 1 >= len(args):
                raise FarmError(f"{opt} needs a value")
            value = args[next(it)]
        elif arg.startswith(opt + "="):
            value = arg[len(opt) + 1:]
        else:                                # -n3
            value = arg[len(opt):]
        if opt in ("-n", "--numprocesses"):
            try:
                count = int(value)
            except ValueError:
                raise FarmError(f"{opt} {value}: farm run's -n is a number of nodes (each node "
                                "runs one xdist worker); leave it out to use every ready "
                                "node, or use --local for local workers") from None
        else:
            junit = value
    return rest, count, junit


def _missing_paths(args: list[str], cwd: Path) -> list[str]:
    """Arguments that name a test path (a "/", "::", or a .elf or .py file) that
    does not exist.  (Other words are option values, such as -k's.)"""
    out = []
    for k, arg in enumerate(args):
        if arg.startswith("-") or (k and args[k - 1] in _VALUE_OPTIONS):
            continue
        path = arg.partition("::")[0]
        looks = "/" in path or "::" in arg or path.endswith((".elf", ".py"))
        if looks and not (cwd / path).exists():
            out.append(arg)
    return out


# pytest (and hv) options whose value is the next argument.
_VALUE_OPTIONS = {"-k", "-m", "-p", "-c", "-o", "-W", "--deselect", "--ignore", "--ignore-glob",
                  "--confcutdir", "--basetemp", "--hv-timeout", "--hv-switcher", "--hv-memory",
                  "--hv-cmdline", "--hv-clock", "--hv-gdb", "--hv-manifests", "-r",
                  "--maxfail", "--durations", "--tb", "--log-file", "--junit-prefix"}


def upload_set(args: list[str], cwd: Path) -> tuple[list[str], list[str]]:
    """(pytest args with paths made relative to cwd, files to mirror on nodes)."""
    out: list[str] = []
    files: set[str] = set()
    positional = False
    for arg in args:
        if arg.startswith("-"):
            out.append(arg)
            continue
        path_part, sep, rest = arg.partition("::")
        path = cwd / path_part
        if not path.exists():
            out.append(arg)
            continue
        positional = True
        full = path.resolve()
        try:
            rel = full.relative_to(cwd.resolve())
        except ValueError:
            raise FarmError(f"{arg}: outside the current directory {cwd}; nodes mirror the "
                            "current directory, so run farm from a directory that holds it"
                            ) from None
        out.append(str(rel) + sep + rest)
        files |= _files_under(full, cwd.resolve())
    if not positional and (cwd / DEFAULT_SUITE).exists():
        out.append(DEFAULT_SUITE)
        files.add(DEFAULT_SUITE)
    for name in CONFIG_FILES:
        if (cwd / name).is_file():
            files.add(name)
    if len(files) > MAX_UPLOAD_FILES:
        raise FarmError(f"the paths given hold {len(files)} files (more than "
                        f"{MAX_UPLOAD_FILES}); name the suites to run more narrowly")
    return out, sorted(files)


def _files_under(path: Path, cwd: Path) -> set[str]:
    if path.is_file():
        return {str(path.relative_to(cwd))}
    found = set()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        for name in filenames:
            if not name.startswith(".") and not name.endswith(".pyc"):
                found.add(str((Path(dirpath) / name).relative_to(cwd)))
    return found


class FarmPlugin:
    """Controller-side pytest plugin for a farm run (see the module docstring)."""

    def __init__(self, run: RunDir, nodes: dict[str, NodeState]):
        self.run = run
        self.nodes = nodes
        self.rescheduled: set[str] = set()
        self.finished: set[tuple[str, str]] = set()   # (nodeid, worker id) outcome reported
        self._open: set[tuple[str, str]] = set()      # of those, no teardown report yet
        self.already_reported: set[str] = set()
        self.ran: Counter[str] = Counter()
        self.lost: dict[str, str] = {}
        self.config: pytest.Config | None = None
        self._restore = None
        # One tuple per report as it arrives (the timeline is made of them at the end):
        # (arrival, worker, nodeid, when, outcome, xfail-marked, start, stop, properties).
        self.reports: list[tuple] = []
        self.down_at: dict[str, float] = {}   # node -> time.time() it was seen lost
        # Nodes lost but not yet marked bad in state.json, and the tests finished
        # since it was last written (see _save_bad).
        self._unsaved: dict[str, str] = {}
        self._since_saved = float("inf")

    def _say(self, text: str) -> None:
        tr = self.config.pluginmanager.getplugin("terminalreporter") if self.config else None
        if tr is not None:
            tr.write_line(text, yellow=True)
        else:
            print(text, file=sys.stderr)

    @staticmethod
    def _node_of(worker: object) -> str:
        spec = getattr(getattr(worker, "gateway", None), "spec", None)
        return getattr(spec, "env", {}).get(NODE_ENV, "") if spec is not None else ""

    @pytest.hookimpl
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl
    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: list) -> None:
        self._send_args_as_given()
        dsession = config.pluginmanager.getplugin("dsession")
        self._start_gateways_together(getattr(dsession, "nodemanager", None), specs)
        if dsession is None or not hasattr(dsession, "_clone_node"):
            return
        original = dsession._clone_node

        def clone(worker):
            # xdist replaces a crashed worker with a new one on the same spec.  For a
            # node that is gone that cannot work: its tests go to the other nodes.
            name = self._node_of(worker)
            node = self.nodes.get(name)
            if node is None or _reachable(node):
                try:
                    return original(worker)
                except Exception as exc:          # execnet could not reach it
                    self._say(f"farm: cannot restart a worker on {name}: "
                              f"{remote.one_line(exc)}")
            else:
                self._say(f"farm: {name} is gone; its remaining tests run on the other nodes")
            replacement = self._substitute(dsession, original)
            if replacement is None:
                if dsession._active_nodes <= {worker}:
                    self._no_node_left(dsession)
                else:
                    self._one_collection_fewer(dsession, worker)
            return replacement

        dsession._clone_node = clone

    @staticmethod
    def _start_gateways_together(manager, specs: list) -> None:
        """Start every node's Python at once, and copy nothing into the nodes.

        xdist starts the workers' gateways one after the other (an SSH login and a
        Python start on each node, about a second on an emulated one), and copies
        pytest itself into each node's directory first ("rsync roots").  farm's
        nodes hold pytest, pytest-xdist and execnet at the controller's versions
        (pinned when the node image or an SSH host's venv is made) and farm sends
        the run's files itself, so the copy only cost time; the gateways start in
        parallel here and xdist takes them as they come.
        """
        if manager is None or not hasattr(manager, "group") or not hasattr(manager, "roots"):
            return
        manager.roots = []
        specs = [spec for spec in specs if getattr(spec, "id", None)]
        if len(specs) < 2:
            return
        group = manager.group
        make = group.makegateway

        def start(spec):
            try:
                return make(spec)
            except Exception as exc:    # xdist reports it when it asks for this gateway
                return exc

        with ThreadPoolExecutor(max_workers=min(len(specs), 32)) as pool:
            started = dict(zip((spec.id for spec in specs), pool.map(start, specs),
                               strict=True))

        def makegateway(spec=None):
            gateway = started.pop(getattr(spec, "id", None), None)
            if gateway is None:
                return make(spec)       # a replacement worker, later in the run
            if isinstance(gateway, Exception):
                raise gateway
            return gateway

        group.makegateway = makegateway

    @staticmethod
    def _one_collection_fewer(dsession, worker) -> None:
        """A node lost before its collection arrived, with no worker to stand in.

        xdist hands out tests once every node's collection is in, and would wait
        for this one for ever: it waits for one fewer (and, if the others are in,
        hands them out now).
        """
        sched = dsession.sched
        if (sched is None or getattr(sched, "collection", True) is not None
                or not isinstance(getattr(sched, "numnodes", None), int)
                or worker in getattr(sched, "node2collection", {worker: None})):
            return
        sched.numnodes -= 1
        if sched.node2collection and sched.collection_is_completed and not dsession.shuttingdown:
            sched.schedule()

    def _no_node_left(self, dsession) -> None:
        """Every node is gone: the tests still waiting fail, and the run ends."""
        sched = dsession.sched
        waiting = [sched.collection[i] for i in sched.pending] if sched.collection else []
        sched.pending[:] = []
        self._say(f"farm: no node is left; {len(waiting)} tests cannot run")
        for nodeid in waiting:
            path = nodeid.split("::")[0]
            rep = pytest.TestReport(nodeid=nodeid, location=(path, None, path), keywords={},
                                    outcome="failed", when="call",
                                    longrepr="not run: every farm node was lost (see farm status)")
            self.config.hook.pytest_runtest_logreport(report=rep)
        dsession.triggershutdown()             # with no worker left, the session ends

    def _send_args_as_given(self) -> None:
        # xdist maps existing paths onto rsync roots for remote workers and refuses
        # paths outside them.  farm mirrors the current directory with fabric instead
        # (rsync is deprecated), so the args go to the nodes as they are, but for
        # the --tx of every node: a worker does not use them, and each worker
        # getting all of them grew with nodes x nodes.
        # (Every worker gets the same args: they are filtered once.)
        from xdist import workermanage
        if self._restore is None:
            given = [str(x) for x in self.config.invocation_params.args] if self.config else []
            kept = _without_tx(given)
            self._restore = workermanage.make_reltoroot
            workermanage.make_reltoroot = lambda roots, args: (
                list(kept) if len(args) == len(given) else _without_tx(args))

    @pytest.hookimpl
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._restore is not None:
            from xdist import workermanage
            workermanage.make_reltoroot = self._restore
            self._restore = None

    def _substitute(self, dsession, original):
        """A new worker on a surviving node, when tests wait and no worker takes them.

        xdist tells each worker to finish once nothing is left to hand out, so a
        test taken back from a dead node near the end of a run would find no
        worker; a fresh one on a live node runs it.
        """
        import execnet
        sched = dsession.sched
        if not sched.pending or any(not w.shutting_down for w in sched.nodes):
            return None
        for live in list(sched.nodes):
            node = self.nodes.get(self._node_of(live))
            if node is not None and not _reachable(node):
                continue
            spec = execnet.XSpec(live.gateway.spec._spec)
            self._say(f"farm: starting another worker on {self._node_of(live) or 'a live node'}"
                      " for the rescheduled tests")
            try:
                return original(SimpleNamespace(gateway=SimpleNamespace(spec=spec)))
            except Exception as exc:
                self._say(f"farm: could not start it: {remote.one_line(exc)}")
        return None

    @pytest.hookimpl
    def pytest_testnodeready(self, node) -> None:
        name = self._node_of(node)
        if name:
            self._say(f"farm: worker {node.gateway.id} runs on {name} "
                      f"({self.nodes[name].address if name in self.nodes else '?'})")

    @pytest.hookimpl
    def pytest_testnodedown(self, node, error) -> None:
        if error is None:
            return
        name = self._node_of(node)
        why = " ".join(str(error).split())[:200] or "connection lost"
        self.lost[name or node.gateway.id] = why
        self.down_at[name or node.gateway.id] = time.time()
        self._say(f"farm: {name or node.gateway.id} went down during the run ({why})")
        if name:
            self._unsaved[name] = f"lost during farm run: {why}"
            self._save_bad()

    def _save_bad(self, now: bool = False) -> None:
        """Mark the lost nodes bad in state.json.

        Writing state.json rewrites every node's record, so a write per lost node
        would cost (lost nodes x nodes): at 500 nodes, most of the controller's
        work.  A loss is written at once unless the file was written less than
        one finished test per node ago; then it waits for that many tests (or
        the end of the session).  That keeps the writes' total cost in
        proportion to the tests run.
        """
        if self._unsaved and (now or self._since_saved >= len(self.nodes)):
            with self.run.locked() as recorded:
                for name, reason in self._unsaved.items():
                    if name in recorded:
                        recorded[name].mark_bad(reason)
            self._unsaved.clear()
            self._since_saved = 0

    @pytest.hookimpl
    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        self._since_saved += 1
        if self._unsaved:
            self._save_bad()

    @pytest.hookimpl
    def pytest_sessionfinish(self, session) -> None:
        self._save_bad(now=True)

    @staticmethod
    def _worker_id(worker: object) -> str:
        return getattr(getattr(worker, "gateway", None), "id", "") or ""

    @pytest.hookimpl
    def pytest_handlecrashitem(self, crashitem: str, report, sched) -> None:
        if (crashitem, self._worker_id(report.node)) in self.finished:
            # Its outcome arrived; only the rest of its reports and the "done"
            # message were lost with the node.
            self.already_reported.add(crashitem)
            report.outcome = "rerun"
            return
        others = any(n is not report.node for n in getattr(sched, "nodes", []))
        if crashitem in self.rescheduled or not others:
            return                          # a second crash, or nowhere to go: it fails
        self.rescheduled.add(crashitem)
        sched.mark_test_pending(crashitem)
        report.outcome = "rerun"
        where = self._node_of(report.node) or "its node"
        self._say(f"farm: {crashitem} was running on {where}; rescheduled on another node")

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report, config):
        if report.outcome == "rerun" and report.when == "???":
            if report.nodeid in self.already_reported:
                return "", "", ""
            if report.nodeid in self.rescheduled:
                return "rescheduled", "R", ("RESCHEDULED", {"yellow": True})
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report) -> None:
        self.reports.append((time.time(), getattr(report, "node", None), report.nodeid,
                             report.when, report.outcome, hasattr(report, "wasxfail"),
                             getattr(report, "start", 0.0), getattr(report, "stop", 0.0),
                             report.user_properties))
        if report.outcome == "rerun" and report.when == "???":
            self._drop_junit_record(report)
            return
        attempt = (report.nodeid, self._worker_id(getattr(report, "node", None)))
        if report.when == "call" or (report.when == "setup" and not report.passed):
            # Its outcome is in: if its node is lost before the teardown report, it
            # does not run again (and its result is not reported twice).
            self.finished.add(attempt)
            self._open.add(attempt)
            self.ran[self._node_of(getattr(report, "node", None)) or "local"] += 1
        elif report.when == "teardown":
            self._open.discard(attempt)

    def _drop_junit_record(self, report) -> None:
        # The crashed attempt has no outcome of its own: the rerun reports the test.
        from _pytest.junitxml import xml_key
        xml = self.config.stash.get(xml_key, None) if self.config else None
        if xml is None:
            return
        key = (report.nodeid, getattr(report, "node", None))
        if (report.nodeid, self._worker_id(key[1])) in self._open:
            if key in xml.node_reporters:    # its outcome arrived, its teardown did not:
                xml.finalize(report)         # the record stands as it is
            return
        # node_reporter() finds the record junitxml made for this report (its key
        # differs between pytest versions); remove that very object.
        # It is among the newest, so look for it from the end: a scan of every
        # record per lost node would grow with nodes x tests.
        reporter = xml.node_reporter(report)
        if xml.node_reporters.get(key) is reporter:
            del xml.node_reporters[key]
        else:
            for key, value in list(xml.node_reporters.items()):
                if value is reporter:
                    del xml.node_reporters[key]
        ordered = xml.node_reporters_ordered
        for k in range(len(ordered) - 1, -1, -1):
            if ordered[k] is reporter:
                del ordered[k]
                break

    def timeline(self, started: float) -> list[TimedTest]:
        """Each test that reported, on the controller's clock in seconds since `started`:
        (node id, node, start, stop, outcome), in the order they finished.

        A worker's start and stop are its node's clock.  Each node's clock is
        taken to be off by the smallest (arrival - stop) of its reports, so the
        result that came back fastest counts as having had no delay; no test
        then ends after its report arrived, whatever the node's clock says.
        """
        names: dict[int, str] = {}

        def node(worker: object, props: list) -> str:
            # The worker's farm node, else (local workers) the test's JUnit node property.
            name = names.get(id(worker))
            if name is None:
                name = names[id(worker)] = self._node_of(worker)
            return name or next((str(v) for k, v in props if k == "node"), "")
        offset: dict[str, float] = {}
        for arrived, worker, _, _, _, _, _, stop, props in self.reports:
            if stop:
                name = node(worker, props)
                offset[name] = min(offset.get(name, math.inf), arrived - stop)
        folded: dict[tuple[str, str], list] = {}
        for arrived, worker, nodeid, when, outcome, xfail, start, stop, props in self.reports:
            name = node(worker, props)
            key = (nodeid, name)
            if when == "???" and outcome == "rerun":
                if key in folded and not folded[key][3]:
                    del folded[key]             # the crashed try: the rerun counts
                continue
            if stop:
                start, stop = start + offset[name], stop + offset[name]
            else:                               # made here (a crash, or never run)
                start = stop = arrived
            entry = folded.setdefault(key, [start, stop, "passed", False])
            entry[0], entry[1] = min(entry[0], start), max(entry[1], stop)
            entry[2] = _outcome(entry[2], when, outcome, xfail)
            entry[3] = entry[3] or when in ("teardown", "???")
        tests = [TimedTest(nodeid, name, start - started, stop - started, outcome)
                 for (nodeid, name), (start, stop, outcome, _) in folded.items()]
        return sorted(tests, key=lambda t: t.stop)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.ran and not self.lost:
            return
        terminalreporter.write_sep("-", "farm")
        for name, count in sorted(self.ran.items()):
            terminalreporter.write_line(f"{name}: ran {count} tests")
        for name, why in sorted(self.lost.items()):
            terminalreporter.write_line(f"{name}: lost mid-run and marked bad ({why})",
                                        red=True)
        if self.rescheduled:
            terminalreporter.write_line(f"rescheduled after a node loss: "
                                        f"{', '.join(sorted(self.rescheduled))}")


def _outcome(so_far: str, when: str, outcome: str, xfail: bool) -> str:
    """A test's outcome (as farm.report counts it) after one more of its reports."""
    if outcome == "failed":                 # JUnit has a crash ("???") as an error too
        if when in ("setup", "teardown", "???"):
            return so_far if so_far == "failed" else "error"
        return "failed"
    if so_far in ("failed", "error") or when == "teardown":
        return so_far
    if outcome == "skipped":
        return "xfailed" if xfail else "skipped"
    return "xpassed" if xfail and when == "call" else so_far


def _without_tx(args: list[str]) -> list[str]:
    """`args` without their --tx options (farm gives one per node)."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--tx":
            skip = True
        elif not arg.startswith("--tx="):
            out.append(arg)
    return out


def _reachable(node: NodeState) -> bool:
    if not node.alive():
        return False
    try:
        qemu.wait_banner(node.host, node.port, timeout=3.0)
        return True
    except FarmError:
        return False


def farm_run(run: RunDir, inventory: Inventory, pytest_args: list[str], *, local: bool = False,
             count: int | None = None, console: Console | None = None,
             boot_timeout: float = 120.0, batch: bool = True) -> int:
    """Run pytest across the farm (or locally); returns pytest's exit code.

    `batch`: workers run guest tests batched (farm/batch.py)."""
    console = console or Console(stderr=True)
    cwd = Path.cwd()
    given, given_count, junit_copy = take_options(pytest_args)
    if given_count is not None:
        if count is not None and count != given_count:
            raise FarmError(f"-n {count} and -n {given_count}: say how many nodes once")
        count = given_count
    missing = _missing_paths(given, cwd)
    if missing:                              # as pytest says it, before any node boots
        console.print(f"ERROR: file or directory not found: {missing[0]}", markup=False)
        return int(pytest.ExitCode.USAGE_ERROR)
    args, files = upload_set(given, cwd)
    began = time.time()
    run.ensure()
    junit = (run.path / "junit.xml").resolve()
    html = (run.path / "report.html").resolve()
    timeline = (run.path / "timeline.json").resolve()
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(began))
    manifests = (run.path / MANIFESTS).resolve()
    for stale in (junit, html, timeline):  # never report an earlier run's results
        stale.unlink(missing_ok=True)
    shutil.rmtree(manifests, ignore_errors=True)
    keeper = ManifestKeeper(manifests, cwd.resolve(), junit)
    # Where the workers write their own copies (the ones that count come back with
    # the reports): locally, where the controller keeps them; on a node, under its
    # work directory, which it can always write (the run directory's path need not
    # exist there).
    own = [] if any(arg.startswith("--hv-manifests") for arg in args) else [
        f"--hv-manifests={manifests if local else NODE_MANIFESTS}"]
    if batch:
        own += ["-p", "farm.batch"]
    if local:
        argv = [*args, *QUIET, *own, "-n", "auto", "--rootdir=.", f"--junitxml={junit}"]
        plugin = FarmPlugin(run, {})
        code = pytest.main(argv, plugins=[plugin, keeper])
        where = "local workers (-n auto)"
        setups: dict[str, NodeSetup] = {}
    else:
        ready = _ready(run, inventory, count, console, boot_timeout)
        masters = mux.start(run, [n.name for n in ready])   # while provisioning
        timings = _provision(run, ready, files, cwd, console)
        mux.wait(masters)
        argv = [*args, *QUIET, *own, "--dist", "load", "--rootdir=.", f"--junitxml={junit}"]
        for node in ready:
            argv += ["--tx", tx_spec(run, node)]
        plugin = FarmPlugin(run, {n.name: n for n in ready})
        code = pytest.main(argv, plugins=[plugin, keeper])
        where = ", ".join(n.name for n in ready)
        setups = _setups(ready, timings, plugin, began)
    extra = {"command": "farm run " + " ".join(pytest_args), "started": started,
             "nodes": where, "exit code": str(int(code))}
    if plugin.lost:
        extra["lost nodes"] = "; ".join(f"{k}: {v}" for k, v in sorted(plugin.lost.items()))
    from farm.report import write_html, write_timeline
    times = Timeline(began, setups, plugin.timeline(began))
    try:
        write_timeline(timeline, times)
    except FarmError as exc:
        console.print(f"farm: {exc}", markup=False)
    if junit.exists():
        try:
            write_html(junit, html, title="farm run", extra=extra, timeline=times)
            console.print(f"farm: JUnit XML {junit}\nfarm: HTML report {html}")
        except FarmError as exc:             # the run's own result still stands
            console.print(f"farm: no HTML report: {exc}", markup=False)
        if junit_copy is not None:           # where CI wants it, as pytest would write it
            target = (cwd / junit_copy).resolve()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(junit, target)
                console.print(f"farm: JUnit XML also at {target}")
            except OSError as exc:
                console.print(f"farm: cannot write --junitxml {target}: "
                              f"{exc.strerror or exc}", markup=False)
                code = pytest.ExitCode.INTERNAL_ERROR if int(code) == 0 else code
    return int(code)


def _ready(run: RunDir, inventory: Inventory, count: int | None, console: Console,
           boot_timeout: float) -> list[NodeState]:
    farm_nodes.refresh(run)
    wanted = [n.name for n in farm_nodes.plan_nodes(inventory, count)]

    def ready_wanted() -> list[NodeState]:
        by_name = {n.name: n for n in farm_nodes.ready_nodes(run)}
        return [by_name[name] for name in wanted if name in by_name]

    ready = ready_wanted()
    if len(ready) < len(wanted):       # boot what is missing or bad; ready ones stay
        farm_nodes.up(run, inventory, count, console, boot_timeout)
        ready = ready_wanted()
    if not ready:
        bad = [f"{n.name}: {n.reason}" for n in run.load().values()]
        raise FarmError("no node is ready" + (f" ({'; '.join(bad)})" if bad else ""))
    return ready


def _provision(run: RunDir, ready: list[NodeState], files: list[str], cwd: Path,
               console: Console) -> dict[str, dict]:
    """Mirror the run's files onto every node (only what changed); per node, how long
    checking hv and sending the files took (time.time() for upload_start)."""
    timings: dict[str, dict] = {}
    artifacts = farm_nodes.Artifacts(run.path / "dist", console)
    if any(n.kind == "qemu" for n in ready):
        artifacts.wheel()                  # here, once: a failure is ours, not a node's

    def one(node: NodeState) -> tuple[str, str]:
        conn = remote.connect(run, node)
        try:
            note = ""
            began = time.time()
            if node.kind == "qemu" and farm_nodes.install_hv(conn, node, artifacts):
                note = "newer hv installed; "
            elif node.kind == "ssh" and provision.provision_ssh_host(
                    conn, node, artifacts.supplies(), lambda text: None):
                note = "newer hv installed; "
            checked = time.time()
            sent = remote.upload_files(conn, node.workdir, cwd, files)
            timings[node.name] = {"hv_check": checked - began, "hv_installed": bool(note),
                                  "upload_start": checked, "upload": time.time() - checked,
                                  "files_sent": len(sent), "files": len(files)}
            return node.name, f"{note}{len(sent)} of {len(files)} files sent"
        except FarmError as exc:
            farm_nodes.mark_bad(run, node.name, f"provisioning: {exc}")
            return node.name, f"bad: {exc}"
        finally:
            conn.close()

    with console.status("farm: provisioning nodes"):
        with ThreadPoolExecutor(max_workers=len(ready)) as pool:
            results = list(pool.map(one, ready))
    for name, text in results:
        console.print(f"farm: {name}: {text}")
    failed = [name for name, text in results if text.startswith("bad:")]
    ready[:] = [n for n in ready if n.name not in failed]
    if not ready:
        raise FarmError("provisioning failed on every node (see farm status)")
    return timings


def _extra_seconds(node: NodeState, key: str) -> float | None:
    try:
        return float(node.extra[key])
    except (KeyError, ValueError):
        return None


def _setups(ready: list[NodeState], timings: dict[str, dict], plugin: FarmPlugin,
            started: float) -> dict[str, NodeSetup]:
    """What timeline.json says of each node: its boot and provisioning (from the
    node's state: farm.nodes.bring_up keeps them in `extra`), this run's hv check
    and upload, and when it was lost."""
    out = {}
    for node in ready:
        boot, ready_after = _extra_seconds(node, "boot_to_ssh_command"), _extra_seconds(
            node, "boot_to_ready")
        how = "ssh host" if node.kind == "ssh" else (
            "snapshot" if "snapshot" in node.extra else "cold boot")
        now = node.started is not None and node.started >= started
        timing = dict(timings.get(node.name, {}))
        if "upload_start" in timing:
            timing["upload_start"] -= started
        lost = plugin.down_at.get(node.name)
        out[node.name] = NodeSetup(
            node.name, kind=node.kind, boot_how=how, booted_now=now,
            boot_start=node.started - started if node.started is not None else None,
            boot=boot, provisioning=ready_after - boot
            if boot is not None and ready_after is not None else None,
            lost_at=lost - started if lost is not None else None,
            lost_why=plugin.lost.get(node.name, ""), **timing)
    return out
