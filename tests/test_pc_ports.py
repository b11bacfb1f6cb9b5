"""Port devices of QEMU's pc machine that kernels use to stop: isa-debugcon
(0xE9), isa-debug-exit (0xF4, also in QEMU's (v << 1) | 1 encoding), ACPI
poweroff (0x2000 to port 0x604), and reset through the keyboard controller
(0xFE to port 0x64) and the reset control register (port 0xCF9).  Kernels
are raw multiboot files (tests/test_multiboot.py's a.out kludge)."""

from __future__ import annotations

import shutil

import pytest
from conftest import port_program, run_qemu
from test_multiboot import raw_kernel

import hv
from hv import cli

ACPI_OFF = bytes.fromhex("66ba0406" "66b80020" "66ef" "f4")      # outw $0x2000, $0x604
KBD_RESET = bytes.fromhex("b0fe" "e664" "f4")                    # outb $0xfe, $0x64
RCR_RESET = bytes.fromhex("66baf90c" "b006" "ee" "f4")           # outb $6, $0xcf9


def text(s: bytes) -> bytes:
    """Code that writes s to port 0xE9."""
    return port_program(s)[:-5]          # without the exit and hlt


def kernel(elf, code: bytes, name: str = "k.bin"):
    from test_multiboot import header

    return elf.write(name, raw=header() + code)


def qemu(path, tmp_path):
    run = run_qemu(path, tmp_path)
    return run.status, run.debugcon


needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None,
                                reason="qemu-system-i386 is needed (./bootstrap installs it)")


def test_acpi_poweroff_exits_0(elf, native):
    ex = hv.run(kernel(elf, text(b"bye\n") + ACPI_OFF), timeout=10)
    assert (ex.status, ex.reason, ex.console) == (0, None, b"bye\n")


@pytest.mark.parametrize("code", [KBD_RESET, RCR_RESET], ids=["kbd", "cf9"])
def test_reset_boots_again(elf, native, code):
    ex = hv.run(kernel(elf, text(b"boot\n") + code), timeout=10)
    assert ex.reason == "too many restarts (more than 16)"
    assert ex.console == b"boot\n" * 17


def test_qemu_exit_encoding(elf, native, capfd):
    path = elf.write("k.bin", raw=raw_kernel(b"x", 5))
    assert hv.run(path, timeout=10).status == 5
    assert hv.run(path, timeout=10, qemu_exit=True).status == 11
    assert cli.main(["run", "--qemu-exit", str(path)]) == 11
    with pytest.raises(TypeError, match="qemu_exit must be a bool"):
        hv.Guest(path, qemu_exit=1)


def test_reads_from_port_devices(elf, native):
    """in from 0xE9 reads 0xE9 back (QEMU's debugcon readback), the keyboard
    controller is idle (0x1c) and a port with no device floats high."""
    code = bytes.fromhex("e4e9e6e9" "e464e6e9" "e480e6e9")      # in; out to 0xE9, x3
    ex = hv.run(kernel(elf, code + port_program(b"", 0)), timeout=10)
    assert ex.console == bytes([0xE9, 0x1C, 0xFF])


@needs_qemu
def test_acpi_poweroff_matches_qemu(elf, tmp_path, native):
    path = kernel(elf, text(b"powering off\n") + ACPI_OFF)
    status, console = qemu(path, tmp_path)
    ex = hv.run(path, timeout=10)
    assert (status, console) == (ex.status, ex.console) == (0, b"powering off\n")


@needs_qemu
@pytest.mark.parametrize("value", [0, 1, 42, 127])
def test_qemu_exit_matches_qemu(elf, tmp_path, native, value):
    path = elf.write("k.bin", raw=raw_kernel(b"v\n", value))
    status, console = qemu(path, tmp_path)
    ex = hv.run(path, timeout=10, qemu_exit=True)
    assert (ex.status, ex.console) == (status, console)


def test_rtc_date_under_the_virtual_clock(elf, native):
    """2000-01-01 00:00:00 plus the guest clock, in BCD: century, year,
    month, day, hours, minutes, seconds; then binary after status B bit 2."""
    def read(reg):
        return bytes([0xB0, reg, 0xE6, 0x70, 0xE4, 0x71, 0xE6, 0xE9])
    code = b"".join(read(r) for r in (0x32, 0x09, 0x08, 0x07, 0x04, 0x02, 0x00))
    code += bytes.fromhex("b00be670" "b006e671") + read(0x32)       # binary mode
    ex = hv.run(kernel(elf, code + port_program(b"", 0)), timeout=10)
    assert ex.console == bytes([0x20, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 20])


def test_msrs(elf, native):
    """wrmsr/rdmsr keep the SYSENTER MSRs; the TSC MSR moves with rdtsc and a
    write sets it; an MSR the CPU does not have raises #GP (Intel SDM vol. 4;
    QEMU's TCG returns 0 instead, so it is no oracle here)."""
    wr_rd = bytes.fromhex("b974010000" "b808000000" "31d2" "0f30"      # wrmsr 0x174 = 8
                          "31c0" "0f32" "e6e9")                        # rdmsr; out al
    tsc = bytes.fromhex("b910000000" "b800100000" "31d2" "0f30"       # wrmsr TSC = 0x1000
                        "0f32" "c1e808" "e6e9")                        # rdmsr; al = bits 8..15
    code = wr_rd + tsc + port_program(b"", 0)
    ex = hv.run(kernel(elf, code), timeout=10)
    assert ex.console == bytes([0x08, 0x10])
    bad = bytes.fromhex("b9efbeadde" "0f32") + port_program(b"", 0)
    path = kernel(elf, bad, "bad.bin")
    ex = hv.run(path, timeout=10)
    assert ex.reason == f"unhandled #GP at eip=0x{0x100000 + 32 + 5:08x}"


def test_outw_to_debugcon_prints_the_low_byte(elf, native):
    """Guest ABI v1: any size of write to 0xE9 prints its low byte (QEMU's
    debugcon ignores all but byte writes)."""
    code = bytes.fromhex("66b84101" "66e7e9") + port_program(b"", 0)   # outw 0x0141
    assert hv.run(kernel(elf, code), timeout=10).console == b"A"
