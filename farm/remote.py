"""Talking to nodes over SSH with fabric: commands, health checks, uploads.

Every connection is built from the run directory's generated `ssh_config`,
the same file execnet's ssh gateways use during `farm run`, so fabric and
xdist reach a node the same way.  Host keys are checked: QEMU nodes against
the run directory's `known_hosts` (the farm's own host key, baked into the
image), SSH hosts against their inventory's `known_hosts` file, by default
the user's `~/.ssh/known_hosts`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import socket
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import fabric
from fabric.exceptions import GroupException
from paramiko import AuthenticationException, RejectPolicy
from paramiko.ssh_exception import NoValidConnectionsError

from farm.errors import FarmError
from farm.state import NodeState, RunDir

__all__ = ["ExecResult", "check_health", "connect", "exec_all", "one_line", "parse_health",
           "send", "sha256_file", "upload_files"]

MANIFEST = ".farm-manifest.json"


def connect(run: RunDir, node: NodeState, timeout: float = 10.0) -> fabric.Connection:
    """A fabric Connection to `node` (not opened yet)."""
    config = fabric.Config(runtime_ssh_path=str(run.ssh_config))
    kwargs: dict[str, object] = {"banner_timeout": timeout, "auth_timeout": timeout}
    if node.key:
        kwargs.update(key_filename=[node.key], look_for_keys=False, allow_agent=False)
    conn = fabric.Connection(node.name, config=config, connect_timeout=int(timeout),
                             connect_kwargs=kwargs)
    conn.client.set_missing_host_key_policy(RejectPolicy())
    if node.kind == "qemu":
        conn.client.load_host_keys(str(run.known_hosts))
    elif node.known_hosts:
        if os.path.exists(node.known_hosts):
            conn.client.load_host_keys(node.known_hosts)
    else:
        conn.client.load_system_host_keys()
    return conn


def one_line(exc: BaseException) -> str:
    """A user-facing one-line description of a connection or command failure."""
    if isinstance(exc, NoValidConnectionsError):
        why = {getattr(e, "strerror", None) or str(e) for e in exc.errors.values()}
        return f"cannot connect ({'; '.join(sorted(why)).lower()})"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, AuthenticationException):
        return f"authentication failed: {exc}"
    text = str(exc).strip() or type(exc).__name__
    result = getattr(exc, "result", None)
    if result is not None and hasattr(result, "exited"):
        out = (result.stderr or result.stdout or "").strip().splitlines()
        text = f"exit {result.exited}" + (f": {out[-1]}" if out else "")
    if "not found in known_hosts" in text:
        text += " (unknown host key: ssh to it once by hand to accept it)"
    return " ".join(text.split())


def run(conn: fabric.Connection, command: str, timeout: float = 120.0) -> str:
    """Run `command`; return stdout, or raise FarmError with one line."""
    try:
        result = conn.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
    except Exception as exc:                         # paramiko/socket/invoke errors
        raise FarmError(one_line(exc)) from None
    if result.exited != 0:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        tail = f": {lines[-1]}" if lines else ""
        raise FarmError(f"`{command}` exited {result.exited}{tail}")
    return result.stdout


def send(conn: fabric.Connection, command: str, data: bytes, timeout: float = 300.0) -> str:
    """Run `command` with `data` on its stdin; return stdout, or raise FarmError.

    Files travel this way, on an exec channel, rather than over sftp: a host
    need not have an sftp subsystem.  (Fabric's own stdin forwarding reads a
    little at a time; a raw channel is as fast as the link.)
    """
    try:
        conn.open()
        chan = conn.client.get_transport().open_session(timeout=timeout)
    except Exception as exc:                         # paramiko/socket errors
        raise FarmError(one_line(exc)) from None
    try:
        chan.settimeout(timeout)
        chan.exec_command(command)
        view = memoryview(data)
        for start in range(0, len(view), 1 << 16):
            chan.sendall(view[start:start + (1 << 16)])
        chan.shutdown_write()
        out = chan.makefile("rb").read().decode(errors="replace")
        err = chan.makefile_stderr("rb").read().decode(errors="replace")
        status = chan.recv_exit_status()
    except Exception as exc:
        raise FarmError(f"sending {len(data)} bytes to `{command}`: {one_line(exc)}") from None
    finally:
        chan.close()
    if status != 0:
        lines = (err.strip() or out.strip()).splitlines()
        raise FarmError(f"`{command}` exited {status}" + (f": {lines[-1]}" if lines else ""))
    return out


@dataclass(frozen=True)
class Health:
    version: str         # e.g. "0.1.0"
    line: str            # the selftest's line


def check_health(conn: fabric.Connection, python: str, want_version: str) -> Health:
    """Version check plus `python -m hv selftest` on the node."""
    # One Python start (seconds on an emulated CPU): the selftest line names
    # the version, "hv selftest: ok (hv 0.1.0, python ...)".
    return parse_health(run(conn, f"{shlex.quote(python)} -m hv selftest"), want_version)


def parse_health(out: str, want_version: str) -> Health:
    """The selftest's last line, checked: it passed, with our hv version."""
    lines = [line for line in out.splitlines() if line.strip()]
    selftest = lines[-1] if lines else ""
    found = re.match(r"hv selftest: ok \(hv ([^,\s]+)", selftest)
    if not found:
        raise FarmError(f"hv selftest: {selftest or 'no output'}")
    version = found.group(1)
    if version != want_version:
        raise FarmError(f"hv {version} on the node, but hv {want_version} here")
    return Health(version, selftest)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


