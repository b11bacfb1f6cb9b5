"""Devices: hv.Device, hv.BlockDevice, and guests that reach them through NOTIFY.

The first part drives BlockDevice against real temporary files through
`MemoryBus`, a stand-in for hv._native.Bus over a bytearray (no extension
needed).  The rest runs real guests: hand-assembled ones (conftest's `elf`
fixture, no gcc) and the sample guest images/build/disk_copy.elf.  Those skip
until the extension's Machine.run takes `devices=` and `clock=`.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import hv
from hv import devices

TIMEOUT = 60
SECTOR = 512
DISK_SECTORS = 64
PARTIAL = 100                   # bytes of a last, partial sector in the test disk


# ---- a bus over a bytearray ----

class MemoryBus:
    """What a device sees of hv._native.Bus, over `size` bytes of fake guest RAM."""

    def __init__(self, size: int = 1 << 20) -> None:
        self.memory = bytearray(size)
        self.killed: str | None = None
        self.irqs: list[int] = []
        self.clock_ns = 0

    @property
    def memory_size(self) -> int:
        return len(self.memory)

    def _check(self, what: str, gpa: int, n: int) -> None:
        if gpa < 0 or n < 0 or gpa + n > len(self.memory):
            reason = f"bad {what} address {gpa:#010x} len {n}"
            self.killed = self.killed or reason
            raise hv.GuestMemoryError(reason)

    def read(self, gpa: int, n: int) -> bytes:
        self._check("read", gpa, n)
        return bytes(self.memory[gpa:gpa + n])

    def write(self, gpa: int, data: bytes) -> None:
        self._check("write", gpa, len(data))
        self.memory[gpa:gpa + len(data)] = data

    def raise_irq(self, n: int) -> None:
        self.irqs.append(n)


REQ = 0x1000
BUF = 0x10000


def request(op: int, sector: int = 0, count: int = 0, buffer: int = BUF, index: int = 0,
            reserved: tuple[int, int] = (0, 0)) -> bytes:
    return struct.pack("<IIQIIII", index, op, sector, count, buffer, *reserved)


def ask(disk: hv.BlockDevice, bus: MemoryBus, *args, at: int = REQ, **kwargs) -> int:
    """Put a request at `at` in the bus's memory and hand it to the disk."""
    bus.memory[at:at + 32] = request(*args, **kwargs)
    return disk.handle(bus, at)


def pattern(n: int, seed: int = 0) -> bytes:
    """n bytes that differ from sector to sector."""
    out = bytearray()
    counter = seed
    while len(out) < n:
        out += struct.pack("<I", zlib.crc32(counter.to_bytes(8, "little")))
        counter += 1
    return bytes(out[:n])


@pytest.fixture
def disk_file(tmp_path: Path) -> Path:
    """A disk image of DISK_SECTORS sectors and a partial one."""
    path = tmp_path / "disk.img"
    path.write_bytes(pattern(DISK_SECTORS * SECTOR + PARTIAL))
    return path


@pytest.fixture
def disk(disk_file: Path):
    with hv.BlockDevice(disk_file) as device:
        yield device


# ---- BlockDevice: each op ----

def test_read_copies_sectors_into_guest_memory(disk, disk_file):
    bus = MemoryBus()
    assert ask(disk, bus, devices.OP_READ, sector=3, count=5) == 0
    expected = disk_file.read_bytes()[3 * SECTOR:8 * SECTOR]
    assert bus.memory[BUF:BUF + 5 * SECTOR] == expected
    assert not any(bus.memory[BUF + 5 * SECTOR:])          # nothing past the buffer


def test_write_copies_guest_memory_to_the_file(disk, disk_file):
    before = disk_file.read_bytes()
    bus = MemoryBus()
    data = pattern(3 * SECTOR, seed=99)
    bus.memory[BUF:BUF + len(data)] = data
    assert ask(disk, bus, devices.OP_WRITE, sector=10, count=3) == 0
    after = disk_file.read_bytes()
    assert after[10 * SECTOR:13 * SECTOR] == data
    assert after[:10 * SECTOR] == before[:10 * SECTOR]
    assert after[13 * SECTOR:] == before[13 * SECTOR:]


def test_the_last_whole_sector_is_reachable(disk, disk_file):
    bus = MemoryBus()
    assert ask(disk, bus, devices.OP_READ, sector=DISK_SECTORS - 1, count=1) == 0
    assert bus.memory[BUF:BUF + SECTOR] == disk_file.read_bytes()[-PARTIAL - SECTOR:-PARTIAL]


