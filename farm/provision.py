"""Provisioning an existing SSH host from the controller alone.

A fleet's hosts often reach no package index, and some have no sftp
subsystem, so everything an `[[ssh]]` host needs travels over the one SSH
connection, on exec channels:

1. probe: the host's Python (version, implementation, platform, glibc) and
   whether it can make a venv, in one command;
2. the controller builds or fetches what that host needs: the hv wheel for
   its platform (built from this checkout: for the controller's own platform
   with the controller's compiler, for linux-i686 Python 3.11 in the node
   image's builder chroot; any other platform gets hv's sdist and compiles
   it there), and a wheelhouse of pytest, pytest-xdist, execnet (at the
   controller's versions, which the xdist protocol needs) and hv's runtime
   dependencies, downloaded for the host's platform;
3. one tar stream puts them in ~/.hv-farm/wheels on the host, a venv is
   made in ~/.hv-farm/venv (once) and pip installs from the wheelhouse only
   (`--no-index`);
4. a marker (~/.hv-farm/hv.json) names what was installed, so a host that
   already holds this hv and these wheels (and whose venv still imports hv,
   xdist and execnet, checked in the same command that reads the marker)
   gets nothing, and one whose hv is older gets the new one.

The health check (remote.check_health) then proves the version.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hv
from farm import remote
from farm.errors import FarmError

__all__ = ["HostInfo", "Supplies", "probe", "provision_ssh_host"]

# One command: what the host's Python is.  Printed as one JSON line.
_PROBE = r"""
import json, platform, sys, sysconfig
try:
    import ensurepip, venv
    can_venv = True
except ImportError:
    can_venv = False
libc, libc_version = platform.libc_ver()
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "impl": sys.implementation.name,
                  "platform": sysconfig.get_platform(), "libc": libc,
                  "libc_version": libc_version, "venv": can_venv,
                  "executable": sys.executable}))
"""


@dataclass(frozen=True)
class HostInfo:
    """A Python as the probe found it."""

    python: str             # "3.11"
    impl: str               # "cpython"
    platform: str           # sysconfig's: "linux-x86_64", "linux-i686", ...
    libc: str = ""          # "glibc" or ""
    libc_version: str = ""  # "2.36"
    venv: bool = True
    executable: str = ""

    @classmethod
    def local(cls) -> HostInfo:
        """The controller's own Python."""
        import platform
        libc, version = platform.libc_ver()
        return cls(f"{sys.version_info[0]}.{sys.version_info[1]}", sys.implementation.name,
                   sysconfig.get_platform(), libc, version, True, sys.executable)

    @property
    def key(self) -> str:
        return f"{self.impl}-{self.python}-{self.platform}-{self.libc}{self.libc_version}"

    def wheel_platforms(self) -> list[str]:
        """The platform tags of wheels this Python can install, for `pip download`."""
        plat = self.platform.replace("-", "_").replace(".", "_")
        tags = [plat]
        arch = plat.split("_", 1)[1] if plat.startswith("linux_") else ""
        if arch and self.libc == "glibc":
            try:
                major, minor = (int(x) for x in self.libc_version.split(".")[:2])
            except ValueError:
                major, minor = 0, 0
            if major == 2:
                tags += [f"manylinux_2_{m}_{arch}" for m in range(minor, 4, -1)]
                legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
                tags += [f"{name}_{arch}" for m, name in legacy.items() if minor >= m]
        return tags


def probe(conn, python: str) -> HostInfo:
    """Run the probe with the host's `python`; FarmError with one line if it fails."""
    try:
        out = remote.run(conn, f"{shlex.quote(python)} -c {shlex.quote(_PROBE)}", timeout=60)
    except FarmError as exc:
        raise FarmError(f"no usable Python {python!r} on the host: {exc}") from None
    try:
        data = json.loads(out.strip().splitlines()[-1])
        info = HostInfo(**{k: data[k] for k in ("python", "impl", "platform", "libc",
                                                "libc_version", "venv", "executable")})
    except (ValueError, KeyError, IndexError, TypeError):
        raise FarmError(f"{python} -c ...: unexpected probe output {out.strip()[:80]!r}") from None
    if info.impl != "cpython":
        raise FarmError(f"{python} is {info.impl} {info.python}; hv needs CPython")
    if tuple(int(x) for x in info.python.split(".")) < (3, 11):
        raise FarmError(f"{python} is Python {info.python}; hv needs 3.11 or newer")
    return info


