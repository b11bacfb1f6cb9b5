"""Helpers for the full-host ABI tests (test_host_*.py).

The guests are images/host/*.c, built by images/build.py into
images/build/host_<stem>.elf.  Each picks a scenario with `op=...` and marks
its trapping instructions with global labels (fault_<op>, after_<op>), whose
addresses the tests read from the ELF symbol table, as tests/test_traps.py
does.  The guests print one line per trap, made by print_rec() in
images/host/host_test.h; rec() below makes the same line.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from test_conformance import load_build_module

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
BUILD = IMAGES / "build"
TIMEOUT = 60
RAM_MIB = 64

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None,
                               reason="gcc is needed to build the host ABI guests")


def build_host_images() -> Path:
    """Build images/host/ (fails the test if a guest does not build)."""
    import fcntl

    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / ".tests.lock", "w") as lock:     # xdist workers share the dir
        fcntl.flock(lock, fcntl.LOCK_EX)
        report = load_build_module().build_all(kinds=["host"])
    if not report.ok:
        details = "\n\n".join(f"{job.name}:\n{error}" for job, error in report.failed)
        pytest.fail(f"host ABI images failed to build:\n{details}", pytrace=False)
    return BUILD


_symbols: dict[Path, dict[str, int]] = {}


def symbol(image: Path, name: str) -> int:
    table = _symbols.get(image)
    if table is None:
        from elftools.elf.elffile import ELFFile

        with open(image, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            table = {sym.name: sym["st_value"] for sym in symtab.iter_symbols()} if symtab else {}
        _symbols[image] = table
    assert name in table, f"{image.name} has no symbol {name}"
    return table[name]


def run(hv, image: Path, cmdline: str = "", **kwargs):
    options = {key: kwargs.pop(key) for key in ("devices", "clock") if key in kwargs}
    guest = hv.Guest(str(image), memory_mib=RAM_MIB, cmdline=cmdline, **options)
    kwargs.setdefault("timeout", TIMEOUT)
    return guest.run(**kwargs)


def console(ex) -> str:
    return bytes(ex.console).decode("utf-8", "replace")


def assert_exits(ex, expected: str | list[str], status: int = 0) -> None:
    """The guest exited with `status` and printed exactly `expected` (lines)."""
    if isinstance(expected, list):
        expected = "".join(line + "\n" for line in expected)
    assert ex.reason is None, f"killed: {ex.reason!r}; console:\n{console(ex)}"
    assert console(ex) == expected
    assert ex.status == status


def assert_killed(ex, reason: str, console_prefix: str | None = None, *,
                  prefix: bool = False) -> None:
    assert ex.status is None, f"guest exited with {ex.status}; console:\n{console(ex)}"
    if prefix:
        assert ex.reason is not None and ex.reason.startswith(reason), ex.reason
    else:
        assert ex.reason == reason, f"console:\n{console(ex)}"
    if console_prefix is not None:
        assert console(ex).startswith(console_prefix)
    assert "survived" not in console(ex)


def rec(what: str, *, count: int = 1, vec: int, err: int = 0, eip: int, cs: int = 8,
        eflags: int, flags_in: int, depth: int) -> str:
    """The line print_rec() prints for one trap."""
    return (f"{what}: count={count} vec={vec:02x} err={err:08x} eip={eip:08x} cs={cs:08x} "
            f"eflags={eflags:08x} in={flags_in:08x} depth={depth}")


_REC = re.compile(r"^(?P<what>\S+): count=(?P<count>\d+) vec=(?P<vec>[0-9a-f]+) "
                  r"err=(?P<err>[0-9a-f]+) eip=(?P<eip>[0-9a-f]+) cs=(?P<cs>[0-9a-f]+) "
                  r"eflags=(?P<eflags>[0-9a-f]+) in=(?P<flags_in>[0-9a-f]+) "
                  r"depth=(?P<depth>\d+)$", re.M)


def parse_rec(text: str, what: str) -> dict[str, int]:
    """The fields of the print_rec() line named `what` (asserts there is one)."""
    found = [m for m in _REC.finditer(text) if m.group("what") == what]
    assert len(found) == 1, f"no single {what!r} record in:\n{text}"
    m = found[0]
    return {key: int(value, 10 if key in ("count", "depth") else 16)
            for key, value in m.groupdict().items() if key != "what"}
