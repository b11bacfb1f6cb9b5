"""A simulated farm: the real controller (pytest, xdist's DSession and
LoadScheduling, farm's FarmPlugin and BatchController) against hundreds of
nodes that exist only as a mock transport.

What is replaced is what would touch the network: execnet's
`Group.makegateway` (and `terminate`) hand out `FakeGateway`s, whose channel
is a `FakeWorker` that answers the controller's commands with the very events
an xdist worker sends (`workerready`, `collectionfinish`, then per test
`logstart`, three `testreport`s, `logfinish`, `runtest_protocol_complete`; or,
on a batched node, `farm_batch` messages as `farm.batch.BatchWorker` sends
them), and farm's QEMU banner probe (`farm.qemu.wait_banner`, what
`_reachable` asks) is answered from the same table of dead nodes.  Nodes are
SSH hosts in a real run directory (`RunDir`, `state.json`), so marking one bad
is the real file write.

Nothing runs concurrently: DSession's event queue is a `SimQueue` whose
`get()` advances one randomly chosen worker by one step whenever it is empty
(seeded, so a run is repeatable).  An empty queue with no worker able to move
is a hang; so is a run longer than its step bound.  Either raises `Hang`.

A worker chosen to die does so at a random step of its own: with a batch of
results run but not sent, between two messages of one test, or between tests.
A "gone" node is unreachable from then on (its banner probe fails); on a
"crash" node only the worker died, so farm may start a new one there.
"""

from __future__ import annotations

import collections
import os
import queue
import random
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import execnet
import pytest

from farm import qemu
from farm.errors import FarmError
from farm.state import READY, NodeState, RunDir

NODE_ENV = "HV_NODE"
SHUTDOWN = object()
FLUSH_EVERY = 8          # a batched worker's results per message at most ("50 ms")
TEST_FILE = "test_sim.py"
FARM_DIR = str(Path(__import__("farm").__file__).resolve().parent) + os.sep


class Hang(Exception):
    """The run cannot go on (nothing can move) or went past its step bound."""


def nodeid_of(i: int) -> str:
    return f"{TEST_FILE}::test_guest[{i}]"


def fails(i: int) -> bool:
    """The tests designed to fail (the rest pass)."""
    return i % 97 == 5


# ---- the reports a worker would send (serialised, as pytest serialises them) ----

class Reports:
    def __init__(self) -> None:
        rep = pytest.TestReport(nodeid=nodeid_of(0), location=(TEST_FILE, 0, "test_guest[0]"),
                                keywords={}, outcome="passed", longrepr=None, when="call",
                                sections=[], duration=0.001, start=1.0, stop=1.001)
        from _pytest.reports import pytest_report_to_serializable
        self.template = pytest_report_to_serializable(rep)

    def one(self, i: int, when: str) -> dict[str, Any]:
        data = dict(self.template)
        failed = when == "call" and fails(i)
        data.update(nodeid=nodeid_of(i), location=(TEST_FILE, i, f"test_guest[{i}]"), when=when,
                    outcome="failed" if failed else "passed",
                    longrepr=f"AssertionError: guest test {i} failed" if failed else None,
                    keywords={f"test_guest[{i}]": 1, TEST_FILE: 1})
        return data


# ---- the transport ----

@dataclass
class Stats:
    commands: collections.Counter = field(default_factory=collections.Counter)  # to workers
    events: collections.Counter = field(default_factory=collections.Counter)    # from workers
    deaths: collections.Counter = field(default_factory=collections.Counter)    # by moment
    args_sent: int = 0           # command-line words in workers' start messages
    ids_sent: int = 0            # test ids in collectionfinish messages
    steps: int = 0               # worker steps taken
    probes: int = 0              # banner probes (farm's reachability check)
    starts: int = 0              # workers started (gateways made)
    rsyncs: int = 0              # xdist's rsyncs of pytest's source to a worker


class SimQueue(queue.Queue):
    """DSession's event queue; an empty one lets the transport move a worker."""

    def __init__(self, transport: Transport) -> None:
        super().__init__()
        self.transport = transport
        self.items: collections.deque = collections.deque()

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.items.append(item)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        while not self.items:
            self.transport.step()
        return self.items.popleft()

    def empty(self) -> bool:
        return not self.items

    def qsize(self) -> int:
        return len(self.items)


