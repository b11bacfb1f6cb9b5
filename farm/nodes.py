"""Node lifecycle: bring nodes up, check them, list them, take them down.

`up` boots every QEMU node of the inventory in parallel, waits for a real
SSH command to succeed on each (over fabric), provisions hv when the node's
copy is older than ours, and health-checks it with `python -m hv selftest`.
A node that fails any step is marked bad with the reason; the others go on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

import hv
from farm import mux, provision, qemu, remote, render, snapshot
from farm.errors import FarmError
from farm.inventory import Inventory, QemuNode, SshHost
from farm.retry import NotYet, RetryTimeout, retry
from farm.state import BAD, READY, NodeState, RunDir

__all__ = ["Artifacts", "bring_up", "down", "health_check", "install_hv", "mark_bad",
           "plan_nodes", "ready_nodes", "refresh", "up", "write_ssh_files"]

QEMU_WORKDIR = "/root/hv-farm/work"
QEMU_MARKER = "/opt/farm/hv.json"


def plan_nodes(inventory: Inventory, count: int | None) -> list[QemuNode | SshHost]:
    """The inventory's nodes, cut or extended to `count` when it is given."""
    nodes = list(inventory.nodes)
    if count is None:
        return nodes
    if count < 1:
        raise FarmError(f"-n must be at least 1, not {count}")
    if count <= len(nodes):
        return nodes[:count]
    qemu_nodes = inventory.qemu_nodes
    if not qemu_nodes:
        raise FarmError(f"{inventory.source}: has {len(nodes)} SSH hosts and no [[qemu]] "
                        f"nodes, so -n {count} cannot add nodes")
    last = qemu_nodes[-1]
    prefix = last.name.rsplit("-", 1)[0]
    names = {n.name for n in nodes}
    k = 1
    while len(nodes) < count:
        name = f"{prefix}-{k}"
        if name not in names:
            nodes.append(QemuNode(name, last.memory_mib, last.image))
            names.add(name)
        k += 1
    return nodes


def refresh(run: RunDir) -> list[str]:
    """Mark QEMU nodes whose process is gone as bad; returns their names."""
    gone = []
    with run.locked() as nodes:
        for name, node in nodes.items():
            if node.state != BAD and not node.alive():
                node.mark_bad(f"its QEMU process ({node.pid}) is gone")
                gone.append(name)
    return gone


def ready_nodes(run: RunDir) -> list[NodeState]:
    return [n for n in run.load().values() if n.state == READY and n.alive()]


def write_ssh_files(run: RunDir, nodes: dict[str, NodeState], host_key: str | None = None
                    ) -> None:
    """The run directory's ssh_config and known_hosts for `nodes`."""
    entries = []
    lines = []
    if host_key is None and run.known_hosts.exists():
        first = run.known_hosts.read_text().split("\n", 1)[0].split(" ", 1)
        host_key = first[1] if len(first) == 2 else None
    for node in nodes.values():
        farm_owned = node.kind == "qemu"
        known = str(run.known_hosts.resolve()) if farm_owned else node.known_hosts or None
        entries.append(render.SshEntry(node.name, node.host, node.port, node.user, node.key,
                                       known, farm_owned))
        if farm_owned and host_key:
            lines.append(f"[{node.host}]:{node.port} {host_key}")
    run.ssh_config.write_text(render.ssh_config(entries, run.ssh_config.resolve(),
                                                mux.control_path(run)))
    run.known_hosts.write_text("".join(line + "\n" for line in lines))


Step = Callable[[str], None]