#: What pytest-xdist copied into a worker's directory before farm stopped it.
XDIST_COPIES = ("_pytest", "pytest")


def upload_files(conn: fabric.Connection, workdir: str, root: Path,
                 files: Iterable[str]) -> list[str]:
    """Mirror `files` (paths relative to `root`) into `workdir` on the node.

    Only files whose content differs from what the node already holds (its
    manifest of sha256 sums) travel, as one tar.gz.  Returns those files.
    """
    local = {f: sha256_file(root / f) for f in sorted(set(files))}
    wd = shlex.quote(workdir)
    # Copies of pytest that xdist used to put there ("rsync roots"; farm turns that
    # off): left in the directory, they would shadow the node's own pytest.
    stale = [d for d in XDIST_COPIES if not any(f.split("/")[0] == d for f in local)]
    clean = f"rm -rf {' '.join(f'{wd}/{d}' for d in stale)} && " if stale else ""
    remote_text = run(conn, f"mkdir -p {wd} && {clean}cat {wd}/{MANIFEST} 2>/dev/null || true")
    try:
        remote = json.loads(remote_text) if remote_text.strip() else {}
    except ValueError:
        remote = {}
    changed = [f for f, digest in local.items() if remote.get(f) != digest]
    if not changed:
        return []
    remote.update({f: local[f] for f in changed})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for f in changed:
            tar.add(root / f, arcname=f, recursive=False)
        data = json.dumps(remote, indent=0).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    try:
        send(conn, f"tar -xzf - -C {wd}", buf.getvalue())
    except FarmError as exc:
        raise FarmError(f"upload to {workdir}: {exc}") from None
    return changed


def install_wheel(conn: fabric.Connection, python: str, wheel: Path, digest: str,
                  version: str, marker: str) -> bool:
    """Install `wheel` on the node unless its marker file says it holds it."""
    held = run(conn, f"cat {shlex.quote(marker)} 2>/dev/null || true")
    try:
        if json.loads(held or "{}").get("wheel_sha256") == digest:
            return False
    except ValueError:
        pass
    target = f"/tmp/{wheel.name}"
    try:
        send(conn, f"cat > {shlex.quote(target)}", wheel.read_bytes())
    except FarmError as exc:
        raise FarmError(f"upload of {wheel.name}: {exc}") from None
    info = json.dumps({"version": version, "wheel_sha256": digest})
    run(conn, f"{shlex.quote(python)} -m pip install -q --no-index --no-deps --force-reinstall "
              "--no-compile "
              f"{shlex.quote(target)} && rm -f {shlex.quote(target)} && "
              f"printf '%s\\n' {shlex.quote(info)} > {shlex.quote(marker)}", timeout=300)
    return True


@dataclass(frozen=True)
class ExecResult:
    node: str
    ok: bool
    exited: int | None       # None when the command never ran (connection failed)
    stdout: str
    stderr: str


def exec_all(conns: dict[str, fabric.Connection], command: str,
             timeout: float | None = None) -> list[ExecResult]:
    """Run `command` on every connection at once with a fabric ThreadingGroup.

    A host that fails (non-zero exit, or no connection) does not stop the
    others; every host gets a result.
    """
    by_conn = {id(c): name for name, c in conns.items()}
    group = fabric.ThreadingGroup.from_connections(list(conns.values()))
    try:
        results = group.run(command, hide=True, warn=True, timeout=timeout, in_stream=False)
    except GroupException as exc:
        results = exc.result
    out: list[ExecResult] = []
    for conn, res in results.items():
        name = by_conn[id(conn)]
        if isinstance(res, BaseException):
            out.append(ExecResult(name, False, None, "", one_line(res)))
        else:
            out.append(ExecResult(name, res.exited == 0, res.exited, res.stdout, res.stderr))
    return sorted(out, key=lambda r: r.node)
