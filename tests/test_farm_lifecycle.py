"""The farm node lifecycle (up, status, exec, down) with everything external mocked.

No image build, no QEMU, no SSH: `farm.image` gives a fake image and wheel,
`farm.qemu.start` starts `sleep 60` under the name qemu-system-i386 (a real
process the nodes' pids point at, killed at teardown), `farm.qemu.wait_banner`
returns at once and `farm.remote.connect` hands out FakeConnections (from
test_farm_remote.py) that answer like a healthy node, or like a node with the
wrong hv.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from paramiko import SSHException
from rich.console import Console
from test_farm_remote import (
    FakeConnection,
    FakeResult,
    fake_channel,  # noqa: F401 - autouse: remote.send to the fakes
    healthy,
    ok,
)
from test_farm_state import start_fake_qemu

import hv
from farm import cli, image, nodes, provision, qemu, remote
from farm.errors import FarmError
from farm.inventory import parse_inventory
from farm.state import BAD, READY, NodeState, RunDir, pid_alive

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFarmHostKeyForTests"


class FakeFarm:
    """The mocks of one test, and what they saw."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.tmp = tmp_path
        self.procs: list[subprocess.Popen] = []
        self.started: list[list[str]] = []       # QEMU argv per start
        self.conns: dict[str, list[FakeConnection]] = {}
        self.versions: dict[str, str] = {}       # node -> the hv version it reports
        self.banner_error: dict[str, str] = {}   # node -> wait_banner failure
        self.marker_sha: str = ""                # what /opt/farm/hv.json holds
        self.extra_answers: list = []            # more (regex, response) for every node
        self.put_error: BaseException | None = None   # what put() raises on SSH hosts
        # Cold boots (node snapshots are tested with real QEMU, test_farm_e2e.py).
        monkeypatch.setenv("FARM_SNAPSHOTS", "0")
        monkeypatch.setenv("FARM_CACHE", str(tmp_path / "cache"))
        files = tmp_path / "image"
        files.mkdir()
        for name in ("vmlinuz", "initrd.img", "disk.img", "farm_ed25519", "hv.whl"):
            (files / name).write_bytes(name.encode())
        self.wheel = files / "hv.whl"
        self.image = SimpleNamespace(
            kernel=files / "vmlinuz", initrd=files / "initrd.img", disk=files / "disk.img",
            key=files / "farm_ed25519", host_key=HOST_KEY, python="/opt/farm/venv/bin/python",
            hv_version=hv.__version__, wheel_sha256=remote.sha256_file(self.wheel),
            key_hash="k123", append="console=ttyS0 quiet")
        monkeypatch.setattr(image, "ensure_image", lambda console=None, rebuild=False: self.image)
        monkeypatch.setattr(image, "build_hv_wheel", lambda console=None: self.wheel)
        monkeypatch.setattr(qemu, "start", self.start)
        monkeypatch.setattr(qemu, "wait_banner", self.wait_banner)
        monkeypatch.setattr(remote, "connect", self.connect)

    def process(self) -> subprocess.Popen:
        """A live process that farm takes for QEMU (its command line says so)."""
        proc = start_fake_qemu()
        self.procs.append(proc)
        return proc

    def start(self, argv: list[str], log: Path):
        proc = self.process()
        self.started.append(argv)
        log.write_text("qemu-system-i386: fake\n")
        return SimpleNamespace(pid=proc.pid)

    def wait_banner(self, host: str, port: int, timeout: float, alive=lambda: True) -> None:
        assert host == "127.0.0.1" and alive()
        name = next((n for n, argv in zip(self.names(), self.started, strict=True)
                     if f"hostfwd=tcp:127.0.0.1:{port}-:22" in " ".join(argv)), None)
        if name in self.banner_error:
            raise FarmError(self.banner_error[name])

    def names(self) -> list[str]:
        out = []
        for argv in self.started:
            append = argv[argv.index("-append") + 1]
            out.append(re.search(r"farm\.name=(\S+)", append).group(1))
        return out

    def connect(self, run: RunDir, node: NodeState, timeout: float = 10.0) -> FakeConnection:
        version = self.versions.get(node.name, hv.__version__)
        marker = json.dumps({"version": version, "wheel_sha256": self.marker_sha})
        conn = FakeConnection([
            *self.extra_answers,
            (r"^true$", ok()),
            (r"^cat /opt/farm/hv\.json", ok(marker + "\n")),
            (r"^cat > /tmp/", ok()),
            (r" -m pip install .*--no-index", ok()),
            (r" -m hv selftest$", healthy(version)),
            (r".", FakeResult(0, "fake out\n", "")),
        ], name=node.name)
        if self.put_error is not None and node.kind == "ssh":
            conn.send_error = self.put_error
        self.conns.setdefault(node.name, []).append(conn)
        return conn

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def farm(tmp_path, monkeypatch):
    fake = FakeFarm(tmp_path, monkeypatch)
    yield fake
    fake.kill_all()


