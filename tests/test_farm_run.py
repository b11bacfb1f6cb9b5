"""`farm run` without QEMU: what it uploads, the xdist specs, and losing a node mid-run.

The node-loss tests run real pytest-xdist sessions with local (popen) workers
that stand for nodes `a` and `b` (their HV_NODE); a test kills its worker
with SIGKILL the way a node that dies takes its worker with it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from farm.errors import FarmError
from farm.run import DEFAULT_SUITE, REFUSED, FarmPlugin, take_options, tx_spec, upload_set
from farm.state import NodeState, RunDir

REPO = Path(__file__).resolve().parent.parent


# ---- upload_set ----

@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "a.elf").write_bytes(b"a")
    (tmp_path / "suites" / "sub").mkdir()
    (tmp_path / "suites" / "sub" / "b.elf").write_bytes(b"b")
    (tmp_path / "suites" / "__pycache__").mkdir()
    (tmp_path / "suites" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    (tmp_path / "suites" / ".hidden").mkdir()
    (tmp_path / "suites" / ".hidden" / "c.elf").write_bytes(b"c")
    (tmp_path / "suites" / ".dotfile").write_bytes(b"")
    (tmp_path / "suites" / "stale.pyc").write_bytes(b"")
    (tmp_path / "test_one.py").write_text("def test_one(): pass\n")
    return tmp_path


def test_upload_set_keeps_relative_paths_and_options(cwd):
    args, files = upload_set(["-q", "test_one.py", "-k", "one", "suites/a.elf"], cwd)
    assert args == ["-q", "test_one.py", "-k", "one", "suites/a.elf"]
    assert files == ["suites/a.elf", "test_one.py"]


def test_upload_set_keeps_node_ids(cwd):
    args, files = upload_set(["test_one.py::test_one", "suites/a.elf::case[1]"], cwd)
    assert args == ["test_one.py::test_one", "suites/a.elf::case[1]"]
    assert files == ["suites/a.elf", "test_one.py"]


def test_upload_set_makes_absolute_paths_relative(cwd):
    args, files = upload_set([str(cwd / "suites" / "a.elf"), f"{cwd}/test_one.py::test_one"],
                             cwd)
    assert args == ["suites/a.elf", "test_one.py::test_one"]
    assert files == ["suites/a.elf", "test_one.py"]


def test_upload_set_refuses_paths_outside_cwd(cwd, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "x.elf"
    outside.write_bytes(b"")
    for arg in (str(outside), os.path.relpath(outside, cwd)):
        with pytest.raises(FarmError) as info:
            upload_set([arg], cwd)
        assert str(info.value).startswith(f"{arg}: outside the current directory {cwd}; ")
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("args, option", [
    (["--tx", "x"], "--tx"),
    (["--dist", "loadfile"], "--dist"),
    (["-d"], "-d"),
    (["--rootdir=/"], "--rootdir"),
    (["--rsyncdir", "x"], "--rsyncdir"),
    (["--px", "x"], "--px"),
])
def test_farm_run_refuses_options_it_sets_and_says_what_to_do(args, option):
    with pytest.raises(FarmError) as info:
        take_options(["-q", *args, "test_one.py"])
    assert str(info.value).startswith(f"farm run does not take {option}: farm ")
    assert option in REFUSED and REFUSED[option] in str(info.value)


@pytest.mark.parametrize("args, count, junit", [
    (["-n", "3", "a.elf"], 3, None),
    (["-n3", "a.elf"], 3, None),
    (["--numprocesses=2", "a.elf"], 2, None),
    (["--junitxml=out/r.xml", "a.elf"], None, "out/r.xml"),
    (["--junit-xml", "r.xml", "-n", "1"], 1, "r.xml"),
])
def test_farm_run_takes_n_and_junitxml_for_itself(args, count, junit):
    rest, got_count, got_junit = take_options(args)
    assert (got_count, got_junit) == (count, junit)
    assert all(not a.startswith(("-n", "--numprocesses", "--junit")) for a in rest), rest


def test_farm_run_n_auto_is_refused_with_what_to_use():
    with pytest.raises(FarmError, match=r"-n auto: farm run's -n is a number of nodes .* "
                                        r"--local for local workers"):
        take_options(["-n", "auto"])


@pytest.mark.parametrize("arg", ["--junit-prefix=x", "--no-header", "-q", "--durations=5"])
def test_upload_set_lets_other_options_through(cwd, arg):
    assert upload_set([arg, "test_one.py"], cwd)[0] == [arg, "test_one.py"]


def test_upload_set_includes_config_files(cwd):
    for name in ("pytest.ini", "pyproject.toml", "conftest.py", "tox.ini", "setup.cfg"):
        (cwd / name).write_text("")
    (cwd / "README.md").write_text("")
    _, files = upload_set(["test_one.py"], cwd)
    assert files == sorted(["conftest.py", "pyproject.toml", "pytest.ini", "setup.cfg",
                            "test_one.py", "tox.ini"])


def test_upload_set_expands_directories(cwd):
    args, files = upload_set(["suites"], cwd)
    assert args == ["suites"]
    assert files == ["suites/a.elf", "suites/sub/b.elf"]
    assert upload_set([str(cwd / "suites" / "sub")], cwd) == (["suites/sub"],
                                                                ["suites/sub/b.elf"])


def test_upload_set_default_suite(cwd):
    assert upload_set(["-q"], cwd) == (["-q"], [])                 # no default suite here
    (cwd / DEFAULT_SUITE).parent.mkdir(parents=True)
    (cwd / DEFAULT_SUITE).write_bytes(b"\x7fELF")
    assert DEFAULT_SUITE == "images/build/suite_demo.elf"
    assert upload_set(["-q", "-k", "nothing"], cwd) == (
        ["-q", "-k", "nothing", DEFAULT_SUITE], [DEFAULT_SUITE])
    # A path on the command line replaces the default.
    assert upload_set(["test_one.py"], cwd) == (["test_one.py"], ["test_one.py"])


# ---- tx_spec ----

def test_tx_spec(tmp_path):
    run = RunDir(tmp_path / "run")
    node = NodeState("node-1", "qemu", "127.0.0.1", 40001, python="/opt/farm/venv/bin/python",
                     workdir="/root/hv-farm/work")
    spec = tx_spec(run, node)
    parts = spec.split("//")
    assert parts == ["ssh=node-1", f"ssh_config={(tmp_path / 'run' / 'ssh_config').resolve()}",
                     "python=/opt/farm/venv/bin/python", "chdir=/root/hv-farm/work",
                     "env:HV_NODE=node-1"]
    assert Path(parts[1].split("=", 1)[1]).is_absolute()
    import execnet
    xspec = execnet.XSpec(spec)
    assert (xspec.ssh, xspec.python, xspec.chdir, xspec.env) == (
        "node-1", "/opt/farm/venv/bin/python", "/root/hv-farm/work", {"HV_NODE": "node-1"})


# ---- a node dies mid-run (real xdist, popen workers) ----

TESTS = """\
import os, time, pytest

