"""farm's run directory (state.json under its lock), node planning and the ssh files.

No QEMU, no network: QEMU nodes are NodeStates whose pid is a process the
test owns (alive: `sleep` running as "qemu-system-i386", since farm checks
the command line against pid reuse; dead: a child that exited and was reaped).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from farm import nodes
from farm.errors import FarmError
from farm.inventory import QemuNode, SshHost, parse_inventory
from farm.state import BAD, BOOTING, READY, NodeState, RunDir, pid_alive

PID = 424242                  # recorded, never signalled
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFarmHostKeyForTests"


def start_fake_qemu() -> subprocess.Popen:
    """`sleep 60` running as "qemu-system-i386", as farm's NodeState.alive() wants it.

    Right after exec, /proc/PID/cmdline reads empty for a moment; wait for it.
    """
    proc = subprocess.Popen(["qemu-system-i386", "60"], executable=shutil.which("sleep"),
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.001)
    return proc


@pytest.fixture
def qemu_pid():
    """The pid of a live process whose command line says qemu (killed afterwards)."""
    proc = start_fake_qemu()
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


def qemu_node(name: str, port: int, pid: int | None) -> NodeState:
    return NodeState(name, "qemu", "127.0.0.1", port, key="/keys/farm_ed25519",
                     python="/opt/farm/venv/bin/python", workdir="/root/hv-farm/work", pid=pid)


def ssh_node(name: str = "box") -> NodeState:
    return NodeState(name, "ssh", "10.0.0.5", 2222, user="tester", key=None, python="python3")


# ---- RunDir ----

def test_state_round_trip_between_rundir_objects(tmp_path):
    writer = RunDir(tmp_path / "run")
    with writer.locked() as state:
        assert state == {}
        state["node-1"] = qemu_node("node-1", 40001, PID)
        state["node-1"].extra = {"image": "abc123"}
        state["box"] = ssh_node()
    assert (tmp_path / "run" / "state.lock").exists()

    reader = RunDir(tmp_path / "run")
    loaded = reader.load()
    assert list(loaded) == ["node-1", "box"]
    expected = qemu_node("node-1", 40001, PID)
    expected.extra = {"image": "abc123"}
    assert loaded["node-1"] == expected
    assert loaded["node-1"].state == BOOTING
    assert loaded["box"] == ssh_node()
    assert loaded["box"].address == "10.0.0.5:2222"
    doc = json.loads(reader.state_file.read_text())
    assert doc["version"] == 1 and [n["name"] for n in doc["nodes"]] == ["node-1", "box"]
    assert not list((tmp_path / "run").glob("*.tmp"))         # written atomically


def test_load_of_a_missing_run_dir_is_empty_and_creates_nothing(tmp_path):
    run = RunDir(tmp_path / "nothing")
    assert run.load() == {}
    assert not run.path.exists()


def test_unknown_fields_in_state_json_are_ignored(tmp_path):
    run = RunDir(tmp_path)
    node = {"name": "n", "kind": "ssh", "host": "h", "port": 22, "from_the_future": 1}
    run.state_file.write_text(json.dumps({"version": 1, "nodes": [node]}))
    assert run.load()["n"] == NodeState("n", "ssh", "h", 22)


def test_update_changes_one_node_only(tmp_path):
    run = RunDir(tmp_path)
    with run.locked() as state:
        state["a"] = qemu_node("a", 1, PID)
        state["b"] = qemu_node("b", 2, PID)
    run.update("a", state=READY, health="hv selftest: ok", hv_version="0.1.0")
    run.update("ghost", state=BAD)                           # not recorded: no-op
    loaded = RunDir(tmp_path).load()
    assert set(loaded) == {"a", "b"}
    assert (loaded["a"].state, loaded["a"].health, loaded["a"].hv_version) == (
        READY, "hv selftest: ok", "0.1.0")
    assert loaded["b"] == qemu_node("b", 2, PID)


def test_mark_bad_goes_through_the_state_file(tmp_path):
    run = RunDir(tmp_path)
    with run.locked() as state:
        state["a"] = qemu_node("a", 1, PID)
    nodes.mark_bad(run, "a", "lost during farm run: EOF")
    node = RunDir(tmp_path).load()["a"]
    assert (node.state, node.reason) == (BAD, "lost during farm run: EOF")


@pytest.mark.parametrize("text, what", [
    ("{not json", "unreadable farm state"),
    ("", "unreadable farm state"),
    ('{"version": 99, "nodes": []}', "state version 99, expected 1"),
])
def test_corrupt_state_json_is_one_line_naming_the_file(tmp_path, text, what):
    run = RunDir(tmp_path)
    run.state_file.write_text(text)
    for attempt in (run.load, lambda: run.locked().__enter__()):
        with pytest.raises(FarmError) as info:
            attempt()
        message = str(info.value)
        assert message.startswith(f"{run.state_file}: ")
        assert what in message
        assert "\n" not in message


def test_ensure_reports_an_uncreatable_run_dir(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(FarmError, match=r"file/run: cannot create the run directory"):
        RunDir(tmp_path / "file" / "run").ensure()


def test_node_alive(qemu_pid):
    assert qemu_node("a", 1, qemu_pid).alive()
    assert not qemu_node("a", 1, dead_pid()).alive()
    assert not qemu_node("a", 1, None).alive()
    # A live process that is not QEMU: the pid was reused, the node is gone.
    assert pid_alive(os.getpid()) and not qemu_node("a", 1, os.getpid()).alive()
    assert ssh_node().alive()                              # not ours: always "alive"


# ---- refresh ----

def test_refresh_marks_dead_qemu_nodes_bad(tmp_path, qemu_pid):
    run = RunDir(tmp_path)
    gone = dead_pid()
    with run.locked() as state:
        state["dead"] = qemu_node("dead", 40001, gone)
        state["dead"].state = READY
        state["alive"] = qemu_node("alive", 40002, qemu_pid)
        state["alive"].state = READY
        state["box"] = ssh_node()
        nodes.write_ssh_files(run, state, HOST_KEY)
    config = run.ssh_config.read_text()

    assert nodes.refresh(run) == ["dead"]

    seen = RunDir(tmp_path).load()
    assert set(seen) == {"dead", "alive", "box"}            # kept, for `farm status`
    assert (seen["dead"].state, seen["dead"].reason) == (BAD, f"its QEMU process ({gone}) "
                                                               "is gone")
    assert seen["alive"].state == READY and seen["box"].state == BOOTING
    assert [n.name for n in nodes.ready_nodes(run)] == ["alive"]
    assert run.ssh_config.read_text() == config
    assert nodes.refresh(run) == []                          # already bad: said once


def test_ready_nodes_skips_bad_booting_and_dead(tmp_path, qemu_pid):
    run = RunDir(tmp_path)
    with run.locked() as state:
        for name, st, pid in [("r", READY, qemu_pid), ("b", BAD, qemu_pid),
                              ("x", BOOTING, qemu_pid), ("d", READY, dead_pid())]:
            state[name] = qemu_node(name, 1, pid)
            state[name].state = st
    assert [n.name for n in nodes.ready_nodes(run)] == ["r"]


# ---- plan_nodes ----

QEMU_AND_SSH = ('[[qemu]]\nname = "tcg"\ncount = 2\nmemory_mib = 256\n\n'
                '[[ssh]]\nname = "box"\nhost = "10.0.0.5"\n')


def test_plan_nodes_without_count_is_the_inventory():
    inv = parse_inventory(QEMU_AND_SSH, "farm.toml")
    assert nodes.plan_nodes(inv, None) == list(inv.nodes)


def test_plan_nodes_cuts_to_count():
    inv = parse_inventory(QEMU_AND_SSH, "farm.toml")
    assert [n.name for n in nodes.plan_nodes(inv, 1)] == ["tcg-1"]
    assert [n.name for n in nodes.plan_nodes(inv, 3)] == ["tcg-1", "tcg-2", "box"]


def test_plan_nodes_extends_with_qemu_nodes_like_the_last_one():
    inv = parse_inventory(QEMU_AND_SSH, "farm.toml")
    planned = nodes.plan_nodes(inv, 5)
    assert [n.name for n in planned] == ["tcg-1", "tcg-2", "box", "tcg-3", "tcg-4"]
    assert planned[3:] == [QemuNode("tcg-3", 256), QemuNode("tcg-4", 256)]


def test_plan_nodes_skips_names_already_taken():
    inv = parse_inventory('[[qemu]]\nname = "n"\ncount = 2\n\n'
                          '[[ssh]]\nname = "n-3"\nhost = "h"\n', "farm.toml")
    assert [n.name for n in nodes.plan_nodes(inv, 5)] == ["n-1", "n-2", "n-3", "n-4", "n-5"]


def test_plan_nodes_cannot_extend_an_ssh_only_inventory():
    inv = parse_inventory('[[ssh]]\nname = "box"\nhost = "h"\n', "hosts.toml")
    assert nodes.plan_nodes(inv, 1) == [SshHost("box", "h")]
    with pytest.raises(FarmError) as info:
        nodes.plan_nodes(inv, 2)
    assert str(info.value) == ("hosts.toml: has 1 SSH hosts and no [[qemu]] nodes, "
                               "so -n 2 cannot add nodes")


@pytest.mark.parametrize("count", [0, -1])
def test_plan_nodes_refuses_less_than_one(count):
    inv = parse_inventory(QEMU_AND_SSH, "farm.toml")
    with pytest.raises(FarmError, match=f"^-n must be at least 1, not {count}$"):
        nodes.plan_nodes(inv, count)


# ---- ssh_config and known_hosts ----

def test_write_ssh_files(tmp_path):
    run = RunDir(tmp_path / "run")
    run.ensure()
    state = {"node-1": qemu_node("node-1", 40001, 1), "node-2": qemu_node("node-2", 40002, 2),
             "box": ssh_node()}
    nodes.write_ssh_files(run, state, HOST_KEY)

    assert run.known_hosts.read_text().splitlines() == [
        f"[127.0.0.1]:40001 {HOST_KEY}", f"[127.0.0.1]:40002 {HOST_KEY}"]
    config = run.ssh_config.read_text()
    assert f"ssh -F {run.ssh_config.resolve()} NODE" in config
    blocks = {b.split("\n", 1)[0]: b for b in config.split("\nHost ")[1:]}
    assert set(blocks) == {"node-1", "node-2", "box"}
    node1 = blocks["node-1"]
    for line in ("HostName 127.0.0.1", "Port 40001", "User root",
                 "IdentityFile /keys/farm_ed25519", "IdentitiesOnly yes",
                 f"UserKnownHostsFile {run.known_hosts.resolve()}",
                 "StrictHostKeyChecking yes", "BatchMode yes"):
        assert f"    {line}\n" in node1 + "\n", line
    box = blocks["box"]
    assert "    HostName 10.0.0.5\n" in box and "    Port 2222\n" in box
    assert "    User tester\n" in box
    # An SSH host is checked against the user's own known_hosts, with the user's keys.
    assert "UserKnownHostsFile" not in box and "IdentityFile" not in box


def test_write_ssh_files_without_a_host_key_writes_no_known_hosts_lines(tmp_path):
    run = RunDir(tmp_path)
    nodes.write_ssh_files(run, {"node-1": qemu_node("node-1", 40001, 1)})
    assert run.known_hosts.read_text() == ""
    assert "Host node-1" in run.ssh_config.read_text()