def test_flush_is_fsync(disk, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    assert ask(disk, MemoryBus(), devices.OP_FLUSH) == 0
    assert synced == [disk._fd]


def test_flush_really_syncs(disk):
    assert ask(disk, MemoryBus(), devices.OP_FLUSH, sector=1 << 60, count=7) == 0


def test_size_writes_the_sector_count_at_offset_8(disk):
    bus = MemoryBus()
    bus.memory[REQ + 32:REQ + 40] = b"\xee" * 8
    assert ask(disk, bus, devices.OP_SIZE, sector=12345, count=9) == 0
    assert bus.memory[REQ:REQ + 8] == struct.pack("<II", 0, devices.OP_SIZE)
    assert struct.unpack_from("<Q", bus.memory, REQ + 8)[0] == DISK_SECTORS == disk.sectors
    assert bus.memory[REQ + 16:REQ + 20] == struct.pack("<I", 9)    # the rest is left alone
    assert bus.memory[REQ + 32:REQ + 40] == b"\xee" * 8


@pytest.mark.parametrize(("size", "sectors"), [(0, 0), (511, 0), (512, 1), (513, 1),
                                               (4096 * 3 + 511, 24)])
def test_a_partial_last_sector_is_not_counted(tmp_path, size, sectors):
    path = tmp_path / "odd.img"
    path.write_bytes(b"x" * size)
    with hv.BlockDevice(path) as disk:
        assert disk.sectors == sectors
        bus = MemoryBus()
        assert ask(disk, bus, devices.OP_SIZE) == 0
        assert struct.unpack_from("<Q", bus.memory, REQ + 8)[0] == sectors
        assert ask(disk, bus, devices.OP_READ, sector=sectors, count=1) == -34


def test_the_device_index_and_reserved_fields_are_not_checked(disk):
    bus = MemoryBus()
    assert ask(disk, bus, devices.OP_READ, count=1, index=7, reserved=(1, 2)) == 0


# ---- BlockDevice: each error ----

@pytest.mark.parametrize("op", [4, 5, 0x100, 0xFFFFFFFF])
def test_a_bad_op_is_einval(disk, disk_file, op):
    before = disk_file.read_bytes()
    bus = MemoryBus()
    assert ask(disk, bus, op, sector=0, count=1) == -22 == devices.BLOCK_EINVAL
    assert not any(bus.memory[BUF:]) and disk_file.read_bytes() == before


@pytest.mark.parametrize(("sector", "count"), [
    (DISK_SECTORS, 1),                  # the partial sector
    (DISK_SECTORS - 1, 2),              # runs past the end
    (0, DISK_SECTORS + 1),
    (0, 0xFFFFFFFF),
    ((1 << 64) - 1, 1),                 # would wrap in 64 bits
    (1 << 63, 1 << 31),
])
@pytest.mark.parametrize("op", [devices.OP_READ, devices.OP_WRITE])
def test_past_the_end_is_erange_and_transfers_nothing(disk, disk_file, op, sector, count):
    before = disk_file.read_bytes()
    bus = MemoryBus()
    bus.memory[BUF:BUF + SECTOR] = b"\x55" * SECTOR
    assert ask(disk, bus, op, sector=sector, count=count) == -34 == devices.BLOCK_ERANGE
    assert bus.memory[BUF:BUF + SECTOR] == b"\x55" * SECTOR
    assert not any(bus.memory[BUF + SECTOR:])
    assert disk_file.read_bytes() == before


@pytest.mark.parametrize("op", [devices.OP_READ, devices.OP_WRITE])
def test_count_zero_is_a_no_op(disk, disk_file, op):
    before = disk_file.read_bytes()
    bus = MemoryBus(0x2000)
    # Neither the sector nor the buffer matter: nothing is transferred.
    assert ask(disk, bus, op, sector=1 << 62, count=0, buffer=0xFFFFFF00) == 0
    assert bus.killed is None and disk_file.read_bytes() == before


def test_a_readonly_disk_refuses_writes(disk_file):
    before = disk_file.read_bytes()
    with hv.BlockDevice(disk_file, readonly=True) as disk:
        assert disk.readonly
        bus = MemoryBus()
        bus.memory[BUF:BUF + SECTOR] = b"\x77" * SECTOR
        assert ask(disk, bus, devices.OP_WRITE, sector=0, count=1) == -30 == devices.BLOCK_EROFS
        # Refused before anything else is looked at.
        assert ask(disk, bus, devices.OP_WRITE, sector=1 << 62, count=0) == -30
        assert ask(disk, bus, devices.OP_READ, sector=1, count=1) == 0
        assert bus.memory[BUF:BUF + SECTOR] == before[SECTOR:2 * SECTOR]
        assert ask(disk, bus, devices.OP_FLUSH) == 0
        assert ask(disk, bus, devices.OP_SIZE) == 0
    assert disk_file.read_bytes() == before


def test_a_readonly_disk_opens_a_file_without_write_permission(disk_file):
    disk_file.chmod(0o444)
    with hv.BlockDevice(disk_file, readonly=True) as disk:
        assert ask(disk, MemoryBus(), devices.OP_READ, count=1) == 0
    if os.geteuid() != 0:               # root may write anyway
        with pytest.raises(hv.DeviceError, match=re.escape(
                f"{disk_file}: cannot open read-write: Permission denied")):
            hv.BlockDevice(disk_file)


@pytest.mark.parametrize(("op", "call"), [(devices.OP_READ, "pread"),
                                          (devices.OP_WRITE, "pwrite"),
                                          (devices.OP_FLUSH, "fsync")])
def test_a_host_io_error_is_eio(disk, monkeypatch, op, call):
    def fail(*args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, call, fail)
    assert ask(disk, MemoryBus(), op, sector=2, count=2) == -5 == devices.BLOCK_EIO


def test_a_file_that_shrank_is_eio(disk, disk_file):
    os.truncate(disk_file, 4 * SECTOR)
    bus = MemoryBus()
    assert ask(disk, bus, devices.OP_READ, sector=3, count=2) == -5
    assert ask(disk, bus, devices.OP_READ, sector=2, count=2) == 0


def test_a_short_pwrite_is_completed(disk, disk_file, monkeypatch):
    real = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, at: real(fd, bytes(data[:100]), at))
    bus = MemoryBus()
    data = pattern(2 * SECTOR, seed=5)
    bus.memory[BUF:BUF + len(data)] = data
    assert ask(disk, bus, devices.OP_WRITE, sector=1, count=2) == 0
    assert disk_file.read_bytes()[SECTOR:3 * SECTOR] == data


