"""Run an hv guest image (Guest ABI v1) under Unicorn, the benchmark's peer.

    python bench/unicorn_runner.py IMAGE.elf [--memory-mib 64] [--timeout S]

Unicorn is QEMU's TCG JIT as a library.  This runner gives it exactly what hv
gives a guest: each PT_LOAD at p_paddr (zero-filled up to p_memsz), RAM at
physical 0, the ABI v1 entry state (flat 32-bit protected mode, EIP = e_entry,
ESP = top of RAM, EAX = 0x2BADB002, EBX = a multiboot info block at 0x9000 with
flags = 0), and the hypercalls and debug ports.

It adds only an interrupt hook (for `int $0x1f`) and `in`/`out` instruction
hooks, which cost nothing until such an instruction runs.  It never adds a
per-instruction or per-block hook: those would slow Unicorn down unfairly.
Unicorn cannot count instructions without such a hook, so `run_image` does
not report a count; the benchmark uses hv's count for the same image.

Timing: `setup` is creating the Unicorn engine, mapping RAM, loading the
image and installing hooks; `elapsed` is `emu_start` alone (it includes the
JIT's translation of the guest code, as hv's time includes its decoding).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MULTIBOOT_MAGIC = 0x2BADB002
MULTIBOOT_INFO_ADDR = 0x9000
MULTIBOOT_INFO_SIZE = 0x58  # struct multiboot_info of multiboot v1

HYPERCALL_VECTOR = 0x1F
HC_WRITE = 32
HC_EXIT = 33
HC_CLOCK = 34
ENOSYS = 38
EBADF = 9

DEBUG_CONSOLE_PORT = 0xE9
DEBUG_EXIT_PORT = 0xF4

IMAGE_BASE = 1 << 20
PT_LOAD = 1


class ImageError(Exception):
    """The file is not an image that Guest ABI v1 can load."""


@dataclass
class UnicornExit:
    """How a guest run under Unicorn ended."""

    status: int | None  # exit status 0..255, or None if the guest was killed
    reason: str  # "exit", or why it was stopped
    console: bytes
    elapsed: float  # seconds spent in emu_start
    setup: float  # seconds to create the engine, map RAM, load, hook


@dataclass(frozen=True)
class Segment:
    paddr: int
    data: bytes
    memsz: int


def load_elf(path: str | Path, memory_size: int) -> tuple[int, list[Segment]]:
    """Read an ABI v1 image: (entry, PT_LOAD segments).  Raises ImageError."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    path = Path(path)
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf.elfclass != 32 or elf["e_machine"] != "EM_386":
                raise ImageError(f"{path}: not an ELF32 i386 image")
            if elf["e_type"] != "ET_EXEC":
                raise ImageError(f"{path}: not an executable (e_type {elf['e_type']})")
            entry = elf["e_entry"]
            segments = []
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                    continue
                paddr, memsz = seg["p_paddr"], seg["p_memsz"]
                if paddr < IMAGE_BASE or paddr + memsz > memory_size:
                    raise ImageError(
                        f"{path}: segment 0x{paddr:x}+0x{memsz:x} is outside "
                        f"[0x{IMAGE_BASE:x}, 0x{memory_size:x})"
                    )
                segments.append(Segment(paddr, seg.data(), memsz))
    except (ELFError, OSError) as exc:
        raise ImageError(f"{path}: {exc}") from exc
    if not segments:
        raise ImageError(f"{path}: no PT_LOAD segment")
    return entry, segments


class _Guest:
    """The hooks' state for one run."""

    def __init__(self, memory_size: int, console_limit: int) -> None:
        self.memory_size = memory_size
        self.console = bytearray()
        self.console_limit = console_limit
        self.status: int | None = None
        self.reason = ""
        self.clock_base = time.monotonic_ns()

    def stop(self, uc, reason: str, status: int | None = None) -> None:
        if not self.reason:  # the first reason is kept
            self.reason = reason
            self.status = status
        uc.emu_stop()

    def emit(self, data: bytes) -> None:
        room = self.console_limit - len(self.console)
        if room > 0:
            self.console += data[:room]

    # UC_HOOK_INTR: every interrupt or exception the guest raises.
    def on_interrupt(self, uc, intno: int, _user) -> None:
        from unicorn.x86_const import (
            UC_X86_REG_EAX,
            UC_X86_REG_EBX,
            UC_X86_REG_ECX,
            UC_X86_REG_EDX,
            UC_X86_REG_EIP,
        )

        if intno != HYPERCALL_VECTOR:
            eip = uc.reg_read(UC_X86_REG_EIP)
            self.stop(uc, f"unhandled exception vector {intno} at eip=0x{eip:08x}")
            return
        nr = uc.reg_read(UC_X86_REG_EAX)
        if nr == HC_WRITE:
            fd = uc.reg_read(UC_X86_REG_EBX)
            addr = uc.reg_read(UC_X86_REG_ECX)
            length = uc.reg_read(UC_X86_REG_EDX)
            if fd not in (1, 2):
                ret = -EBADF
            elif addr + length > self.memory_size:
                self.stop(uc, f"bad write address 0x{addr:08x} len {length}")
                return
            else:
                self.emit(bytes(uc.mem_read(addr, length)))
                ret = length
        elif nr == HC_EXIT:
            self.stop(uc, "exit", uc.reg_read(UC_X86_REG_EBX) & 0xFF)
            return
        elif nr == HC_CLOCK:
            ns = time.monotonic_ns() - self.clock_base
            uc.reg_write(UC_X86_REG_EDX, (ns >> 32) & 0xFFFFFFFF)
            ret = ns
        else:
            ret = -ENOSYS
        uc.reg_write(UC_X86_REG_EAX, ret & 0xFFFFFFFF)

    # UC_HOOK_INSN / UC_X86_INS_OUT
    def on_out(self, uc, port: int, size: int, value: int, _user) -> None:
        if port == DEBUG_CONSOLE_PORT:
            self.emit(bytes([value & 0xFF]))
        elif port == DEBUG_EXIT_PORT:
            self.stop(uc, "exit", value & 0xFF)

    # UC_HOOK_INSN / UC_X86_INS_IN: no devices, the bus floats high.
    def on_in(self, uc, port: int, size: int, _user) -> int:
        return (1 << (8 * size)) - 1

    # UC_HOOK_INSN / UC_X86_INS_CPUID: hv's hypervisor leaf, so the SDK's
    # crt0 knows it may make hypercalls (other leaves as hv's emu answers
    # them would not change these benchmarks; Unicorn's own are left).
    def on_cpuid(self, uc, _user) -> int:
        from unicorn.x86_const import (
            UC_X86_REG_EAX,
            UC_X86_REG_EBX,
            UC_X86_REG_ECX,
            UC_X86_REG_EDX,
            UC_X86_REG_EIP,
        )

        if uc.reg_read(UC_X86_REG_EAX) != 0x40000000:
            return 0                        # 0: Unicorn runs the instruction itself
        for reg, value in ((UC_X86_REG_EAX, 0x40000000), (UC_X86_REG_EBX, 0x652D7668),
                           (UC_X86_REG_ECX, 0x756D), (UC_X86_REG_EDX, 0)):
            uc.reg_write(reg, value)
        uc.reg_write(UC_X86_REG_EIP, uc.reg_read(UC_X86_REG_EIP) + 2)
        return 1                            # handled: skip the instruction