@pytest.fixture
def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


TWO_NODES = parse_inventory('[[qemu]]\nname = "node"\ncount = 2\n', "farm.toml")


def commands(conns: list[FakeConnection]) -> list[str]:
    return [c for conn in conns for c in conn.commands]


# ---- bring_up ----

def qemu_state(farm: FakeFarm, name: str) -> NodeState:
    proc = farm.process()
    return NodeState(name, "qemu", "127.0.0.1", 40001, key=str(farm.image.key),
                     python=farm.image.python, workdir=nodes.QEMU_WORKDIR, pid=proc.pid)


def test_bring_up_makes_a_node_ready(farm, tmp_path):
    run = RunDir(tmp_path / "run")
    run.ensure()
    node = qemu_state(farm, "node-1")
    steps: list[str] = []
    nodes.bring_up(run, node, steps.append, 5.0, nodes.Artifacts())

    assert node.state == READY and node.reason == ""
    assert node.hv_version == hv.__version__
    assert node.health.startswith("hv selftest: ok")
    assert node.ready_at is not None and node.health_at is not None
    assert "boot_to_ready" in node.extra
    assert steps == ["booting (waiting for sshd)", "ssh", "provisioning",
                     "installed a newer hv", "health check"]
    (conn,) = farm.conns["node-1"]
    assert conn.closed == 1
    sent = commands([conn])
    assert sent[0] == "true"
    assert any("--no-index --no-deps --force-reinstall" in c for c in sent)
    assert conn.sent == [(f"cat > /tmp/{farm.wheel.name}", b"hv.whl")]


def test_bring_up_skips_the_wheel_the_node_already_holds(farm, tmp_path):
    farm.marker_sha = farm.image.wheel_sha256
    run = RunDir(tmp_path / "run")
    run.ensure()
    node = qemu_state(farm, "node-1")
    steps: list[str] = []
    nodes.bring_up(run, node, steps.append, 5.0, nodes.Artifacts())
    assert node.state == READY
    assert "installed a newer hv" not in steps
    assert farm.conns["node-1"][0].sent == []


def test_bring_up_boot_failure_names_the_qemu_log(farm, tmp_path):
    run = RunDir(tmp_path / "run")
    run.ensure()
    farm.started.append(["qemu", "-append", "farm.name=node-1",
                         "hostfwd=tcp:127.0.0.1:40001-:22"])
    farm.banner_error["node-1"] = "127.0.0.1:40001: sshd did not answer within 5 s (timed out)"
    run.qemu_log("node-1").write_text("qemu-system-i386: -drive file=x: Could not open 'x'\n")
    node = qemu_state(farm, "node-1")
    with pytest.raises(FarmError) as info:
        nodes.bring_up(run, node, lambda text: None, 5.0, nodes.Artifacts())
    assert str(info.value) == (
        "127.0.0.1:40001: sshd did not answer within 5 s (timed out); last line of "
        f"{run.qemu_log('node-1')}: qemu-system-i386: -drive file=x: Could not open 'x'")
    assert "node-1" not in farm.conns                   # never tried ssh