# ---- BlockDevice: guest memory ----

def test_a_request_outside_ram_raises_guest_memory_error(disk):
    bus = MemoryBus(0x2000)
    with pytest.raises(hv.GuestMemoryError):
        disk.handle(bus, 0x2000 - 16)
    assert bus.killed == "bad read address 0x00001ff0 len 32"


def test_a_read_into_a_buffer_outside_ram_raises(disk):
    bus = MemoryBus(0x4000)
    with pytest.raises(hv.GuestMemoryError):
        ask(disk, bus, devices.OP_READ, count=2, buffer=0x3F00)
    assert bus.killed == "bad write address 0x00003f00 len 1024"


def test_a_write_from_a_buffer_outside_ram_writes_nothing(disk, disk_file):
    before = disk_file.read_bytes()
    bus = MemoryBus(0x4000)
    with pytest.raises(hv.GuestMemoryError):
        ask(disk, bus, devices.OP_WRITE, count=2, buffer=0x3F00)
    assert bus.killed == "bad read address 0x00003f00 len 1024"
    assert disk_file.read_bytes() == before


def test_size_with_a_request_at_the_end_of_ram(disk):
    bus = MemoryBus(0x2000)
    bus.memory[0x2000 - 32:] = request(devices.OP_SIZE)
    assert disk.handle(bus, 0x2000 - 32) == 0
    assert struct.unpack_from("<Q", bus.memory, 0x2000 - 24)[0] == DISK_SECTORS


def test_big_transfers_go_in_pieces(disk, disk_file, monkeypatch):
    monkeypatch.setattr(devices, "_CHUNK", 3 * SECTOR)
    bus = MemoryBus()
    assert ask(disk, bus, devices.OP_READ, sector=1, count=10) == 0
    assert bus.memory[BUF:BUF + 10 * SECTOR] == disk_file.read_bytes()[SECTOR:11 * SECTOR]
    data = pattern(10 * SECTOR, seed=3)
    bus.memory[BUF:BUF + len(data)] = data
    assert ask(disk, bus, devices.OP_WRITE, sector=20, count=10) == 0
    assert disk_file.read_bytes()[20 * SECTOR:30 * SECTOR] == data


def test_a_big_write_from_a_bad_buffer_writes_no_piece(disk, disk_file, monkeypatch):
    monkeypatch.setattr(devices, "_CHUNK", SECTOR)
    before = disk_file.read_bytes()
    bus = MemoryBus(0x10000)
    with pytest.raises(hv.GuestMemoryError):
        ask(disk, bus, devices.OP_WRITE, count=4, buffer=0x10000 - 2 * SECTOR)
    assert bus.killed == "bad read address 0x0000fc00 len 2048"
    assert disk_file.read_bytes() == before


# ---- BlockDevice: opening and closing ----

def test_a_missing_file_is_one_clear_error(tmp_path):
    missing = tmp_path / "nope.img"
    with pytest.raises(hv.DeviceError) as info:
        hv.BlockDevice(missing)
    assert str(info.value) == f"{missing}: cannot open: No such file or directory"
    assert isinstance(info.value, hv.HvError)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(hv.DeviceError, match=re.escape(f"{tmp_path}: is a directory")):
        hv.BlockDevice(tmp_path, readonly=True)


def test_a_fifo_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(hv.DeviceError, match="not a regular file or block device"):
        hv.BlockDevice(fifo)


def test_arguments_are_checked(disk_file):
    with pytest.raises(TypeError, match="readonly must be a bool"):
        hv.BlockDevice(disk_file, readonly="yes")
    with pytest.raises(TypeError, match="path must be a path"):
        hv.BlockDevice(3.5)


def test_properties_and_repr(disk, disk_file):
    assert (disk.path, disk.readonly, disk.sectors, disk.closed) == (
        str(disk_file), False, DISK_SECTORS, False)
    assert disk.name == hv.BlockDevice.name == "block"
    assert repr(disk) == f"BlockDevice({str(disk_file)!r}, readonly=False, sectors=64)"
    assert isinstance(disk, hv.Device)


def test_close_and_the_context_manager(disk_file):
    with hv.BlockDevice(disk_file) as disk:
        fd = disk._fd
        os.fstat(fd)
    assert disk.closed and "closed" in repr(disk)
    with pytest.raises(OSError):
        os.fstat(fd)
    disk.close()                                   # twice is fine
    with pytest.raises(ValueError, match="the disk is closed"):
        ask(disk, MemoryBus(), devices.OP_READ, count=1)
    with pytest.raises(ValueError, match="the disk is closed"):
        ask(disk, MemoryBus(), devices.OP_SIZE)


