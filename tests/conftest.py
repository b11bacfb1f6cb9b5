"""Shared fixtures: the native module, the sample guest images, hand-made ELFs.

- `native`: hv._native, or a skip saying it is not built.
- `guest_images`: images/build/, after `python images/build.py` built the
  sample guests (skips if gcc is missing).
- `elf`: writes small ELF32 images from Python (no gcc needed), for the
  loader's refusals and for guests written directly in machine code.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
BUILD = IMAGES / "build"

PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
IMAGE_BASE = 0x100000


# ---- Ctrl-C ----

# A non-interactive shell starts a background job with SIGINT ignored, and an
# ignored signal stays ignored across exec: Python then installs no
# KeyboardInterrupt handler, and neither does any `hv run` a test starts.  The
# tests that press Ctrl-C need Python's usual handler, so put it back here
# (child processes then start with SIGINT at its default, as from a terminal).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# ---- the native module ----

@pytest.fixture(scope="session")
def native():
    """hv._native; tests that need it skip (with the import error) until it builds."""
    try:
        from hv import _native
    except ImportError as exc:
        pytest.skip(f"hv._native is not built: {exc} "
                    "(run `pip install -e .` or `python setup.py build_ext --inplace`)")
    return _native


@pytest.fixture(scope="module")
def hv(native):
    """The hv package, once `native` has found the extension."""
    import hv

    return hv


@pytest.fixture(scope="session")
def host_images() -> Path:
    """images/build/ after building the host-ABI guests of images/host/."""
    from host_abi import build_host_images

    return build_host_images()


# ---- real QEMU, the oracle for kernels ----

@dataclass(frozen=True)
class QemuRun:
    status: int
    debugcon: bytes
    serial: bytes
    stderr: bytes


def run_qemu(kernel: Path, tmp_path: Path, *, serial: bool = False,
             timeout: float = 120) -> QemuRun:
    """Boot `kernel` with `qemu-system-i386 -kernel` on the pc machine with 64
    MiB (hv's default), isa-debug-exit at 0xF4 and debugcon (and, with
    serial=True, COM1) captured to files; -no-reboot, so a reset ends it."""
    debugcon, com1 = tmp_path / "qemu-debugcon.txt", tmp_path / "qemu-serial.txt"
    cmd = ["qemu-system-i386", "-M", "pc", "-m", "64", "-nodefaults", "-display", "none",
           "-no-reboot", "-kernel", str(kernel), "-debugcon", f"file:{debugcon}",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if serial:
        cmd += ["-serial", f"file:{com1}"]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    return QemuRun(proc.returncode, debugcon.read_bytes(),
                   com1.read_bytes() if serial else b"", proc.stderr)


# ---- sample guests ----

def sample_guest_names() -> list[str]:
    return sorted(f"{src.stem}.elf" for src in (IMAGES / "guests").glob("*.c"))


def build_images(what: str, *names: str) -> None:
    """Run images/build.py for `names` (skips without gcc; fails if the build does)."""
    gcc = os.environ.get("HV_CC", "gcc")
    if shutil.which(gcc) is None:
        pytest.skip(f"{gcc} not found: {what} cannot be built")
    BUILD.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers share images/build; one build at a time.
    with open(BUILD / ".tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([sys.executable, str(IMAGES / "build.py"), *names],
                              cwd=REPO, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"python images/build.py failed ({proc.returncode}):\n"
                    f"{proc.stdout}{proc.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def guest_images() -> Path:
    """images/build/ with every sample guest of images/guests/ built and up to date."""
    names = sample_guest_names()
    if not names:
        pytest.skip("images/guests/ has no sample guests yet")
    build_images("the sample guests in images/guests/", *names)
    missing = [name for name in names if not (BUILD / name).is_file()]
    if missing:
        pytest.fail(f"images/build.py did not produce {', '.join(missing)}", pytrace=False)
    return BUILD


@pytest.fixture(scope="session")
def sample_suites() -> Path:
    """images/build/ with suite_*.elf built from images/suites/."""
    if not any((IMAGES / "suites").glob("*/*.c")):
        pytest.skip("images/suites/ has no sample suites yet")
    build_images("the sample suites", "suite_*.elf")
    if not (BUILD / "suite_demo.elf").is_file():
        pytest.skip("images/build.py does not build suite_demo.elf yet")
    return BUILD


# ---- hand-made ELF32 images ----

def segment(paddr: int, data: bytes = b"", memsz: int | None = None, flags: int = PF_R | PF_X,
            **fields: int) -> dict[str, Any]:
    """A program header for elf32().  fields may override p_type, vaddr, offset, filesz."""
    return {"paddr": paddr, "data": data, "memsz": len(data) if memsz is None else memsz,
            "flags": flags, **fields}


def elf32(segments: Sequence[dict[str, Any]], entry: int | None = None, *, ei_class: int = 1,
          ei_data: int = 1, e_type: int = 2, machine: int = 3, phentsize: int = 32,
          phnum: int | None = None) -> bytes:
    """An ELF32 little-endian image: the header, program headers, then segment data.

    Every header field can be set wrong on purpose; by default the image is
    valid for ABI v1 as long as the segments are.  entry defaults to the first
    segment's paddr.
    """
    ehsize, phsize = 52, 32
    data_at = ehsize + phsize * len(segments)
    phdrs, blobs = b"", b""
    for seg in segments:
        offset = seg.get("offset", data_at + len(blobs))
        phdrs += struct.pack(
            "<8I", seg.get("p_type", PT_LOAD), offset, seg.get("vaddr", seg["paddr"]),
            seg["paddr"], seg.get("filesz", len(seg["data"])), seg["memsz"], seg["flags"], 4)
        blobs += seg["data"]
    if entry is None:
        entry = segments[0]["paddr"] if segments else 0
    ident = b"\x7fELF" + bytes([ei_class, ei_data, 1]) + bytes(9)
    header = struct.pack("<16sHHIIIIIHHHHHH", ident, e_type, machine, 1, entry,
                         ehsize if segments else 0, 0, 0, ehsize, phentsize,
                         len(segments) if phnum is None else phnum, 40, 0, 0)
    return header + phdrs + blobs


def port_program(text: bytes = b"", status: int = 0) -> bytes:
    """i386 code: each byte of `text` out to port 0xE9, then `status` out to port 0xF4."""
    code = b"".join(b"\xb0" + bytes([c]) + b"\xe6\xe9" for c in text)      # mov al, c; out 0xe9
    return code + b"\xb0" + bytes([status]) + b"\xe6\xf4" + b"\xf4"        # ...; out 0xf4; hlt


class ElfKit:
    """The `elf` fixture: hand-made images written under the test's tmp_path."""

    PT_LOAD, PT_NOTE = PT_LOAD, PT_NOTE
    PF_X, PF_W, PF_R = PF_X, PF_W, PF_R
    IMAGE_BASE = IMAGE_BASE
    segment = staticmethod(segment)
    build = staticmethod(elf32)
    program = staticmethod(port_program)

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def write(self, name: str = "guest.elf", segments: Sequence[dict[str, Any]] | None = None,
              raw: bytes | None = None, **options: Any) -> Path:
        """Write an image and return its path.

        Without segments it is one R+X segment at 1 MiB that exits with status 0
        through port 0xF4.  raw=bytes writes those bytes as they are.
        """
        if raw is None:
            if segments is None:
                segments = [segment(IMAGE_BASE, port_program())]
            raw = elf32(segments, **options)
        path = self.tmp_path / name
        path.write_bytes(raw)
        return path


@pytest.fixture
def elf(tmp_path: Path) -> ElfKit:
    return ElfKit(tmp_path)
