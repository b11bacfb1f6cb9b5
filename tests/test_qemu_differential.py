"""SDK images under hv and under real QEMU: the same console and status.

An image built with `hv cc` finds out at entry whether it runs under hv
(CPUID leaf 0x40000000); under `qemu-system-i386 -kernel` its console goes
to isa-debugcon (port 0xE9) and its exit to isa-debug-exit, so QEMU's exit
status is (status << 1) | 1.  Every conformance guest, the test suites and
the samples that use nothing but the console run both ways here.  Guests
built around hv-only hypercalls (timer, HALT, paging, devices, CPUID
identity, the multiboot info hv writes) are hv's business and not compared.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import BUILD, build_images, run_qemu
from test_conformance import conformance_stems

SAMPLES = ["hello", "exit_status", "big_console", "debug_ports"]
SUITES = ["demo", "asserts", "trivial"]
# Guests checked against the real CPU alone, because QEMU's TCG is not exact
# there: it does not check segment limits or types (it runs such accesses as
# if they were inside; tests/kernels/segments.c compares what QEMU does
# implement), and its x87 and SSE are software models whose results, status
# words, MXCSR flags, RCPPS/RSQRTPS approximations and transcendentals differ
# from the CPU's on the x87 and sse guests' edge values.
NOT_QEMU = {"segments", "x87", "sse"}
IMAGES = ([f"conf_{s}.elf" for s in conformance_stems() if s not in NOT_QEMU]
          + [f"{s}.elf" for s in SAMPLES] + [f"suite_{s}.elf" for s in SUITES])

pytestmark = pytest.mark.skipif(shutil.which("qemu-system-i386") is None,
                                reason="qemu-system-i386 is the oracle (./bootstrap installs it)")


@pytest.fixture(scope="module")
def images(native):
    build_images("the SDK images compared with QEMU", *IMAGES)
    return BUILD


@pytest.mark.parametrize("name", IMAGES)
def test_same_under_qemu(images, tmp_path, name):
    import hv

    qemu = run_qemu(images / name, tmp_path, timeout=300)
    ex = hv.run(str(images / name), timeout=120)
    assert ex.reason is None, ex.reason
    assert qemu.debugcon == ex.console
    assert qemu.status == (ex.status << 1) | 1, qemu.stderr.decode(errors="replace")