@pytest.mark.parametrize("i", range(8))
def test_many(i):
    time.sleep(0.2)
    if i >= 2 and (os.environ.get("HV_NODE") == "a" or os.environ.get("KILL_EVERY_WORKER")):
        os.kill(os.getpid(), 9)       # the worker's node dies mid-run
"""

DRIVER = """\
import json, subprocess, sys, time
import pytest
from farm.run import FarmPlugin
from farm.state import NodeState, RunDir

gone = subprocess.Popen(["true"])
gone.wait()                           # a dead pid: farm sees these nodes' QEMU as gone
run = RunDir(".farm")
run.ensure()
nodes = {{name: NodeState(name, "qemu", "127.0.0.1", 1, pid=gone.pid) for name in {dead}}}
plugin = FarmPlugin(run, nodes)
started = time.time()
code = pytest.main(["test_x.py", "-p", "xdist", "--dist", "load",
                    "--tx", "popen//env:HV_NODE=a", "--tx", "popen//env:HV_NODE=b",
                    "--junitxml=j.xml", "-p", "no:benchmark", "-p", "no:cacheprovider",
                    "-W", "ignore::pytest.PytestAssertRewriteWarning"],
                   plugins=[plugin])
with open("timeline.json", "w") as f:
    json.dump({{"tests": [list(vars(t).values()) for t in plugin.timeline(started)],
               "down": {{k: v - started for k, v in plugin.down_at.items()}},
               "seconds": time.time() - started}}, f)
