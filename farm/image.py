"""The farm node image: a 32-bit Debian bookworm root that QEMU boots directly.

The recipe lives in `images/node/` of the hv checkout (package lists, the
PID 1 script, the initrd's /init, the sshd drop-in); `images/node/FINDINGS.md`
says why it looks the way it does.  This module drives it:

1. keys: a per-farm client key pair and ed25519 host key, made once per cache;
2. wheelhouse: the host downloads i686 wheels of pytest, pytest-xdist,
   execnet (pinned to the controller's versions) and hv's dependencies,
   because the chroot cannot reach PyPI;
3. base root: `debootstrap --variant=minbase` plus `images/node/packages.txt`;
4. builder root: a copy of the base root plus `builder-packages.txt`, where
   `linux32 chroot` builds hv's i386 wheel from this checkout;
5. node root: a copy of the base root with the keys, farm-init and the
   /opt/farm venv; a busybox initrd; `mkfs.ext4 -d` into a sparse raw disk.

Every stage is cached under `cache_dir()` and built into a temporary
directory that is renamed into place, under an fcntl lock.  The image itself
is keyed by `image_key()`: the recipe files, the hv version, the pinned
versions and the farm's public keys.  Building needs root (debootstrap and
chroot); finding a cached image does not.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path

from rich.console import Console, RenderableType
from rich.progress import Progress, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

import hv
from farm.errors import FarmError

__all__ = ["APPEND", "NODE_PYTHON", "FarmError", "ImageError", "NodeImage", "build_hv_wheel",
           "cache_dir", "ensure_image", "find_image", "image_key"]

# Bump when this driver changes what it puts into the image.
RECIPE_VERSION = 1
SUITE = "bookworm"
ARCH = "i386"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
NODE_PYTHON = "/opt/farm/bin/python"
NODE_PYTHON_VERSION = "3.11"            # bookworm's python3
DISK_SIZE = 2 << 30                     # sparse; about 0.7 GB is allocated
# The kernel command line.  Everything after `quiet` was measured to shorten
# the boot under TCG (images/node/FINDINGS.md); init is farm-init via the initrd.
APPEND = ("root=/dev/vda rw console=ttyS0 quiet mitigations=off cryptomgr.notests noisapnp "
          "tsc=reliable no_timer_check random.trust_cpu=on 8250.nr_uarts=1 apparmor=0 "
          "ima_appraise=off")
# Node packages whose versions must match the controller's (the xdist protocol).
PINNED = ("pytest", "pytest-xdist", "execnet")
# hv's dependencies that the node needs (its others, such as fabric, serve the controller).
NODE_DEPS = ("pyelftools", "rich", "jinja2")
# What the initrd loads (with their dependencies) to mount /dev/vda and bring up eth0.
INITRD_MODULES = ("virtio_pci", "virtio_blk", "ext4", "virtio_net")
# Wheels a bookworm i386 python can use (glibc 2.36).
_PLATFORMS = ("linux_i686", "manylinux2014_i686", "manylinux2010_i686", "manylinux1_i686",
              *(f"manylinux_2_{minor}_i686" for minor in range(5, 37)))
# Host tool -> the Debian package that has it.
TOOLS = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs", "linux32": "util-linux",
         "ssh-keygen": "openssh-client", "chroot": "coreutils"}
# dpkg skips these paths in every package installed after debootstrap.
_NODOC = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
"""
_CHROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
# Source trees that never go into the wheel (the walk without git).
_WALK_SKIP_DIRS = {".git", "build", ".tox", "__pycache__", ".pytest_cache", ".ruff_cache",
                   ".venv", "venv"}