def test_close_waits_for_a_request_in_flight(disk):
    entered, release = threading.Event(), threading.Event()

    class SlowBus(MemoryBus):
        def write(self, gpa, data):
            entered.set()
            assert release.wait(TIMEOUT)
            super().write(gpa, data)

    bus = SlowBus()
    results = []
    reader = threading.Thread(target=lambda: results.append(
        ask(disk, bus, devices.OP_READ, count=1)))
    reader.start()
    assert entered.wait(TIMEOUT)
    closer = threading.Thread(target=disk.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()                       # waiting for the read
    release.set()
    reader.join(TIMEOUT)
    closer.join(TIMEOUT)
    assert results == [0] and disk.closed


def test_four_threads_hammering_one_disk(disk, disk_file):
    """Each thread owns 16 sectors: writes, reads back and checks, over and over."""
    rounds = 150

    def worker(n: int) -> int:
        bus = MemoryBus(0x20000)
        base = n * 16
        for i in range(rounds):
            sector, count = base + i % 13, 1 + i % 4
            data = pattern(count * SECTOR, seed=n * 100000 + i * 10)
            bus.memory[BUF:BUF + len(data)] = data
            assert ask(disk, bus, devices.OP_WRITE, sector=sector, count=count) == 0
            bus.memory[0x18000:0x18000 + len(data)] = bytes(len(data))
            assert ask(disk, bus, devices.OP_READ, sector=sector, count=count,
                       buffer=0x18000) == 0
            assert bus.memory[0x18000:0x18000 + len(data)] == data
            assert ask(disk, bus, devices.OP_SIZE) == 0
            assert struct.unpack_from("<Q", bus.memory, REQ + 8)[0] == DISK_SECTORS
            if i % 50 == 0:
                assert ask(disk, bus, devices.OP_FLUSH) == 0
        return n

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(worker, range(4))) == [0, 1, 2, 3]
    assert disk_file.stat().st_size == DISK_SECTORS * SECTOR + PARTIAL


# ---- Device ----

def test_the_device_base_class():
    device = hv.Device()
    assert device.name == "device" and "Device" in repr(device)
    with pytest.raises(NotImplementedError, match="Device does not implement handle"):
        device.handle(MemoryBus(), 0)

    class Echo(hv.Device):
        name = "echo"

        def handle(self, bus, request):
            return struct.unpack("<I", bus.read(request + 4, 4))[0]

    bus = MemoryBus()
    bus.memory[REQ:REQ + 8] = struct.pack("<II", 0, 42)
    assert Echo().handle(bus, REQ) == 42
    assert repr(Echo()) == "<Echo 'echo'>"


def test_guest_memory_error_is_an_hv_error_and_a_value_error():
    assert issubclass(hv.GuestMemoryError, hv.HvError)
    assert issubclass(hv.GuestMemoryError, ValueError)
    from hv import errors
    assert hv.GuestMemoryError is errors.GuestMemoryError


# ---- hv.Guest / hv.run arguments (need the extension, not device support) ----

class Recorder(hv.Device):
    """Returns `result`; records what it saw."""

    name = "recorder"

    def __init__(self, result=0):
        self.result = result
        self.calls = []
        self.lock = threading.Lock()

    def handle(self, bus, request):
        with self.lock:
            self.calls.append((request, bus.read(request, 4), bus.memory_size, bus.clock_ns))
            self.bus = bus
        return self.result


class Duck:
    """Not an hv.Device, but has what one needs."""

    name = "duck"

    def handle(self, bus, request):
        return 0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"devices": "disk.img"}, TypeError, r"devices must be a sequence of devices, not str"),
    ({"devices": Duck()}, TypeError, r"devices must be a sequence .*\(write devices=\[device\]\)"),
    ({"devices": 5}, TypeError, r"devices must be a sequence of devices, not int"),
    ({"devices": [Duck(), object()]}, TypeError, r"devices\[1\] must be a device with a handle"),
    ({"devices": [type("NoName", (), {"handle": lambda s, b, r: 0, "name": 3})()]},
     TypeError, r"devices\[0\]\.name must be a str, not int"),
    ({"devices": [type("Bad", (Duck,), {"name": "\udc80"})()]},
     ValueError, r"devices\[0\]\.name must be valid text"),
    ({"clock": "wall"}, ValueError, r"clock must be one of 'virtual', 'host', not 'wall'"),
    ({"clock": None}, TypeError, r"clock must be a str, not NoneType"),
])
@pytest.mark.usefixtures("native")
def test_device_and_clock_arguments_are_checked(elf, kwargs, error, match):
    with pytest.raises(error, match=match):
        hv.Guest(elf.write(), **kwargs)
    with pytest.raises(error, match=match):
        hv.run(elf.write(), **kwargs)


@pytest.mark.usefixtures("native")
def test_default_guest_has_the_virtual_clock_alone(elf):
    guest = hv.Guest(elf.write())
    assert (guest.devices, guest.clock) == ((), "virtual")
    assert "devices" not in repr(guest) and "clock" not in repr(guest)
    assert guest.run().status == 0