def up(run: RunDir, inventory: Inventory, count: int | None = None,
       console: Console | None = None, boot_timeout: float = 120.0) -> list[NodeState]:
    """Bring the inventory's nodes up; returns every node's final state."""
    console = console or Console(stderr=True)
    wanted = plan_nodes(inventory, count)
    gone = [name for name in refresh(run) if name in {w.name for w in wanted}]
    if gone:
        console.print(f"farm: {', '.join(gone)}: QEMU had exited; booting again")
    image = None
    snaps: dict[int, snapshot.NodeSnapshot | None] = {}
    if any(isinstance(w, QemuNode) for w in wanted):
        from farm.image import ensure_image
        image = ensure_image(console)
    artifacts = Artifacts(run.path / "dist")
    if image is not None:
        sizes = {w.memory_mib for w in wanted if isinstance(w, QemuNode)
                 and w.name not in _ready_names(run)}
        wheel = None
        if sizes and _snapshots_on():
            try:
                wheel = artifacts.wheel()      # saved into the snapshot: no install per node
            except FarmError:
                pass                           # each node reports it when it needs it
        snaps = _snapshots(image, sizes, console, boot_timeout, wheel)
    todo: list[NodeState] = []
    with run.locked() as nodes:
        for spec in wanted:
            old = nodes.get(spec.name)
            if old is not None and old.state == READY:
                continue
            if old is not None and old.kind == "qemu":
                qemu.stop(old, run.qmp_socket(old.name))
            node = _start(run, spec, image, snaps.get(getattr(spec, "memory_mib", 0)))
            nodes[spec.name] = node
            todo.append(node)
        write_ssh_files(run, nodes, image.host_key if image else None)
    if todo:
        if any(n.kind == "qemu" for n in todo) and not snaps:
            try:
                artifacts.wheel()              # while the nodes boot
            except FarmError:
                pass                           # each node reports it when it needs it
        _bring_up_all(run, todo, console, boot_timeout, artifacts)
    return [n for n in run.load().values() if n.name in {w.name for w in wanted}]


def _snapshots_on() -> bool:
    return os.environ.get("FARM_SNAPSHOTS", "1") != "0"


def _ready_names(run: RunDir) -> set[str]:
    return {n.name for n in run.load().values() if n.state == READY}


def _snapshots(image, sizes: set[int], console: Console, timeout: float,
               wheel: tuple[Path, str] | None) -> dict[int, snapshot.NodeSnapshot | None]:
    """A warm snapshot per memory size (farm.snapshot), built when missing; None
    for a size whose snapshot cannot be made (its nodes then boot cold).
    FARM_SNAPSHOTS=0 turns them off."""
    if not _snapshots_on():
        return {}
    out: dict[int, snapshot.NodeSnapshot | None] = {}
    for size in sorted(sizes):
        try:
            out[size] = snapshot.ensure(image, size, console, timeout, wheel)
        except FarmError as exc:
            console.print(f"farm: no node snapshot ({exc}); the nodes boot cold", markup=False)
            out[size] = None
    return out


def _start(run: RunDir, spec: QemuNode | SshHost, image,
           snap: snapshot.NodeSnapshot | None = None) -> NodeState:
    now = time.time()
    if isinstance(spec, SshHost):
        key = str(Path(spec.key).expanduser()) if spec.key else None
        known = Path(spec.known_hosts or "~/.ssh/known_hosts").expanduser().absolute()
        return NodeState(spec.name, "ssh", spec.host, spec.port, spec.user, key,
                         known_hosts=str(known), python=spec.python, started=now)
    port = qemu.free_port()
    if snap is not None:
        argv = snap.qemu_args(spec, image, port, run.path.resolve())
        extra = {"image": image.key_hash, "accel": snap.accel, "snapshot": snap.key,
                 "wheel_sha256": snap.wheel_sha256}
    else:
        accel = snapshot.cold_accel()
        argv = render.qemu_args(spec, image, port, run.path.resolve(), qemu=qemu.QEMU,
                                accel=accel)
        extra = {"image": image.key_hash, "accel": accel}
    for path in (run.console_log(spec.name), run.qmp_socket(spec.name)):
        path.unlink(missing_ok=True)
    proc = qemu.start(argv, run.qemu_log(spec.name))
    return NodeState(spec.name, "qemu", "127.0.0.1", port, "root", str(image.key),
                     python=image.python, workdir=QEMU_WORKDIR, pid=proc.pid, started=now,
                     extra=extra)


def _bring_up_all(run: RunDir, todo: list[NodeState], console: Console,
                  boot_timeout: float, artifacts: Artifacts) -> None:
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[node]:<10}"),
                  TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        tasks = {n.name: progress.add_task("booting", node=n.name, total=1) for n in todo}

        def one(node: NodeState) -> None:
            def step(text: str) -> None:
                progress.update(tasks[node.name], description=text)
            try:
                bring_up(run, node, step, boot_timeout, artifacts)
                step(f"[green]ready[/] ({node.health})")
            except FarmError as exc:
                node.mark_bad(str(exc))
                step(f"[red]bad[/]: {exc}")
            except Exception as exc:             # paramiko, OS errors: still one node
                node.mark_bad(remote.one_line(exc))
                step(f"[red]bad[/]: {node.reason}")
            progress.update(tasks[node.name], completed=1)
            run.update(node.name, **_fields(node))

        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            list(pool.map(one, todo))