# ---- up ----

def test_up_brings_every_node_to_ready(farm, tmp_path, quiet):
    run = RunDir(tmp_path / "run")
    result = nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)

    assert sorted(n.name for n in result) == ["node-1", "node-2"]
    for n in result:
        assert n.state == READY, n.reason
        assert n.health.startswith("hv selftest: ok")
        assert n.kind == "qemu" and n.host == "127.0.0.1" and n.user == "root"
        assert n.python == farm.image.python and n.workdir == nodes.QEMU_WORKDIR
        assert pid_alive(n.pid) and n.extra["image"] == "k123"
    assert farm.names() == ["node-1", "node-2"]
    assert result[0].port != result[1].port
    argv = farm.started[0]
    assert argv[0] == qemu.QEMU and str(farm.image.kernel) in argv
    assert f"hostfwd=tcp:127.0.0.1:{result[0].port}-:22" in " ".join(argv)
    # Another process (a new RunDir) sees the same thing.
    seen = RunDir(tmp_path / "run").load()
    assert {k: v.state for k, v in seen.items()} == {"node-1": READY, "node-2": READY}
    known = run.known_hosts.read_text().splitlines()
    assert sorted(known) == sorted(f"[127.0.0.1]:{n.port} {HOST_KEY}" for n in result)
    assert "Host node-1" in run.ssh_config.read_text()
    assert "ready" in quiet.file.getvalue()


def test_up_with_a_node_of_the_wrong_hv_version(farm, tmp_path, quiet):
    farm.versions["node-2"] = "0.0.9"
    run = RunDir(tmp_path / "run")
    result = {n.name: n for n in nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)}

    assert result["node-1"].state == READY
    assert result["node-2"].state == BAD
    assert result["node-2"].reason == f"hv 0.0.9 on the node, but hv {hv.__version__} here"
    seen = RunDir(tmp_path / "run").load()
    assert (seen["node-1"].state, seen["node-2"].state) == (READY, BAD)
    assert seen["node-2"].reason == result["node-2"].reason
    # Both nodes went all the way through; the bad one is still running (for a look).
    for name in ("node-1", "node-2"):
        assert any("-m hv selftest" in c for c in commands(farm.conns[name]))
    assert pid_alive(seen["node-2"].pid)
    assert [n.name for n in nodes.ready_nodes(run)] == ["node-1"]


def test_up_with_a_node_that_does_not_boot(farm, tmp_path, quiet):
    farm.banner_error["node-1"] = "QEMU exited during boot"
    run = RunDir(tmp_path / "run")
    result = {n.name: n for n in nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)}
    assert result["node-1"].state == BAD
    assert result["node-1"].reason.startswith("QEMU exited during boot; last line of ")
    assert result["node-2"].state == READY


def test_up_again_keeps_ready_nodes_and_retries_bad_ones(farm, tmp_path, quiet):
    farm.versions["node-2"] = "0.0.9"
    run = RunDir(tmp_path / "run")
    first = {n.name: n for n in nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)}
    del farm.versions["node-2"]

    second = {n.name: n for n in nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)}
    assert {k: v.state for k, v in second.items()} == {"node-1": READY, "node-2": READY}
    assert second["node-1"].pid == first["node-1"].pid              # untouched
    assert second["node-2"].pid != first["node-2"].pid              # restarted
    assert not pid_alive(first["node-2"].pid)                       # the old QEMU is stopped
    assert farm.names() == ["node-1", "node-2", "node-2"]


def test_up_with_count_adds_nodes(farm, tmp_path, quiet):
    run = RunDir(tmp_path / "run")
    result = nodes.up(run, TWO_NODES, count=3, console=quiet, boot_timeout=5.0)
    assert sorted(n.name for n in result) == ["node-1", "node-2", "node-3"]
    assert {n.state for n in result} == {READY}