# ---- real guests: hand-assembled NOTIFY programs ----

CODE, DATA = 0x100000, 0x200000
RESULTS = DATA                  # u32 per NOTIFY: what EAX came back with
REQUESTS = DATA + 0x100         # 32 bytes each
BUFFERS = DATA + 0x1000


def p32(value: int) -> bytes:
    return struct.pack("<I", value & 0xFFFFFFFF)


def asm_hypercall(nr: int, ebx: int = 0, ecx: int = 0, edx: int = 0) -> bytes:
    # mov $nr,%eax; mov $ebx,%ebx; mov $ecx,%ecx; mov $edx,%edx; int $0x1f
    return (b"\xb8" + p32(nr) + b"\xbb" + p32(ebx) + b"\xb9" + p32(ecx) + b"\xba" + p32(edx)
            + b"\xcd\x1f")


def asm_notify(request_at: int, result_at: int) -> bytes:
    # mov $17,%eax; mov $req,%ebx; int $0x1f; mov %eax,result
    return b"\xb8" + p32(17) + b"\xbb" + p32(request_at) + b"\xcd\x1f" + b"\xa3" + p32(result_at)


def asm_port_text(text: bytes) -> bytes:
    return b"".join(b"\xb0" + bytes([c]) + b"\xe6\xe9" for c in text)     # mov $c,%al; out 0xe9


ASM_EXIT_0 = b"\xb8" + p32(33) + b"\x31\xdb\xcd\x1f\xf4"   # mov $33,%eax; xor %ebx,%ebx; ...
# mov RESULTS,%eax; mov %eax,%ebx; neg %ebx; mov $33,%eax; int $0x1f; hlt
ASM_EXIT_NEG_FIRST_RESULT = (b"\xa1" + p32(RESULTS) + b"\x89\xc3\xf7\xdb" + b"\xb8" + p32(33)
                             + b"\xcd\x1f\xf4")


def notify_guest(elf, requests: list[bytes], dumps: tuple[tuple[int, int], ...] = (),
                 data: dict[int, bytes] | None = None, before: bytes = b"",
                 name: str = "notify.elf", exit_code: bytes = ASM_EXIT_0) -> Path:
    """A guest that NOTIFYs each request in turn (result i at RESULTS + 4i), then writes
    the results and each (addr, len) of `dumps` to its console, then exits 0."""
    image = bytearray(0x2000)
    for i, req in enumerate(requests):
        image[0x100 + 32 * i:0x100 + 32 * (i + 1)] = req
    for addr, blob in (data or {}).items():
        image[addr - DATA:addr - DATA + len(blob)] = blob
    code = asm_port_text(before)
    code += b"".join(asm_notify(REQUESTS + 32 * i, RESULTS + 4 * i) for i in range(len(requests)))
    for addr, n in ((RESULTS, 4 * len(requests)), *dumps):
        code += asm_hypercall(32, 1, addr, n)
    code += exit_code
    return elf.write(name, segments=[elf.segment(CODE, code),
                                     elf.segment(DATA, bytes(image), flags=elf.PF_R | elf.PF_W)])


def results_of(ex: hv.Exit, n: int) -> tuple[tuple[int, ...], bytes]:
    """The n signed results a notify_guest printed, and the console after them."""
    assert ex.status == 0, ex
    return struct.unpack(f"<{n}i", ex.console[:4 * n]), ex.console[4 * n:]


def req_at(i: int) -> int:
    return REQUESTS + 32 * i


_probed: dict[str, str | None] = {}


@pytest.fixture
def device_host(native, elf):
    """hv._native with devices: skips until Machine.run takes devices= and clock=."""
    if "why" not in _probed:
        path = elf.write("probe.elf")
        machine = native.Machine(8 << 20, "emu")
        image = hv.elf.load_into(machine, hv.load_image(path, 8 << 20))
        machine.boot(image.entry, b"")
        try:
            machine.run(None, 1000, None, devices=(), clock="virtual")
            _probed["why"] = None
        except TypeError as exc:
            _probed["why"] = str(exc)
    if _probed["why"] is not None:
        pytest.skip(f"hv._native.Machine.run does not take devices= yet ({_probed['why']}); "
                    "the lead's host side has not landed")
    return native