_TOP_FILES = {"pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "README.md"}
_EPOCH = 315532800                      # 1980-01-01: reproducible wheel timestamps


ImageError = FarmError


@dataclass(frozen=True)
class NodeImage:
    """A built node image and what it takes to boot it and log in."""

    kernel: Path
    initrd: Path
    disk: Path
    key: Path               # private ssh key (ed25519) that logs in as root
    host_key: str           # the baked host public key, "ssh-ed25519 AAAA..."
    python: str             # the node venv's python
    hv_version: str
    wheel_sha256: str       # of the hv wheel installed in /opt/farm
    key_hash: str           # image_key() it was built for
    append: str             # the kernel command line (-append)


# ---------------------------------------------------------------------------
# Where things are


def cache_dir() -> Path:
    """$FARM_CACHE, else ~/.cache/hv-farm."""
    env = os.environ.get("FARM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hv-farm"


def source_root() -> Path:
    """The hv checkout to build from.

    The one hv is imported from (an editable install), else $HV_SOURCE, else
    the current directory: a plain `pip install .` (tox) runs from its checkout.
    """
    imported = Path(hv.__file__).resolve().parent.parent
    candidates = [imported, os.environ.get("HV_SOURCE"), Path.cwd()]
    for root in (Path(c).resolve() for c in candidates if c):
        if (root / "pyproject.toml").is_file() and (root / "images" / "node").is_dir() \
                and (root / "hv" / "native").is_dir():
            return root
    raise FarmError("building the node image needs an hv source checkout (with "
                    f"pyproject.toml and images/node/); hv is imported from {imported}, "
                    "which is not one: run farm from the checkout or set HV_SOURCE")


def _recipe_dir() -> Path:
    path = source_root() / "images" / "node"
    if not (path / "packages.txt").is_file():
        raise FarmError(f"building the node image needs an hv source checkout: "
                        f"{path}/packages.txt is missing")
    return path


def _hv_version() -> str:
    return hv.__version__


def _keys_dir() -> Path:
    return cache_dir() / "keys"


# ---------------------------------------------------------------------------
# Cache keys


def _digest(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _package_list(path: Path) -> list[str]:
    """Package names in a list file: whitespace separated, `#` starts a comment."""
    names: list[str] = []
    for line in path.read_text().splitlines():
        names += line.split("#", 1)[0].split()
    return names


def _recipe_files() -> list[Path]:
    """The recipe: every file in images/node/ except the docs."""
    return sorted(p for p in _recipe_dir().iterdir() if p.is_file() and p.suffix != ".md")


def _pins() -> list[str]:
    """pytest, pytest-xdist and execnet at the controller's versions."""
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _hv_requirements() -> list[str]:
    """NODE_DEPS as the checkout's pyproject.toml asks for them (e.g. "rich>=13")."""
    with open(source_root() / "pyproject.toml", "rb") as f:
        project = tomllib.load(f).get("project", {})
    specs = {re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0].strip().lower(): dep
             for dep in project.get("dependencies", [])}
    return [specs.get(name, name) for name in NODE_DEPS]


def _requirements() -> list[str]:
    return _pins() + _hv_requirements()


def _public_keys() -> str:
    keys = _keys_dir()
    parts = []
    for name in ("id_ed25519.pub", "ssh_host_ed25519_key.pub"):
        path = keys / name
        parts.append(path.read_text().strip() if path.is_file() else "-")
    return "\n".join(parts)


def image_key() -> str:
    """The node image's cache key: recipe files, hv version, pins and the farm's public keys."""
    parts: list[object] = [f"recipe {RECIPE_VERSION} {SUITE} {ARCH}", APPEND, _hv_version()]
    for path in _recipe_files():
        parts += [path.name, path.read_bytes()]
    parts += _requirements()
    parts.append(_public_keys())
    return _digest(*parts)[:24]


def _base_key() -> str:
    return _digest("base", RECIPE_VERSION, SUITE, ARCH, _NODOC,
                   *sorted(_package_list(_recipe_dir() / "packages.txt")))[:16]


def _builder_key() -> str:
    return _digest("builder", _base_key(),
                   *sorted(_package_list(_recipe_dir() / "builder-packages.txt")))[:16]


def _wheelhouse_key() -> str:
    return _digest("wheelhouse", NODE_PYTHON_VERSION, *_PLATFORMS, *_requirements())[:16]


# ---------------------------------------------------------------------------
# Finding a built image


def find_image() -> NodeImage | None:
    """The cached image for the current key, or None.  Never builds."""
    return _load_image(cache_dir() / "images" / image_key())


def _load_image(path: Path) -> NodeImage | None:
    meta_path = path / "image.json"
    files = [path / "vmlinuz", path / "initrd.img", path / "node.raw"]
    key = _keys_dir() / "id_ed25519"
    if not meta_path.is_file() or not all(f.is_file() for f in files) or not key.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        return NodeImage(kernel=files[0], initrd=files[1], disk=files[2], key=key,
                         host_key=meta["host_key"], python=meta["python"],
                         hv_version=meta["hv_version"], wheel_sha256=meta["wheel_sha256"],
                         key_hash=meta["key"], append=meta["append"])
    except (ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------
# Checks


def _check_can_build() -> None:
    source_root()
    _recipe_dir()
    if os.geteuid() != 0:
        raise FarmError("building the node image needs root: debootstrap, chroot and files "
                        "owned by other users in the image; run it as root (e.g. with sudo)")
    path = os.pathsep.join([os.environ.get("PATH", ""), _CHROOT_PATH])
    for tool, package in TOOLS.items():
        if shutil.which(tool, path=path) is None:
            raise FarmError(f"building the node image needs {tool}, which is not installed; "
                            f"install the Debian package {package} (apt-get install {package})")


# ---------------------------------------------------------------------------
# The build: steps, logs, progress


class _StepFailed(Exception):
    """A command of a step failed; the detail is in the log."""


class _Mark(SpinnerColumn):
    """A spinner while a step runs, then ✓, or ✗ for a step that failed."""

    def render(self, task: Task) -> RenderableType:
        if task.finished and not task.fields.get("ok", True):
            return Text("✗", style="red")
        return super().render(task)


class _Build:
    """One build: a log file and a rich progress line per step."""

    def __init__(self, console: Console | None, what: str):
        self.console = console if console is not None else Console(stderr=True)
        logs = cache_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.log_path = logs / f"{stamp}-{what}-{os.getpid()}.log"
        self.log = open(self.log_path, "a", buffering=1)
        # On a terminal, a live line per step with its elapsed time; elsewhere (CI logs)
        # one plain line as each step ends.
        self.live = self.console.is_terminal
        self.progress = Progress(_Mark(finished_text="[green]✓"),
                                 TextColumn("{task.description}",
                                            table_column=Column(ratio=1, no_wrap=True,
                                                                overflow="ellipsis")),
                                 TimeElapsedColumn(), console=self.console, transient=False)
        self.started = time.monotonic()
        self.times: list[tuple[str, float | None]] = []    # (step, seconds); None: cached
        _prune_logs(logs, keep=30)

    def __enter__(self) -> _Build:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()
        self.log.close()

    def say(self, text: str) -> None:
        self.log.write(f"# {text}\n")

    def _done(self, task: TaskID, line: str) -> None:
        if self.live:
            self.progress.update(task, description=line, completed=1)
        else:
            self.console.print(line, highlight=False)

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        task = self.progress.add_task(title, total=1) if self.live else TaskID(0)
        self.say(f"step: {title}")
        t0 = time.monotonic()
        try:
            yield
        except BaseException as exc:
            if self.live:
                self.progress.update(task, description=f"[red]{title} (failed)", completed=1,
                                     ok=False)
            else:
                self.console.print(f"[red]✗ {title} (failed)", highlight=False)
            if isinstance(exc, (_StepFailed, OSError, subprocess.SubprocessError, ValueError)):
                self.log.write(f"# step failed: {exc!r}\n")
                raise FarmError(f"node image: step '{title}' failed ({exc}); "
                                f"log: {self.log_path}") from None
            raise
        seconds = time.monotonic() - t0
        self.times.append((title, round(seconds, 1)))
        self.say(f"step done in {seconds:.1f} s: {title}")
        self._done(task, title if self.live else f"[green]✓[/] {title}  {seconds:.1f} s")

    def cached(self, title: str) -> None:
        self.times.append((title, None))
        if self.live:
            task = self.progress.add_task(title, total=1)
            self.progress.update(task, description=f"{title} [dim](cached)", completed=1)
        else:
            self.console.print(f"[green]✓[/] {title}  [dim](cached)", highlight=False)

    def run(self, argv: Sequence[str | os.PathLike[str]], *, env: dict[str, str] | None = None,
            cwd: Path | None = None, tries: int = 1) -> str:
        """Run a command, its output into the log.  Returns stdout+stderr as text."""
        args = [str(a) for a in argv]
        for attempt in range(1, tries + 1):
            self.log.write(f"$ {' '.join(args)}\n")
            proc = subprocess.run(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = proc.stdout.decode(errors="replace")
            self.log.write(out)
            if proc.returncode == 0:
                return out
            self.log.write(f"# exit status {proc.returncode}\n")
            if attempt < tries:
                self.log.write("# trying again in 5 s\n")
                time.sleep(5)
        raise _StepFailed(f"{Path(args[0]).name} exited with status {proc.returncode}")

    def chroot(self, root: Path, *argv: str, tries: int = 1,
               extra_env: dict[str, str] | None = None) -> str:
        """Run argv in the i386 chroot (linux32: uname -m says i686) with a clean environment."""
        return self.run(["linux32", "chroot", root, *argv], env=_chroot_env(extra_env),
                        tries=tries)


def _chroot_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Never leak the host's PIP_* and friends into the chroot (FINDINGS pitfall 8).
    env = {"PATH": _CHROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8",
           "DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"}
    env.update({k: v for k, v in os.environ.items() if k in _PROXY_VARS})
    env.update(extra or {})
    return env


def _prune_logs(logs: Path, keep: int) -> None:
    old = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime)[:-keep]
    for path in old:
        with contextlib.suppress(OSError):
            path.unlink()


def _prune_wheels(wheels: Path, keep: int) -> None:
    """Every edit of the checkout makes a wheel; keep only the newest few."""
    old = sorted(wheels.iterdir(), key=lambda p: p.stat().st_mtime)[:-keep]
    for path in old:
        _rmtree(path)


_lock = threading.RLock()
_lock_depth = 0


@contextlib.contextmanager
def _locked(console: Console | None) -> Iterator[None]:
    """The cache lock (fcntl), so two builds never share a stage; re-entrant in a process."""
    global _lock_depth
    with _lock:
        if _lock_depth:
            _lock_depth += 1
            try:
                yield
            finally:
                _lock_depth -= 1
            return
        cache = cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache / "lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if console is not None:
                    console.print(f"waiting for another node image build ({cache / 'lock'})")
                fcntl.flock(f, fcntl.LOCK_EX)
            _lock_depth = 1
            try:
                yield
            finally:
                _lock_depth = 0
                fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------
# File helpers


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _rmtree(path: Path) -> None:
    """Remove a build tree; first unmount anything a failed debootstrap left in it."""
    if not path.exists() and not path.is_symlink():
        return
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)
    left = _mounts_under(path)
    if left:
        raise FarmError(f"{left[0]} is still mounted; unmount it, then remove {path}")
    shutil.rmtree(path)


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished tmp dir to final, replacing what was there (rebuilds)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = tmp.with_name(tmp.name + ".old")
        final.rename(old)
        tmp.rename(final)
        _rmtree(old)
    else:
        tmp.rename(final)


def _tmp_dir(name: str) -> Path:
    path = cache_dir() / "tmp" / f"{name}-{os.getpid()}"
    _rmtree(path)
    path.mkdir(parents=True)
    return path


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---------------------------------------------------------------------------
# Stages


def _ensure_keys(b: _Build) -> None:
    """The farm's client key pair and node host key, made once per cache."""
    keys = _keys_dir()
    wanted = ["id_ed25519", "id_ed25519.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
    if all((keys / n).is_file() for n in wanted):
        b.cached("farm ssh keys")
        return
    with b.step("farm ssh keys (ssh-keygen)"):
        tmp = _tmp_dir("keys")
        b.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "farm-client",
               "-f", tmp / "id_ed25519"])
        b.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "farm-node",
               "-f", tmp / "ssh_host_ed25519_key"])
        host = " ".join((tmp / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        (tmp / "known_hosts").write_text(f"[127.0.0.1]:* {host}\n")
        tmp.chmod(0o700)
        _replace_dir(tmp, keys)


def _ensure_wheelhouse(b: _Build, rebuild: bool) -> Path:
    """i686 wheels for the node venv, downloaded on the host (the chroot has no PyPI)."""
    final = cache_dir() / "wheelhouse" / _wheelhouse_key()
    if final.is_dir() and any(final.glob("*.whl")) and not rebuild:
        b.cached("i686 wheels for the node venv")
        return final
    with b.step("i686 wheels for the node venv (pip download)"):
        tmp = _tmp_dir("wheelhouse")
        argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
                "--no-cache-dir", "-d", tmp, "--only-binary=:all:", "--implementation", "cp",
                "--python-version", NODE_PYTHON_VERSION, "--abi",
                "cp" + NODE_PYTHON_VERSION.replace(".", "")]
        for platform in _PLATFORMS:
            argv += ["--platform", platform]
        b.run([*argv, *_requirements()], tries=2)
        (tmp / "requirements.txt").write_text("\n".join(_requirements()) + "\n")
        _replace_dir(tmp, final)
    return final


def _apt_install(b: _Build, root: Path, packages: list[str]) -> None:
    # A mirror caught mid-sync fails an update now and then (FINDINGS pitfall 11).
    b.chroot(root, "apt-get", "update", "-q", tries=2)
    b.chroot(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)
    b.chroot(root, "apt-get", "clean")


def _ensure_base(b: _Build, rebuild: bool) -> Path:
    """debootstrap minbase + packages.txt, cached by the package list."""
    final = cache_dir() / "stages" / f"base-{_base_key()}"
    if (final / "root").is_dir() and not rebuild:
        b.cached(f"base root: debootstrap {SUITE} {ARCH} + packages.txt")
        return final / "root"
    tmp = _tmp_dir("base")
    root = tmp / "root"
    mirror = os.environ.get("FARM_MIRROR") or DEFAULT_MIRROR
    try:
        with b.step(f"debootstrap --variant=minbase {SUITE} {ARCH}"):
            b.run(["debootstrap", f"--arch={ARCH}", "--variant=minbase", SUITE, root, mirror])
        with b.step("apt-get install packages.txt (kernel, sshd, python3)"):
            (root / "etc/dpkg/dpkg.cfg.d/01-farm-nodoc").write_text(_NODOC)
            # Daemons never start in the chroot (sshd would, from its postinst).
            policy = root / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            # The node boots the tiny initrd, so Debian's (26 MB, ~10 s to make) is never
            # made: update-initramfs is diverted to true before initramfs-tools arrives.
            for path in ("/usr/sbin/update-initramfs", "/sbin/update-initramfs"):
                b.chroot(root, "dpkg-divert", "--local", "--rename", "--add", path)
            os.symlink("/bin/true", root / "usr/sbin/update-initramfs")
            _apt_install(b, root, _package_list(_recipe_dir() / "packages.txt"))
            python = root / "usr/bin" / f"python{NODE_PYTHON_VERSION}"
            if not python.exists():
                raise _StepFailed(f"the node has no python{NODE_PYTHON_VERSION}; "
                                  f"NODE_PYTHON_VERSION in farm/image.py must follow {SUITE}")
        _replace_dir(tmp, final)
    finally:
        _rmtree(tmp)
    return final / "root"


def _ensure_builder(b: _Build, base: Path, rebuild: bool) -> Path:
    """The builder chroot: the base root + a compiler, for hv's i386 wheel."""
    final = cache_dir() / "stages" / f"builder-{_builder_key()}"
    if (final / "root").is_dir() and not rebuild:
        b.cached("builder root (gcc, python3-dev)")
        return final / "root"
    tmp = _tmp_dir("builder")
    try:
        packages = _package_list(_recipe_dir() / "builder-packages.txt")
        with b.step("builder root: base + builder-packages.txt (gcc)"):
            b.run(["cp", "-a", "--reflink=auto", base, tmp / "root"])
            _apt_install(b, tmp / "root", packages)
        _replace_dir(tmp, final)
    finally:
        _rmtree(tmp)
    return final / "root"


def _source_files(root: Path) -> list[str]:
    """The checkout's files that go into the wheel (git ls-files, else a walk)."""
    names: list[str] | None = None
    if (root / ".git").exists() and shutil.which("git"):
        proc = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                               "--exclude-standard"], capture_output=True)
        if proc.returncode == 0:
            names = sorted({n for n in proc.stdout.decode().split("\0") if n})
    if names is None:
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = Path(dirpath).relative_to(root)
            dirnames[:] = sorted(d for d in dirnames if d not in _WALK_SKIP_DIRS
                                 and not d.endswith(".egg-info")
                                 and (rel / d).as_posix() != "images/build")
            names += [(rel / f).as_posix() for f in filenames
                      if not f.endswith((".so", ".o", ".pyc"))]
    # Only what the wheel is made of: the packages' directories and the top-level build files.
    with open(root / "pyproject.toml", "rb") as f:
        tool = tomllib.load(f).get("tool", {}).get("setuptools", {})
    dirs = {p.split(".")[0] for p in tool.get("packages", ["hv"])}
    dirs |= set(tool.get("package-dir", {}).values())
    keep = []
    for name in names:
        wanted = (name in _TOP_FILES if "/" not in name
                  else any(name.startswith(d.rstrip("/") + "/") for d in dirs))
        if wanted and (root / name).is_file():      # git lists deleted files too
            keep.append(name)
    return sorted(keep)


