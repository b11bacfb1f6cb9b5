"""End to end: real i386 QEMU nodes, real SSH, real xdist workers on them.

Builds (or reuses) the node image, boots two nodes under TCG with `farm up`,
and drives them with the `farm` command exactly as a user would.  It takes
a few minutes, so it runs only when FARM_E2E=1 (`tox -e farm` sets it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from farm import qemu
from farm.report import (
    BUCKETS,
    by_node,
    node_stats,
    outcomes,
    read_junit,
    read_timeline,
    time_cells,
)
from farm.report import _seconds as seconds_cell
from farm.state import RunDir

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "images" / "build"
SVG = "{http://www.w3.org/2000/svg}"

pytestmark = [
    pytest.mark.skipif(os.environ.get("FARM_E2E") != "1",
                       reason="boots real QEMU nodes for minutes; set FARM_E2E=1 "
                              "(tox -e farm does)"),
    pytest.mark.skipif(shutil.which("qemu-system-i386") is None,
                       reason="qemu-system-i386 is not installed (./bootstrap installs it)"),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="building the node image needs root (debootstrap, chroot)"),
]


def farm(*args: str, run_dir: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    # farm's options come first: what follows belongs to the command (exec, run)
    cmd = [sys.executable, "-m", "farm", args[0], "--run-dir", str(run_dir), *args[1:]]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("farm")
    up = farm("up", run_dir=path)
    if up.returncode != 0:
        farm("down", run_dir=path)      # the nodes that did boot: not left running
        pytest.fail(f"farm up failed:\n{up.stdout}\n{up.stderr}")
    yield path
    down = farm("down", run_dir=path)
    assert down.returncode == 0, down.stderr


def status(run_dir: Path) -> dict[str, dict]:
    result = farm("status", "--json", run_dir=run_dir)
    assert result.returncode == 0, result.stderr
    return {n["name"]: n for n in json.loads(result.stdout)}


def test_up_boots_two_healthy_nodes(run_dir):
    nodes = status(run_dir)
    assert sorted(nodes) == ["node-1", "node-2"]
    for node in nodes.values():
        assert node["state"] == "ready", node
        assert node["health"].startswith("hv selftest: ok"), node
        assert "i686" in node["health"]              # the guest really ran on an i386 node
        assert node["hv_version"] == __import__("hv").__version__
        assert float(node["extra"]["boot_to_ready"]) > 0
        assert RunDir(run_dir).load()[node["name"]].alive()


def test_nodes_start_from_a_snapshot_and_are_their_own(run_dir):
    """farm.snapshot: each node is the saved warm node, freshened: its own name,
    today's clock, its own random numbers."""
    nodes = status(run_dir)
    for node in nodes.values():
        assert node["extra"].get("snapshot"), node["extra"]
        assert node["extra"]["accel"] in ("tcg", "kvm"), node["extra"]
    now = time.time()
    result = farm("exec", "echo $(hostname) $(cat /etc/hostname) $(date +%s) "
                  "$(od -An -N16 -tx1 /dev/urandom | tr -d ' ')", run_dir=run_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0].startswith("node-"):
            seen[parts[0]] = parts
    assert sorted(seen) == ["node-1", "node-2"], result.stdout
    for name, (_, etc_name, clock, _) in seen.items():
        assert etc_name == name
        assert abs(int(clock) - now) < 120, (name, clock, now)     # not the snapshot's time
    assert seen["node-1"][3] != seen["node-2"][3]


def test_status_check_runs_the_health_check_again(run_dir):
    before = status(run_dir)
    result = farm("status", "--check", "--json", run_dir=run_dir)
    assert result.returncode == 0, result.stderr
    after = {n["name"]: n for n in json.loads(result.stdout)}
    for name, node in after.items():
        assert node["state"] == "ready"
        assert node["health_at"] > before[name]["health_at"]


def test_exec_reports_every_node_even_when_one_fails(run_dir):
    result = farm("exec", "hostname; test $(hostname) = node-1", run_dir=run_dir)
    assert result.returncode == 1
    assert "node-1: exit 0" in result.stdout and "node-2: exit 1" in result.stdout
    # each node really ran it: the hostnames come from the nodes themselves
    assert result.stdout.count("node-1\n") >= 1 and "node-2\n" in result.stdout
    assert "failed on 1 of 2 nodes: node-2" in result.stderr


SUITES = ["images/build/suite_demo.elf", "images/build/suite_asserts.elf"]
# One guest test that fails on the nodes (killed by #DE), and one xfail (an
# HV_ASSERT): both keep a manifest, which must replay here the same.
CRASH = "images/build/suite_crashes.elf::divide_by_zero"
XFAIL = "images/build/suite_demo.elf::ring_accepts_any_capacity"


