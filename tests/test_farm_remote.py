"""farm.remote against a fake fabric connection: health checks, uploads, wheels, exec.

`FakeConnection` stands in for fabric.Connection (test_farm_lifecycle.py uses
it too): `run()` answers from a table of regex -> response and records every
command; what farm sends on a command's stdin (remote.send, which the
`fake_send` fixture routes here) is recorded in `sent` and answered from the
same table.  The real channel is tested against a real sshd
(test_farm_sshd.py).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from paramiko.ssh_exception import NoValidConnectionsError

from farm import remote
from farm.errors import FarmError

VERSION_AND_SELFTEST = r"-m hv selftest$"


@dataclass
class FakeResult:
    """What fabric's Connection.run returns (invoke.Result), as far as farm looks."""

    exited: int = 0
    stdout: str = ""
    stderr: str = ""


Response = FakeResult | BaseException | Callable[[str], "FakeResult"]


def ok(stdout: str = "") -> FakeResult:
    return FakeResult(0, stdout, "")


def healthy(version: str = "0.1.0") -> FakeResult:
    return ok(f"hv {version}\nhv selftest: ok (hv {version}, python 3.11.2 i686, "
              "switcher emu, 90084 instructions in 1.2 ms)\n")


class FakeConnection:
    """A fabric.Connection look-alike that never opens a socket.

    `table` is a list of (regex, response); the first regex that matches a
    command (re.search) answers it.  A response is a FakeResult, an exception
    to raise, or a callable taking the command and returning either.
    Unmatched commands exit 127.
    """

    def __init__(self, table: list[tuple[str, Response]] | None = None, name: str = "fake"):
        self.table = list(table or [])
        self.name = name
        self.commands: list[str] = []
        self.run_kwargs: list[dict[str, object]] = []
        self.sent: list[tuple[str, bytes]] = []        # (command, its stdin)
        self.send_error: BaseException | None = None
        self.closed = 0

    def __repr__(self) -> str:
        return f"<FakeConnection {self.name}>"

    def run(self, command: str, hide=None, warn=False, timeout=None, in_stream=None):
        self.commands.append(command)
        self.run_kwargs.append({"hide": hide, "warn": warn, "timeout": timeout,
                                "in_stream": in_stream})
        for pattern, response in self.table:
            if re.search(pattern, command):
                if callable(response) and not isinstance(response, BaseException):
                    response = response(command)
                if isinstance(response, BaseException):
                    raise response
                return response
        return FakeResult(127, "", f"sh: 1: fake: no answer for {command!r}")

    def receive(self, command: str, data: bytes) -> FakeResult:
        """remote.send's side: `command` run with `data` on its stdin."""
        if self.send_error is not None:
            raise self.send_error
        self.sent.append((command, data))
        return self.run(command)

    def close(self) -> None:
        self.closed += 1


def fake_send(conn, command: str, data: bytes, timeout: float = 300.0) -> str:
    """remote.send for a FakeConnection: the same errors, no channel."""
    try:
        result = conn.receive(command, data)
    except Exception as exc:
        raise FarmError(f"sending {len(data)} bytes to `{command}`: {remote.one_line(exc)}"
                        ) from None
    if result.exited != 0:
        raise FarmError(f"`{command}` exited {result.exited}")
    return result.stdout


@pytest.fixture(autouse=True)
def fake_channel(monkeypatch):
    monkeypatch.setattr(remote, "send", fake_send)


# ---- remote.run and check_health ----

def test_run_returns_stdout_and_hides_and_never_reads_stdin():
    conn = FakeConnection([(r"^uname$", ok("Linux\n"))])
    assert remote.run(conn, "uname", timeout=7) == "Linux\n"
    assert conn.run_kwargs == [{"hide": True, "warn": True, "timeout": 7, "in_stream": False}]


def test_run_failure_is_one_line_with_the_last_stderr_line():
    conn = FakeConnection([(r"make", FakeResult(2, "building\n", "warning: x\nerror: no rule\n"))])
    with pytest.raises(FarmError) as info:
        remote.run(conn, "make all")
    assert str(info.value) == "`make all` exited 2: error: no rule"