@pytest.mark.usefixtures("device_host")
class TestGuestsWithDevices:

    def test_no_device_is_enodev(self, elf):
        ex = hv.run(notify_guest(elf, [p32(0) * 8, p32(5) * 8]), timeout=TIMEOUT)
        assert results_of(ex, 2)[0] == (-19, -19)

    def test_an_index_past_the_devices_is_enodev(self, elf):
        rec = Recorder(7)
        ex = hv.run(notify_guest(elf, [p32(1) + bytes(28), p32(0xFFFFFFFF) + bytes(28)]),
                    devices=[rec], timeout=TIMEOUT)
        assert results_of(ex, 2)[0] == (-19, -19) and rec.calls == []

    def test_the_index_picks_the_device_and_its_result_is_eax(self, elf):
        first, second, third = Recorder(7), Recorder(-1), Recorder(0xFFFFFFFF)
        reqs = [p32(1) + bytes(28), p32(0) + bytes(28), p32(2) + bytes(28), p32(1) + bytes(28)]
        ex = hv.run(notify_guest(elf, reqs), devices=[first, second, third], memory_mib=16,
                    timeout=TIMEOUT)
        assert results_of(ex, 4)[0] == (-1, 7, -1, -1)
        assert [c[0] for c in first.calls] == [req_at(1)]
        assert [c[0] for c in second.calls] == [req_at(0), req_at(3)]
        assert [c[0] for c in third.calls] == [req_at(2)]
        assert second.calls[0][1] == p32(1) and second.calls[0][2] == 16 << 20

    def test_devices_may_be_ducks_and_the_guest_keeps_them(self, elf):
        duck = Duck()
        guest = hv.Guest(notify_guest(elf, [bytes(32)]), devices=(duck,))
        assert guest.devices == (duck,) and "devices=" in repr(guest)
        assert results_of(guest.run(timeout=TIMEOUT), 1)[0] == (0,)
        assert results_of(guest.run(timeout=TIMEOUT), 1)[0] == (0,)   # reused

    def test_the_bus_clock_is_the_virtual_clock(self, elf):
        rec = Recorder()
        path = notify_guest(elf, [bytes(32), bytes(32)])
        hv.run(path, devices=[rec], timeout=TIMEOUT)
        clocks = [c[3] for c in rec.calls]
        assert 0 < clocks[0] < clocks[1]
        rec2 = Recorder()
        hv.run(path, devices=[rec2], timeout=TIMEOUT)
        assert [c[3] for c in rec2.calls] == clocks          # reproducible

    def test_a_bus_outlives_its_call_only_as_an_error(self, elf):
        rec = Recorder()
        hv.run(notify_guest(elf, [bytes(32)]), devices=[rec], timeout=TIMEOUT)
        with pytest.raises(RuntimeError):
            rec.bus.read(REQUESTS, 4)
        with pytest.raises(RuntimeError):
            rec.bus.write(REQUESTS, b"x")

    def test_a_raising_device_kills_the_guest_and_keeps_the_console(self, elf):
        class Boom(hv.Device):
            name = "boom"

            def handle(self, bus, request):
                raise ValueError("no such thing")

        path = notify_guest(elf, [bytes(32)], before=b"before\n")
        ex = hv.run(path, devices=[Boom()], timeout=TIMEOUT)
        assert (ex.status, ex.reason) == (None, "device 0 (boom) raised ValueError: no such thing")
        assert ex.console == b"before\n"

    def test_a_device_returning_a_non_int_kills_the_guest(self, elf):
        class Bad(hv.Device):
            name = "bad"

            def handle(self, bus, request):
                return "x"

        ex = hv.run(notify_guest(elf, [bytes(32)], before=b"hi"), devices=[Bad()],
                    timeout=TIMEOUT)
        assert ex.reason == "device 0 (bad) returned 'x', not an int" and ex.console == b"hi"

    @pytest.mark.parametrize("value", [1 << 32, -(1 << 31) - 1])
    def test_a_result_that_does_not_fit_32_bits_kills(self, elf, value):
        rec = Recorder(value)
        ex = hv.run(notify_guest(elf, [bytes(32)]), devices=[rec], timeout=TIMEOUT)
        assert ex.killed and ex.reason.startswith("device 0 (recorder) "), ex

    @pytest.mark.parametrize("value", [-(1 << 31), (1 << 32) - 1, 0])
    def test_results_at_the_edges_of_32_bits(self, elf, value):
        ex = hv.run(notify_guest(elf, [bytes(32)]), devices=[Recorder(value)], timeout=TIMEOUT)
        assert results_of(ex, 1)[0] == (struct.unpack("<i", p32(int(value)))[0],)

    def test_bus_access_outside_ram_kills_with_the_bus_reason(self, elf):
        seen = []

        class Wild(hv.Device):
            name = "wild"

            def handle(self, bus, request):
                try:
                    bus.read(0xF0000000, 4)
                except Exception as exc:
                    seen.append(exc)
                    raise

        ex = hv.run(notify_guest(elf, [bytes(32)]), devices=[Wild()], timeout=TIMEOUT)
        assert ex.reason == "bad read address 0xf0000000 len 4"
        assert len(seen) == 1 and isinstance(seen[0], hv.GuestMemoryError)

    def test_the_first_kill_reason_stays_even_if_the_device_swallows_it(self, elf):
        class Swallow(hv.Device):
            name = "swallow"

            def handle(self, bus, request):
                try:
                    bus.write(bus.memory_size - 2, b"1234")
                except hv.GuestMemoryError:
                    pass
                return 0

        ex = hv.run(notify_guest(elf, [bytes(32)], before=b"x"), devices=[Swallow()],
                    memory_mib=8, timeout=TIMEOUT)
        assert ex.reason == f"bad write address {(8 << 20) - 2:#010x} len 4"
        assert ex.console == b"x"

    def test_a_request_outside_ram_kills(self, elf):
        code = b"\xb8" + p32(17) + b"\xbb" + p32(0x7FFFFFFE) + b"\xcd\x1f" + ASM_EXIT_0
        ex = hv.run(elf.write(segments=[elf.segment(CODE, code)]), devices=[Recorder()],
                    timeout=TIMEOUT)
        assert ex.reason == "bad read address 0x7ffffffe len 4"

    def test_raise_irq_checks_its_argument(self, elf):
        errors = []

        class Irq(hv.Device):
            name = "irq"

            def handle(self, bus, request):
                for n in (-1, 32):
                    try:
                        bus.raise_irq(n)
                    except ValueError as exc:
                        errors.append(n)
                        assert str(exc)
                return 0

        ex = hv.run(notify_guest(elf, [bytes(32)]), devices=[Irq()], timeout=TIMEOUT)
        assert results_of(ex, 1)[0] == (0,) and errors == [-1, 32]

    # ---- the block device in a real guest ----

    def test_block_device_every_op(self, elf, disk_file):
        before = disk_file.read_bytes()
        out_data = pattern(2 * SECTOR, seed=77)
        reqs = [
            request(devices.OP_SIZE),
            request(devices.OP_READ, sector=5, count=2, buffer=BUFFERS),
            request(devices.OP_WRITE, sector=40, count=2, buffer=BUFFERS + 0x400),
            request(devices.OP_FLUSH),
            request(9),
            request(devices.OP_READ, sector=DISK_SECTORS, count=1, buffer=BUFFERS),
            request(devices.OP_READ, sector=0, count=0, buffer=0xFFFFF000),
        ]
        path = notify_guest(elf, reqs, dumps=((req_at(0) + 8, 8), (BUFFERS, 2 * SECTOR)),
                            data={BUFFERS + 0x400: out_data})
        with hv.BlockDevice(disk_file) as disk:
            ex = hv.run(path, devices=[disk], timeout=TIMEOUT)
        results, rest = results_of(ex, len(reqs))
        assert results == (0, 0, 0, 0, -22, -34, 0)
        assert struct.unpack("<Q", rest[:8])[0] == DISK_SECTORS
        assert rest[8:] == before[5 * SECTOR:7 * SECTOR]
        after = disk_file.read_bytes()
        assert after[40 * SECTOR:42 * SECTOR] == out_data
        assert after[:40 * SECTOR] == before[:40 * SECTOR]
        assert after[42 * SECTOR:] == before[42 * SECTOR:]

    def test_block_device_readonly(self, elf, disk_file):
        before = disk_file.read_bytes()
        path = notify_guest(elf, [request(devices.OP_WRITE, sector=0, count=1, buffer=BUFFERS)])
        with hv.BlockDevice(disk_file, readonly=True) as disk:
            ex = hv.run(path, devices=[disk], timeout=TIMEOUT)
        assert results_of(ex, 1)[0] == (-30,)
        assert disk_file.read_bytes() == before

    def test_block_device_buffer_outside_ram_kills(self, elf, disk_file):
        path = notify_guest(elf, [request(devices.OP_READ, count=1, buffer=(8 << 20) - 256)],
                            before=b"go\n")
        with hv.BlockDevice(disk_file) as disk:
            ex = hv.run(path, devices=[disk], memory_mib=8, timeout=TIMEOUT)
        assert ex.reason == f"bad write address {(8 << 20) - 256:#010x} len 512"
        assert ex.console == b"go\n"

    def test_guests_in_threads_share_one_disk(self, elf, disk_file):
        def one(n: int) -> bytes:
            data = pattern(SECTOR, seed=1000 + n)
            path = notify_guest(elf, [
                request(devices.OP_WRITE, sector=n, count=1, buffer=BUFFERS),
                request(devices.OP_READ, sector=n, count=1, buffer=BUFFERS + 0x400),
            ], dumps=((BUFFERS + 0x400, SECTOR),), data={BUFFERS: data}, name=f"g{n}.elf")
            results, back = results_of(hv.run(path, devices=[disk], timeout=TIMEOUT), 2)
            assert results == (0, 0) and back == data
            return data

        with hv.BlockDevice(disk_file) as disk, ThreadPoolExecutor(4) as pool:
            written = list(pool.map(one, range(8)))
        assert disk_file.read_bytes()[:8 * SECTOR] == b"".join(written)

    # ---- the clock ----

    def test_the_clock_argument(self, elf):
        # CLOCK (34) twice, the second result's low half to the console.
        code = (asm_hypercall(34) + b"\xa3" + p32(RESULTS) + asm_hypercall(34)
                + b"\xa3" + p32(RESULTS + 4) + asm_hypercall(32, 1, RESULTS, 8) + ASM_EXIT_0)
        path = elf.write(segments=[elf.segment(CODE, code),
                                   elf.segment(DATA, bytes(16), flags=elf.PF_R | elf.PF_W)])
        virtual = [hv.run(path, clock="virtual", timeout=TIMEOUT).console for _ in range(2)]
        assert virtual[0] == virtual[1]                      # reproducible
        first, second = struct.unpack("<II", virtual[0])
        assert 0 < first < second < 1000
        guest = hv.Guest(path, clock="host")
        assert guest.clock == "host" and "clock='host'" in repr(guest)
        ex = guest.run(timeout=TIMEOUT)
        assert ex.status == 0 and len(ex.console) == 8