@pytest.fixture(scope="module")
def spread(run_dir, tmp_path_factory):
    """The suites and CRASH run once on the nodes and once locally; what each run wrote.

    The nodes' run directory is copied (junit.xml, report.html, manifests/)
    at once: later tests run the farm again in it.
    """
    kept = tmp_path_factory.mktemp("spread")
    remote = farm("run", *SUITES, CRASH, f"--junitxml={kept}/ci/report.xml", run_dir=run_dir)
    (kept / "remote").mkdir()
    for name in ("junit.xml", "report.html"):
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, kept / "remote" / name)
    if (run_dir / "manifests").is_dir():
        shutil.copytree(run_dir / "manifests", kept / "remote" / "manifests")
    local = farm("run", "--local", *SUITES, CRASH, run_dir=kept / "local")
    return {"remote": remote, "local": local, "dir": kept / "remote", "local_dir": kept / "local"}


def test_run_spreads_suites_and_matches_local(spread):
    remote, local = spread["remote"], spread["local"]
    assert remote.returncode == 1, remote.stdout[-3000:] + remote.stderr     # CRASH fails
    assert local.returncode == 1, local.stdout[-3000:] + local.stderr
    junit = spread["dir"] / "junit.xml"
    # --junitxml: the same JUnit XML where CI asked for it
    assert (spread["dir"].parent / "ci" / "report.xml").read_bytes() == junit.read_bytes()
    cases = read_junit(junit)
    assert {c.node for c in cases} == {"node-1", "node-2"}     # both nodes ran tests
    assert outcomes(junit) == outcomes(spread["local_dir"] / "junit.xml")  # same as local
    assert [c.nodeid for c in cases if c.outcome == "failed"] == [CRASH]
    assert len(cases) > 40
    html = (spread["dir"] / "report.html").read_text()
    assert "node-1" in html and "node-2" in html


def test_a_failure_on_a_node_replays_here_the_same(run_dir, spread):
    """The manifests came back from the i386 nodes; each replays on this host identically."""
    cases = {c.nodeid: c for c in read_junit(spread["dir"] / "junit.xml")}
    html = (spread["dir"] / "report.html").read_text()
    junit = run_dir.resolve() / "junit.xml"
    assert f"farm replay {junit} {CRASH}\n" in spread["remote"].stdout       # the summary
    assert f"farm replay {junit} {CRASH}" in html
    assert f"farm replay {junit} {XFAIL}" not in spread["remote"].stdout    # only failures
    for nodeid in (CRASH, XFAIL):
        case = cases[nodeid]
        assert case.outcome == ("failed" if nodeid == CRASH else "xfailed"), case
        assert case.node in ("node-1", "node-2"), case
        name = nodeid.replace("/", "_").replace("::", "_") + ".json"
        assert case.manifest == str(run_dir.resolve() / "manifests" / name)
        recorded = json.loads((spread["dir"] / "manifests" / name).read_text())
        assert recorded["origin"]["node"] == case.node
        assert recorded["origin"]["moved_from"] == "/root/hv-farm/work"
        assert recorded["image"]["path"] == str(ROOT / nodeid.split("::")[0])
        if nodeid == CRASH:                         # JUnit has no text for an xfail
            assert f"hv replay {case.manifest}" in case.details     # the failure text too

        replay = farm("replay", str(spread["dir"]), nodeid.split("::")[1], run_dir=run_dir,
                      timeout=120)
        assert replay.returncode == 0, replay.stderr
        # the same instruction count and console as on the node
        result = recorded["result"]
        assert replay.stderr.splitlines()[-1].endswith(
            f", {result['instructions']} instructions, console {result['console_length']} "
            "bytes)"), replay.stderr
        assert hashlib.sha256(replay.stdout.encode()).hexdigest() == result["console_sha256"]
        assert replay.stdout == case.console
    assert not any(c.manifest for c in cases.values() if c.outcome == "passed")