def test_up_boots_a_node_whose_qemu_exited_again(farm, tmp_path, quiet):
    run = RunDir(tmp_path / "run")
    first = {n.name: n for n in nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)}
    farm.procs[0].kill()                                       # node-1's QEMU dies
    farm.procs[0].wait()

    second = {n.name: n for n in nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)}
    assert "farm: node-1: QEMU had exited; booting again" in quiet.file.getvalue()
    assert {k: v.state for k, v in second.items()} == {"node-1": READY, "node-2": READY}
    assert second["node-1"].pid != first["node-1"].pid
    assert second["node-2"].pid == first["node-2"].pid
    assert farm.names() == ["node-1", "node-2", "node-1"]


def test_up_marks_a_stale_node_bad(farm, tmp_path, quiet):
    run = RunDir(tmp_path / "run")
    gone = subprocess.Popen(["true"])
    gone.wait()
    with run.locked() as state:
        state["old-1"] = NodeState("old-1", "qemu", "127.0.0.1", 1, pid=gone.pid, state=READY)
    nodes.up(run, TWO_NODES, count=1, console=quiet, boot_timeout=5.0)
    seen = run.load()
    assert {k: v.state for k, v in seen.items()} == {"old-1": BAD, "node-1": READY}
    assert seen["old-1"].reason == f"its QEMU process ({gone.pid}) is gone"


PROBE_ANSWER = json.dumps({"python": "3.11", "impl": "cpython", "platform": "linux-aarch64",
                           "libc": "glibc", "libc_version": "2.36", "venv": True,
                           "executable": "/usr/bin/python3"})


@pytest.fixture
def ssh_supplies(tmp_path, monkeypatch):
    """What provisioning sends an SSH host, without building or downloading it."""
    house = tmp_path / "house"
    house.mkdir()
    (house / "pytest-8.0-py3-none-any.whl").write_bytes(b"pytest wheel")
    sdist = tmp_path / "hv-0.1.0.tar.gz"
    sdist.write_bytes(b"sdist")
    seen = []

    def for_host(self, info):
        seen.append(info)
        return sdist, "sdist-sha", house, "house-key"
    monkeypatch.setattr(provision.Supplies, "for_host", for_host)
    return seen


def test_up_provisions_an_ssh_host(farm, tmp_path, quiet, ssh_supplies):
    farm.extra_answers = [(r"^echo \$HOME$", ok("/home/tester\n")),
                          (r"^/usr/bin/python3 -c ", ok(PROBE_ANSWER + "\n")),
                          (r"^cat /home/tester/\.hv-farm/hv\.json", ok("")),
                          (r"^rm -rf /home/tester/\.hv-farm/wheels && mkdir -p .* && tar -xf - ",
                           ok())]
    inv = parse_inventory('[[ssh]]\nname = "box"\nhost = "10.0.0.5"\nuser = "tester"\n'
                          'python = "/usr/bin/python3"\n', "farm.toml")
    run = RunDir(tmp_path / "run")
    (box,) = nodes.up(run, inv, console=quiet, boot_timeout=5.0)

    assert box.state == READY, box.reason
    assert (box.kind, box.pid, box.user) == ("ssh", None, "tester")
    assert box.python == "/home/tester/.hv-farm/venv/bin/python"
    assert box.workdir == "/home/tester/.hv-farm/work"
    assert farm.started == []                                    # no QEMU for it
    (info,) = ssh_supplies
    assert (info.platform, info.python) == ("linux-aarch64", "3.11")
    (conn,) = farm.conns["box"]
    ((command, data),) = conn.sent                    # one tar of everything, on stdin
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == ["wheels/hv-0.1.0.tar.gz",
                                          "wheels/pytest-8.0-py3-none-any.whl"]
    install = next(c for c in commands([conn]) if " -m venv " in c)
    assert "/usr/bin/python3 -m venv /home/tester/.hv-farm/venv" in install
    assert "--no-index --find-links /home/tester/.hv-farm/wheels" in install
    assert install.endswith("> /home/tester/.hv-farm/hv.json")
    assert commands([conn])[-1] == "/home/tester/.hv-farm/venv/bin/python -m hv selftest"
    assert run.known_hosts.read_text() == ""         # checked against the user's known_hosts
    assert RunDir(tmp_path / "run").load()["box"].python == box.python
    home_known = str(Path("~/.ssh/known_hosts").expanduser().absolute())
    assert box.known_hosts == home_known
    assert f"UserKnownHostsFile {home_known}" in run.ssh_config.read_text()


