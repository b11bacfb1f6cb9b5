"""Guest test suites: the `.hv_tests` table of an image, and what a test's run means.

A suite image carries one 32-byte record per test case in its `.hv_tests`
section (little-endian u32s):

    magic ("HVT1"), name, fn, file, line, markers, reserved[2]

name, file and markers are guest addresses of NUL-terminated strings in the
loaded segments; fn is the address of the test body.  `read_suite()` reads
the table straight from the file (no guest runs), and `judge()` turns the
`hv.Exit` of one test's run into a verdict.  The pytest plugin
(hv.pytest_plugin) is built on these two; anything else that runs suites
(a farm, a script) can use them too.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError

from hv import elf
from hv.errors import ImageError
from hv.guest import Exit, TestResult

__all__ = [
    "MAGIC",
    "SECTION",
    "NotASuite",
    "SuiteError",
    "TestCase",
    "Verdict",
    "is_suite",
    "judge",
    "read_suite",
]

SECTION = ".hv_tests"
MAGIC = 0x31545648                 # b"HVT1" read as a little-endian u32
_RECORD = struct.Struct("<8I")     # magic, name, fn, file, line, markers, reserved[2]
_STRING_MAX = 4096                 # longer than any name, path or marker list we expect
_SHT_NOBITS = "SHT_NOBITS"

# A name becomes `hv.test=NAME` on the guest's command line and the last part
# of a pytest node id, so it may not contain spaces or "::".
_NAME = re.compile(r"[!-~]+")
# "name" or "name=value"; pytest marker names are Python identifiers.
_MARKER = re.compile(r"[A-Za-z][A-Za-z0-9_]*(=[^,]*)?")


class SuiteError(ImageError):
    """The image's test table cannot be used; the message names the file and the problem."""


class NotASuite(SuiteError):
    """The file is not a guest test suite: not an ELF image, or no `.hv_tests` section."""


@dataclass(frozen=True)
class TestCase:
    """One entry of a suite's table.

    markers: the comma-separated marker list split up, each "name" or "name=value".
    file/line: where the test is defined (the guest's __FILE__ and __LINE__).
    """

    name: str
    file: str
    line: int
    markers: tuple[str, ...] = ()

    __test__ = False        # not a pytest test class


# ---- reading the table ----

# path -> (file identity, cases or the error they gave); see read_suite.
_cache: dict[str, tuple[tuple[int, ...], tuple[TestCase, ...] | SuiteError]] = {}