class FakeChannel:
    def __init__(self, worker: FakeWorker) -> None:
        self.worker = worker
        self.callback = None
        self.closed = False

    def send(self, obj: Any) -> None:
        self.worker.receive(obj)

    def setcallback(self, callback, endmarker=None) -> None:
        self.callback = callback
        self.endmarker = endmarker
        self.worker.transport.wake(self.worker)

    def _getremoteerror(self):
        return self.worker.error

    def isclosed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class FakeGateway:
    def __init__(self, transport: Transport, spec: execnet.XSpec) -> None:
        self.transport = transport
        self.spec = spec
        self.id = spec.id

    def _rinfo(self):
        from types import SimpleNamespace
        return SimpleNamespace(**{"executable": "/opt/farm/venv/bin/python",
                              "version_info": tuple(sys.version_info), "platform": "linux",
                              "cwd": "/root/hv-farm/work", "pid": 1})

    def remote_exec(self, source: Any) -> FakeChannel:
        worker = self.transport.new_worker(self)
        return worker.channel

    def exit(self) -> None:
        pass


class FakeWorker:
    """One xdist worker on one node, stepped by the transport."""

    def __init__(self, transport: Transport, gateway: FakeGateway, node: str, batched: bool,
                 die_at: int | None) -> None:
        self.transport = transport
        self.gateway = gateway
        self.node = node
        self.batched = batched
        self.die_at = die_at
        self.channel = FakeChannel(self)
        self.torun: collections.deque = collections.deque()
        self.phase = "init"          # init, ready, collected, loop, done
        self.inflight: collections.deque = collections.deque()  # unbatched: this test's events
        self.current: int | None = None
        self.results: list = []      # batched: run, not yet sent
        self.steps = 0
        self.error: object | None = None
        self.slot: int | None = None  # index in transport.runnable

    # -- commands from the controller --
    def receive(self, obj: Any) -> None:
        if self.phase == "done":
            return                   # lost with the node
        if self.phase == "init":     # (workerinput, args, option_dict, sys_path)
            self.transport.stats.args_sent += len(obj[1])
            self.transport.start_args = list(obj[1])
            self.phase = "ready"
        else:
            name, kwargs = obj
            self.transport.stats.commands[name] += 1
            if name == "runtests":
                self.torun.extend(kwargs["indices"])
            elif name == "runtests_all":
                self.torun.extend(range(len(self.transport.ids)))
            elif name == "shutdown":
                self.torun.append(SHUTDOWN)
        self.transport.wake(self)

    # -- what it can do next --
    def runnable(self) -> bool:
        if self.phase in ("ready", "collected"):
            return self.channel.callback is not None
        if self.phase != "loop":
            return False
        if self.inflight or (self.batched and self.results and not self.torun):
            return True
        if not self.torun:
            return False
        # xdist's worker starts a test once it knows the next one (or the end);
        # farm's batched worker starts it as soon as it has it.
        return self.batched or self.torun[0] is SHUTDOWN or len(self.torun) >= 2

    def _send(self, name: str, **kwargs: Any) -> None:
        self.transport.stats.events[name] += 1
        self.transport.log_event(self, name, kwargs)
        self.channel.callback((name, kwargs))

    def step(self) -> None:
        self.steps += 1
        if self.die_at is not None and self.steps >= self.die_at:
            self.die()
            return
        t = self.transport
        if self.phase == "ready":
            self.phase = "collected"
            self._send("workerready", workerinfo={
                "version": sys.version, "version_info": tuple(sys.version_info),
                "sysplatform": sys.platform, "platform": "linux",
                "executable": "/opt/farm/venv/bin/python", "cwd": "/root/hv-farm/work"})
            return
        if self.phase == "collected":
            self.phase = "loop"
            t.stats.ids_sent += len(t.ids)
            self._send("collectionfinish", topdir="/root/hv-farm/work", ids=list(t.ids))
            return
        if self.inflight:
            name, kwargs = self.inflight.popleft()
            self._send(name, **kwargs)
            if not self.inflight:
                self.current = None
            return
        if self.batched:
            if self.torun and self.torun[0] is not SHUTDOWN and len(self.results) < FLUSH_EVERY:
                i = self.torun.popleft()
                self.results.append((i, t.reports.one(i, "call")))   # run, not sent yet
                t.runs[i].append(self.node)
                return
            if self.results:
                results, self.results = self.results, []
                self._send("farm_batch", results=results)
                return
            self.finish()
            return
        head = self.torun.popleft()
        if head is SHUTDOWN:
            self.finish()
            return
        i = head
        t.runs[i].append(self.node)
        self.current = i
        where = (TEST_FILE, i, f"test_guest[{i}]")
        self.inflight.extend([
            ("logstart", {"nodeid": nodeid_of(i), "location": where}),
            ("testreport", {"data": t.reports.one(i, "setup")}),
            ("testreport", {"data": t.reports.one(i, "call")}),
            ("testreport", {"data": t.reports.one(i, "teardown")}),
            ("logfinish", {"nodeid": nodeid_of(i), "location": where}),
            ("runtest_protocol_complete", {"item_index": i, "duration": 0.001})])
        name, kwargs = self.inflight.popleft()
        self._send(name, **kwargs)

    def finish(self) -> None:
        if self.die_at is not None:          # due to die: it does, idle at the end
            self.die()
            return
        out = {"exitstatus": 0, "shouldfail": False, "shouldstop": False}
        if self.batched:
            out["farm_batch"] = "batched (simulated)"
        self._send("workerfinished", workeroutput=out)
        self.phase = "done"
        self.channel.callback(self.channel.endmarker)     # the channel closes after it
        self.transport.sleep(self)

    def die(self) -> None:
        t = self.transport
        if self.phase != "loop":
            moment = "starting up"
        elif not self.results and not self.inflight and (not self.torun
                                                          or self.torun[0] is SHUTDOWN):
            moment = "idle at the end"
        elif self.batched:
            moment = "batch in flight" if self.results else "between batches"
        elif len(self.inflight) == 1:
            moment = "reports sent, not done"
        elif len(self.inflight) == 3:
            moment = "outcome sent, not teardown"
        elif self.inflight:
            moment = "mid-test"
        else:
            moment = "between tests"
        t.stats.deaths[moment] += 1
        t.died.append((self.node, self.gateway.id, moment, self.current, list(self.torun)))
        if t.how[self.node] == "gone":
            t.gone.add(self.node)
        self.error = EOFError("connection to the node lost")
        self.phase = "done"
        self.channel.closed = True
        self.channel.callback(self.channel.endmarker)     # execnet's END: errordown
        t.sleep(self)


