"""The Python API: hv.Guest, hv.run, hv.Exit, on the sample guests.

Sample guests come from images/guests/ (built by the `guest_images`
fixture); a few guests are written directly in machine code (conftest's
`elf` fixture) so that restart and reload can be tested without gcc.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import hv

TIMEOUT = 60
EIP = "0x[0-9a-f]{8}"

pytestmark = pytest.mark.usefixtures("native")


@pytest.fixture(scope="module")
def img(guest_images):
    """img("hello") -> the path of images/build/hello.elf, as a str."""
    return lambda name: str(guest_images / f"{name}.elf")


# ---- exit status and console ----

def test_hello(img):
    ex = hv.run(img("hello"), timeout=TIMEOUT)
    assert isinstance(ex, hv.Exit)
    assert (ex.status, ex.reason, ex.killed) == (0, None, False)
    assert ex.console == b"Hello from an hv guest!\n"
    assert ex.instructions > 0
    assert 0 <= ex.elapsed < TIMEOUT


@pytest.mark.parametrize(("cmdline", "status"), [("", 42), ("status=3", 3), ("status=0", 0),
                                                 ("status=255", 255), (b"status=300", 44)])
def test_exit_status_from_cmdline(img, cmdline, status):
    ex = hv.run(img("exit_status"), cmdline=cmdline, timeout=TIMEOUT)
    assert ex.status == status, ex
    assert ex.console.startswith(b"exiting with status ")


def test_debug_ports(img):
    ex = hv.run(img("debug_ports"), timeout=TIMEOUT)
    assert (ex.status, ex.reason) == (7, None)
    assert ex.console == b"hello through port 0xe9\n"


def test_multiboot_handoff(img):
    ex = hv.run(img("multiboot"), cmdline="a=1 b", memory_mib=32, timeout=TIMEOUT)
    assert ex.status == 0, ex
    assert ex.console.decode().splitlines() == [
        "magic: 0x2badb002 (multiboot)",
        "flags: 0x00000045",
        "mem_lower: 639 KiB",
        f"mem_upper: {31 * 1024} KiB",
        'cmdline: "a=1 b"',
        "mmap: base=0x000000000 len=0x00009fc00 type=1 (available)",
        "mmap: base=0x000100000 len=0x001f00000 type=1 (available)",
    ]


def test_clock_is_monotonic(img):
    ex = hv.run(img("clock"), timeout=TIMEOUT)
    assert ex.status == 0 and b"clock: monotonic\n" in ex.console


def test_unknown_hypercall_returns_enosys(img):
    ex = hv.run(img("unknown_hypercall"), timeout=TIMEOUT)
    assert ex.status == 0 and ex.console == b"hypercall 99 returned -38\n"


def test_shutdown_poweroff(img):
    ex = hv.run(img("shutdown"), timeout=TIMEOUT)
    assert (ex.status, ex.reason) == (0, None)
    assert ex.console == b"shutting down\nguest requested poweroff\n"


def test_big_console_is_captured_whole(img):
    ex = hv.run(img("big_console"), timeout=TIMEOUT)
    assert ex.status == 0
    assert len(ex.console) == 100_000
    lines = ex.console.splitlines()
    assert len(lines) == 1000 and lines[0].startswith(b"line 00000 ")


def test_runs_are_deterministic_and_a_guest_is_reusable(img):
    guest = hv.Guest(img("clock"))
    first, second = guest.run(timeout=TIMEOUT), guest.run(timeout=TIMEOUT)
    assert (first.status, first.console, first.instructions) == \
        (second.status, second.console, second.instructions)


def test_memory_size_is_what_the_guest_gets(img):
    """0x08000000 is past 64 MiB of RAM, but inside 256 MiB."""
    ex = hv.run(img("outside_ram"), memory_mib=256, timeout=TIMEOUT)
    assert ex.status == 0
    assert ex.console.endswith(b"still alive: read 0x00000000\n")


# ---- kill reasons ----

def test_timeout_kills(img):
    start = time.monotonic()
    ex = hv.run(img("spin"), timeout=0.3)
    assert (ex.status, ex.reason, ex.killed) == (None, "timeout", True)
    assert ex.console == b"spinning\n"
    assert 0.2 < ex.elapsed < 10 and time.monotonic() - start < 10


def test_instruction_budget_kills(img):
    ex = hv.run(img("spin"), max_instructions=1_000_000, timeout=TIMEOUT)
    assert (ex.status, ex.reason) == (None, "timeout")
    assert ex.instructions == 1_000_000


def test_instruction_budget_is_not_hit_by_a_short_guest(img):
    full = hv.run(img("hello"))
    ex = hv.run(img("hello"), max_instructions=full.instructions)
    assert ex.status == 0 and ex.instructions == full.instructions
    short = hv.run(img("hello"), max_instructions=full.instructions - 1)
    assert short.reason == "timeout"


def test_divide_error_kills(img):
    ex = hv.run(img("divzero"), timeout=TIMEOUT)
    assert ex.status is None
    assert re.fullmatch(f"unhandled #DE at eip={EIP}", ex.reason), ex.reason
    assert ex.console == b"dividing by zero\n"
    eip = int(ex.reason.rsplit("=", 1)[1], 16)
    text = hv.load_image(img("divzero")).segments[0]
    assert text.paddr <= eip < text.end


def test_page_fault_outside_ram_kills(img):
    ex = hv.run(img("outside_ram"), timeout=TIMEOUT)
    assert re.fullmatch(f"unhandled #PF at eip={EIP} cr2=0x08000000", ex.reason), ex.reason
    assert b"still alive" not in ex.console


def test_invalid_opcode_kills(img):
    ex = hv.run(img("invalid_opcode"), timeout=TIMEOUT)
    assert re.fullmatch(f"unhandled #UD at eip={EIP} bytes=0f 0b", ex.reason), ex.reason


def test_bad_pointer_kills(img):
    ex = hv.run(img("bad_pointer"), timeout=TIMEOUT)
    assert ex.reason == "bad write address 0xf0000000 len 16"
    assert ex.console == b"writing from 0xf0000000\n"


# ---- console streaming ----

def test_console_to_a_binary_file(img, tmp_path):
    path = tmp_path / "console.txt"
    with open(path, "wb") as f:
        f.write(b"before\n")            # buffered: must reach the file before the guest's bytes
        ex = hv.run(img("big_console"), console=f, timeout=TIMEOUT)
    assert path.read_bytes() == b"before\n" + ex.console
    assert len(ex.console) == 100_000


def test_console_to_a_file_descriptor(img, tmp_path):
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        ex = hv.run(img("hello"), console=fd)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == ex.console == b"Hello from an hv guest!\n"


def test_console_to_a_callable(img):
    chunks: list[bytes] = []
    ex = hv.run(img("big_console"), console=chunks.append, timeout=TIMEOUT)
    assert b"".join(chunks) == ex.console
    assert len(chunks) > 1          # streamed as it was written, not once at the end


def test_console_to_an_object_with_write(img):
    sink = io.BytesIO()             # has fileno(), but it raises: write() is used instead
    ex = hv.run(img("hello"), console=sink)
    assert sink.getvalue() == ex.console


def test_console_to_a_text_stream(img):
    sink = io.StringIO()
    ex = hv.run(img("hello"), console=sink)
    assert sink.getvalue() == ex.console.decode()


def test_console_streams_while_the_guest_runs(img):
    """The spin guest's line arrives long before its timeout ends the run."""
    start = time.monotonic()
    seen: list[float] = []
    ex = hv.run(img("spin"), timeout=1.0, console=lambda b: seen.append(time.monotonic()))
    assert ex.reason == "timeout" and seen
    assert seen[0] - start < 0.9