SSH_WANT = {"version": hv.__version__, "hv_sha256": "sdist-sha", "wheelhouse": "house-key",
            "python": "cpython-3.11-linux-aarch64-glibc2.36"}
VENV_CHECK = "-c 'import hv, xdist, execnet'"


def _ssh_box(marker_answer: str) -> tuple[FakeConnection, SimpleNamespace]:
    conn = FakeConnection([(r"^echo \$HOME$", ok("/home/tester\n")),
                           (r"^/usr/bin/python3 -c ", ok(PROBE_ANSWER + "\n")),
                           (r"^cat /home/tester/\.hv-farm/hv\.json", ok(marker_answer)),
                           (r"^rm -rf /home/tester/\.hv-farm/wheels && ", ok()),
                           (r" -m venv ", ok())])
    return conn, SimpleNamespace(python="/usr/bin/python3", workdir=None)


def test_an_up_to_date_ssh_host_costs_one_marker_command(ssh_supplies):
    conn, node = _ssh_box(json.dumps(SSH_WANT) + "\n\nhv-farm-venv: ok\n")
    steps = []
    assert provision.provision_ssh_host(conn, node, provision.Supplies(), steps.append) is False
    assert (steps, conn.sent) == ([], [])
    assert node.python == "/home/tester/.hv-farm/venv/bin/python"
    # The venv is checked in the command that reads the marker, not in one of its own.
    (check,) = [c for c in conn.commands if VENV_CHECK in c]
    assert check.startswith("cat /home/tester/.hv-farm/hv.json 2>/dev/null && ")
    assert f"/home/tester/.hv-farm/venv/bin/python {VENV_CHECK}" in check
    assert len(conn.commands) == 3          # the probe, $HOME, the marker with the venv


@pytest.mark.parametrize("answer", [
    json.dumps(SSH_WANT) + "\n\nhv-farm-venv: broken\n",          # the venv stopped working
    json.dumps({**SSH_WANT, "version": "0.0.1"}) + "\n\nhv-farm-venv: ok\n",   # an older hv
    "",                                                             # never provisioned
    "{not json\nhv-farm-venv: ok\n",                                # a damaged marker
])
def test_an_ssh_host_is_provisioned_unless_marker_and_venv_agree(ssh_supplies, answer):
    conn, node = _ssh_box(answer)
    steps = []
    assert provision.provision_ssh_host(conn, node, provision.Supplies(), steps.append) is True
    assert steps == ["provisioning (sending hv and 1 wheels)",
                     "provisioning (installing into a venv)"]
    assert len(conn.sent) == 1
    assert sum(VENV_CHECK in c for c in conn.commands) == 1


def test_the_marker_command_in_a_real_shell(tmp_path):
    # What the fakes cannot show: the command's shell is right.
    marker, python = tmp_path / "hv.json", tmp_path / "python"

    class Shell:
        def run(self, command, hide=None, warn=False, timeout=None, in_stream=None):
            done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
            return FakeResult(done.returncode, done.stdout, done.stderr)

    assert provision._installed(Shell(), str(marker), str(python)) == ({}, False)
    marker.write_text('{"version": "1"}')                 # no newline at the end
    assert provision._installed(Shell(), str(marker), str(python)) == ({"version": "1"}, False)
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)
    assert provision._installed(Shell(), str(marker), str(python)) == ({"version": "1"}, True)
    python.write_text("#!/bin/sh\nexit 1\n")           # it runs, but cannot import them
    assert provision._installed(Shell(), str(marker), str(python)) == ({"version": "1"}, False)
    marker.unlink()
    python.write_text("#!/bin/sh\nexit 0\n")
    assert provision._installed(Shell(), str(marker), str(python)) == ({}, False)


