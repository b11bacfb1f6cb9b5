"""The host clock: CLOCK_MONOTONIC time, a HALT that really sleeps, and a
sleep that Ctrl-C ends at once.  (Under the default virtual clock the same
guest skips its sleeps: tests/test_host_irq.py and test_samples_full_host.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import BUILD, build_images

TIMER = "bench_timer_irq.elf"


@pytest.fixture(scope="module")
def timer_guest(native):
    build_images("the timer benchmark guest", TIMER)
    return BUILD / TIMER


def test_host_clock_halt_really_sleeps(timer_guest):
    import hv

    # 20 one-shots of 5 ms, HALTing in between: 100 ms of real time.
    ex = hv.run(str(timer_guest), cmdline="n=20 delta=5000000", clock="host", timeout=30)
    assert (ex.status, ex.console) == (0, b"20 timer interrupts\n")
    assert ex.elapsed >= 0.1
    virtual = hv.run(str(timer_guest), cmdline="n=20 delta=5000000", timeout=30)
    assert virtual.console == ex.console
    assert virtual.elapsed < ex.elapsed


def test_ctrl_c_ends_a_host_clock_sleep_at_once(timer_guest):
    # One 4-second sleep; SIGINT after half a second must end it right away.
    cmd = [sys.executable, "-m", "hv", "run", "--clock", "host", "--cmdline",
           "n=1 delta=4000000000", str(timer_guest)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.fspath(BUILD.parent.parent))
    time.sleep(0.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    waited = time.monotonic() - start
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    assert waited < 2.0, f"the sleep went on for {waited:.2f} s after Ctrl-C"