def run_image(
    path: str | Path,
    *,
    memory_mib: int = 64,
    timeout: float | None = None,
    console_limit: int = 1 << 20,
) -> UnicornExit:
    """Run one ABI v1 image under Unicorn until it exits, faults or times out."""
    from unicorn import (
        UC_ARCH_X86,
        UC_HOOK_INSN,
        UC_HOOK_INTR,
        UC_MODE_32,
        UC_PROT_ALL,
        Uc,
        UcError,
    )
    from unicorn.x86_const import (
        UC_X86_INS_CPUID,
        UC_X86_INS_IN,
        UC_X86_INS_OUT,
        UC_X86_REG_EAX,
        UC_X86_REG_EBX,
        UC_X86_REG_EFLAGS,
        UC_X86_REG_EIP,
        UC_X86_REG_ESP,
    )

    memory_size = memory_mib << 20
    entry, segments = load_elf(path, memory_size)

    t0 = time.perf_counter()
    uc = Uc(UC_ARCH_X86, UC_MODE_32)  # flat 4 GiB segments, paging off
    uc.mem_map(0, memory_size, UC_PROT_ALL)
    for seg in segments:
        # A fresh mapping reads as zeros, so p_filesz..p_memsz is zeroed already.
        uc.mem_write(seg.paddr, seg.data)
    # Multiboot v1 info block with flags = 0: nothing in it is valid.
    uc.mem_write(MULTIBOOT_INFO_ADDR, bytes(MULTIBOOT_INFO_SIZE))
    guest = _Guest(memory_size, console_limit)
    uc.hook_add(UC_HOOK_INTR, guest.on_interrupt)
    uc.hook_add(UC_HOOK_INSN, guest.on_out, None, 1, 0, UC_X86_INS_OUT)
    uc.hook_add(UC_HOOK_INSN, guest.on_in, None, 1, 0, UC_X86_INS_IN)
    uc.hook_add(UC_HOOK_INSN, guest.on_cpuid, None, 1, 0, UC_X86_INS_CPUID)
    uc.reg_write(UC_X86_REG_EIP, entry)
    uc.reg_write(UC_X86_REG_ESP, memory_size)
    uc.reg_write(UC_X86_REG_EAX, MULTIBOOT_MAGIC)
    uc.reg_write(UC_X86_REG_EBX, MULTIBOOT_INFO_ADDR)
    uc.reg_write(UC_X86_REG_EFLAGS, 0x2)
    t1 = time.perf_counter()

    # `until` is an address no guest runs (the top of the 4 GiB space).
    timeout_us = int(timeout * 1e6) if timeout else 0
    try:
        uc.emu_start(entry, 0xFFFFFFFF, timeout=timeout_us)
    except UcError as exc:
        eip = uc.reg_read(UC_X86_REG_EIP)
        guest.stop(uc, f"unicorn: {exc} at eip=0x{eip:08x}")
    t2 = time.perf_counter()

    if not guest.reason:
        eip = uc.reg_read(UC_X86_REG_EIP)
        guest.reason = "timeout" if timeout_us else f"stopped at eip=0x{eip:08x}"
    return UnicornExit(
        status=guest.status,
        reason=guest.reason,
        console=bytes(guest.console),
        elapsed=t2 - t1,
        setup=t1 - t0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an hv guest image under Unicorn.")
    parser.add_argument("image")
    parser.add_argument("--memory-mib", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=None, help="seconds")
    args = parser.parse_args(argv)
    try:
        ex = run_image(args.image, memory_mib=args.memory_mib, timeout=args.timeout)
    except ImageError as exc:
        print(f"unicorn_runner: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(ex.console)
    sys.stdout.flush()
    print(
        f"[unicorn] {ex.reason} status={ex.status} run={ex.elapsed * 1e3:.1f} ms "
        f"setup={ex.setup * 1e3:.1f} ms",
        file=sys.stderr,
    )
    return ex.status if ex.status is not None else 1


if __name__ == "__main__":
    sys.exit(main())