def test_a_node_killed_mid_run_loses_nothing(run_dir):
    """QMP `quit` on node-2 while it runs tests: the run completes on node-1."""
    suite = "images/build/suite_trivial.elf"
    cmd = [sys.executable, "-m", "farm", "run", "--run-dir", str(run_dir), "-v", suite]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    killed_at = None
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if killed_at is None and sum("PASSED" in x for x in lines) >= 150:
            qemu.qmp(RunDir(run_dir).qmp_socket("node-2"), "quit")
            killed_at = len(lines)
        assert time.monotonic() < deadline, "farm run did not finish"
    code = proc.wait(timeout=60)
    out = "".join(lines)
    print("".join(x for x in lines if "PASSED" not in x))    # shown if this test fails
    assert killed_at is not None, out[-3000:]
    assert code == 0, out[-3000:]
    assert "node-2 went down" in out

    cases = read_junit(run_dir / "junit.xml")
    seen: dict[str, list] = {}
    for c in cases:
        seen.setdefault(c.nodeid, []).append((c.node, c.outcome))
    assert {k: v for k, v in seen.items() if len(v) > 1} == {}, "reported twice"
    assert len(cases) == 1000
    assert all(c.outcome == "passed" for c in cases)
    ran = {c.node for c in cases}
    assert ran == {"node-1", "node-2"}           # node-2's finished results were kept
    assert sum(c.node == "node-1" for c in cases) > 500

    nodes = status(run_dir)
    assert nodes["node-2"]["state"] == "bad"
    assert "lost during farm run" in nodes["node-2"]["reason"]
    assert nodes["node-1"]["state"] == "ready"

    # timeline.json: every test once, with the outcome JUnit has, on the node JUnit names
    timeline = read_timeline(run_dir / "timeline.json")
    junit = {c.nodeid: c for c in cases}
    assert sorted(t.nodeid for t in timeline.tests) == sorted(junit)
    for t in timeline.tests:
        assert (t.node, t.outcome) == (junit[t.nodeid].node, junit[t.nodeid].outcome), t
        assert 0 < t.start <= t.stop, t
    for name in ("node-1", "node-2"):
        setup = timeline.nodes[name]
        # booted by `farm up` before this run, from a snapshot; its boot time kept in state.json
        assert (setup.kind, setup.booted_now, setup.boot_how) == ("qemu", False, "snapshot")
        assert setup.boot == float(nodes[name]["extra"]["boot_to_ssh_command"]) > 0
        assert setup.upload is not None and setup.upload > 0 and setup.files >= 1
        assert setup.hv_check is not None and setup.hv_check > 0
    lost = timeline.nodes["node-2"]
    assert lost.lost_at is not None and lost.lost_why
    assert lost.lost_at > max(t.stop for t in timeline.tests if t.node == "node-2") - 1.0
    assert timeline.nodes["node-1"].lost_at is None

    # the report: the per-node times, and the chart with a line per node
    html = (run_dir / "report.html").read_text()
    table = html.split("<h2>Nodes</h2>")[1].split("<h2>Tests</h2>")[0]
    stats = {s.node: s for s in node_stats(by_node(cases), timeline)}
    for name in ("node-1", "node-2"):
        cells = time_cells(stats[name])
        assert cells["boot"] == ("already up",
                                 f"booted in {timeline.nodes[name].boot:.1f} s, from a snapshot")
        assert cells["provisioning"][0] == ("already up" if not timeline.nodes[name].hv_installed
                                            else f"{timeline.nodes[name].hv_check:.1f} s")
        row = table.split(f"<tr><td>{name}")[1].split("</tr>")[0]
        for value, note in cells.values():
            assert f">{value}<br><small>{note}</small></td>" in row, (value, note, row)
        assert f'<td class="num test-time">{seconds_cell(stats[name].test_time)}</td>' in row
    assert "lost at" in table.split("<tr><td>node-2")[1].split("</tr>")[0]
    svg = ET.fromstring(table[table.index("<svg"):table.index("</svg>") + 6])
    series = {g.get("data-node"): g for g in svg.iter(f"{SVG}g") if g.get("class") == "series"}
    assert sorted(series) == ["node-1", "node-2"]
    for name, g in series.items():
        assert int(g.get("data-tests")) == sum(c.node == name for c in cases)
        assert len(list(g.iter())) < 2 * BUCKETS + 20      # bucketed, not one per test
    assert [g.get("class") for g in series["node-2"]].count("lost") == 1
    assert [g.get("class") for g in series["node-1"]].count("lost") == 0


