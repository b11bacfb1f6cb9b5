"""The run directory: what farm knows about its nodes between commands.

`farm up`, `farm status`, `farm exec`, `farm run` and `farm down` are separate
processes; they meet in the run directory (`.farm/` in the current directory
unless `--run-dir` or `$FARM_RUN_DIR` says otherwise).  It holds
`state.json`, the generated `ssh_config` and `known_hosts`, and per node the
serial console log, QMP socket and QEMU log.  Every change to `state.json`
happens under an exclusive lock, so a node that `farm run` marks bad is seen
by the next `farm status`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from farm.errors import FarmError

__all__ = ["NodeState", "RunDir", "default_run_dir"]

STATE_VERSION = 1

# Node states.
BOOTING = "booting"
READY = "ready"
BAD = "bad"


def default_run_dir() -> Path:
    return Path(os.environ.get("FARM_RUN_DIR") or ".farm")


@dataclass
class NodeState:
    """One node as the run directory records it."""

    name: str
    kind: str                     # "qemu" or "ssh"
    host: str
    port: int
    user: str = "root"
    key: str | None = None        # private key file
    known_hosts: str = ""         # SSH hosts: the known_hosts file that checks their key
    python: str = ""              # the node's Python with hv, pytest and xdist
    workdir: str = ""             # where tests run on the node (xdist chdir)
    state: str = BOOTING
    reason: str = ""              # why a node is bad
    pid: int | None = None        # QEMU process
    started: float | None = None  # time.time() when booted (or adopted)
    ready_at: float | None = None
    health: str = ""              # last health-check line
    health_at: float | None = None
    hv_version: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def mark_bad(self, reason: str) -> None:
        self.state = BAD
        self.reason = reason

    def alive(self) -> bool:
        """False when this is a QEMU node whose process is gone."""
        if self.kind != "qemu":
            return True
        if self.pid is None or not pid_alive(self.pid):
            return False
        try:                                   # the pid may have been reused since
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False
        return not cmdline or b"qemu" in cmdline   # empty for a moment after exec


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped by us) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class RunDir:
    """The run directory and its locked state file."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_run_dir()

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def ssh_config(self) -> Path:
        return self.path / "ssh_config"

    @property
    def known_hosts(self) -> Path:
        return self.path / "known_hosts"

    def console_log(self, name: str) -> Path:
        return self.path / f"{name}.console.log"

    def qmp_socket(self, name: str) -> Path:
        return self.path / f"{name}.qmp"

    def qemu_log(self, name: str) -> Path:
        return self.path / f"{name}.qemu.log"

    def ensure(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FarmError(f"{self.path}: cannot create the run directory: "
                            f"{exc.strerror or exc}") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, NodeState]]:
        """Yield the nodes (by name) under the lock; changes are saved on exit."""
        self.ensure()
        with open(self.path / "state.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            nodes = self._read()
            yield nodes
            self._write(nodes)

    def load(self) -> dict[str, NodeState]:
        """A snapshot of the nodes, without holding the lock."""
        if not self.state_file.exists():
            return {}
        return self._read()

    def update(self, name: str, **changes: object) -> None:
        """Change some fields of one node, if it is still recorded."""
        with self.locked() as nodes:
            node = nodes.get(name)
            if node is not None:
                for key, value in changes.items():
                    setattr(node, key, value)

    def _read(self) -> dict[str, NodeState]:
        try:
            doc = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise FarmError(f"{self.state_file}: unreadable farm state ({exc}); "
                            "remove the run directory after stopping its QEMU processes") from None
        if doc.get("version") != STATE_VERSION:
            raise FarmError(f"{self.state_file}: state version {doc.get('version')!r}, "
                            f"expected {STATE_VERSION}")
        known = {f.name for f in fields(NodeState)}
        return {n["name"]: NodeState(**(n if known.issuperset(n) else
                                        {k: v for k, v in n.items() if k in known}))
                for n in doc.get("nodes", [])}

    def _write(self, nodes: dict[str, NodeState]) -> None:
        # One node a line, each by json's C encoder (an indented dump goes through
        # its Python one, and asdict deep-copies): farm run rewrites the file for
        # the nodes it loses, and at hundreds of nodes that was most of its work.
        head = json.dumps({"version": STATE_VERSION, "written": time.time()})[:-1]
        lines = ",\n".join(json.dumps(vars(n)) for n in nodes.values())
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(f'{head}, "nodes": [\n{lines}\n]}}\n')
        tmp.replace(self.state_file)
