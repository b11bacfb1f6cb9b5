"""farm against a real OpenSSH server on 127.0.0.1, started by the tests.

Each server is a throwaway `sshd` (Debian's openssh-server; ./bootstrap
installs it) with its own host key, one authorized key, a free port and a
home directory of its own (SetEnv HOME), in a temp dir; with or without an
sftp subsystem.  The `farm` command runs as a user would run it, with an
inventory whose `known_hosts` file holds the server's key.
The host's Python is Debian's /usr/bin/python3, which is not the
controller's, and it reaches no package index: everything it gets comes
over the SSH connection.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hv

ROOT = Path(__file__).resolve().parent.parent
SSHD = "/usr/sbin/sshd"
HOST_PYTHON = "/usr/bin/python3"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(SSHD),
                       reason="sshd is not installed (apt-get install openssh-server; "
                              "./bootstrap installs it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a throwaway sshd with logins needs root"),
    pytest.mark.skipif(not os.path.exists(HOST_PYTHON),
                       reason=f"no {HOST_PYTHON} to be the SSH host's Python"),
    pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                       reason="ssh-keygen is not installed (apt-get install openssh-client)"),
    pytest.mark.skipif(os.environ.get("HV_SANITIZE") == "1",
                       reason="the asan environment checks hv's C code, and here hv runs on "
                              "the SSH host, outside the sanitizers (tox -e py runs this)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """A real sshd on 127.0.0.1 for one test."""

    def __init__(self, base: Path, sftp: bool) -> None:
        self.base = base
        self.port = _free_port()
        self.home = base / "host-home"          # the remote user's $HOME
        self.home.mkdir()
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        subprocess.run([*keygen, "-f", str(base / "host_key")], check=True)
        subprocess.run([*keygen, "-f", str(base / "id_ed25519")], check=True)
        (base / "authorized_keys").write_text((base / "id_ed25519.pub").read_text())
        lines = [f"Port {self.port}", "ListenAddress 127.0.0.1",
                 f"HostKey {base / 'host_key'}", f"AuthorizedKeysFile {base / 'authorized_keys'}",
                 f"PidFile {base / 'sshd.pid'}", "PermitRootLogin prohibit-password",
                 "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
                 "StrictModes no", f"SetEnv HOME={self.home}"]
        if sftp:
            lines.append("Subsystem sftp internal-sftp")
        (base / "sshd_config").write_text("\n".join(lines) + "\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
        # Not under the sanitizer runtime the asan environment preloads.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        with open(base / "sshd.log", "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")],
                                         stderr=log, env=env)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            assert self.proc.poll() is None, (base / "sshd.log").read_text()
            assert time.monotonic() < deadline, "sshd did not answer"
            time.sleep(0.05)
        # The controller knows the server's key, from a known_hosts file the
        # inventory names (as a CI job would have one).
        key = (base / "host_key.pub").read_text().split()[:2]
        (base / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n")

    def inventory(self, name: str = "box", python: str = HOST_PYTHON) -> Path:
        path = self.base / "farm.toml"
        path.write_text(f'[[ssh]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {self.port}\n'
                        f'user = "root"\nkey = "{self.base / "id_ed25519"}"\n'
                        f'python = "{python}"\nknown_hosts = "{self.base / "known_hosts"}"\n')
        return path

    def farm(self, *args: str, timeout: float = 600, cwd: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "farm", args[0], "--run-dir", str(self.base / "run"),
               "-i", str(self.base / "farm.toml"), *args[1:]]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd or ROOT)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """One server for the module, without an sftp subsystem: farm must not need one."""
    server = Sshd(tmp_path_factory.mktemp("sshd"), sftp=False)
    yield server
    server.farm("down")            # closes the SSH master farm run left up
    server.stop()


def _marker(server: Sshd) -> dict:
    return json.loads((server.home / ".hv-farm" / "hv.json").read_text())


def _provisioned(server: Sshd) -> None:
    """The host as the first test leaves it (the tests may run apart, under xdist)."""
    server.inventory()
    if not (server.home / ".hv-farm" / "hv.json").exists():
        up = server.farm("up")
        assert up.returncode == 0, up.stdout + up.stderr


def _age(server: Sshd) -> dict:
    """Make the host's hv look older than ours; returns what it held."""
    marker = _marker(server)
    (server.home / ".hv-farm" / "hv.json").write_text(
        json.dumps({**marker, "version": "0.0.1", "hv_sha256": "0" * 64}) + "\n")
    return marker