def test_console_callable_errors_propagate(img):
    def broken(data: bytes) -> None:
        raise RuntimeError("sink is broken")

    with pytest.raises(RuntimeError, match="sink is broken"):
        hv.run(img("spin"), console=broken, timeout=TIMEOUT)


def test_console_must_be_usable(img):
    with pytest.raises(TypeError, match="console"):
        hv.run(img("hello"), console=3.5)
    with pytest.raises(ValueError, match="console"):
        hv.run(img("hello"), console=-1)


# ---- threads and Ctrl-C ----

def test_many_guests_in_threads(img):
    jobs = [("exit_status", f"status={n}", n) for n in range(12)] + \
        [("hello", "", 0), ("clock", "", 0), ("debug_ports", "", 7)] * 3

    def one(job):
        name, cmdline, _ = job
        return hv.run(img(name), cmdline=cmdline, timeout=TIMEOUT)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, jobs))
    for (name, _, status), ex in zip(jobs, results, strict=True):
        assert ex.status == status, (name, ex)
        if name == "exit_status":
            assert ex.console == f"exiting with status {status}\n".encode()


def test_guests_run_in_parallel(img):
    """The GIL is released while a guest runs: report the speed-up, don't assert it."""
    budget = 20_000_000

    def spin(_):
        return hv.run(img("spin"), max_instructions=budget, timeout=TIMEOUT)

    start = time.perf_counter()
    spin(0)
    serial = time.perf_counter() - start
    workers = max(2, min(4, os.cpu_count() or 2))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(spin, range(workers)))
    parallel = time.perf_counter() - start
    assert all(ex.reason == "timeout" and ex.instructions == budget for ex in results)
    print(f"\n{workers} guests: {parallel:.3f}s in threads vs {serial:.3f}s for one "
          f"(speed-up {workers * serial / parallel:.2f}x)")