def _source_hash(root: Path, files: list[str]) -> str:
    parts: list[object] = ["hv-wheel", RECIPE_VERSION, _builder_key()]
    for name in files:
        path = root / name
        parts += [name, os.access(path, os.X_OK), path.read_bytes()]
    return _digest(*parts)[:16]


def _cached_wheel(srchash: str) -> Path | None:
    wheels = sorted((cache_dir() / "wheels" / srchash).glob("hv-*.whl"))
    return wheels[0] if wheels else None


def _build_wheel(b: _Build, builder: Path, rebuild: bool) -> Path:
    src = source_root()
    files = _source_files(src)
    srchash = _source_hash(src, files)
    wheel = _cached_wheel(srchash)
    if wheel is not None and not rebuild:
        b.cached(f"hv i386 wheel ({wheel.name})")
        return wheel
    with b.step("hv i386 wheel (linux32 chroot)"):
        work = builder / "tmp" / "hv-src"
        out = builder / "tmp" / "hv-wheel"
        for path in (work, out):
            _rmtree(path)
        for name in files:
            dest = work / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dest)
        b.chroot(builder, "sh", "-c", "cd /tmp/hv-src && python3 -m pip wheel -q --no-deps "
                 "--no-index --no-build-isolation --no-cache-dir -w /tmp/hv-wheel .",
                 extra_env={"SOURCE_DATE_EPOCH": str(_EPOCH)})
        built = sorted(out.glob("hv-*.whl"))
        if len(built) != 1 or not built[0].name.endswith("_i686.whl"):
            raise _StepFailed(f"expected one hv-*-linux_i686.whl, got {[p.name for p in built]}")
        tmp = _tmp_dir("wheel")
        shutil.copy2(built[0], tmp / built[0].name)
        _replace_dir(tmp, cache_dir() / "wheels" / srchash)
        _rmtree(work)
        _rmtree(out)
        _prune_wheels(cache_dir() / "wheels", keep=5)
    wheel = _cached_wheel(srchash)
    assert wheel is not None
    return wheel