def test_check_health_ok():
    conn = FakeConnection([(VERSION_AND_SELFTEST, healthy("0.1.0"))])
    health = remote.check_health(conn, "/opt/farm/venv/bin/python", "0.1.0")
    assert health.version == "0.1.0"
    assert health.line.startswith("hv selftest: ok (hv 0.1.0")
    assert conn.commands == ["/opt/farm/venv/bin/python -m hv selftest"]


def test_check_health_quotes_the_python_path():
    conn = FakeConnection([(VERSION_AND_SELFTEST, healthy())])
    remote.check_health(conn, "/opt/my venv/bin/python", "0.1.0")
    assert conn.commands[0] == "'/opt/my venv/bin/python' -m hv selftest"


def test_check_health_version_mismatch():
    conn = FakeConnection([(VERSION_AND_SELFTEST, healthy("0.0.9"))])
    with pytest.raises(FarmError) as info:
        remote.check_health(conn, "python3", "0.1.0")
    assert str(info.value) == "hv 0.0.9 on the node, but hv 0.1.0 here"


def test_check_health_selftest_failed_output():
    conn = FakeConnection([(VERSION_AND_SELFTEST,
                            ok("hv 0.1.0\nhv selftest: FAILED: guest exited 3\n"))])
    with pytest.raises(FarmError) as info:
        remote.check_health(conn, "python3", "0.1.0")
    assert str(info.value) == "hv selftest: hv selftest: FAILED: guest exited 3"


def test_check_health_ok_must_start_the_line():
    conn = FakeConnection([(VERSION_AND_SELFTEST,
                            ok("hv selftest: FAILED: broken token (hv 0.1.0, ok)\n"))])
    with pytest.raises(FarmError, match="FAILED: broken token"):
        remote.check_health(conn, "python3", "0.1.0")


def test_check_health_without_selftest_output():
    conn = FakeConnection([(VERSION_AND_SELFTEST, ok(""))])
    with pytest.raises(FarmError, match="^hv selftest: no output$"):
        remote.check_health(conn, "python3", "0.1.0")


def test_check_health_nonzero_exit_gives_the_last_stderr_line():
    stderr = ("Traceback (most recent call last):\n  ...\n"
              "ModuleNotFoundError: No module named 'hv'\n")
    conn = FakeConnection([(VERSION_AND_SELFTEST, FakeResult(1, "", stderr))])
    with pytest.raises(FarmError) as info:
        remote.check_health(conn, "python3", "0.1.0")
    message = str(info.value)
    assert message.endswith("exited 1: ModuleNotFoundError: No module named 'hv'")
    assert "\n" not in message


def test_check_health_garbage_version_output():
    conn = FakeConnection([(VERSION_AND_SELFTEST, ok("Python 3.11\n"))])
    with pytest.raises(FarmError, match="^hv selftest: Python 3.11$"):
        remote.check_health(conn, "python3", "0.1.0")


def test_check_health_connection_error_is_one_line():
    error = NoValidConnectionsError(
        {("127.0.0.1", 40001): ConnectionRefusedError(111, "Connection refused")})
    conn = FakeConnection([(".", error)])
    with pytest.raises(FarmError) as info:
        remote.check_health(conn, "python3", "0.1.0")
    message = str(info.value)
    assert "connect" in message.lower() and "\n" not in message


# ---- upload_files ----

class FakeNodeFiles:
    """A node's work directory, kept in a local directory: answers the manifest `cat`
    and really unpacks the uploaded tar.gz on `tar -xzf`."""

    def __init__(self, root: Path, workdir: str = "/root/hv-farm/work"):
        self.root = root
        self.workdir = workdir
        self.bundles: list[bytes] = []
        self.conn = FakeConnection([
            (r"^mkdir -p .* && cat .*\.farm-manifest\.json", self._cat_manifest),
            (r"^tar -xzf - -C ", self._untar),
        ], name="files")

    def _cat_manifest(self, command: str) -> FakeResult:
        path = self.root / remote.MANIFEST
        return ok(path.read_text() if path.exists() else "")

    def _untar(self, command: str) -> FakeResult:
        sent, data = self.conn.sent[-1]
        assert sent == command == f"tar -xzf - -C {self.workdir}"
        self.bundles.append(data)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(self.root, filter="data")
        return ok()