def read_suite(path: str | os.PathLike[str]) -> list[TestCase]:
    """The test cases of the suite image at `path`, in table order.

    Raises NotASuite if the file is not an ELF image with a `.hv_tests`
    section, SuiteError if the table is corrupt.  Results are cached per
    path and file identity (device, inode, size, mtime), so a rebuilt image
    is read again.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise NotASuite(f"{path}: cannot open: {exc.strerror or exc}") from None
    stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _cache.get(path)
    if cached is None or cached[0] != stamp:
        try:
            cached = (stamp, _read(path))
        except SuiteError as exc:
            cached = (stamp, exc)
        _cache[path] = cached
    found = cached[1]
    if isinstance(found, SuiteError):
        # A fresh exception each time: re-raising the cached one would keep
        # growing its traceback.
        raise type(found)(str(found))
    return list(found)


def is_suite(path: str | os.PathLike[str]) -> bool:
    """True if `path` is an ELF image with a `.hv_tests` section, even a corrupt one."""
    try:
        read_suite(path)
    except NotASuite:
        return False
    except SuiteError:
        return True
    return True


def _read(path: str) -> tuple[TestCase, ...]:
    try:
        data, _ = elf.map_file(path)
    except ImageError as exc:
        raise NotASuite(str(exc)) from None
    try:
        return _Table(path, data).cases()
    finally:
        data.close()


class _Table:
    """The `.hv_tests` table of one mapped image."""

    def __init__(self, path: str, data: mmap.mmap) -> None:
        self.path, self.data = path, data
        if data[:4] != b"\x7fELF" or data[4:6] != b"\x01\x01":
            raise NotASuite(f"{path}: not a 32-bit little-endian ELF image")
        try:
            self.elf = elf.open_elf(data)
            self.section = self.elf.get_section_by_name(SECTION)
            self.loads = list(self._loads())
        except (ELFError, ConstructError, struct.error, ValueError) as exc:
            raise SuiteError(f"{path}: unreadable ELF headers: {exc}") from None
        if self.section is None:
            raise NotASuite(f"{path}: no {SECTION} section (not a guest test suite)")

    def _loads(self) -> Iterator[tuple[int, int, int, int, int]]:
        """(paddr, filesz, memsz, offset, flags) of each PT_LOAD: the bytes the guest sees."""
        for segment in self.elf.iter_segments():
            ph = segment.header
            if ph["p_type"] == "PT_LOAD":
                yield ph["p_paddr"], ph["p_filesz"], ph["p_memsz"], ph["p_offset"], ph["p_flags"]

    def cases(self) -> tuple[TestCase, ...]:
        raw = self._section_bytes()
        cases: list[TestCase] = []
        seen: dict[str, int] = {}
        for index, fields in enumerate(_RECORD.iter_unpack(raw)):
            if not any(fields):
                continue            # zero padding between descriptors is no test
            case = self._case(index, fields)
            if case.name in seen:
                raise self._corrupt(f"entry {index}: duplicate test name {case.name!r} "
                                    f"(also entry {seen[case.name]})")
            seen[case.name] = index
            cases.append(case)
        return tuple(cases)

    def _section_bytes(self) -> bytes:
        header = self.section.header
        offset, size = header["sh_offset"], header["sh_size"]
        if header["sh_type"] == _SHT_NOBITS:
            raise self._corrupt("the section has no contents in the file (SHT_NOBITS)")
        if offset + size > len(self.data):
            raise self._corrupt(f"the section ({size} bytes at offset {offset:#x}) runs past "
                                f"the end of the file ({len(self.data)} bytes)")
        if size % _RECORD.size:
            raise self._corrupt(f"size {size} is not a multiple of {_RECORD.size} bytes")
        return self.data[offset:offset + size]

    def _case(self, index: int, fields: tuple[int, ...]) -> TestCase:
        magic, name_at, fn, file_at, line, markers_at, _, _ = fields
        where = f"entry {index}"
        if magic != MAGIC:
            raise self._corrupt(f"{where}: bad magic {magic:#010x} (expected {MAGIC:#010x})")
        name = self._string(name_at, f"{where}: name")
        if not _NAME.fullmatch(name) or "::" in name:
            raise self._corrupt(f"{where}: bad test name {name!r} (printable ASCII, no spaces "
                                "or '::')")
        where = f"{where} ({name})"
        if not self._executable(fn):
            raise self._corrupt(f"{where}: fn {fn:#010x} is not in an executable segment")
        file = self._string(file_at, f"{where}: file") if file_at else ""
        markers = self._string(markers_at, f"{where}: markers") if markers_at else ""
        return TestCase(name, file, line, self._markers(markers, where))

    def _markers(self, text: str, where: str) -> tuple[str, ...]:
        markers = tuple(part.strip() for part in text.split(",") if part.strip())
        for marker in markers:
            if not _MARKER.fullmatch(marker):
                raise self._corrupt(f"{where}: bad marker {marker!r} (want NAME or NAME=VALUE)")
        return markers

    def _string(self, addr: int, what: str) -> str:
        """The NUL-terminated string at guest address `addr`, read from the file."""
        for paddr, filesz, _, offset, _ in self.loads:
            if paddr <= addr < paddr + filesz:
                start = offset + addr - paddr
                limit = min(offset + filesz, start + _STRING_MAX)
                end = self.data.find(b"\0", start, limit)
                if end < 0:
                    raise self._corrupt(f"{what}: string at {addr:#010x} is not NUL-terminated")
                return self.data[start:end].decode("utf-8", "replace")
        raise self._corrupt(f"{what}: address {addr:#010x} is not in the file's loaded data")

    def _executable(self, addr: int) -> bool:
        return any(paddr <= addr < paddr + memsz and flags & elf.PF_X
                   for paddr, _, memsz, _, flags in self.loads)

    def _corrupt(self, problem: str) -> SuiteError:
        return SuiteError(f"{self.path}: corrupt {SECTION} table: {problem}")


# ---- judging a run ----

@dataclass(frozen=True)
class Verdict:
    """What one test's run means.

    outcome: "passed", "failed" or "skipped".
    summary: one line without a location: why it failed ("HV_ASSERT failed:
    x == 4", "guest killed: timeout") or the skip reason.  Empty for a pass.
    lines: the full account of a failure, e.g. `file:line: HV_ASSERT failed:
    x == 4` then the values; for a skip, the reason.
    file/line: where the first failed assertion (or the skip) was reported, if known.
    """

    outcome: str
    summary: str = ""
    lines: tuple[str, ...] = ()
    file: str | None = None
    line: int = 0


def judge(result: Exit) -> Verdict:
    """The verdict on one test's run (`hv.test=NAME`).

    A test that behaves reports exactly one result and exits 0 after a pass
    or a skip (docs/abi.md, "What the SDK's runner guarantees").  Anything
    else fails: killed, no report, several reports, or a pass or skip
    followed by a non-zero exit status.  Failed assertions are always shown.
    """
    failed = [r for r in result.results if r.outcome == "failed"]
    lines = tuple(line for r in failed for line in describe(r))
    first = failed[0] if failed else None
    problem = _misbehaviour(result)
    if problem is not None:
        return _failed(problem, (problem, *lines), first)
    (only,) = result.results
    if only.outcome == "failed":
        return _failed(_headline(only), lines, only)
    if result.status != 0:
        return _failed(f"guest exited with status {result.status} after reporting "
                       f"{only.outcome}")
    if only.outcome == "skipped":
        reason = only.message or "skipped by the guest"
        return Verdict("skipped", reason, (reason,), only.file, only.line)
    return Verdict("passed")


def _misbehaviour(result: Exit) -> str | None:
    """Why the run cannot be one test's verdict, or None if it can."""
    if result.status is None:
        return f"guest killed: {result.reason}"
    if not result.results:
        return f"guest exited with status {result.status} without reporting a result"
    if len(result.results) > 1:
        outcomes = ", ".join(r.outcome for r in result.results)
        return f"guest reported {len(result.results)} results for one test ({outcomes})"
    return None


def _failed(summary: str, lines: tuple[str, ...] = (), first: TestResult | None = None
            ) -> Verdict:
    lines = lines or (summary,)
    if first is None:
        return Verdict("failed", summary, lines)
    return Verdict("failed", summary, lines, first.file, first.line)


def _headline(result: TestResult) -> str:
    """A failed TEST_RESULT in one line, without its location."""
    if result.expr is not None:
        return f"HV_ASSERT failed: {result.expr}"
    return f"failed: {result.message}" if result.message else "failed"


def describe(result: TestResult) -> list[str]:
    """A failed TEST_RESULT as text: `file:line: HV_ASSERT failed: expr`, then the values."""
    where = f"{result.file}:{result.line}: " if result.file else ""
    lines = [where + _headline(result)]
    if result.expr is None:
        return lines
    if result.lhs is not None:
        lines.append(f"  left:  {result.lhs}")
    if result.rhs is not None:
        lines.append(f"  right: {result.rhs}")
    if result.message:
        lines.append(f"  message: {result.message}")
    return lines
