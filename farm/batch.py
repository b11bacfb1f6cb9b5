"""Batched dispatch: a farm worker runs the guest tests it holds in one step.

pytest-xdist runs every test through pytest's whole per-test protocol on the
worker and sends six messages for it (logstart, three reports, logfinish,
"complete"), each serialised by execnet in Python.  On a farm node that
Python runs on an emulated CPU, so for a trivial guest test that protocol,
not the guest, is nearly all the cost.

`farm run` loads this module as a plugin (`-p farm.batch`) in the controller
and in every worker.  In a worker it takes over xdist's run loop
(`pytest_runtestloop`) and runs each guest test it can on a short path:

- a fresh guest per test, as always (`HvItem.runtest`), with its own
  timeout (`--hv-timeout`, the `hv_timeout` marker);
- the call's report built by pytest itself (`TestReport.from_item_and_call`,
  so failures and skips read as they always do), annotated as hv's plugin
  annotates it, and serialised as xdist would;
- the results of tests run back to back sent together, as one "farm_batch"
  message, whenever the worker's queue runs dry and at least every
  `FLUSH_SECONDS` (checked after each test).

The controller (`BatchController`) turns each result back into the events
xdist expects from a worker, in order: logstart, the setup, call and teardown
reports (setup and teardown passed, as they always do for a guest test
without markers) and logfinish, then "complete".  So the terminal, JUnit,
`--lf`, the farm report and manifests see what they see for any other test.

A test leaves the controller's schedule only when its result arrives.  If a
node dies with a batch in flight, xdist puts every test whose result did not
arrive back in the queue, one by one (the first of them counts as the crashed
test, which farm reschedules once): a finished result is never lost, and a
test whose result did not get out before the node died runs again elsewhere.

What takes the short path: a guest test (`hv.pytest_plugin.HvItem`) with no
skip, skipif, xfail or usefixtures marker, run without `--hv-gdb`,
`--setup-only` or `--setup-plan`, in a session where only pytest's, xdist's,
hv's and farm's own plugins implement the per-test hooks (a conftest.py or a
third-party plugin with a `pytest_runtest_*` hook turns it off for the whole
session, so those hooks always run).  Everything else runs through xdist's
own per-test protocol, in the same loop and order.  `farm run --no-batch`
turns the short path off.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hv.pytest_plugin import NODE_ENV, HvItem, annotate_report

__all__ = ["EVENT", "FLUSH_SECONDS", "BatchController", "BatchWorker", "expand"]

#: The name of the message that carries a batch's results to the controller.
EVENT = "farm_batch"
#: The longest a finished result waits in a worker before it is sent
#: (checked after each test; a guest that runs longer delays the ones before it).
FLUSH_SECONDS = 0.05

# The per-test hooks a short-path test does not run.
_TEST_HOOKS = ("pytest_runtest_protocol", "pytest_runtest_logstart", "pytest_runtest_setup",
               "pytest_runtest_call", "pytest_runtest_teardown", "pytest_runtest_makereport",
               "pytest_runtest_logreport", "pytest_runtest_logfinish")
# Whose implementations of them the short path stands in for.
# (xdist's worker code runs as "__channelexec__", the module execnet made of it.)
_OWN = ("_pytest", "pytest", "xdist", "__channelexec__", "hv", "farm", "pluggy")
# Markers that change how a test runs (pytest's skipping and fixtures plugins).
_RUN_MARKERS = frozenset({"skip", "skipif", "xfail", "usefixtures"})


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(BatchWorker(config), "farm-batch-worker")
    else:
        config.pluginmanager.register(BatchController(config), "farm-batch-controller")


# ---- the worker ----

def _owner(plugin: object) -> str:
    """The module a hook implementation comes from (a module, or a class's instance)."""
    name = getattr(plugin, "__name__", None) if isinstance(plugin, type(pytest)) else None
    return name or getattr(type(plugin), "__module__", "") or ""


def foreign_hooks(config: pytest.Config) -> list[str]:
    """Per-test hook implementations the short path would skip: "hook (module)"."""
    found = []
    for hook in _TEST_HOOKS:
        caller = getattr(config.pluginmanager.hook, hook, None)
        for impl in caller.get_hookimpls() if caller is not None else ():
            owner = _owner(impl.plugin)
            if owner.split(".")[0] not in _OWN:
                found.append(f"{hook} ({owner or impl.plugin_name})")
    return found


class BatchWorker:
    """The worker's run loop: xdist's, with guest tests run on the short path."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests = 0                       # tests run on the short path
        self.sent = 0                        # messages that carried their results

    def short_path(self, item: pytest.Item) -> bool:
        return type(item) is HvItem and not any(
            mark.name in _RUN_MARKERS for mark in item.iter_markers())

    def _why_not(self) -> str:
        """Why this session cannot use the short path; "" if it can."""
        option = self.config.option
        for name, flag in (("hv_gdb", "--hv-gdb"), ("setuponly", "--setup-only"),
                           ("setupplan", "--setup-plan")):
            if getattr(option, name, None):
                return f"{flag} is on"
        foreign = foreign_hooks(self.config)
        if foreign:
            return "per-test hooks of other plugins must run: " + ", ".join(foreign[:3]) + (
                ", ..." if len(foreign) > 3 else "")
        return ""

    def _tell(self, text: str) -> None:
        """Leave `text` for the controller (it arrives with the worker's end)."""
        output = getattr(self.config, "workeroutput", None)
        if isinstance(output, dict):
            output["farm_batch"] = text

    @staticmethod
    def _interactor(config: pytest.Config) -> Any:
        for plugin in config.pluginmanager.get_plugins():
            if type(plugin).__name__ == "WorkerInteractor" and all(
                    hasattr(plugin, name) for name in ("torun", "channel", "handle_command",
                                                       "run_one_test", "sendevent")):
                return plugin
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        interactor = self._interactor(self.config)
        # The worker's code is a copy execnet made of xdist.remote: its own end marker.
        marker = vars(type(interactor)).get("handle_command") if interactor else None
        marker = getattr(marker, "__globals__", {}).get("Marker")
        why = "this xdist has no run loop farm knows" if marker is None else self._why_not()
        if why:
            self._tell(f"off: {why}")
            return None                      # xdist's own loop runs every test
        interactor.channel.setcallback(interactor.handle_command, endmarker=marker.SHUTDOWN)
        items = session.items
        results: list[tuple[int, dict[str, Any]]] = []
        flushed = time.perf_counter()
        index = interactor.torun.get()
        while isinstance(index, int):        # else the end marker
            item = items[index]
            if not self.short_path(item):
                self._send(interactor, results)
                interactor.nextitem_index = index
                interactor.run_one_test()    # xdist's protocol; it takes the next index
                index = interactor.nextitem_index
            else:
                results.append((index, self._run(item)))
                self.tests += 1
                index = self._next(interactor.torun)
                if index is None or time.perf_counter() - flushed >= FLUSH_SECONDS:
                    self._send(interactor, results)
                    flushed = time.perf_counter()
                    if index is None:        # nothing queued: wait for more (or the end)
                        index = interactor.torun.get()
            if session.shouldfail or session.shouldstop:
                break
        self._send(interactor, results)
        self._tell(f"{self.tests} guest tests in {self.sent} messages")
        return True

    @staticmethod
    def _next(queue: Any) -> Any:
        """The next queued index (or the shutdown marker), or None if none is queued yet."""
        with queue.lock() as queued:
            return queued.popleft() if queued else None

    def _run(self, item: HvItem) -> dict[str, Any]:
        """Run one guest test; its call report, serialised."""
        call = pytest.CallInfo.from_call(item.runtest, "call")
        report = pytest.TestReport.from_item_and_call(item, call)
        annotate_report(item, report)
        return self.config.hook.pytest_report_to_serializable(config=self.config, report=report)

    def _send(self, interactor: Any, results: list[tuple[int, dict[str, Any]]]) -> None:
        if results:
            interactor.sendevent(EVENT, results=list(results))
            self.sent += 1
            results.clear()


# ---- the controller ----

def expand(index: int, call: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events a worker sends for a test run through pytest's protocol, made from
    the short path's call report `call` (serialised) for the test at `index`."""
    nodeid, location = call["nodeid"], call["location"]
    start, stop = call.get("start", 0.0), call.get("stop", 0.0)
    quiet = {key: value for key, value in call.items() if key != "hv_manifest"}
    setup = {**quiet, "when": "setup", "outcome": "passed", "longrepr": None, "sections": [],
             "duration": 0.0, "start": start, "stop": start}
    # pytest's teardown report repeats the sections captured in earlier phases.
    teardown = {**quiet, "when": "teardown", "outcome": "passed", "longrepr": None,
                "duration": 0.0, "start": stop, "stop": stop}
    return [("logstart", {"nodeid": nodeid, "location": location}),
            ("testreport", {"data": setup}),
            ("testreport", {"data": call}),
            ("testreport", {"data": teardown}),
            ("logfinish", {"nodeid": nodeid, "location": location}),
            ("runtest_protocol_complete", {"item_index": index,
                                           "duration": call.get("duration", 0.0)})]


class BatchController:
    """Unpacks each worker's batches into xdist's own events (see the module doc)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.batches = 0
        self.results = 0
        self.said: dict[str, str] = {}       # node -> what its worker said of the short path

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        # xdist sets the channel's callback to node.process_from_remote right after
        # this hook; a batch becomes the events it stands for, in order.
        original = node.process_from_remote

        def process(eventcall: Any) -> None:
            if isinstance(eventcall, tuple) and eventcall and eventcall[0] == EVENT:
                self.batches += 1
                for index, call in eventcall[1]["results"]:
                    self.results += 1
                    for event in expand(index, call):
                        original(event)
                return
            original(eventcall)

        node.process_from_remote = process

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        said = (getattr(node, "workeroutput", None) or {}).get("farm_batch")
        if said:
            spec = getattr(getattr(node, "gateway", None), "spec", None)
            where = getattr(spec, "env", {}).get(NODE_ENV) or getattr(node.gateway, "id", "?")
            self.said[where] = said

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for where, said in sorted(self.said.items()):
            terminalreporter.write_line(f"farm: batched dispatch on {where}: {said}")