def bundle_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


@pytest.fixture
def project(tmp_path):
    src = tmp_path / "src"
    (src / "images" / "build").mkdir(parents=True)
    (src / "images" / "build" / "suite_demo.elf").write_bytes(b"\x7fELF demo")
    (src / "images" / "build" / "suite_asserts.elf").write_bytes(b"\x7fELF asserts")
    (src / "pytest.ini").write_text("[pytest]\n")
    return src


FILES = ["images/build/suite_demo.elf", "images/build/suite_asserts.elf", "pytest.ini"]


def test_upload_files_first_time_sends_everything_in_one_tar(tmp_path, project):
    node = FakeNodeFiles(tmp_path / "node")
    node.root.mkdir()
    sent = remote.upload_files(node.conn, node.workdir, project, FILES)

    assert sent == sorted(FILES)
    assert len(node.conn.sent) == 1
    command, data = node.conn.sent[0]
    assert command == "tar -xzf - -C /root/hv-farm/work"
    members = bundle_members(data)
    assert set(members) == {*FILES, ".farm-manifest.json"}
    assert members["images/build/suite_demo.elf"] == b"\x7fELF demo"
    manifest = json.loads(members[".farm-manifest.json"])
    assert manifest == {f: remote.sha256_file(project / f) for f in FILES}
    # The node now holds the files at the same relative paths.
    assert (node.root / "images/build/suite_asserts.elf").read_bytes() == b"\x7fELF asserts"
    assert node.conn.commands[0].startswith(
        "mkdir -p /root/hv-farm/work && rm -rf /root/hv-farm/work/_pytest "
        "/root/hv-farm/work/pytest && cat ")


def test_upload_files_removes_the_pytest_copies_xdist_left(tmp_path, project):
    """Left in the work directory, xdist's old copies of pytest would shadow the node's."""
    import subprocess
    work = tmp_path / "work"
    for leftover in ("_pytest/main.py", "pytest/__init__.py", "images/keep.elf"):
        (work / leftover).parent.mkdir(parents=True, exist_ok=True)
        (work / leftover).write_text("x")
    conn = FakeConnection([(r"^mkdir -p", ok("")), (r"^tar -xzf", ok(""))])
    remote.upload_files(conn, str(work), project, FILES)
    subprocess.run(["sh", "-c", conn.commands[0]], check=True, capture_output=True)
    assert sorted(p.name for p in work.iterdir()) == ["images"]
    # A run that ships a directory of that name itself keeps it.
    (project / "pytest").mkdir()
    (project / "pytest" / "conftest.py").write_text("")
    conn = FakeConnection([(r"^mkdir -p", ok("")), (r"^tar -xzf", ok(""))])
    remote.upload_files(conn, str(work), project, [*FILES, "pytest/conftest.py"])
    assert "/pytest " not in conn.commands[0] and f"{work}/_pytest" in conn.commands[0]


def test_upload_files_sends_nothing_when_the_node_is_up_to_date(tmp_path, project):
    node = FakeNodeFiles(tmp_path / "node")
    node.root.mkdir()
    remote.upload_files(node.conn, node.workdir, project, FILES)
    commands_before = len(node.conn.commands)

    assert remote.upload_files(node.conn, node.workdir, project, FILES) == []
    assert len(node.conn.sent) == 1                       # nothing new was sent
    assert len(node.conn.commands) == commands_before + 1  # only the manifest was read


