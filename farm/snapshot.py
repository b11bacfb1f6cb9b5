"""Node snapshots: QEMU nodes ready in about a second instead of a boot.

A node image is booted once (per memory size and accelerator), warmed up
(hv's selftest has run, so Python, hv and its dependencies are in the page
cache) and given a small health agent: a Python process that holds hv
imported and answers a fresh `hv.selftest()` to each connection on
127.0.0.1:7999 inside the node, and the warm zygote the run's pytest workers
are forked from (farm/warm.py: pytest and the plugins' dependencies imported,
listening on /run/farm-warm.sock).  Then the machine is paused and saved with
QEMU's migration to a file (`vmstate`), beside a qcow2 overlay of the image
holding what the boot wrote to the disk (`disk.qcow2`).  Both are cached in
~/.cache/hv-farm/snapshots/KEY, the key made of the image key, the memory
size, the accelerator and the QEMU version; a new image makes a new one.

A node then starts as `-incoming exec:cat vmstate` over that overlay (with
its own writes thrown away, snapshot=on), is resumed over QMP, and is
straight away the warm machine.  What a restored machine must not share
with its siblings or keep from the past is fixed over SSH at once, in one
command (`freshen`): the wall clock (it would read the snapshot's time) and
the hostname (every node was `farm-snapshot`); and the kernel's CRNG, which
every restored sibling would otherwise run from the same state: the agent
credits the controller's random bytes to the entropy pool and reseeds it
(writing to /dev/urandom alone mixes bytes in without a reseed).
The host key is the farm's own in every case, as for a cold boot.

KVM: where `qemu-system-i386 -accel kvm` really runs the node kernel, the
snapshot is built and nodes run under KVM; where it does not (kvm-pvm, say,
refuses 32-bit paging: QEMU stops with a KVM internal error), the attempt
is remembered for this QEMU and host kernel and TCG is used.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from farm import qemu, remote, render
from farm.errors import FarmError
from farm.inventory import QemuNode
from farm.retry import NotYet, RetryTimeout, retry
from farm.state import NodeState, RunDir

__all__ = ["AGENT_PORT", "SNAPSHOT_NAME", "NodeSnapshot", "agent_health", "ensure", "find",
           "freshen", "kvm_status", "resume"]

SNAPSHOT_NAME = "farm-snapshot"     # the name the saved machine booted with
AGENT_PORT = 7999                   # the health agent, on the node's loopback
_VERSION = 3                        # of the snapshot layout and recipe (agent, zygote)
WARM_CLIENT = "/run/farm-warm.py"   # farm/warm.py, the zygote and its client
SEED_BYTES = 64                     # the controller's random bytes for a restored node
# <linux/random.h>: credit bytes to the input pool; make the CRNG reseed now.
RNDADDENTROPY, RNDRESEEDCRNG = 0x40085203, 0x5207

# The health agent, run on the node by its venv's Python before the save.
_AGENT = r"""
import fcntl, os, socket, struct, sys
from hv.selftest import selftest

def reseed(seed):
    # Restored siblings share the kernel's CRNG state; bytes written to
    # /dev/urandom are mixed in but do not reseed it: credit them, then reseed.
    fd = os.open("/dev/urandom", os.O_WRONLY)
    try:
        fcntl.ioctl(fd, 0x40085203, struct.pack("ii", len(seed) * 8, len(seed)) + seed)
        fcntl.ioctl(fd, 0x5207)
    finally:
        os.close(fd)

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(16)
while True:
    conn, _ = srv.accept()
    seed = b""
    try:
        conn.settimeout(30)
        while len(seed) < 64:
            got = conn.recv(64 - len(seed))
            if not got:
                break
            seed += got
        head = ""
        if len(seed) >= 32:
            reseed(seed)
            head = "reseeded\n"
        line = head + selftest().summary()
    except Exception as exc:
        line = "hv selftest: FAILED: %s" % (" ".join(str(exc).split()) or type(exc).__name__)
    try:
        conn.sendall(line.encode() + b"\n")
    except OSError:
        pass
    conn.close()