def _initrd_modules(b: _Build, root: Path, kver: str) -> list[Path]:
    """INITRD_MODULES and their dependencies, in load order (paths in the root)."""
    seen: list[str] = []
    for module in INITRD_MODULES:
        out = b.chroot(root, "modprobe", "-S", kver, "--show-depends", module)
        for line in out.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "insmod" and words[1] not in seen:
                seen.append(words[1])
    return [root / p.lstrip("/") for p in seen]


def _cpio_newc(entries: list[tuple[str, int, bytes, int, int]]) -> bytes:
    """A cpio archive in the kernel's newc format: (name, mode, data, rdev major, minor)."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, major, minor) in enumerate([*entries,
                                                            ("TRAILER!!!", 0, b"", 0, 0)], 1):
        raw = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = [ino, mode, 0, 0, nlink, _EPOCH, len(data), 0, 0, major, minor, len(raw), 0]
        out += b"070701" + "".join(f"{v:08X}" for v in fields).encode() + raw
        pad()
        out += data
        pad()
    return bytes(out)


def _make_initrd(b: _Build, root: Path, kver: str, dest: Path) -> None:
    """The tiny initrd: static busybox, the modules, images/node/initrd-init as /init."""
    d, f, ln = stat.S_IFDIR | 0o755, stat.S_IFREG, stat.S_IFLNK | 0o777
    entries: list[tuple[str, int, bytes, int, int]] = [
        (name, d, b"", 0, 0) for name in ("bin", "dev", "proc", "sys", "newroot", "lib",
                                          "lib/modules")]
    entries.append(("dev/console", stat.S_IFCHR | 0o600, b"", 5, 1))
    entries.append(("bin/busybox", f | 0o755, (root / "bin/busybox").read_bytes(), 0, 0))
    for applet in ("sh", "mount", "umount", "insmod", "switch_root", "mkdir", "sleep", "cat",
                   "echo"):
        entries.append((f"bin/{applet}", ln, b"busybox", 0, 0))
    for n, path in enumerate(_initrd_modules(b, root, kver), 1):
        if path.suffix != ".ko":
            raise _StepFailed(f"{path.name}: busybox insmod needs uncompressed modules")
        entries.append((f"lib/modules/{n:02d}-{path.name}", f | 0o644, path.read_bytes(), 0, 0))
    entries.append(("init", f | 0o755, (_recipe_dir() / "initrd-init").read_bytes(), 0, 0))
    dest.write_bytes(gzip.compress(_cpio_newc(entries), compresslevel=6, mtime=0))
    b.say(f"initrd: {len(entries)} entries, {dest.stat().st_size} bytes")


def _install(src: Path, dest: Path, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    shutil.copyfile(src, dest)
    os.chown(dest, 0, 0)
    dest.chmod(mode)


def _configure_node(root: Path) -> None:
    """Keys, sshd, farm-init and the static files of a node root."""
    recipe, keys = _recipe_dir(), _keys_dir()
    (root / "usr/sbin/policy-rc.d").unlink(missing_ok=True)
    for path in [*root.glob("var/lib/apt/lists/*"), *root.glob("var/cache/apt/*.bin"),
                 *root.glob("boot/initrd.img*"), *root.glob("etc/ssh/ssh_host_*")]:
        if path.is_file() or path.is_symlink():
            path.unlink()
    # The per-farm host key replaces the package's (the same on every node of every build).
    _install(keys / "ssh_host_ed25519_key", root / "etc/ssh/ssh_host_ed25519_key", 0o600)
    _install(keys / "ssh_host_ed25519_key.pub", root / "etc/ssh/ssh_host_ed25519_key.pub", 0o644)
    (root / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    (root / "root/.ssh").chmod(0o700)
    _install(keys / "id_ed25519.pub", root / "root/.ssh/authorized_keys", 0o600)
    _install(recipe / "sshd_config", root / "etc/ssh/sshd_config.d/farm.conf", 0o644)
    _install(recipe / "farm-init", root / "sbin/farm-init", 0o755)
    (root / "etc/hostname").write_text("farmnode\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 farmnode\n")
    (root / "etc/fstab").write_text("/dev/vda / ext4 rw,noatime 0 1\n")
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)                      # debootstrap copied the host's
    resolv.write_text("nameserver 10.0.2.3\n")          # QEMU user-mode DNS


def _build_image(b: _Build, base: Path, wheelhouse: Path, wheel: Path, key: str) -> None:
    work = _tmp_dir(f"image-{key}")
    root, out = work / "root", work / "out"
    out.mkdir()
    try:
        with b.step("node root: copy base, keys, sshd, farm-init"):
            b.run(["cp", "-a", "--reflink=auto", base, root])
            _configure_node(root)
            kernels = sorted((root / "lib/modules").iterdir())
            if len(kernels) != 1:
                raise _StepFailed(f"expected one kernel in /lib/modules, found {len(kernels)}")
            kver = kernels[0].name
            shutil.copyfile(root / "boot" / f"vmlinuz-{kver}", out / "vmlinuz")
        with b.step("node venv /opt/farm (pytest, pytest-xdist, execnet, hv)"):
            wh = root / "tmp" / "wheelhouse"
            shutil.copytree(wheelhouse, wh)
            shutil.copy2(wheel, wh / wheel.name)
            b.chroot(root, "python3", "-m", "venv", "/opt/farm")
            pip = ["/opt/farm/bin/pip", "install", "-q", "--no-index",
                   "--disable-pip-version-check", "--no-cache-dir"]
            b.chroot(root, *pip, "--find-links", "/tmp/wheelhouse", *_requirements())
            # --no-deps: hv's controller-side dependencies (fabric) stay off the node.
            b.chroot(root, *pip, "--no-deps", f"/tmp/wheelhouse/{wheel.name}")
            b.chroot(root, NODE_PYTHON, "-c", "import hv, hv._native, xdist, execnet, pytest")
            freeze = b.chroot(root, "/opt/farm/bin/pip", "freeze", "--all",
                              "--disable-pip-version-check").splitlines()
            _rmtree(wh)
            wheel_sha = _sha256_file(wheel)
            (root / "opt/farm/hv.json").write_text(json.dumps(
                {"version": _hv_version(), "wheel_sha256": wheel_sha, "wheel": wheel.name},
                indent=2) + "\n")
        with b.step("tiny initrd (busybox, virtio and ext4 modules)"):
            _make_initrd(b, root, kver, out / "initrd.img")
        with b.step(f"disk: mkfs.ext4 -d, {DISK_SIZE >> 30} GiB sparse raw"):
            disk = out / "node.raw"
            with open(disk, "wb") as f:
                f.truncate(DISK_SIZE)
            b.run(["mkfs.ext4", "-q", "-F", "-L", "farmroot", "-E", "root_owner=0:0",
                   "-d", root, disk])
        host_key = " ".join((_keys_dir() / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        meta = {"key": key, "hv_version": _hv_version(), "wheel_sha256": wheel_sha,
                "wheel": wheel.name, "host_key": host_key, "python": NODE_PYTHON,
                "append": APPEND, "kernel_version": kver, "suite": SUITE, "arch": ARCH,
                "node_packages": freeze, "built": datetime.now().isoformat(timespec="seconds"),
                "build_seconds": round(time.monotonic() - b.started, 1),
                "disk_allocated_bytes": disk.stat().st_blocks * 512,
                "steps": [[title, sec] for title, sec in b.times]}
        (out / "image.json").write_text(json.dumps(meta, indent=2) + "\n")
        _replace_dir(out, cache_dir() / "images" / key)
    finally:
        _rmtree(work)


# ---------------------------------------------------------------------------
# Public entry points


def ensure_image(console: Console | None = None, rebuild: bool = False) -> NodeImage:
    """The node image for the current key, built first when missing (or when rebuild).

    rebuild=True also refreshes the cached stages (Debian packages, wheels);
    the farm's keys stay.
    """
    if not rebuild:
        image = find_image()
        if image is not None:
            return image
    _check_can_build()
    with _locked(console):
        if not rebuild:
            image = find_image()
            if image is not None:
                return image
        _rmtree(cache_dir() / "tmp")
        with _Build(console, "image") as b:
            _ensure_keys(b)
            key = image_key()
            wheelhouse = _ensure_wheelhouse(b, rebuild)
            base = _ensure_base(b, rebuild)
            builder = _ensure_builder(b, base, rebuild)
            wheel = _build_wheel(b, builder, rebuild)
            _build_image(b, base, wheelhouse, wheel, key)
            seconds = time.monotonic() - b.started
        # What was built, even if someone edited the recipe meanwhile (the next call rebuilds).
        image = _load_image(cache_dir() / "images" / key)
        if image is None:
            raise FarmError(f"node image: {cache_dir() / 'images' / key} is incomplete after "
                            f"the build; log: {b.log_path}")
        b.console.print(f"node image {key} built in {seconds:.0f} s: {image.disk.parent}")
        return image


def build_hv_wheel(console: Console | None = None) -> Path:
    """An i386 wheel of this checkout, cached by a hash of its source files.

    Provisioning uses it to push a newer hv to nodes.  It reuses the cached
    builder chroot (and builds that first when missing).
    """
    src = source_root()
    wheel = _cached_wheel(_source_hash(src, _source_files(src)))
    if wheel is not None:
        return wheel
    _check_can_build()
    with _locked(console):
        with _Build(console, "wheel") as b:
            base = _ensure_base(b, False)
            builder = _ensure_builder(b, base, False)
            return _build_wheel(b, builder, False)