class Transport:
    """The farm's network: every worker, who may move, who is dead."""

    def __init__(self, nodes: list[NodeState], tests: int, seed: int, death_rate: float,
                 max_steps: int, early: int = 0) -> None:
        self.rng = random.Random(seed)
        self.ids = [nodeid_of(i) for i in range(tests)]
        self.reports = Reports()
        self.stats = Stats()
        self.names = [n.name for n in nodes]
        self.by_address = {(n.host, n.port): n.name for n in nodes}
        self.batched = {name: k % 2 == 0 for k, name in enumerate(self.names)}
        dying = self.rng.sample(self.names, round(len(nodes) * death_rate))
        # Where each dying node's first worker dies (its steps: start-up messages,
        # then six per test unbatched, or one per test plus one per batch).
        per_node = tests / max(1, len(nodes))
        self.die_at: dict[str, int] = {}
        self.how: dict[str, str] = {}
        for k, name in enumerate(dying):
            self.how[name] = "crash" if k % 4 == 3 else "gone"
            span = int(per_node * (6 if not self.batched[name] else 1.2) * 0.6) + 3
            self.die_at[name] = self.rng.randint(3, span)
        for k, name in enumerate(dying[:early]):  # before its collection arrives
            self.die_at[name] = 1 + k % 2
        self.gone: set[str] = set()
        self.died: list[tuple] = []
        self.started_on: collections.Counter = collections.Counter()
        self.runs: dict[int, list[str]] = collections.defaultdict(list)   # run on (nodes)
        self.delivered: dict[int, list[str]] = collections.defaultdict(list)  # call reports
        self.runnable: list[FakeWorker] = []
        self.workers: list[FakeWorker] = []
        self.max_steps = max_steps
        self.bad_starts: list[str] = []
        self.start_args: list[str] = []     # the command line the last worker got

    # -- the network's side of execnet and of farm's probes --
    def makegateway(self, group: execnet.Group, spec: execnet.XSpec | str | None = None):
        spec = spec if isinstance(spec, execnet.XSpec) else execnet.XSpec(spec)
        group.allocate_id(spec)
        name = spec.env.get(NODE_ENV, "")
        if name in self.gone:
            self.bad_starts.append(name)
            raise execnet.HostNotFound(f"ssh: connect to host {name}: no route to host")
        self.stats.starts += 1
        return FakeGateway(self, spec)

    def rsync_target(self, gateway, destdir, finishedcallback=None, **options) -> None:
        self.stats.rsyncs += 1
        if finishedcallback is not None:
            finishedcallback()

    def wait_banner(self, host: str, port: int, timeout: float, alive=None) -> None:
        self.stats.probes += 1
        name = self.by_address.get((host, port))
        if name is None or name in self.gone:
            raise FarmError(f"{host}:{port}: no SSH banner within {timeout:.0f} s")

    def new_worker(self, gateway: FakeGateway) -> FakeWorker:
        name = gateway.spec.env.get(NODE_ENV, "")
        first = self.started_on[name] == 0
        self.started_on[name] += 1
        die_at = self.die_at.get(name) if first else None
        worker = FakeWorker(self, gateway, name, self.batched.get(name, False), die_at)
        self.workers.append(worker)
        return worker

    # -- stepping --
    def wake(self, worker: FakeWorker) -> None:
        if worker.slot is None and worker.runnable():
            worker.slot = len(self.runnable)
            self.runnable.append(worker)

    def sleep(self, worker: FakeWorker) -> None:
        if worker.slot is not None:
            last = self.runnable.pop()
            if last is not worker:
                last.slot = worker.slot
                self.runnable[worker.slot] = last
            worker.slot = None

    def step(self) -> None:
        self.stats.steps += 1
        if self.stats.steps > self.max_steps:
            raise Hang(f"no end after {self.max_steps} worker steps")
        while self.runnable:
            worker = self.runnable[self.rng.randrange(len(self.runnable))]
            if worker.runnable():
                worker.step()
                if worker.slot is not None and not worker.runnable():
                    self.sleep(worker)
                return
            self.sleep(worker)
        raise Hang("the controller waits for an event and no worker can send one")

    def log_event(self, worker: FakeWorker, name: str, kwargs: dict) -> None:
        if name == "testreport" and kwargs["data"]["when"] == "call":
            self.delivered[kwargs["data"]["location"][1]].append(worker.node)
        elif name == "farm_batch":
            for i, _ in kwargs["results"]:
                self.delivered[i].append(worker.node)