def test_up_with_an_ssh_host_whose_upload_breaks(farm, tmp_path, quiet, ssh_supplies):
    farm.extra_answers = [(r"^echo \$HOME$", ok("/home/tester\n")),
                          (r"^python3 -c ", ok(PROBE_ANSWER + "\n"))]
    farm.put_error = SSHException("Channel closed.")
    inv = parse_inventory('[[qemu]]\nname = "node"\n\n'
                          '[[ssh]]\nname = "box"\nhost = "10.0.0.5"\n', "farm.toml")
    result = {n.name: n for n in nodes.up(RunDir(tmp_path / "run"), inv, console=quiet,
                                          boot_timeout=5.0)}
    assert {k: n.state for k, n in result.items()} == {"node-1": READY, "box": BAD}
    assert result["box"].reason.startswith("sending "), result["box"].reason
    assert result["box"].reason.endswith(": Channel closed."), result["box"].reason


def test_up_with_an_ssh_host_without_venv(farm, tmp_path, quiet, ssh_supplies):
    farm.extra_answers = [(r"^echo \$HOME$", ok("/home/tester\n")),
                          (r"^python3 -c ", ok(PROBE_ANSWER.replace('"venv": true',
                                                                    '"venv": false') + "\n"))]
    inv = parse_inventory('[[ssh]]\nname = "box"\nhost = "10.0.0.5"\n', "farm.toml")
    (box,) = nodes.up(RunDir(tmp_path / "run"), inv, console=quiet, boot_timeout=5.0)
    assert box.state == BAD
    assert box.reason == ("/usr/bin/python3 on the host cannot make a venv (it has no "
                          "venv/ensurepip module; on Debian: apt-get install python3-venv)")


# ---- down ----

def test_down_stops_and_forgets_nodes(farm, tmp_path, quiet):
    run = RunDir(tmp_path / "run")
    result = nodes.up(run, TWO_NODES, console=quiet, boot_timeout=5.0)
    pids = {n.name: n.pid for n in result}

    # No QMP socket (no real QEMU): qemu.stop falls back to SIGTERM.
    assert nodes.down(run, ["node-2"]) == [("node-2", "terminated")]
    assert not pid_alive(pids["node-2"]) and pid_alive(pids["node-1"])
    assert set(RunDir(tmp_path / "run").load()) == {"node-1"}
    assert "Host node-2" not in run.ssh_config.read_text()
    assert run.known_hosts.read_text() == f"[127.0.0.1]:{result[0].port} {HOST_KEY}\n"

    assert nodes.down(run) == [("node-1", "terminated")]
    assert not pid_alive(pids["node-1"])
    assert RunDir(tmp_path / "run").load() == {}
    assert nodes.down(run) == []