# ---- the sample guests ----

@pytest.fixture
def sample_guests(device_host, request) -> Path:
    """images/build/ with the sample guests built, once device support is there."""
    return request.getfixturevalue("guest_images")      # (session-scoped: asked for last)


@pytest.fixture
def disk_copy(sample_guests) -> Path:
    path = sample_guests / "disk_copy.elf"
    if not path.is_file():
        pytest.skip("images/guests/disk_copy.c is not there yet")
    return path


def test_hello_under_both_clocks(sample_guests):
    for clock in ("virtual", "host"):
        ex = hv.run(sample_guests / "hello.elf", clock=clock, timeout=TIMEOUT)
        assert (ex.status, ex.console) == (0, b"Hello from an hv guest!\n")


def test_disk_copy_onto_a_second_disk(disk_copy, disk_file, tmp_path):
    source = disk_file.read_bytes()
    whole = source[:DISK_SECTORS * SECTOR]
    target = tmp_path / "out.img"
    target.write_bytes(bytes((DISK_SECTORS + 3) * SECTOR))
    with hv.BlockDevice(disk_file, readonly=True) as src, hv.BlockDevice(target) as dst:
        ex = hv.run(disk_copy, devices=[src, dst], timeout=TIMEOUT)
    assert ex.status == 0, ex.console
    console = ex.console.decode()
    crc = zlib.crc32(whole)
    assert f"disk 0: {DISK_SECTORS} sectors ({DISK_SECTORS * SECTOR} bytes)\n" in console
    assert f"disk 1: {DISK_SECTORS + 3} sectors\n" in console
    assert f"read {DISK_SECTORS} sectors: crc32 {crc:#010x}\n" in console
    assert f"read back {DISK_SECTORS} sectors: crc32 {crc:#010x}, 0 sectors differ: match" \
        in console
    assert f"read of sector {DISK_SECTORS} (past the end): -34" in console
    assert console.endswith("disk copy ok\n")
    copied = target.read_bytes()
    assert copied[:len(whole)] == whole and not any(copied[len(whole):])
    assert disk_file.read_bytes() == source


