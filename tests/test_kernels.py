"""Kernels written the way people write them for QEMU (tests/kernels/*.c:
their own GDT and IDT, far jumps, a TSS, faults through their own gates,
ACPI poweroff), run under `qemu-system-i386 -kernel` and under hv: the
console (QEMU's debugcon, port 0xE9) and the exit status must be the same.
hv has never seen these kernels' expected output; QEMU is the oracle.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_qemu

KERNELS = Path(__file__).resolve().parent / "kernels"
CFLAGS = ["-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-nostdlib", "-static",
          "-no-pie", "-O2", "-Wall", "-Wextra", "-Werror", "-Wl,--build-id=none",
          "-Wl,--no-warn-rwx-segments", "-T", str(KERNELS / "kernel.ld")]

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the test kernels"),
    pytest.mark.skipif(shutil.which("qemu-system-i386") is None,
                       reason="qemu-system-i386 is the oracle (./bootstrap installs it)"),
]


def kernel_names() -> list[str]:
    return sorted(p.stem for p in KERNELS.glob("*.c"))


@pytest.mark.parametrize("name", kernel_names())
def test_kernel_matches_qemu(native, tmp_path, name):
    import hv

    image = tmp_path / f"{name}.elf"
    subprocess.run(["gcc", *CFLAGS, "-o", str(image), str(KERNELS / f"{name}.c")], check=True)
    qemu = run_qemu(image, tmp_path, serial=True)
    # hv's console carries both; each kernel here writes to one of them.
    expected = qemu.debugcon + qemu.serial
    assert b"powering off\n" in expected, f"under QEMU: {expected!r} {qemu.stderr!r}"
    ex = hv.run(image, timeout=30, qemu_exit=True)
    assert ex.reason is None, f"killed: {ex.reason}; console so far:\n{ex.console.decode()}"
    assert ex.console == expected
    assert ex.status == qemu.status
    # Under the virtual clock a run is the same to the instruction, timers included.
    again = hv.run(image, timeout=30, qemu_exit=True)
    assert (again.console, again.instructions) == (ex.console, ex.instructions)


def test_uart_receives_the_serial_input(native, tmp_path):
    import hv

    image = tmp_path / "uart.elf"
    subprocess.run(["gcc", *CFLAGS, "-o", str(image), str(KERNELS / "uart.c")], check=True)
    ex = hv.run(image, timeout=30, serial_input=b"ping")
    assert b"received: ping\r\n" in ex.console
    assert ex.status == 0


def test_uart_receives_by_interrupt(native, tmp_path):
    import hv

    image = tmp_path / "uart_irq.elf"
    subprocess.run(["gcc", *CFLAGS, "-o", str(image), str(KERNELS / "uart_irq.c")], check=True)
    ex = hv.run(image, timeout=30, serial_input=b"abcd")
    assert b"received by interrupt: abcd\n" in ex.console, ex.console
    assert ex.status == 0


def test_serial_and_debugcon_files(native, tmp_path):
    """--serial and --debugcon send COM1 and port 0xE9 to files, like QEMU's
    chardevs; what is left on the console is the rest."""
    from hv import cli

    image = tmp_path / "uart.elf"
    subprocess.run(["gcc", *CFLAGS, "-o", str(image), str(KERNELS / "uart.c")], check=True)
    serial, debugcon = tmp_path / "serial.txt", tmp_path / "debugcon.txt"
    import hv

    ex = hv.run(image, timeout=30, serial=serial, debugcon=debugcon)
    assert ex.console == b""
    assert serial.read_bytes().startswith(b"uart: hello over COM1\r\n")
    assert serial.read_bytes().endswith(b"kernel: powering off\n")
    assert debugcon.read_bytes() == b""         # this kernel uses COM1 alone
    assert cli.main(["run", "--serial", str(serial), str(image)]) == 0
    assert b"uart: hello" in serial.read_bytes()
    assert cli.main(["run", "--serial", str(tmp_path / "no" / "such"), str(image)]) == 2
