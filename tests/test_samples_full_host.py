"""The sample guests of the full host (images/guests/): scheduler, demand
paging, sleeper, disk copy.  Each is run the way a user would run it, and
what it prints is checked; the scheduler's transcript must be the same on
every run (the virtual clock makes preemption deterministic).
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import pytest
from conftest import BUILD, build_images

RUNS = 5


@pytest.fixture(scope="module")
def samples(native) -> Path:
    build_images("the full-host sample guests", "scheduler.elf", "demand_paging.elf",
                 "sleeper.elf", "disk_copy.elf")
    return BUILD


def run(image: Path, **kwargs):
    import hv

    return hv.run(str(image), timeout=60, **kwargs)


def test_scheduler_is_preemptive_and_deterministic(samples):
    exits = [run(samples / "scheduler.elf") for _ in range(RUNS)]
    first = exits[0]
    assert (first.status, first.reason) == (0, None), first.console
    text = first.console.decode()
    steps = re.findall(r"^task ([A-D]) step (\d)", text, re.M)
    assert len(steps) == 4 * 5
    # Preempted, not run to completion one after another: B starts before A ends.
    order = [task for task, _ in steps]
    assert order.index("B") < len(order) - 1 - order[::-1].index("A")
    switches = int(re.search(r"context switches: (\d+)", text).group(1))
    ticks = int(re.search(r"timer interrupts: (\d+)", text).group(1))
    assert switches > 4 and ticks > 4
    for ex in exits[1:]:
        assert ex.console == first.console
        assert ex.instructions == first.instructions


def test_demand_paging_maps_pages_on_first_touch(samples):
    ex = run(samples / "demand_paging.elf")
    assert (ex.status, ex.reason) == (0, None), ex.console
    text = ex.console.decode()
    assert "fault 1: cr2=0x01000000 error=2 (write, not present)" in text
    assert "768 faults" in text and "1024 faults in all" in text
    assert "one fault per page: ok" in text
    assert "the page faulted in again, zeroed: ok" in text
    assert "FAIL" not in text


def test_sleeper_sleeps_ten_virtual_seconds_at_once(samples):
    ex = run(samples / "sleeper.elf")
    assert (ex.status, ex.reason) == (0, None), ex.console
    text = ex.console.decode()
    slept = float(re.search(r"slept (\d+\.\d+) s\n", text).group(1))
    assert 10.0 <= slept < 10.001
    assert ex.elapsed < 1.0, f"10 virtual seconds took {ex.elapsed:.3f} s of host time"
    assert ex.instructions < 1_000_000


def test_disk_copy_through_the_block_device(samples, tmp_path):
    import hv

    data = os.urandom(512 * 64)
    src, dst = tmp_path / "src.img", tmp_path / "dst.img"
    src.write_bytes(data)
    dst.write_bytes(bytes(len(data)))
    with hv.BlockDevice(src) as a, hv.BlockDevice(dst) as b:
        ex = run(samples / "disk_copy.elf", devices=[a, b])
    assert (ex.status, ex.reason) == (0, None), ex.console
    assert f"{zlib.crc32(data):08x}" in ex.console.decode()
    assert dst.read_bytes() == data


def test_device_calls_run_while_another_guest_computes(samples):
    """A guest that makes 20,000 NOTIFY calls into Python finishes while a
    guest in another thread is still computing: that run holds no GIL, and a
    device call takes it only for itself."""
    import threading

    import hv

    build_images("the NOTIFY benchmark guest", "bench_notify.elf", "bench_sieve.elf")

    class Echo(hv.Device):
        name = "echo"

        def handle(self, bus, request):
            return int.from_bytes(bus.read(request + 4, 4), "little")

    done = {}

    def compute():
        done["sieve"] = run(samples / "bench_sieve.elf")

    worker = threading.Thread(target=compute)
    worker.start()
    ex = run(samples / "bench_notify.elf", cmdline="n=20000", devices=[Echo()])
    still_computing = worker.is_alive()
    worker.join()
    assert (ex.status, ex.console) == (0, b"20000 notify round trips\n")
    assert done["sieve"].status == 0
    assert still_computing, "the NOTIFY guest waited for the computing guest"
