"""QEMU nodes: start them, talk QMP to them, stop them.

A node is one `qemu-system-i386` process under TCG, started in its own
session so it outlives the `farm up` that started it.  Its command line
comes from `farm/templates/qemu.args.j2`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from farm.errors import FarmError
from farm.retry import NotYet, RetryTimeout, retry
from farm.state import NodeState, pid_alive

__all__ = ["QEMU", "free_port", "qmp", "start", "stop", "wait_banner"]

QEMU = os.environ.get("FARM_QEMU", "qemu-system-i386")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start QEMU detached from our session; its own messages go to `log`."""
    if shutil.which(argv[0]) is None:
        raise FarmError(f"{argv[0]}: not found (install the Debian package qemu-system-x86)")
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)


def qmp(sock: Path, command: str, timeout: float = 5.0, arguments: dict | None = None) -> dict:
    """Run one QMP command on a node's QMP socket and return its reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        f = s.makefile("rwb")
        json.loads(f.readline())                     # the greeting
        for cmd, args in (("qmp_capabilities", None), (command, arguments)):
            f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}
                               ).encode() + b"\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:                         # QEMU closed it (quit does)
                    return {}
                reply = json.loads(line)
                if "event" not in reply:
                    break
        return reply


def stop(node: NodeState, qmp_sock: Path, grace: float = 5.0) -> str:
    """Stop a QEMU node: QMP quit, then SIGTERM, then SIGKILL.  Says how."""
    pid = node.pid
    if pid is None or not node.alive():        # never signal a reused pid
        return "already gone"
    how = "quit over QMP"
    try:
        qmp(qmp_sock, "quit", timeout=2.0)
    except (OSError, ValueError):
        how = "terminated"
        _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return how
    _signal(pid, signal.SIGKILL)
    _wait_gone(pid, grace)
    return "killed"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    def gone() -> None:
        try:                        # reap it if it is our child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        if pid_alive(pid):
            raise NotYet("still running")

    try:
        retry(gone, timeout=timeout, interval=0.02, what=f"pid {pid} did not exit")
    except RetryTimeout:
        return False
    return True


def wait_banner(host: str, port: int, timeout: float, alive=lambda: True,
                every: float = 0.25) -> None:
    """Wait until sshd on host:port sends its `SSH-` banner.

    QEMU's port forward accepts a TCP connection long before the guest is
    up, so a connect alone proves nothing; the banner comes from sshd.
    """
    def banner() -> None:
        if not alive():
            raise FarmError("QEMU exited during boot")
        try:
            with socket.create_connection((host, port), timeout=1.0) as s:
                s.settimeout(1.0)
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError as exc:
            raise NotYet(exc.strerror or str(exc)) from None
        raise NotYet("no SSH banner")

    retry(banner, timeout=timeout, interval=every, what=f"{host}:{port}: sshd did not answer")