def test_farm_up_provisions_a_real_ssh_host_from_the_controller_alone(sshd: Sshd) -> None:
    sshd.inventory()
    up = sshd.farm("up")
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads(sshd.farm("status", "--json").stdout)
    (box,) = [n for n in state if n["name"] == "box"]
    assert box["state"] == "ready", box
    assert box["hv_version"] == hv.__version__
    assert box["python"] == f"{sshd.home}/.hv-farm/venv/bin/python"
    marker = _marker(sshd)
    assert marker["version"] == hv.__version__ and marker["python"].startswith("cpython-3.11-")
    # What it was sent: a wheelhouse, with nothing fetched by the host.
    wheels = sorted(p.name for p in (sshd.home / ".hv-farm" / "wheels").glob("*.whl"))
    assert any(w.startswith(f"hv-{hv.__version__}-") for w in wheels), wheels
    assert any(w.startswith("pytest_xdist-") for w in wheels), wheels
    # farm exec runs on it, with the venv's hv.
    ex = sshd.farm("exec", "--", f"{box['python']} -c 'import hv, sys; print(hv.__version__, "
                   "sys.version_info[:2])'")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert f"{hv.__version__} (3, 11)" in ex.stdout, ex.stdout


def test_a_provisioned_host_gets_nothing_again(sshd: Sshd) -> None:
    _provisioned(sshd)
    wheels = sshd.home / ".hv-farm" / "wheels"
    first = wheels.stat().st_mtime_ns
    assert sshd.farm("down").returncode == 0
    again = sshd.farm("up")
    assert again.returncode == 0, again.stderr
    assert wheels.stat().st_mtime_ns == first           # nothing was sent


def test_farm_run_runs_a_guest_suite_on_the_host_and_updates_an_older_hv(sshd: Sshd) -> None:
    _provisioned(sshd)
    marker = _age(sshd)
    done = sshd.farm("run", "images/build/suite_demo.elf", "-k", "ring", "-p", "no:cacheprovider")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "farm: box: newer hv installed; " in out, out
    assert _marker(sshd) == marker
    from farm.report import outcomes
    results = outcomes(sshd.base / "run" / "junit.xml")
    assert results and set(results.values()) <= {"passed", "skipped", "xfailed"}, results
    assert "images/build/suite_demo.elf::ring_is_fifo" in results, results
    # The run left a shared connection up (farm/mux.py); sessions use it, and
    # farm down closes it.
    ssh = ["ssh", "-F", str(sshd.base / "run" / "ssh_config")]
    check = subprocess.run([*ssh, "-O", "check", "box"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "Master running" in check.stderr
    over = subprocess.run([*ssh, "box", "echo", "over the master"], capture_output=True,
                          text=True, timeout=60)
    assert over.stdout == "over the master\n", over.stderr
    assert sshd.farm("down").returncode == 0
    after = subprocess.run([*ssh, "-O", "check", "box"], capture_output=True, text=True)
    assert after.returncode != 0


def test_a_host_without_python_gets_a_one_line_error(sshd: Sshd) -> None:
    sshd.inventory(name="nopy", python="/nonexistent/python3")
    up = sshd.farm("up")
    assert up.returncode != 0
    assert "no usable Python '/nonexistent/python3' on the host" in up.stdout + up.stderr, \
        up.stdout + up.stderr
    assert "Traceback" not in up.stderr