def test_down_of_ssh_hosts_and_gone_nodes(tmp_path):
    run = RunDir(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with run.locked() as state:
        state["box"] = NodeState("box", "ssh", "10.0.0.5", 22)
        state["q"] = NodeState("q", "qemu", "127.0.0.1", 1, pid=gone.pid)
    assert nodes.down(run) == [("box", "forgotten (not ours to stop)"), ("q", "already gone")]


def test_down_leaves_a_reused_pid_alone(tmp_path):
    other = subprocess.Popen(["sleep", "60"])               # not QEMU: the pid was reused
    try:
        run = RunDir(tmp_path)
        with run.locked() as state:
            state["q"] = NodeState("q", "qemu", "127.0.0.1", 1, pid=other.pid)
        assert not state["q"].alive()
        assert nodes.down(run) == [("q", "already gone")]
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_down_of_an_unknown_node(farm, tmp_path, quiet):
    run = RunDir(tmp_path / "run")
    nodes.up(run, TWO_NODES, count=1, console=quiet, boot_timeout=5.0)
    with pytest.raises(FarmError) as info:
        nodes.down(run, ["nope"])
    assert str(info.value) == "no such node: nope (see farm status)"
    assert set(run.load()) == {"node-1"}                        # nothing was stopped


# ---- the farm command ----

def test_cli_status_on_an_empty_run_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status", "--run-dir", ".farm"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "farm: no nodes in .farm (start some with 'farm up')\n"


def test_cli_status_json_on_an_empty_run_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["status", "--json", "--run-dir", ".farm"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_exec_without_ready_nodes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["exec", "--run-dir", ".farm", "uname", "-a"]) == 2
    err = capsys.readouterr().err
    assert err == "farm: error: no ready nodes in .farm (start them with 'farm up')\n"


@pytest.mark.parametrize("argv", [["exec"], ["exec", "--"], ["exec", "--timeout", "3"]])
def test_cli_exec_without_a_command(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("farm: error: farm exec needs a command, e.g. farm exec uname -a")
    assert "Traceback" not in err


def test_cli_up_with_an_unknown_inventory_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text('[[qemu]]\ncout = 2\n')
    assert cli.main(["up", "-i", "bad.toml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert captured.err == ("farm: error: bad.toml: [[qemu]] #1: unknown key 'cout' "
                            "(known: count, image, memory_mib, name)\n")     # one line
    assert not Path(".farm").exists()                           # nothing was started


def test_cli_up_status_exec_down(farm, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["up", "--run-dir", ".farm", "--boot-timeout", "5"]) == 0
    captured = capsys.readouterr()
    assert "node-1" in captured.out and "ready" in captured.out

    assert cli.main(["status", "--json", "--run-dir", ".farm"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [n["name"] for n in listed] == ["node-1", "node-2"]
    assert {n["state"] for n in listed} == {READY}

    # exec: node-2 fails its command; every node reports, exit 1.
    def connect(run, node, timeout=10.0):
        answer = ok("i686\n") if node.name == "node-1" else FakeResult(3, "i686\n", "oops\n")
        return FakeConnection([(r"^uname -m$", answer)], node.name)
    monkeypatch.setattr(remote, "connect", connect)
    assert cli.main(["exec", "--run-dir", ".farm", "--", "uname", "-m"]) == 1
    captured = capsys.readouterr()
    assert "node-1: exit 0" in captured.out and "node-2: exit 3" in captured.out
    assert captured.out.count("i686") == 2
    assert "farm: failed on 1 of 2 nodes: node-2" in captured.err

    pids = [n["pid"] for n in listed]
    assert cli.main(["down", "--run-dir", ".farm"]) == 0
    err = capsys.readouterr().err
    assert "farm: node-1: terminated" in err and "farm: node-2: terminated" in err
    assert not any(pid_alive(p) for p in pids)
    assert cli.main(["status", "--json", "--run-dir", ".farm"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_up_with_a_bad_node_exits_1(farm, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    farm.versions["node-1"] = "0.0.9"
    assert cli.main(["up", "--run-dir", ".farm", "--boot-timeout", "5"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (f"farm: 1 of 2 nodes are bad: node-1: hv 0.0.9 on the node, but hv "
            f"{hv.__version__} here") in err
    assert {n.name: n.state for n in RunDir(".farm").load().values()} == {
        "node-1": BAD, "node-2": READY}


def test_cli_down_of_an_unknown_node(farm, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["up", "--run-dir", ".farm", "-n", "1"]) == 0
    capsys.readouterr()
    assert cli.main(["down", "--run-dir", ".farm", "nope"]) == 2
    assert capsys.readouterr().err == "farm: error: no such node: nope (see farm status)\n"