def _fields(node: NodeState) -> dict[str, object]:
    return {k: getattr(node, k) for k in ("state", "reason", "ready_at", "health", "health_at",
                                           "hv_version", "python", "workdir", "extra")}


class Artifacts:
    """The hv i386 wheel (QEMU nodes) and what SSH hosts get (farm.provision),
    built once per `up` or `run`."""

    def __init__(self, dist: Path | None = None, console: Console | None = None) -> None:
        self._dist = dist or Path(tempfile.gettempdir()) / f"farm-sdist-{os.getpid()}"
        self._console = console
        self._lock = threading.Lock()
        self._wheel: tuple[Path, str] | None = None
        self._sdist: tuple[Path, str] | None = None
        self._supplies: provision.Supplies | None = None

    def supplies(self) -> provision.Supplies:
        with self._lock:
            if self._supplies is None:
                self._supplies = provision.Supplies(self._console, i386_wheel=self.wheel,
                                                    sdist=self.sdist)
            return self._supplies

    def wheel(self) -> tuple[Path, str]:
        with self._lock:
            if self._wheel is None:
                from farm.image import build_hv_wheel
                try:
                    path = build_hv_wheel(self._console)
                except FarmError as exc:
                    raise FarmError(f"building hv's i386 wheel: {exc}") from None
                self._wheel = (path, remote.sha256_file(path))
            return self._wheel

    def sdist(self) -> tuple[Path, str]:
        with self._lock:
            if self._sdist is None:
                shutil.rmtree(self._dist, ignore_errors=True)
                self._dist.mkdir(parents=True)
                path = build_sdist(self._dist.resolve())
                self._sdist = (path, remote.sha256_file(path))
            return self._sdist


def build_sdist(out: Path) -> Path:
    """The hv sdist of this checkout (for SSH hosts of any architecture)."""
    from farm.image import source_root
    src = source_root()
    code = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise FarmError(f"building the hv sdist failed: {tail}")
    return out / proc.stdout.strip().splitlines()[-1]


def bring_up(run: RunDir, node: NodeState, step: Step, boot_timeout: float,
             artifacts: Artifacts) -> None:
    """Wait for sshd, run a real command, provision hv, health-check.  Raises FarmError."""
    started = node.started or time.time()
    restored = node.kind == "qemu" and "snapshot" in node.extra
    if restored:
        step("loading the node snapshot")
        try:
            snapshot.resume(run.qmp_socket(node.name), boot_timeout, alive=node.alive)
        except FarmError as exc:
            raise FarmError(f"{exc}; {_console_tail(run, node)}") from None
        node.extra = {**node.extra, "boot_to_resumed": f"{time.time() - started:.2f}"}
    elif node.kind == "qemu":
        # (A restored node's sshd is running already: the login below is the
        # first connection, with no banner probe to fork a child for.)
        step("booting (waiting for sshd)")
        try:
            qemu.wait_banner(node.host, node.port, boot_timeout, alive=node.alive)
        except FarmError as exc:
            raise FarmError(f"{exc}; {_console_tail(run, node)}") from None
        node.extra = {**node.extra, "boot_to_sshd": f"{time.time() - started:.2f}"}
    step("ssh")
    conn = remote.connect(run, node)

    def mark(what: str) -> None:
        node.extra = {**node.extra, what: f"{time.time() - started:.2f}"}
    try:
        # A restored node's first command gives it its own clock, name and
        # entropy (farm.snapshot.freshen); the warm health agent's answer comes
        # meanwhile, on a channel of the same connection.
        agent = None

        def first() -> None:
            nonlocal agent
            conn.open()
            pool = ThreadPoolExecutor(1)
            agent = pool.submit(snapshot.agent_health, conn, 30.0,
                                os.urandom(snapshot.SEED_BYTES))
            pool.shutdown(wait=False)
            snapshot.freshen(conn, node.name)
        _first_command(conn, node, first if restored else None)
        mark("boot_to_ssh_command")
        step("provisioning")
        installed = False
        if restored and node.extra.get("wheel_sha256") == _wheel_digest(artifacts):
            pass                        # saved with this checkout's hv in it
        elif node.kind == "qemu":
            installed = install_hv(conn, node, artifacts)
            if installed:
                step("installed a newer hv")
        else:
            provision.provision_ssh_host(conn, node, artifacts.supplies(), step)
        mark("boot_to_provisioned")
        step("health check")
        health = None
        reseeded = False
        if agent is not None:
            # The warm agent reseeds the node's CRNG and runs the selftest in a
            # Python that has hv loaded already; its hv is the one installed,
            # unless a newer one was installed just now.
            try:
                answer = agent.result()
                reseeded = answer.startswith("reseeded\n")
                if not installed:
                    health = remote.parse_health(answer, hv.__version__)
            except FarmError:
                health = None           # then the ordinary check says what is wrong
        if restored and not reseeded:
            snapshot.reseed(conn, node.python)
        if health is None:
            health = remote.check_health(conn, node.python, hv.__version__)
    finally:
        conn.close()
    node.hv_version = health.version
    node.health = health.line
    node.health_at = time.time()
    node.state = READY
    node.reason = ""
    node.ready_at = time.time()
    node.extra = {**node.extra, "boot_to_ready": f"{node.ready_at - started:.2f}"}