def test_ctrl_c_interrupts_a_running_guest(img):
    main = threading.get_ident()
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            hv.run(img("spin"), timeout=TIMEOUT)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 5, "Ctrl-C took too long to stop the guest"


# ---- restart and reload (hand-written guests: no gcc needed) ----

# mov al,'R'; out 0xe9,al; mov eax,2 (SHUTDOWN); xor ebx,ebx; mov ecx,2 (restart); int 0x1f; hlt
RESTART_FOREVER = (b"\xb0R\xe6\xe9" + b"\xb8\x02\x00\x00\x00" + b"\x31\xdb"
                   + b"\xb9\x02\x00\x00\x00" + b"\xcd\x1f" + b"\xf4")


def test_restart_boots_again_and_is_capped(elf):
    path = elf.write(segments=[elf.segment(0x100000, RESTART_FOREVER)])
    ex = hv.run(path, timeout=TIMEOUT)
    boots = hv.guest.MAX_RESTARTS + 1
    assert ex.status is None
    assert ex.reason == f"too many restarts (more than {hv.guest.MAX_RESTARTS})"
    assert ex.console == b"R" * boots              # console kept across boots
    assert ex.instructions == 6 * boots            # and the instruction count


def test_instruction_budget_covers_restarts(elf):
    path = elf.write(segments=[elf.segment(0x100000, RESTART_FOREVER)])
    ex = hv.run(path, max_instructions=20)
    assert ex.reason == "timeout"
    assert ex.instructions == 20 and ex.console == b"RRRR"


def test_hand_written_guest(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program(b"ok\n", 9))])
    ex = hv.run(path)
    assert (ex.status, ex.console) == (9, b"ok\n")


def test_a_rebuilt_image_is_loaded_fresh(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program(b"", 1))])
    guest = hv.Guest(path)
    assert guest.run().status == 1
    os.replace(elf.write("v2.elf", segments=[elf.segment(0x200000, elf.program(b"", 2))]), path)
    assert guest.run().status == 2
    assert guest.image.entry == 0x200000


# ---- arguments and objects ----

def test_bad_image_is_refused_at_construction(elf):
    path = elf.write(raw=b"not an elf at all")
    with pytest.raises(hv.ImageError, match=re.escape(f"{path}: not an ELF file")):
        hv.Guest(path)
    assert issubclass(hv.ImageError, hv.HvError)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"memory_mib": 1}, ValueError, "memory_mib"),
    ({"memory_mib": 3073}, ValueError, "memory_mib"),
    ({"memory_mib": "64"}, TypeError, "memory_mib"),
    ({"memory_mib": True}, TypeError, "memory_mib"),
    ({"switcher": "nope"}, ValueError, "unknown switcher 'nope'"),
    ({"switcher": 1}, TypeError, "switcher"),
    ({"cmdline": "a\0b"}, ValueError, "cmdline"),
    ({"cmdline": "x" * 0x6000}, ValueError, "cmdline"),
    ({"cmdline": 5}, TypeError, "cmdline"),
])
def test_guest_arguments_are_checked(elf, kwargs, error, match):
    with pytest.raises(error, match=match):
        hv.Guest(elf.write(), **kwargs)


def test_image_must_be_a_path():
    with pytest.raises(TypeError, match="image"):
        hv.Guest(42)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"timeout": 0}, ValueError, "timeout"),
    ({"timeout": -1.5}, ValueError, "timeout"),
    ({"timeout": float("nan")}, ValueError, "timeout"),
    ({"timeout": "1"}, TypeError, "timeout"),
    ({"max_instructions": 0}, ValueError, "max_instructions"),
    ({"max_instructions": -5}, ValueError, "max_instructions"),
    ({"max_instructions": 1.5}, TypeError, "max_instructions"),
    ({"max_instructions": 1 << 64}, ValueError, "max_instructions"),
])
def test_run_arguments_are_checked(elf, kwargs, error, match):
    with pytest.raises(error, match=match):
        hv.Guest(elf.write()).run(**kwargs)