print("DRIVER EXIT", int(code))
sys.exit(int(code))
"""


class Session:
    def __init__(self, where: Path, proc: subprocess.Popen, started: float):
        self.where, self.proc, self.started = where, proc, started
        self.out = ""
        self.code: int | None = None
        self.seconds = 0.0

    def finish(self, timeout: float) -> Session:
        try:
            self.out, _ = self.proc.communicate(timeout=timeout)
            self.code = self.proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.out, _ = self.proc.communicate()
        self.seconds = time.monotonic() - self.started
        return self

    def testcases(self) -> list[ET.Element]:
        return list(ET.parse(self.where / "j.xml").getroot().iter("testcase"))


def _start(where: Path, dead: list[str], kill_every_worker: bool) -> Session:
    where.mkdir()
    (where / "test_x.py").write_text(TESTS)
    (where / "drive.py").write_text(DRIVER.format(dead=dead))
    env = {k: v for k, v in os.environ.items()
           if k not in ("HV_NODE", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if kill_every_worker:
        env["KILL_EVERY_WORKER"] = "1"
    proc = subprocess.Popen([sys.executable, "drive.py"], cwd=where, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return Session(where, proc, time.monotonic())


@pytest.fixture(scope="module")
def node_loss(tmp_path_factory):
    """Both sessions at once (they take a few seconds each): one node dies, every node dies."""
    base = tmp_path_factory.mktemp("node-loss")
    one = _start(base / "one", ["a"], kill_every_worker=False)
    every = _start(base / "every", ["a", "b"], kill_every_worker=True)
    return {"one": one.finish(60), "every": every.finish(60)}


def test_a_node_dying_mid_run_loses_no_results(node_loss):
    s = node_loss["one"]
    assert s.code == 0, s.out
    assert "farm: a went down during the run" in s.out
    assert re.search(r"farm: test_x\.py::test_many\[\d\] was running on a; rescheduled on "
                     r"another node", s.out), s.out
    assert "a: lost mid-run and marked bad" in s.out
    summary = s.out.rstrip().splitlines()[-2]                    # the last is DRIVER EXIT
    assert re.search(r"^=+ 8 passed, (.*, )?1 rescheduled in [\d.]+s =+$", summary), summary
    cases = s.testcases()
    assert sorted(c.get("name") for c in cases) == [f"test_many[{i}]" for i in range(8)]
    for case in cases:
        assert list(case) == [], ET.tostring(case)               # passed: no failure/error
        assert float(case.get("time")) >= 0.2                    # a real run, not the crash
    suite = next(ET.parse(s.where / "j.xml").getroot().iter("testsuite"))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("8", "0", "0")


def _timeline(s: Session) -> dict:
    doc = json.loads((s.where / "timeline.json").read_text())
    doc["tests"] = [dict(zip(("nodeid", "node", "start", "stop", "outcome"), t, strict=True))
                    for t in doc["tests"]]
    return doc


def test_the_timeline_has_each_test_once_where_it_really_ran(node_loss):
    s = node_loss["one"]
    timeline = _timeline(s)
    tests = timeline["tests"]
    assert sorted(t["nodeid"] for t in tests) == [f"test_x.py::test_many[{i}]" for i in range(8)]
    assert {t["outcome"] for t in tests} == {"passed"}
    for t in tests:
        assert 0 < t["start"] and t["stop"] - t["start"] >= 0.2, t    # each really slept
        assert t["stop"] <= timeline["seconds"], t
    rescheduled = re.search(r"farm: (\S+) was running on a; rescheduled", s.out).group(1)
    assert [t["node"] for t in tests if t["nodeid"] == rescheduled] == ["b"]   # not the crash
    names = {c.get("name"): c for c in s.testcases()}
    for t in tests:     # JUnit's node is the one the timeline names
        props = {p.get("name"): p.get("value") for p in names[t["nodeid"].split("::")[1]].iter(
            "property")}
        assert props.get("node", t["node"]) == t["node"]
    assert list(timeline["down"]) == ["a"]
    # Whatever a finished before it died (which tests it got first depends on which
    # worker was ready first) ended before it went down.
    assert all(t["stop"] <= timeline["down"]["a"] for t in tests if t["node"] == "a")


def test_the_timeline_of_a_run_that_lost_every_node(node_loss):
    tests = _timeline(node_loss["every"])["tests"]
    assert sorted(t["nodeid"] for t in tests) == [f"test_x.py::test_many[{i}]" for i in range(8)]
    outcomes = {t["nodeid"]: t["outcome"] for t in tests}
    junit = {c.get("name"): "error" if c.findall("error") else
             "failed" if c.findall("failure") else "passed"
             for c in node_loss["every"].testcases()}
    assert outcomes == {f"test_x.py::{name}": outcome for name, outcome in junit.items()}
    assert "failed" in outcomes.values()


def test_every_node_dying_ends_the_run(node_loss):
    s = node_loss["every"]
    assert s.code is not None, f"still running after {s.seconds:.0f} s:\n{s.out}"
    assert s.code != 0, s.out
    assert "went down during the run" in s.out
    assert "DRIVER EXIT" in s.out


def test_every_node_dying_fails_cleanly_and_reports_every_test(node_loss):
    s = node_loss["every"]
    assert "INTERNALERROR" not in s.out and "Traceback" not in s.out, s.out
    assert s.code in (1, 2), s.out
    names = sorted(c.get("name") for c in s.testcases())
    assert names == [f"test_many[{i}]" for i in range(8)]


def test_a_path_that_does_not_exist_is_pytests_usage_error(tmp_path, monkeypatch, capsys):
    from rich.console import Console

    from farm.run import farm_run
    from farm.state import RunDir
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.elf").write_bytes(b"x")
    console = Console(file=__import__("io").StringIO(), width=200)
    code = farm_run(RunDir(tmp_path / "run"), None, ["-k", "ring/x", "here.elf", "images/nope.elf"],
                    console=console)
    assert code == 4                            # pytest's USAGE_ERROR, as pytest gives it
    assert console.file.getvalue() == "ERROR: file or directory not found: images/nope.elf\n"


def test_gateways_start_together_and_nothing_is_copied_into_nodes():
    """xdist would start one node's Python after the other and copy pytest into each."""
    import threading
    from types import SimpleNamespace

    from farm.run import FarmPlugin

    both_started = threading.Barrier(2, timeout=10)   # each start waits for the other one
    made = []

    def makegateway(spec):
        made.append(spec.id)
        if len(made) <= 2:
            both_started.wait()
        if spec.id == "gw1":
            raise OSError("ssh: connect to host node-2: Connection refused")
        return f"gateway {spec.id}"

    group = SimpleNamespace(makegateway=makegateway)
    manager = SimpleNamespace(group=group, roots=["/usr/lib/python3/dist-packages/_pytest"])
    specs = [SimpleNamespace(id="gw0"), SimpleNamespace(id="gw1")]
    FarmPlugin._start_gateways_together(manager, specs)
    assert manager.roots == []
    assert sorted(made) == ["gw0", "gw1"]
    assert group.makegateway(specs[0]) == "gateway gw0"
    with pytest.raises(OSError, match="Connection refused"):   # raised where xdist asks
        group.makegateway(specs[1])
    # A replacement worker later in the run starts its own gateway.
    assert group.makegateway(SimpleNamespace(id="gw2")) == "gateway gw2"
    assert group.makegateway(specs[0]) == "gateway gw0" and made.count("gw0") == 2