def test_upload_files_sends_only_what_changed(tmp_path, project):
    node = FakeNodeFiles(tmp_path / "node")
    node.root.mkdir()
    remote.upload_files(node.conn, node.workdir, project, FILES)
    (project / "images/build/suite_demo.elf").write_bytes(b"\x7fELF demo v2")

    assert remote.upload_files(node.conn, node.workdir, project, FILES) == [
        "images/build/suite_demo.elf"]
    members = bundle_members(node.conn.sent[-1][1])
    assert set(members) == {"images/build/suite_demo.elf", ".farm-manifest.json"}
    # The manifest sent covers every file the node holds, not just the changed one.
    manifest = json.loads(members[".farm-manifest.json"])
    assert manifest == {f: remote.sha256_file(project / f) for f in FILES}
    assert (node.root / "images/build/suite_demo.elf").read_bytes() == b"\x7fELF demo v2"


def test_upload_files_with_a_garbled_manifest_sends_everything(tmp_path, project):
    node = FakeNodeFiles(tmp_path / "node")
    node.root.mkdir()
    (node.root / remote.MANIFEST).write_text("{garbage")
    assert remote.upload_files(node.conn, node.workdir, project, FILES) == sorted(FILES)


def test_upload_files_put_failure_is_a_farm_error(tmp_path, project):
    conn = FakeConnection([(r"^mkdir -p", ok(""))])
    conn.send_error = OSError("Socket is closed")
    with pytest.raises(FarmError, match=r"^upload to /w: sending \d+ bytes to `tar -xzf - -C "
                                        r"/w`: Socket is closed$"):
        remote.upload_files(conn, "/w", project, FILES)


# ---- install_wheel ----

MARKER = "/opt/farm/hv.json"


@pytest.fixture
def wheel(tmp_path):
    path = tmp_path / "hv-0.1.0-cp311-cp311-linux_i686.whl"
    path.write_bytes(b"PK wheel bytes")
    return path


def test_install_wheel_skips_when_the_marker_holds_the_same_sha(wheel):
    digest = remote.sha256_file(wheel)
    marker = json.dumps({"version": "0.1.0", "wheel_sha256": digest})
    conn = FakeConnection([(r"^cat /opt/farm/hv\.json", ok(marker + "\n"))])
    assert remote.install_wheel(conn, "/opt/farm/venv/bin/python", wheel, digest, "0.1.0",
                                MARKER) is False
    assert conn.sent == []
    assert len(conn.commands) == 1


@pytest.mark.parametrize("held", ["", '{"version": "0.0.9", "wheel_sha256": "0ld"}', "{junk"])
def test_install_wheel_installs_otherwise(wheel, held):
    digest = remote.sha256_file(wheel)
    conn = FakeConnection([(r"^cat /opt/farm/hv\.json", ok(held)),
                           (r"^cat > /tmp/", ok()), (r"-m pip install", ok())])
    assert remote.install_wheel(conn, "/opt/farm/venv/bin/python", wheel, digest, "0.1.0",
                                MARKER) is True
    assert conn.sent == [(f"cat > /tmp/{wheel.name}", b"PK wheel bytes")]
    install = conn.commands[-1]
    assert install.startswith("/opt/farm/venv/bin/python -m pip install -q --no-index "
                              f"--no-deps --force-reinstall --no-compile /tmp/{wheel.name} && "
                              f"rm -f /tmp/{wheel.name} && printf ")
    # The marker records the new wheel, written only after pip succeeded.
    info = json.dumps({"version": "0.1.0", "wheel_sha256": digest})
    assert install.endswith(f"'{info}' > {MARKER}")
    assert conn.run_kwargs[-1]["timeout"] == 300


def test_install_wheel_pip_failure(wheel):
    conn = FakeConnection([(r"^cat ", ok("")),
                           (r"-m pip install", FakeResult(1, "", "ERROR: bad wheel\n"))])
    with pytest.raises(FarmError, match=r"exited 1: ERROR: bad wheel$"):
        remote.install_wheel(conn, "python3", wheel, "abc", "0.1.0", MARKER)


# ---- exec_all ----