# ---- the controller side: what the run saw ----

class Recorder:
    """A controller plugin: swaps in the SimQueue, counts the run's work, keeps every report."""

    def __init__(self, transport: Transport, count: bool) -> None:
        self.transport = transport
        self.reports: list[tuple[str, str, str, str]] = []   # nodeid, when, outcome, node
        self.error: BaseException | None = None
        # What `count` counts, from the session's start to the end of its run loop:
        self.count = count
        self.calls: collections.Counter = collections.Counter()   # Python calls, by part
        self.farm_lines = 0                                       # lines run in farm/*.py
        self._parts: dict[str, str] = {}
        # (for a closer look: FARM_SIM_DETAIL=1 counts by function and by farm line)
        detail = bool(os.environ.get("FARM_SIM_DETAIL"))
        self.functions = collections.Counter() if detail else None
        self.where = collections.Counter() if detail else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session) -> None:
        dsession = session.config.pluginmanager.getplugin("dsession")
        dsession.queue = SimQueue(self.transport)
        if self.count:
            sys.settrace(self._frame)

    def _frame(self, frame, event, arg):
        # Called for each Python function call (and generator resumption).  Only
        # frames of farm's own code are traced further: each line executed there
        # counts, so does each turn of a loop (or comprehension) over nodes or tests.
        code = frame.f_code
        part = self._parts.get(code.co_filename)
        if part is None:
            part = self._parts[code.co_filename] = _part(code.co_filename)
        self.calls[part] += 1
        if self.functions is not None:
            self.functions[f"{Path(code.co_filename).name}:{code.co_name}"] += 1
        return self._line if part == "farm" else None

    def _line(self, frame, event, arg):
        if event == "line":
            self.farm_lines += 1
            if self.where is not None:
                self.where[(Path(frame.f_code.co_filename).name, frame.f_lineno)] += 1
        return self._line

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session):
        try:
            return (yield)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            sys.settrace(None)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report) -> None:
        spec = getattr(getattr(getattr(report, "node", None), "gateway", None), "spec", None)
        node = getattr(spec, "env", {}).get(NODE_ENV, "") if spec is not None else ""
        self.reports.append((report.nodeid, report.when, report.outcome, node))


