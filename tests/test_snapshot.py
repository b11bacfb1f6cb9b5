"""Machine.snapshot() and Machine.restore(): the whole machine saved and put back.

Each guest runs once without a break for the reference; then a machine is
paused at an instruction count (Machine.run(stop_at=...)), snapshot, run to
its end, put back and run to its end again.  Under the virtual clock every
one of those runs must end as the reference did: the same console, exit,
instruction count and test results.  The guests cover the timer and halt,
preemption, x87 and SSE, segments, TEST_RESULT, and the PC devices (PIC,
PIT, UART with serial input by interrupt).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BUILD, build_images

KERNELS = Path(__file__).resolve().parent / "kernels"
KERNEL_CFLAGS = ["-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-nostdlib",
                 "-static", "-no-pie", "-O2", "-Wl,--build-id=none",
                 "-Wl,--no-warn-rwx-segments", "-T", str(KERNELS / "kernel.ld")]

# (image, cmdline): each pauses at a few points of its run.
GUESTS = [
    ("scheduler.elf", ""),                      # timer preemption, context switches
    ("sleeper.elf", ""),                        # HALT skipping to timer deadlines
    ("bench_timer_irq.elf", "n=20 delta=50000"),
    ("clock.elf", ""),                          # CLOCK under the virtual clock
    ("num_fft_x87-O2.elf", ""),                 # x87
    ("num_mandel_sse2-O2.elf", ""),             # SSE2 and MXCSR
    ("conf_segments.elf", ""),                  # its own GDT, segment caches
    ("suite_trivial.elf", ""),                  # 1000 TEST_RESULT reports
]


@pytest.fixture(scope="module")
def images(native) -> Path:
    build_images("the snapshot test guests", *(name for name, _ in GUESTS))
    return BUILD


def boot(hv, image: Path, cmdline: str = ""):
    from hv import guest

    return hv.Guest(str(image), cmdline=cmdline)._boot(guest._native())


def outcome(result: tuple, machine) -> tuple:
    """What must match: status, reason, console, results, and the count."""
    status, reason, console, _, _, restart, results = result
    return status, reason, console, results, restart, machine.instructions


def reference(hv, image: Path, cmdline: str = "", **kw) -> tuple:
    m = boot(hv, image, cmdline)
    return outcome(m.run(**kw), m)


@pytest.mark.parametrize("name,cmdline", GUESTS)
def test_restore_runs_on_exactly_as_before(hv, images, name, cmdline):
    want = reference(hv, images / name, cmdline)
    total = want[-1]
    for at in (1, total // 3, 2 * total // 3, total - 1):
        m = boot(hv, images / name, cmdline)
        m.run(stop_at=at)
        assert (m.debug_stop, m.instructions) == ("stop_at", at)
        snap = m.snapshot()
        assert snap.instructions == at and snap.memory_size == m.memory_size
        assert outcome(m.run(), m) == want, f"{name}: the run on after the snapshot at {at}"
        m.restore(snap)                         # after it ran to the end
        assert m.instructions == at
        assert outcome(m.run(), m) == want, f"{name}: restored to {at}"
        m.restore(snap)                         # the same snapshot twice
        assert outcome(m.run(), m) == want, f"{name}: restored to {at} again"


def test_restore_into_another_machine(hv, images):
    image = images / "scheduler.elf"
    want = reference(hv, image)
    m = boot(hv, image)
    m.run(stop_at=want[-1] // 2)
    snap = m.snapshot()
    fresh = hv.guest._native().Machine(m.memory_size, m.switcher)    # never booted
    fresh.restore(snap)
    assert outcome(fresh.run(), fresh) == want
    del m                                   # the snapshot outlives its machine
    other = boot(hv, image)
    other.run(stop_at=100)
    other.restore(snap)
    assert outcome(other.run(), other) == want


def test_snapshots_share_pages_and_skip_untouched_ram(hv, images):
    m = boot(hv, images / "num_fft_x87-O2.elf")
    m.run(stop_at=100_000)
    first = m.snapshot()
    m.run(stop_at=100_100)
    second = m.snapshot()
    # 64 MiB of RAM, of which the guest touched a few pages: the page table
    # (8 bytes a page) is most of a snapshot, and the second shares pages.
    assert first.nbytes < 64 * 4096 + 8 * (m.memory_size // 4096)
    assert second.nbytes <= first.nbytes
    assert "snapshot at instruction 100100" in repr(second)
    want = reference(hv, images / "num_fft_x87-O2.elf")
    m.restore(first)
    assert outcome(m.run(), m) == want


def test_a_snapshot_at_every_step_and_breakpoints(hv, images):
    """A snapshot at every instruction of a stretch of scheduler (interrupts
    on, timer firing), each restored in turn into one machine: all the same."""
    image = images / "scheduler.elf"
    want = reference(hv, image)
    m = boot(hv, image)
    m.run(stop_at=500_000)
    snaps = []
    for _ in range(40):
        snaps.append(m.snapshot())
        m.run(step=True)
    again = boot(hv, image)
    for snap in reversed(snaps):
        again.restore(snap)
        assert again.instructions == snap.instructions
    assert outcome(again.run(), again) == want
    # Breakpoints stay set across a restore: a stop at main's first arrival.
    entry = hv.elf.load_image(str(image), 64 << 20).entry
    again.restore(snaps[0])
    again.set_breakpoints([entry])
    first = boot(hv, image)
    first.set_breakpoints([entry])
    first.run()
    assert first.debug_stop == "break" and first.instructions == 0
    again.restore(first.snapshot())
    again.run()
    assert again.debug_stop == "break" and again.instructions == 0    # stops there again


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the test kernel")
def test_serial_input_and_pc_devices(hv, tmp_path):
    """uart_irq: COM1 receives by interrupt through the PIC; the snapshot
    holds the UART, PIC and PIT registers, and the caller's serial position."""
    image = tmp_path / "uart_irq.elf"
    subprocess.run(["gcc", *KERNEL_CFLAGS, "-o", str(image), str(KERNELS / "uart_irq.c")],
                   check=True)
    data = b"abcdefgh"
    want = reference(hv, image, serial_input=data, qemu_exit=True)
    assert b"received by interrupt: abcdefgh" in want[2]
    m = boot(hv, image)
    read = 0
    step = max(1, want[-1] // 200)
    for at in range(step, want[-1], step):
        m.run(stop_at=at, serial_input=data[read:], qemu_exit=True)
        read += m.serial_read
        if 0 < read < len(data):
            break
    assert 0 < read < len(data), "no pause fell between two bytes"
    snap = m.snapshot()
    assert outcome(m.run(serial_input=data[read:], qemu_exit=True), m) == want
    m.restore(snap)
    assert outcome(m.run(serial_input=data[read:], qemu_exit=True), m) == want


def test_bad_input_is_refused_clearly(hv, images):
    native = hv.guest._native()
    m = boot(hv, images / "scheduler.elf")
    with pytest.raises(TypeError, match="takes a snapshot from Machine.snapshot"):
        m.restore(b"not a snapshot")
    with pytest.raises(TypeError):
        native.Snapshot()
    small = native.Machine(32 << 20)
    with pytest.raises(ValueError, match="33554432 bytes of RAM; this one has 67108864"):
        m.restore(small.snapshot())
    # A Python device's state is not the machine's: such machines are refused.
    devices = boot(hv, images / "scheduler.elf")
    devices.run(stop_at=10, devices=[("dev", lambda bus, req: 0)])
    with pytest.raises(ValueError, match="Python devices"):
        devices.snapshot()
    m.run(stop_at=10)
    m.restore(m.snapshot())                 # still fine
    assert m.instructions == 10


def test_snapshot_and_restore_refuse_a_running_machine(hv, images):
    # The console callback runs on the run's thread while the machine runs:
    # both calls must say so, and leave the run to go on unharmed.
    want = reference(hv, images / "scheduler.elf")
    m = boot(hv, images / "scheduler.elf")
    m.run(stop_at=10)
    snap = m.snapshot()
    errors: list[str] = []

    def console(data: bytes) -> None:
        for call in (m.snapshot, lambda: m.restore(snap), lambda: m.restore(b"x")):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))

    m.run(console=console)
    assert errors and set(errors) == {"the machine is running in another thread"}
    assert len(errors) % 3 == 0                     # every call was refused
    m.restore(snap)                                 # idle again: fine
    assert outcome(m.run(), m) == want


def test_restore_checks_come_before_any_change(hv, images):
    m = boot(hv, images / "scheduler.elf")
    m.run(stop_at=1000)
    small = hv.guest._native().Machine(32 << 20)
    for bad, error, message in [
            (None, TypeError, r"^restore\(\) takes a snapshot from Machine\.snapshot\(\), not "
                              r"NoneType$"),
            (small.snapshot(), ValueError, r"^the snapshot is of a machine with 33554432 bytes "
                                           r"of RAM; this one has 67108864$")]:
        with pytest.raises(error, match=message):
            m.restore(bad)
        assert m.instructions == 1000               # untouched