class Supplies:
    """What the controller sends SSH hosts, built or downloaded once per platform.

    Thread-safe: hosts are provisioned in parallel, and two hosts of one
    platform share one build.
    """

    def __init__(self, console=None, i386_wheel: Callable[[], tuple[Path, str]] | None = None,
                 sdist: Callable[[], tuple[Path, str]] | None = None) -> None:
        self._console = console
        self._i386_wheel = i386_wheel
        self._sdist = sdist
        self._lock = threading.Lock()
        self._done: dict[str, tuple[Path, str, Path, str]] = {}

    def for_host(self, info: HostInfo) -> tuple[Path, str, Path, str]:
        """(hv wheel or sdist, its sha256, wheelhouse directory, wheelhouse key)."""
        with self._lock:
            if info.key not in self._done:
                hv_file, digest = self._hv_for(info)
                house, house_key = wheelhouse(info, sdist=hv_file.name.endswith(".tar.gz"))
                self._done[info.key] = (hv_file, digest, house, house_key)
            return self._done[info.key]

    def _hv_for(self, info: HostInfo) -> tuple[Path, str]:
        here = HostInfo.local()
        if (info.impl, info.python, info.platform) == (here.impl, here.python, here.platform):
            path = local_wheel()
            return path, remote.sha256_file(path)
        from farm.image import NODE_PYTHON_VERSION
        if info.platform == "linux-i686" and info.python == NODE_PYTHON_VERSION \
                and self._i386_wheel is not None:
            return self._i386_wheel()
        if self._sdist is None:
            raise FarmError(f"no hv build for {info.platform} Python {info.python}")
        return self._sdist()


def local_wheel() -> Path:
    """An hv wheel of this checkout for the controller's own platform, cached
    by a hash of its sources and the platform."""
    from farm import image
    src = image.source_root()
    files = image._source_files(src)
    key = f"{image._source_hash(src, files)}-{HostInfo.local().key}"
    cached = sorted((image.cache_dir() / "wheels-local" / key).glob("hv-*.whl"))
    if cached:
        return cached[0]
    with image._locked(None):           # one build at a time in the cache
        cached = sorted((image.cache_dir() / "wheels-local" / key).glob("hv-*.whl"))
        return cached[0] if cached else _build_local_wheel(src, files, key)