"""
# What QEMU says when KVM cannot run the guest.
_KVM_FAILURES = ("KVM internal error", "emulation failure", "failed to initialize kvm",
                 "Could not access KVM kernel module", "kvm run failed")


@dataclass(frozen=True)
class NodeSnapshot:
    """A saved, warm node: its disk overlay and migration stream."""

    path: Path
    accel: str
    memory_mib: int
    wheel_sha256: str = ""      # the hv wheel the saved node holds

    @property
    def disk(self) -> Path:
        return self.path / "disk.qcow2"

    @property
    def vmstate(self) -> Path:
        return self.path / "vmstate"

    @property
    def key(self) -> str:
        return self.path.name

    def incoming(self) -> str:
        return "exec:cat " + shlex.quote(str(self.vmstate))

    def qemu_args(self, node: QemuNode, image, port: int, run_dir: Path) -> list[str]:
        """The argv of a node started from this snapshot."""
        return render.qemu_args(node, image, port, run_dir, qemu=qemu.QEMU, accel=self.accel,
                                disk=render.Disk(self.disk, "qcow2", snapshot=True),
                                boot_name=SNAPSHOT_NAME, incoming=self.incoming())


def _root() -> Path:
    from farm.image import cache_dir
    return cache_dir() / "snapshots"


_qemu_version_cache: dict[str, str] = {}


def qemu_version() -> str:
    if qemu.QEMU not in _qemu_version_cache:
        try:
            out = subprocess.run([qemu.QEMU, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout
        except OSError:
            out = ""
        _qemu_version_cache[qemu.QEMU] = (out.splitlines() or ["unknown"])[0].strip()
    return _qemu_version_cache[qemu.QEMU]


def _key(image, memory_mib: int, accel: str, wheel_sha256: str) -> str:
    from farm.image import _digest
    return _digest("node-snapshot", _VERSION, image.key_hash, image.append, memory_mib, accel,
                   qemu_version(), wheel_sha256)[:16]


def _kvm_marker() -> Path:
    from farm.image import _digest
    return _root() / f"kvm-{_digest(qemu_version(), platform.release())[:12]}.json"


def kvm_status() -> tuple[bool, str]:
    """(may KVM be tried, why not if not)."""
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not readable and writable by this user"
    try:
        known = json.loads(_kvm_marker().read_text())
    except (OSError, ValueError):
        return True, ""
    return bool(known.get("usable", True)), known.get("why", "")


def _accels() -> list[str]:
    return ["kvm", "tcg"] if kvm_status()[0] else ["tcg"]


def cold_accel() -> str:
    """The accelerator for a node booted without a snapshot: KVM only once it
    is known to run the node kernel."""
    try:
        if json.loads(_kvm_marker().read_text()).get("usable") and kvm_status()[0]:
            return "kvm"
    except (OSError, ValueError):
        pass
    return "tcg"


def find(image, memory_mib: int, wheel: tuple[Path, str] | None = None) -> NodeSnapshot | None:
    """The cached snapshot for this image, memory size and hv wheel (None: the
    image's own), or None.  Never builds."""
    digest = wheel[1] if wheel else image.wheel_sha256
    for accel in _accels():
        path = _root() / _key(image, memory_mib, accel, digest)
        try:
            meta = json.loads((path / "snapshot.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("version") == _VERSION and (path / "vmstate").is_file() and \
                (path / "disk.qcow2").is_file():
            return NodeSnapshot(path, accel, memory_mib, meta.get("wheel_sha256", ""))
    return None


class _AccelFailed(FarmError):
    """This accelerator cannot run the node."""


def ensure(image, memory_mib: int, console, timeout: float = 180.0,
           wheel: tuple[Path, str] | None = None) -> NodeSnapshot:
    """The snapshot for this image and memory size, built first when missing.
    With `wheel` (path, sha256), the saved node holds that hv wheel (this
    checkout's), so that nodes started from it need no install."""
    from farm.image import _locked
    found = find(image, memory_mib, wheel)
    if found is not None:
        return found
    with _locked(console):
        found = find(image, memory_mib, wheel)
        if found is not None:
            return found
        for accel in _accels():
            try:
                return _build(image, memory_mib, accel, console, timeout, wheel)
            except _AccelFailed as exc:
                _kvm_marker().parent.mkdir(parents=True, exist_ok=True)
                _kvm_marker().write_text(json.dumps({"usable": False, "why": str(exc)}) + "\n")
                if console is not None:
                    console.print(f"farm: KVM cannot run the nodes here ({exc}); using TCG",
                                  markup=False)
        raise FarmError("no accelerator could run the node")     # tcg never raises _AccelFailed


def _say(console, text: str) -> None:
    if console is not None:
        console.print(text, markup=False)


def _build(image, memory_mib: int, accel: str, console, timeout: float,
           wheel: tuple[Path, str] | None) -> NodeSnapshot:
    from farm import nodes
    from farm.image import _replace_dir, _rmtree, _tmp_dir
    started = time.monotonic()
    _say(console, f"farm: saving a warm node ({memory_mib} MiB, {accel}) for fast starts; "
                  "once per node image")
    tmp = _tmp_dir("snapshot")
    disk = tmp / "disk.qcow2"
    made = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                           str(Path(image.disk).resolve()), str(disk)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        _rmtree(tmp)
        raise FarmError(f"qemu-img create: {(made.stderr.strip() or 'failed')[:200]}")
    run = RunDir(tmp / "run")
    run.ensure()
    port = qemu.free_port()
    spec = QemuNode(SNAPSHOT_NAME, memory_mib)
    argv = render.qemu_args(spec, image, port, run.path.resolve(), qemu=qemu.QEMU, accel=accel,
                            disk=render.Disk(disk, "qcow2", snapshot=False))
    proc = qemu.start(argv, run.qemu_log(SNAPSHOT_NAME))
    node = NodeState(SNAPSHOT_NAME, "qemu", "127.0.0.1", port, "root", str(image.key),
                     python=image.python, pid=proc.pid)
    nodes.write_ssh_files(run, {SNAPSHOT_NAME: node}, image.host_key)
    sock = run.qmp_socket(SNAPSHOT_NAME)
    try:
        _boot_and_warm(run, node, accel, timeout, wheel)
        _save(sock, disk.parent / "vmstate")
    except BaseException:
        qemu.stop(node, sock)
        _rmtree(tmp)
        raise
    qemu.stop(node, sock)
    _rmtree(run.path)
    digest = wheel[1] if wheel else image.wheel_sha256
    meta = {"version": _VERSION, "accel": accel, "memory_mib": memory_mib,
            "image": image.key_hash, "wheel_sha256": digest, "qemu": qemu_version(),
            "created": time.time(), "seconds": round(time.monotonic() - started, 1)}
    (tmp / "snapshot.json").write_text(json.dumps(meta, indent=1) + "\n")
    final = _root() / _key(image, memory_mib, accel, digest)
    _replace_dir(tmp, final)
    if accel == "kvm":
        _kvm_marker().write_text(json.dumps({"usable": True, "why": ""}) + "\n")
    _say(console, f"farm: node snapshot saved in {meta['seconds']} s ({final})")
    return NodeSnapshot(final, accel, memory_mib, digest)


def _kvm_failed(run: RunDir) -> str | None:
    try:
        text = run.qemu_log(SNAPSHOT_NAME).read_text(errors="replace")
    except OSError:
        return None
    for marker in _KVM_FAILURES:
        if marker.lower() in text.lower():
            return marker
    return None


def _boot_and_warm(run: RunDir, node: NodeState, accel: str, timeout: float,
                   wheel: tuple[Path, str] | None) -> None:
    failed = _AccelFailed if accel == "kvm" else FarmError
    boot_timeout = 60 if accel == "kvm" else timeout

    def banner() -> None:
        if accel == "kvm" and (why := _kvm_failed(run)):
            raise _AccelFailed(why)
        if not node.alive():
            why = _kvm_failed(run)
            raise failed(f"QEMU exited while the snapshot node booted{f' ({why})' if why else ''}")
        try:
            qemu.wait_banner(node.host, node.port, 1.0, alive=node.alive)
        except FarmError as exc:
            raise NotYet(str(exc)) from None

    try:
        retry(banner, timeout=boot_timeout, interval=0,
              what=f"the snapshot node's sshd did not answer under {accel}")
    except RetryTimeout as exc:
        raise failed(str(exc)) from None
    conn = remote.connect(run, node)
    try:
        def login() -> None:
            try:
                remote.run(conn, "true", timeout=30)
            except FarmError as exc:
                conn.close()
                raise NotYet(str(exc)) from None

        retry(login, timeout=30, interval=1, what="the snapshot node took no login")
        py = shlex.quote(node.python)
        if wheel is not None:
            import hv
            from farm.nodes import QEMU_MARKER
            remote.install_wheel(conn, node.python, wheel[0], wheel[1], hv.__version__,
                                 QEMU_MARKER)
        remote.run(conn, f"{py} -m hv selftest", timeout=300)        # the page cache, warm
        remote.send(conn, "cat > /run/farm-agent.py", _AGENT.encode())
        remote.run(conn, f"setsid {py} /run/farm-agent.py {AGENT_PORT} </dev/null "
                         ">/run/farm-agent.log 2>&1 &")

        def agent() -> None:
            try:
                agent_health(conn, timeout=30)
            except FarmError as exc:
                raise NotYet(str(exc)) from None

        retry(agent, timeout=60, interval=0.5, what="the snapshot node's health agent did not "
              "answer")
        # The warm zygote the workers are forked from (farm/warm.py).
        from farm import warm
        remote.send(conn, f"cat > {WARM_CLIENT}", Path(warm.__file__).read_bytes())
        remote.run(conn, f"setsid {py} {WARM_CLIENT} serve {warm.SOCKET} </dev/null "
                         ">/run/farm-warm.log 2>&1 &")

        def zygote() -> None:
            try:
                remote.run(conn, f"test -S {warm.SOCKET}", timeout=30)
            except FarmError as exc:
                raise NotYet(str(exc)) from None

        retry(zygote, timeout=120, interval=0.5, what="the snapshot node's warm worker zygote "
              "did not start (see /run/farm-warm.log on the node)")
        remote.run(conn, "sync")
    finally:
        conn.close()


def _save(sock: Path, vmstate: Path) -> None:
    qemu.qmp(sock, "stop")
    reply = qemu.qmp(sock, "migrate", arguments={"uri": "exec:cat > " + shlex.quote(str(vmstate))})
    if "error" in reply:
        raise FarmError(f"saving the node: {reply['error'].get('desc', reply)}")

    def migrated() -> None:
        status = qemu.qmp(sock, "query-migrate").get("return", {})
        if status.get("status") == "completed":
            return
        if status.get("status") in ("failed", "cancelled"):
            raise FarmError(f"saving the node: migration {status.get('status')}: "
                            f"{status.get('error-desc', '')}")
        raise NotYet(f"migration {status.get('status', 'not started')}")

    retry(migrated, timeout=300, interval=0.05,
          what="saving the node: the migration did not finish")


def resume(sock: Path, timeout: float, alive=lambda: True) -> None:
    """Wait for a node started from a snapshot to load it, then let it run."""
    seen = "no QMP socket yet"

    def loaded() -> None:
        nonlocal seen
        if not alive():
            raise FarmError("QEMU exited while loading the node snapshot")
        try:
            seen = qemu.qmp(sock, "query-migrate", timeout=2.0).get("return", {}).get(
                "status", "loading")
            reply = qemu.qmp(sock, "cont") if seen == "completed" else {}
        except (OSError, ValueError):
            raise NotYet(seen) from None
        if seen == "failed":
            raise FarmError("loading the node snapshot failed (see the QEMU log)")
        if seen != "completed":
            raise NotYet(seen)
        if "error" in reply:
            raise FarmError(f"resuming the node: {reply['error'].get('desc')}")

    retry(loaded, timeout=timeout, interval=0.02, what="the node snapshot did not load")


def freshen(conn, name: str) -> None:
    """A restored node's own clock and name, in one command (and the controller's
    random bytes mixed in; its CRNG is reseeded by the agent, or by reseed())."""
    hosts = f"127.0.0.1 localhost\\n127.0.1.1 {name}\\n"
    q = shlex.quote
    remote.send(conn, f"cat > /dev/urandom && date -s @{time.time():.3f} >/dev/null && "
                      f"hostname {q(name)} && echo {q(name)} > /etc/hostname && "
                      f"printf {q(hosts)} > /etc/hosts", os.urandom(512), timeout=60)


RESEED = ("import fcntl, os, struct, sys; seed = sys.stdin.buffer.read(); "
          "fd = os.open('/dev/urandom', os.O_WRONLY); "
          f"fcntl.ioctl(fd, {RNDADDENTROPY}, struct.pack('ii', len(seed) * 8, len(seed)) + seed); "
          f"fcntl.ioctl(fd, {RNDRESEEDCRNG})")


def reseed(conn, python: str) -> None:
    """Reseed a restored node's CRNG with the controller's bytes, with a fresh
    Python (when the warm agent could not do it)."""
    remote.send(conn, f"{shlex.quote(python)} -c {shlex.quote(RESEED)}", os.urandom(SEED_BYTES),
                timeout=120)


def agent_health(conn, timeout: float = 30.0, seed: bytes | None = None) -> str:
    """The health agent's answer, over a channel forwarded by the node's sshd: with
    `seed` (SEED_BYTES random bytes) it first reseeds the node's CRNG with them and
    says `reseeded`; then the selftest line."""
    try:
        conn.open()
        chan = conn.client.get_transport().open_channel(
            "direct-tcpip", ("127.0.0.1", AGENT_PORT), ("127.0.0.1", 0), timeout=timeout)
    except Exception as exc:                         # paramiko: refused, no transport
        raise FarmError(f"health agent: {remote.one_line(exc)}") from None
    try:
        chan.settimeout(timeout)
        chan.sendall(seed if seed is not None else b"")
        chan.shutdown_write()
        data = chan.makefile("rb").read()
    except Exception as exc:
        raise FarmError(f"health agent: {remote.one_line(exc)}") from None
    finally:
        chan.close()
    return data.decode(errors="replace")
