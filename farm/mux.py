"""One SSH connection per node, shared by the workers' sessions (OpenSSH's ControlMaster).

xdist starts each worker with `ssh -F ssh_config NODE python ...`: a new SSH
connection, whose key exchange and login cost about half a second on an
emulated node.  The generated ssh_config names a control socket for every
host (`ControlPath`), so an `ssh` that finds a master there runs its session
over the master's connection at once; one that finds none (or a dead one)
connects as always.

`farm run` starts a master for each node it uses (`ssh -fN -o
ControlMaster=yes`), in parallel with provisioning, unless one is already up.
A master stays up `PERSIST` seconds after its last session, so runs one after
the other share it, and `farm down` closes it.  A master dies with its node's
connection, and the sessions over it with it, so a node's death reads as it
always did.  `ssh -F RUN/ssh_config NODE` by hand uses the master too.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from farm.state import RunDir

__all__ = ["PERSIST", "control_dir", "control_path", "start", "stop", "wait"]

PERSIST = 600          # seconds a master outlives its last session
# A UNIX socket's path is at most 107 bytes; ssh adds ".XXXXXXXXXXXXXXXX" while
# it creates one, and %C is 40 hex digits.
_ROOM = 107 - 17 - 40 - 1


def control_dir(run: RunDir) -> Path:
    """Where the run's control sockets live: the run directory's `ssh/`, or (when
    that path is too long for a socket) a per-user directory under the temp dir."""
    here = run.path.resolve() / "ssh"
    if len(os.fsencode(str(here))) > _ROOM:
        here = Path(tempfile.gettempdir()) / f"farm-ssh-{os.getuid()}"
    return here


def control_path(run: RunDir) -> str:
    """The ssh_config ControlPath (%C: a hash of the host, port and user)."""
    return f"{control_dir(run)}/%C"


def _ssh(run: RunDir, name: str, *args: str) -> list[str]:
    return ["ssh", "-F", str(run.ssh_config.resolve()), *args, name]


def start(run: RunDir, names: list[str]) -> dict[str, subprocess.Popen | None]:
    """Start a master for each of `names` that has none, without waiting; wait()
    on what it returns (None: one was already up)."""
    started: dict[str, subprocess.Popen | None] = {}
    try:
        control_dir(run).mkdir(mode=0o700, parents=True, exist_ok=True)
        checks = {name: _quiet(_ssh(run, name, "-O", "check")) for name in names}
        for name, check in checks.items():
            if check.wait() == 0:
                started[name] = None
                continue
            started[name] = _quiet(_ssh(run, name, "-fN", "-o", "ControlMaster=yes",
                                        "-o", f"ControlPersist={PERSIST}"),
                                   start_new_session=True)
    except OSError:                 # no ssh, say: the sessions connect by themselves
        pass
    return started


def _quiet(argv: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kwargs)


def wait(started: dict[str, subprocess.Popen | None], timeout: float = 20.0) -> list[str]:
    """Wait for the masters `start` began (each is up, or failed: its node's
    sessions then connect by themselves); returns the names that have one."""
    deadline = time.monotonic() + timeout
    up = []
    for name, proc in started.items():
        if proc is None:
            up.append(name)
            continue
        try:
            if proc.wait(timeout=max(0.0, deadline - time.monotonic())) == 0:
                up.append(name)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return up


def stop(run: RunDir, names: list[str]) -> None:
    """Close the masters of `names` (those that are up)."""
    if not run.ssh_config.exists():
        return
    try:
        procs = [_quiet(_ssh(run, name, "-O", "exit")) for name in names]
    except OSError:
        return
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