# ---- the timeline, from reports made here ----

def _worker(name: str) -> SimpleNamespace:
    spec = SimpleNamespace(env={"HV_NODE": name} if name else {})
    return SimpleNamespace(gateway=SimpleNamespace(spec=spec, id=f"gw-{name}"))


def test_timeline_folds_reports_onto_the_controllers_clock(tmp_path):
    plugin = FarmPlugin(RunDir(tmp_path), {})
    fast, local = _worker("fast"), _worker("")
    # (arrival, worker, nodeid, when, outcome, xfail, start, stop, properties); "fast"'s
    # clock is 100 s ahead of ours, and its quickest result came back 0.5 s after its end.
    reports = [
        (1000.8, fast, "t::a", "setup", "passed", False, 1100.0, 1100.1, []),
        (1001.0, fast, "t::a", "call", "passed", False, 1100.1, 1100.4, []),
        (1001.0, fast, "t::a", "teardown", "passed", False, 1100.4, 1100.5, []),
        (1002.0, fast, "t::b", "setup", "passed", False, 1101.0, 1101.0, []),
        (1002.0, fast, "t::b", "call", "skipped", True, 1101.0, 1101.2, []),
        (1002.0, fast, "t::b", "teardown", "failed", False, 1101.2, 1101.3, []),
        (1003.0, fast, "t::c", "setup", "passed", False, 1102.0, 1102.1, []),
        (1003.5, fast, "t::c", "???", "rerun", False, 0.0, 0.0, []),       # crashed: rerun
        (1004.0, local, "t::c", "setup", "passed", False, 1003.0, 1003.1, [("node", "vm")]),
        (1004.0, local, "t::c", "call", "passed", True, 1003.1, 1003.5, [("node", "vm")]),
        (1004.0, local, "t::c", "teardown", "passed", False, 1003.5, 1003.6, [("node", "vm")]),
        (1005.0, None, "t::d", "call", "failed", False, 0.0, 0.0, []),      # never ran
    ]
    plugin.reports[:] = reports
    got = {(t.nodeid, t.node): t for t in plugin.timeline(990.0)}
    assert sorted(got) == [("t::a", "fast"), ("t::b", "fast"), ("t::c", "vm"), ("t::d", "")]
    a = got["t::a", "fast"]
    assert (a.start, a.stop, a.outcome) == (pytest.approx(10.5), pytest.approx(11.0), "passed")
    assert got["t::b", "fast"].outcome == "error"       # xfailed, then its teardown failed
    c = got["t::c", "vm"]                               # where it ran again, xpassed
    assert (c.outcome, c.stop) == ("xpassed", pytest.approx(1003.6 + 0.4 - 990.0))
    assert (got["t::d", ""].start, got["t::d", ""].outcome) == (15.0, "failed")
    assert [t.nodeid for t in plugin.timeline(990.0)] == ["t::a", "t::b", "t::c", "t::d"]