def test_a_run_boots_the_lost_node_and_reports_its_boot(run_dir):
    """`farm run` with node-2 lost boots it again: the report has its boot and
    provisioning as measured in this run, and node-1 as already up."""
    started = time.time()
    result = farm("run", "images/build/suite_demo.elf", run_dir=run_dir)
    # (a guest test may time out on a busy machine: the times are what this checks)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr
    nodes = status(run_dir)
    timeline = read_timeline(run_dir / "timeline.json")
    assert started <= timeline.started <= time.time()
    fresh, old = timeline.nodes["node-2"], timeline.nodes["node-1"]
    assert (fresh.booted_now, fresh.boot_how, old.booted_now) == (True, "snapshot", False)
    extra = nodes["node-2"]["extra"]
    assert fresh.boot == float(extra["boot_to_ssh_command"]) > 0
    assert fresh.provisioning == pytest.approx(
        float(extra["boot_to_ready"]) - float(extra["boot_to_ssh_command"]), abs=1e-6)
    # it started during this run, after the run began, and before its files went up
    assert 0 <= fresh.boot_start == pytest.approx(nodes["node-2"]["started"] - timeline.started,
                                                  abs=0.01)
    assert fresh.boot_start + fresh.boot + fresh.provisioning <= fresh.upload_start + 0.1
    first = min(t.start for t in timeline.tests if t.node == "node-2")
    assert fresh.upload_start + fresh.upload <= first
    cases = read_junit(run_dir / "junit.xml")
    assert {t.nodeid for t in timeline.tests} == {c.nodeid for c in cases}
    html = (run_dir / "report.html").read_text()
    row = html.split("<tr><td>node-2")[1].split("</tr>")[0]
    assert f'<td class="num boot">{fresh.boot:.1f} s<br><small>from a snapshot</small>' in row
    assert "already up" not in row
    assert "already up" in html.split("<tr><td>node-1")[1].split("</tr>")[0]
    svg = ET.fromstring(html[html.index("<svg"):html.index("</svg>") + 6])
    [lane] = [g for g in svg.iter(f"{SVG}g") if g.get("data-node") == "node-2"]
    shaded = [e.findtext(f"{SVG}title").split(":")[1].split()[0] for e in lane
              if e.get("class") == "phase"]
    # (provisioning has no box when it took under 0.01 s: a snapshot that holds this hv)
    assert shaded[0] == "boot" and shaded[-2:] == ["hv", "file"], shaded
    # node-2 is lost again for the next test, which boots it with `farm up`
    pid = nodes["node-2"]["pid"]
    qemu.qmp(RunDir(run_dir).qmp_socket("node-2"), "quit")
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_up_boots_the_lost_node_again_and_keeps_the_other(run_dir):
    before = status(run_dir)
    assert before["node-2"]["state"] == "bad"
    result = farm("up", run_dir=run_dir)
    assert result.returncode == 0, result.stderr
    after = status(run_dir)
    assert after["node-2"]["state"] == "ready"
    assert after["node-2"]["pid"] != before["node-2"]["pid"]        # a fresh QEMU
    assert after["node-1"]["pid"] == before["node-1"]["pid"]        # left alone


def test_a_qemu_node_and_a_real_ssh_host_together(tmp_path):
    """farm run over one QEMU node and an SSH host (a real sshd, test_farm_sshd.py);
    the SSH host's worker is killed mid-run and its test goes to the QEMU node."""
    from test_farm_sshd import Sshd
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("sshd is not installed (apt-get install openssh-server; ./bootstrap "
                    "installs it)")
    server = Sshd(tmp_path, sftp=False)
    try:
        inventory = server.inventory()
        inventory.write_text('[[qemu]]\nname = "node"\n\n' + inventory.read_text())
        run = tmp_path / "run"
        up = farm("up", "-i", str(inventory), run_dir=run)
        assert up.returncode == 0, up.stdout + up.stderr
        assert sorted(status(run)) == ["box", "node-1"]
        venv_python = f"{server.home}/.hv-farm/venv/bin/python"
        cmd = [sys.executable, "-m", "farm", "run", "--run-dir", str(run), "-i", str(inventory),
               "-v", "images/build/suite_trivial.elf"]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        lines, killed = [], False
        deadline = time.monotonic() + 600
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not killed and sum("PASSED" in x for x in lines) >= 150:
                # the worker on the SSH host: its venv's Python, started over SSH
                subprocess.run(["pkill", "-KILL", "-f", f"^{venv_python}"], check=False)
                killed = True
            assert time.monotonic() < deadline, "farm run did not finish"
        code = proc.wait(timeout=60)
        out = "".join(lines)
        print("".join(x for x in lines if "PASSED" not in x))
        assert killed, out[-3000:]
        assert code == 0, out[-3000:]
        assert "box went down" in out, out[-3000:]
        cases = read_junit(run / "junit.xml")
        assert len(cases) == 1000 and all(c.outcome == "passed" for c in cases)
        assert len({c.nodeid for c in cases}) == 1000                 # none twice
        assert {c.node for c in cases} == {"box", "node-1"}
        assert status(run)["box"]["state"] == "bad"
    finally:
        farm("down", run_dir=tmp_path / "run")
        server.stop()


def test_down_stops_every_node(run_dir, tmp_path):
    state = RunDir(run_dir).load()
    pids = [n.pid for n in state.values() if n.alive()]
    result = farm("down", run_dir=run_dir)
    assert result.returncode == 0, result.stderr
    assert RunDir(run_dir).load() == {}
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or b"qemu" not in Path(
            f"/proc/{pid}/cmdline").read_bytes()