def test_guest_accepts_an_image_object(elf):
    image = hv.load_image(elf.write(segments=[elf.segment(0x100000, elf.program(b"", 5))]))
    guest = hv.Guest(image, memory_mib=8)
    assert guest.image.memory_bytes == 8 << 20
    assert (guest.memory_mib, guest.cmdline) == (8, b"")
    assert guest.switcher == hv.guest.default_switcher()
    assert guest.run().status == 5


def test_exit_is_a_frozen_dataclass():
    ex = hv.Exit(status=None, reason="timeout", console=b"x" * 100, instructions=5, elapsed=0.5)
    assert ex.killed and not hv.Exit(0, None, b"", 1, 0.0).killed
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.status = 1
    assert "+40 bytes" in repr(ex) and "timeout" in repr(ex)


def test_version():
    assert isinstance(hv.__version__, str) and hv.__version__


# ---- a kept machine is a fresh machine ----

def _outcome(ex):
    """Everything a run gives but its wall time."""
    return (ex.status, ex.reason, ex.console, ex.instructions, ex.results)


@pytest.mark.parametrize("name,cmdline", [
    ("suite_demo", "hv.test=arith"), ("suite_crashes", "hv.test=divide_by_zero"),
    ("sleeper", ""), ("trap_smc", ""), ("demand_paging", ""), ("host_paging", ""),
    ("host_irq", ""), ("conf_segments", ""), ("num_fft_x87-O2", ""), ("divzero", ""),
    ("spin", ""),
])
@pytest.mark.parametrize("switcher", ["emu", "bt"])
def test_a_kept_machine_runs_as_a_fresh_one(img, name, cmdline, switcher):
    from hv import guest as guest_module
    if switcher not in guest_module._native().SWITCHERS:
        pytest.skip(f"no {switcher} switcher on this host")
    guest_module._MACHINES.clear()
    g = hv.Guest(img(name), cmdline=cmdline, switcher=switcher)
    fresh = g.run(timeout=TIMEOUT, max_instructions=3_000_000)
    (kept_machine, _), = guest_module._MACHINES._idle.values()
    again = [g.run(timeout=TIMEOUT, max_instructions=3_000_000) for _ in range(2)]
    # The second and third runs restored the machine the first one left.
    (machine, _), = guest_module._MACHINES._idle.values()
    assert machine is kept_machine
    assert _outcome(again[0]) == _outcome(again[1]) == _outcome(fresh)


def test_a_kept_machine_boots_each_runs_own_cmdline(img):
    first = hv.run(img("exit_status"), cmdline="status=3", timeout=TIMEOUT)
    second = hv.run(img("exit_status"), cmdline="status=9", timeout=TIMEOUT)
    assert (first.status, second.status) == (3, 9)
    assert second.console == b"exiting with status 9\n"


def test_a_changed_image_is_loaded_again(elf):
    from hv import guest as guest_module
    path = str(elf.write(segments=[elf.segment(0x100000, elf.program(b"", 5))]))
    assert hv.run(path, memory_mib=8).status == 5
    st = os.stat(path)
    os.replace(elf.write("new.elf", segments=[elf.segment(0x100000, elf.program(b"", 6))]),
               path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert hv.run(path, memory_mib=8).status == 6
    # The machine kept now holds the new file (the old one's key can never match again).
    stamps = [key[1] for key in guest_module._MACHINES._idle if key[0] == path]
    assert stamps[-1] == hv.load_image(path, 8 << 20).stamp != stamps[0]


def test_kept_machines_in_threads_stay_apart(img):
    jobs = [f"status={n}" for n in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: hv.run(img("exit_status"), cmdline=c,
                                                timeout=TIMEOUT), jobs))
    assert [ex.status for ex in results] == list(range(16))


def test_coverage_and_gdb_runs_are_not_kept(img):
    from hv import coverage
    from hv import guest as guest_module
    guest_module._MACHINES.clear()
    coverage.start()
    try:
        hv.run(img("hello"), timeout=TIMEOUT)
    finally:
        coverage.stop()
    assert not guest_module._MACHINES._idle