def _build_local_wheel(src: Path, files: list[str], key: str) -> Path:
    from farm import image
    work = image._tmp_dir("local-wheel")
    tree, out = work / "src", work / "out"
    for name in files:
        dest = tree / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / name, dest)
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(image._EPOCH)}
    env.pop("HV_SANITIZE", None)            # a host gets the plain build
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
           "-w", str(out), str(tree)]
    # With this Python's own setuptools and wheel; without them (a bare venv,
    # or no `wheel` package) pip fetches both into an isolated build environment.
    proc = subprocess.run([*pip, "--no-index", "--no-build-isolation"], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(pip, capture_output=True, text=True, env=env)
    built = sorted(out.glob("hv-*.whl"))
    if proc.returncode != 0 or len(built) != 1:
        lines = (proc.stdout + proc.stderr).splitlines()
        why = [x.strip() for x in lines if "error" in x.lower()] or lines or ["no wheel"]
        image._rmtree(work)
        raise FarmError(f"building hv's wheel for this platform failed: {why[0]}")
    final = image.cache_dir() / "wheels-local" / key
    keep = image._tmp_dir("local-wheel-done")
    shutil.copy2(built[0], keep / built[0].name)
    image._replace_dir(keep, final)
    image._rmtree(work)
    image._prune_wheels(image.cache_dir() / "wheels-local", keep=5)
    return sorted(final.glob("hv-*.whl"))[0]


def _requirements(sdist: bool) -> list[str]:
    from farm import image
    reqs = image._requirements()
    return reqs + (["setuptools>=65", "wheel"] if sdist else [])


def wheelhouse(info: HostInfo, sdist: bool = False) -> tuple[Path, str]:
    """pytest, pytest-xdist, execnet and hv's runtime dependencies as wheels
    for the host's Python (plus setuptools when hv is built there), downloaded
    on the controller and cached; (directory, key)."""
    from farm import image
    reqs = _requirements(sdist)
    key = image._digest("ssh-wheelhouse", info.key, *info.wheel_platforms(), *reqs)[:16]
    final = image.cache_dir() / "ssh-wheelhouse" / key
    if final.is_dir() and any(final.glob("*.whl")):
        return final, key
    with image._locked(None):
        if final.is_dir() and any(final.glob("*.whl")):
            return final, key
        return _download(info, reqs, key, final), key


def _download(info: HostInfo, reqs: list[str], key: str, final: Path) -> Path:
    from farm import image
    tmp = image._tmp_dir("ssh-wheelhouse")
    abi = "cp" + info.python.replace(".", "")
    argv = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
            "--no-cache-dir", "-d", str(tmp), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", info.python, "--abi", abi, "--abi", "abi3", "--abi", "none"]
    for tag in info.wheel_platforms():
        argv += ["--platform", tag]
    proc = subprocess.run([*argv, *reqs], capture_output=True, text=True)
    if proc.returncode != 0:
        image._rmtree(tmp)
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise FarmError(f"downloading wheels for {info.platform} Python {info.python} "
                        f"on this machine failed: {tail}")
    (tmp / "requirements.txt").write_text("\n".join(reqs) + "\n")
    image._replace_dir(tmp, final)
    return final


def _tar_stream(files: dict[str, Path]) -> bytes:
    """An uncompressed tar (wheels are compressed already) of arcname -> file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for arcname, path in sorted(files.items()):
            tar.add(path, arcname=arcname, recursive=False)
    return buf.getvalue()


def provision_ssh_host(conn, node, supplies: Supplies, step: Callable[[str], None]) -> bool:
    """Give the host at `conn` a venv with this hv, unless it holds it already
    (then False); sets node.python and node.workdir."""
    info = probe(conn, node.python)
    home = remote.run(conn, "echo $HOME").strip()
    base = f"{home}/.hv-farm"
    venv, wheels, marker = f"{base}/venv", f"{base}/wheels", f"{base}/hv.json"
    hv_file, digest, house, house_key = supplies.for_host(info)
    want = {"version": hv.__version__, "hv_sha256": digest, "wheelhouse": house_key,
            "python": info.key}
    node.python = f"{venv}/bin/python"
    node.workdir = f"{base}/work"
    current, venv_ok = _installed(conn, marker, node.python)
    if current == want and venv_ok:
        return False
    if not info.venv:
        raise FarmError(f"{info.executable} on the host cannot make a venv (it has no "
                        "venv/ensurepip module; on Debian: apt-get install python3-venv)")
    step(f"provisioning (sending hv and {len(list(house.glob('*.whl')))} wheels)")
    files = {f"wheels/{p.name}": p for p in house.glob("*.whl")}
    files[f"wheels/{hv_file.name}"] = hv_file
    q = shlex.quote
    remote.send(conn, f"rm -rf {q(wheels)} && mkdir -p {q(base)} && tar -xf - -C {q(base)}",
                _tar_stream(files))
    step("provisioning (installing into a venv)")
    pip = f"{q(venv)}/bin/python -m pip install -q --disable-pip-version-check --no-index " \
          f"--find-links {q(wheels)}"
    reqs = " ".join(q(r) for r in _requirements(hv_file.name.endswith(".tar.gz")))
    hv_target = q(f"{wheels}/{hv_file.name}")
    # The venv is made once (fresh if it is broken); pip takes everything
    # from the wheelhouse; hv itself without its controller-only dependencies.
    remote.run(conn, f"( {q(venv)}/bin/python -c '' 2>/dev/null || "
                     f"( rm -rf {q(venv)} && {q(info.executable)} -m venv {q(venv)} ) ) && "
                     f"{pip} {reqs} && {pip} --no-deps --force-reinstall {hv_target} && "
                     f"printf '%s\\n' {q(json.dumps(want))} > {q(marker)}", timeout=900)
    return True


# After the marker, when there is one: whether the venv's Python starts and
# imports what a worker needs.  One command, so an up-to-date host costs one
# round trip.
_VENV_OK, _VENV_BROKEN = "hv-farm-venv: ok", "hv-farm-venv: broken"


def _installed(conn, marker: str, python: str) -> tuple[dict, bool]:
    """(what the marker says was installed, {} if nothing; whether the venv works)."""
    q = shlex.quote
    out = remote.run(conn, f"cat {q(marker)} 2>/dev/null && {{ echo; "
                           f"{q(python)} -c 'import hv, xdist, execnet' >/dev/null 2>&1 "
                           f"&& echo {q(_VENV_OK)} || echo {q(_VENV_BROKEN)}; }} || true",
                     timeout=120)
    lines = out.strip().splitlines()
    venv_ok = bool(lines) and lines[-1] == _VENV_OK
    if lines and lines[-1] in (_VENV_OK, _VENV_BROKEN):
        lines = lines[:-1]
    held = "\n".join(lines).strip()
    try:
        current = json.loads(held) if held else {}
    except ValueError:
        current = {}
    return current if isinstance(current, dict) else {}, venv_ok