def test_exec_all_gives_every_host_a_result():
    conns = {
        "node-1": FakeConnection([(r"^uname -m$", ok("i686\n"))], "node-1"),
        "node-2": FakeConnection([(r"^uname -m$", FakeResult(1, "", "uname: boom\n"))],
                                 "node-2"),
        "node-3": FakeConnection([(r".", TimeoutError("timed out"))], "node-3"),  # socket.timeout
        "node-4": FakeConnection([(r".", NoValidConnectionsError(
            {("127.0.0.1", 40004): ConnectionRefusedError(111, "Connection refused")}))],
            "node-4"),
    }
    results = remote.exec_all(conns, "uname -m", timeout=5)

    assert [r.node for r in results] == ["node-1", "node-2", "node-3", "node-4"]
    by = {r.node: r for r in results}
    assert by["node-1"] == remote.ExecResult("node-1", True, 0, "i686\n", "")
    assert by["node-2"] == remote.ExecResult("node-2", False, 1, "", "uname: boom\n")
    assert (by["node-3"].ok, by["node-3"].exited) == (False, None)
    assert "timed out" in by["node-3"].stderr
    assert (by["node-4"].ok, by["node-4"].exited) == (False, None)
    assert "connect" in by["node-4"].stderr.lower()
    assert "refused" in by["node-4"].stderr.lower()
    for r in (by["node-3"], by["node-4"]):              # the error, on one line
        assert r.stdout == "" and r.stderr.strip() and "\n" not in r.stderr
    for conn in conns.values():
        assert conn.commands == ["uname -m"]
        assert conn.run_kwargs == [{"hide": True, "warn": True, "timeout": 5,
                                    "in_stream": False}]


def test_exec_all_when_all_succeed():
    conns = {f"n{i}": FakeConnection([(r"^true$", ok())], f"n{i}") for i in range(3)}
    results = remote.exec_all(conns, "true")
    assert [(r.node, r.ok, r.exited) for r in results] == [("n0", True, 0), ("n1", True, 0),
                                                           ("n2", True, 0)]


# ---- one_line ----

def test_one_line_flattens_and_explains_unknown_host_keys():
    exc = Exception("Server '[127.0.0.1]:40001' not found in known_hosts\n")
    assert remote.one_line(exc) == ("Server '[127.0.0.1]:40001' not found in known_hosts "
                                    "(unknown host key: ssh to it once by hand to accept it)")
    assert remote.one_line(ValueError("two\n  lines")) == "two lines"
    assert remote.one_line(RuntimeError()) == "RuntimeError"


# ---- farm.provision: what an SSH host's Python can install ----

def test_wheel_platforms_of_a_glibc_host():
    from farm.provision import HostInfo
    info = HostInfo("3.11", "cpython", "linux-x86_64", "glibc", "2.36")
    tags = info.wheel_platforms()
    assert tags[0] == "linux_x86_64"
    assert "manylinux_2_36_x86_64" in tags and "manylinux_2_5_x86_64" in tags
    assert "manylinux_2_37_x86_64" not in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    old = HostInfo("3.11", "cpython", "linux-aarch64", "glibc", "2.12").wheel_platforms()
    assert "manylinux2010_aarch64" in old and "manylinux2014_aarch64" not in old
    # musl or unknown: only the plain platform tag (pure wheels need none).
    assert HostInfo("3.12", "cpython", "linux-x86_64", "", "").wheel_platforms() == [
        "linux_x86_64"]


def test_probe_refuses_an_old_or_foreign_python():
    from farm import provision
    for answer, message in (
            ({"python": "3.9", "impl": "cpython"}, "hv needs 3.11 or newer"),
            ({"python": "3.11", "impl": "pypy"}, "hv needs CPython")):
        data = {"platform": "linux-x86_64", "libc": "glibc", "libc_version": "2.36",
                "venv": True, "executable": "/usr/bin/python3", **answer}
        conn = FakeConnection([(r"^py -c ", ok(json.dumps(data) + "\n"))])
        with pytest.raises(FarmError, match=message):
            provision.probe(conn, "py")
    conn = FakeConnection([(r"^py -c ", ok("Python 2.7 says hello\n"))])
    with pytest.raises(FarmError, match="unexpected probe output"):
        provision.probe(conn, "py")