def _wheel_digest(artifacts: Artifacts) -> str | None:
    try:
        return artifacts.wheel()[1]
    except FarmError:
        return None


def install_hv(conn, node: NodeState, artifacts: Artifacts) -> bool:
    """Put our hv wheel on a QEMU node unless it holds it already; True if it did."""
    wheel, digest = artifacts.wheel()
    return remote.install_wheel(conn, node.python, wheel, digest, hv.__version__, QEMU_MARKER)


def _first_command(conn, node: NodeState, first: Callable[[], object] | None = None) -> None:
    # A booting node's sshd may answer its banner a moment before it accepts
    # logins; an existing host gets one try.
    def attempt() -> None:
        try:
            if first is not None:
                first()
            else:
                remote.run(conn, "true", timeout=30)
        except FarmError as exc:
            conn.close()
            raise NotYet(str(exc)) from None

    try:
        retry(attempt, timeout=30 if node.kind == "qemu" else 0,
              interval=0.2 if "snapshot" in node.extra else 1,
              what=f"ssh {node.user}@{node.address}: no login")
    except RetryTimeout as exc:
        raise FarmError(f"ssh {node.user}@{node.address}: {exc.last}") from None


def _console_tail(run: RunDir, node: NodeState) -> str:
    for path in (run.qemu_log(node.name), run.console_log(node.name)):
        try:
            lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
        except OSError:
            continue
        if lines:
            return f"last line of {path}: {lines[-1].strip()[:160]}"
    return f"see {run.console_log(node.name)}"


def health_check(run: RunDir) -> list[NodeState]:
    """Re-run the health check on every ready node at once (`farm status --check`)."""
    def one(node: NodeState) -> NodeState:
        if node.state != READY:
            return node
        conn = remote.connect(run, node)
        try:
            health = remote.check_health(conn, node.python, hv.__version__)
            node.health = health.line
        except FarmError as exc:
            node.mark_bad(f"health check: {exc}")
        except Exception as exc:                 # paramiko, OS errors
            node.mark_bad(f"health check: {remote.one_line(exc)}")
        finally:
            conn.close()
        node.health_at = time.time()
        run.update(node.name, **_fields(node))
        return node

    found = list(run.load().values())
    with ThreadPoolExecutor(max_workers=max(1, len(found))) as pool:
        return list(pool.map(one, found))


def mark_bad(run: RunDir, name: str, reason: str) -> None:
    run.update(name, state=BAD, reason=reason)


def down(run: RunDir, names: list[str] | None = None) -> list[tuple[str, str]]:
    """Stop QEMU nodes and forget every node (or just `names`)."""
    done = []
    with run.locked() as nodes:
        unknown = sorted(set(names or ()) - set(nodes))
        if unknown:
            raise FarmError(f"no such node: {unknown[0]} (see farm status)")
        mux.stop(run, [name for name in nodes if not names or name in names])
        for name in list(nodes):
            if names and name not in names:
                continue
            node = nodes.pop(name)
            if node.kind == "qemu":
                done.append((name, qemu.stop(node, run.qmp_socket(name))))
                run.qmp_socket(name).unlink(missing_ok=True)
            else:
                done.append((name, "forgotten (not ours to stop)"))
        write_ssh_files(run, nodes)
    return done