def test_disk_copy_within_one_disk(disk_copy, disk_file):
    source = disk_file.read_bytes()
    half = DISK_SECTORS // 2 * SECTOR
    with hv.BlockDevice(disk_file) as disk:
        ex = hv.run(disk_copy, devices=[disk], timeout=TIMEOUT)
    assert ex.status == 0, ex.console
    assert f"crc32 {zlib.crc32(source[:half]):#010x}".encode() in ex.console
    after = disk_file.read_bytes()
    assert after[:half] == after[half:2 * half] == source[:half]
    assert after[2 * half:] == source[2 * half:]                # the partial sector


def test_disk_copy_onto_a_readonly_disk_fails(disk_copy, disk_file):
    before = disk_file.read_bytes()
    with hv.BlockDevice(disk_file, readonly=True) as disk:
        ex = hv.run(disk_copy, devices=[disk], timeout=TIMEOUT)
    assert ex.status == 1
    assert b"write at sector 32 failed: -30" in ex.console
    assert disk_file.read_bytes() == before


def test_disk_copy_without_a_disk(disk_copy):
    ex = hv.run(disk_copy, timeout=TIMEOUT)
    assert ex.status == 2 and ex.console.startswith(b"no disk 0: -19")


# ---- docs/devices.md ----

def test_the_custom_device_in_the_docs_works():
    """The Counter example of docs/devices.md, run against the MemoryBus."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "devices.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(block for block in blocks if "class Counter" in block)
    definitions = example[:example.index("counter = Counter()")]
    namespace: dict = {}
    exec(compile(definitions, "docs/devices.md", "exec"), namespace)
    counter = namespace["Counter"]()
    assert isinstance(counter, hv.Device) and counter.name == "counter"
    bus = MemoryBus()
    bus.memory[REQ:REQ + 12] = struct.pack("<III", 1, 0, 5)
    assert counter.handle(bus, REQ) == 5 and counter.handle(bus, REQ) == 10
    bus.memory[REQ:REQ + 12] = struct.pack("<III", 1, 1, 3)
    assert counter.handle(bus, REQ) == 0 and bus.irqs == [3]
    bus.memory[REQ:REQ + 12] = struct.pack("<III", 1, 2, 0)
    assert counter.handle(bus, REQ) == -22


@pytest.mark.skipif(shutil.which(os.environ.get("HV_CC", "gcc")) is None,
                    reason="gcc is needed for hv cc")
def test_the_counter_example_in_the_docs_runs(device_host, tmp_path, monkeypatch, capsys):
    """docs/devices.md's counter.c built with hv cc, run with its counter.py."""
    from hv import cc

    monkeypatch.setenv("HV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).resolve().parent.parent / "docs" / "devices.md").read_text()
    source = re.search(r"```c\n(/\* counter\.c \*/\n.*?)```", text, re.S).group(1)
    script = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Counter()" in b)
    expected = re.search(r"\$ hv cc -o counter\.elf counter\.c && python counter\.py\n(.*?)```",
                         text, re.S).group(1)
    (tmp_path / "counter.c").write_text(source)
    assert cc.main(["-o", "counter.elf", "counter.c"]) == 0
    capsys.readouterr()
    exec(compile(script, "counter.py", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == expected