@dataclass
class Result:
    code: int
    transport: Transport
    recorder: Recorder
    plugin: Any
    run: RunDir
    junit: Path
    tests: int

    def testcases(self) -> list[ET.Element]:
        return list(ET.parse(self.junit).getroot().iter("testcase"))


def _part(filename: str) -> str:
    path = filename.replace(os.sep, "/")
    if "/farm/" in path and "/tests/" not in path:
        return "farm"
    if "/xdist/" in path:
        return "xdist"
    if "/_pytest/" in path or "/pluggy/" in path:
        return "pytest"
    if path.endswith("farm_sim.py"):
        return "harness"
    return "other"        # the standard library, builtins


def run_farm(where: Path, monkeypatch: pytest.MonkeyPatch, *, nodes: int, per_node: int,
             seed: int = 1, death_rate: float = 0.1, count: bool = False,
             early: int = 0) -> Result:
    """Run `nodes * per_node` simulated guest tests on `nodes` simulated nodes
    (`early` of the dying ones die before their collection arrives)."""
    from farm import run as farm_run
    from farm.manifests import ManifestKeeper

    where.mkdir(parents=True, exist_ok=True)
    run = RunDir(where / ".farm")
    states = [NodeState(f"node-{k}", "ssh", f"10.1.{k // 200}.{k % 200 + 1}", 22,
                        python="/opt/farm/venv/bin/python", workdir="/root/hv-farm/work",
                        state=READY) for k in range(nodes)]
    with run.locked() as recorded:
        recorded.update({n.name: n for n in states})
    tests = nodes * per_node
    transport = Transport(states, tests, seed, death_rate, max_steps=12 * tests + 50 * nodes,
                          early=early)
    monkeypatch.setattr(execnet.Group, "makegateway",
                        lambda group, spec=None: transport.makegateway(group, spec))
    monkeypatch.setattr(execnet.Group, "terminate", lambda self, timeout=None: None)
    # xdist mirrors pytest's own source to every ssh worker with execnet's rsync.
    monkeypatch.setattr(execnet.RSync, "add_target",
                        lambda rsync, *args, **kwargs: transport.rsync_target(*args, **kwargs))
    monkeypatch.setattr(execnet.RSync, "send", lambda self, raises=True: None)
    monkeypatch.setattr(qemu, "wait_banner", transport.wait_banner)
    monkeypatch.chdir(where)
    (where / "pytest.ini").write_text("[pytest]\n")
    junit = where / "junit.xml"
    plugin = farm_run.FarmPlugin(run, {n.name: n for n in states})
    keeper = ManifestKeeper(where / "manifests", where, junit)
    recorder = Recorder(transport, count)
    argv = [*farm_run.QUIET, "-p", "xdist", "-p", "farm.batch", "-p", "no:cacheprovider",
            "-p", "no:benchmark", "-q", "--dist", "load", "--rootdir=.", "-c", "pytest.ini",
            f"--junitxml={junit}"]
    for node in states:
        argv += ["--tx", farm_run.tx_spec(run, node)]
    code = pytest.main(argv, plugins=[plugin, keeper, recorder])
    result = Result(int(code), transport, recorder, plugin, run, junit, tests)
    return result
