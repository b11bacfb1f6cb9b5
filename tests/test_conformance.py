"""Conformance guests: the emu switcher must behave exactly like the real CPU.

Every source in images/conformance/ is built twice by images/build.py: as an hv
guest (conf_<stem>.elf) and as a static i386 Linux program (conf_<stem>.linux).
The Linux build runs natively here and its output is the reference; the hv
build must print byte-identical console output and exit with the same status.

    pytest tests/test_conformance.py                  # emu switcher
    HV_CONFORMANCE_SWITCHERS=emu,kvm pytest ...       # also other switchers
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import shutil
import subprocess
import sys
from itertools import zip_longest
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
BUILD = IMAGES / "build"
NATIVE_TIMEOUT = 120
HV_TIMEOUT = 120

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is needed to build the conformance guests"
)


def load_build_module():
    """images/build.py as a module (it is a script, not part of a package)."""
    path = IMAGES / "build.py"
    if not path.is_file():
        return None
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    name = "hv_images_build"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module    # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def conformance_stems() -> list[str]:
    """Names of the conformance images (e.g. "alu_flags", "mixed-O2").

    Taken from the build plan, so the list is known before anything is built;
    falls back to what images/build/ holds.
    """
    try:
        build = load_build_module()
    except Exception:   # a broken build script is reported by the fixture
        build = None
    if build is not None:
        jobs = build.plan(kinds=["conformance"])
        elfs = {job.output.name for job in jobs if job.output.suffix == ".elf"}
        linux = {job.output.name for job in jobs if job.output.suffix == ".linux"}
    else:
        elfs = {p.name for p in BUILD.glob("conf_*.elf")}
        linux = {p.name for p in BUILD.glob("conf_*.linux")}
    return sorted(
        name[len("conf_"):-len(".elf")]
        for name in elfs
        if name[: -len(".elf")] + ".linux" in linux
    )


def switchers() -> list[str]:
    return [s.strip() for s in os.environ.get("HV_CONFORMANCE_SWITCHERS", "emu").split(",")
            if s.strip()]


@pytest.fixture(scope="session")
def conformance_images() -> Path:
    """Build (incrementally) every conformance image; fail on any build error."""
    build = load_build_module()
    if build is None:
        pytest.skip("images/build.py is missing")
    report = build.build_all(kinds=["conformance"])
    if not report.ok:
        details = "\n\n".join(f"{job.name}:\n{error}" for job, error in report.failed)
        pytest.fail(f"conformance images failed to build:\n{details}", pytrace=False)
    return BUILD


def run_native(path: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([str(path)], capture_output=True, timeout=NATIVE_TIMEOUT)
    except OSError as exc:
        pytest.skip(f"cannot run i386 Linux programs on this host: {exc}")


def run_hv(hv, path: Path, switcher: str):
    if switcher == "emu":
        return hv.run(str(path), switcher="emu", timeout=HV_TIMEOUT)
    available = getattr(hv._native, "SWITCHERS", ("emu",))
    if switcher not in available:
        pytest.skip(f"switcher {switcher!r} is not available (have {', '.join(available)})")
    return hv.Guest(str(path), switcher=switcher).run(timeout=HV_TIMEOUT)


def first_difference(expected: bytes, actual: bytes, context: int = 4) -> str:
    """A readable report of where two console outputs first differ."""
    exp = expected.decode("utf-8", "replace").splitlines(keepends=True)
    act = actual.decode("utf-8", "replace").splitlines(keepends=True)
    index = next(
        (i for i, (a, b) in enumerate(zip_longest(exp, act)) if a != b), None
    )
    if index is None:
        return "outputs are identical"
    lo = max(0, index - context)
    diff = difflib.unified_diff(
        exp[lo: index + context + 1],
        act[lo: index + context + 1],
        fromfile="real CPU (native .linux)",
        tofile="hv guest (.elf)",
        n=context,
    )
    body = "".join(line if line.endswith("\n") else line + "\n" for line in diff)
    return (
        f"first difference at line {index + 1} "
        f"(cpu has {len(exp)} lines, hv has {len(act)}):\n{body}"
    )


def test_first_difference_points_at_the_line():
    report = first_difference(b"a\nb\nc\nd\n", b"a\nb\nX\nd\n", context=1)
    assert "line 3" in report
    assert "-c" in report and "+X" in report
    assert "-a" not in report and " b" in report
    assert first_difference(b"same\n", b"same\n") == "outputs are identical"
    assert "line 2" in first_difference(b"a\n", b"a\nextra\n")


@pytest.mark.parametrize("stem", conformance_stems())
def test_reference_runs_natively(conformance_images, stem):
    """The .linux twin exits 0, prints its summary, and prints the same twice."""
    path = conformance_images / f"conf_{stem}.linux"
    first = run_native(path)
    assert first.returncode == 0, first.stderr.decode(errors="replace")
    assert b" checks\n" in first.stdout, "no summary line: the program did not finish"
    second = run_native(path)
    assert second.stdout == first.stdout, (
        "the reference output is not stable across runs:\n"
        + first_difference(first.stdout, second.stdout)
    )


@pytest.mark.parametrize("switcher", switchers())
@pytest.mark.parametrize("stem", conformance_stems())
def test_guest_matches_cpu(native, conformance_images, stem, switcher):
    import hv
    native = run_native(conformance_images / f"conf_{stem}.linux")
    assert native.returncode == 0, "the native reference itself failed"
    ex = run_hv(hv, conformance_images / f"conf_{stem}.elf", switcher)
    assert ex.reason is None, (
        f"guest was killed: {ex.reason}\n"
        + first_difference(native.stdout, bytes(ex.console))
    )
    assert ex.status == native.returncode
    if bytes(ex.console) != native.stdout:
        pytest.fail(first_difference(native.stdout, bytes(ex.console)), pytrace=False)
