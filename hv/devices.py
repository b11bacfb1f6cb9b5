"""Devices: Python objects that serve a guest's NOTIFY requests.

A guest reaches its devices with the NOTIFY hypercall (17): `EBX` is the
guest-physical address of a request whose first u32 is the device index
(0-based, in the order the run lists its devices).  The host calls that
device's `handle(bus, request)` and puts the int it returns in the guest's
`EAX`.  See docs/devices.md for the whole protocol, and `BlockDevice` for the
disk that hv ships.

    import hv

    with hv.BlockDevice("disk.img") as disk:
        ex = hv.run("images/build/disk_copy.elf", devices=[disk], timeout=10)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import threading
from collections.abc import Iterator
from typing import Any

from hv.errors import DeviceError

__all__ = ["BLOCK_EINVAL", "BLOCK_EIO", "BLOCK_ERANGE", "BLOCK_EROFS", "BlockDevice", "Device",
           "OP_FLUSH", "OP_READ", "OP_SIZE", "OP_WRITE", "SECTOR_SIZE"]


class Device:
    """Base class of a device a guest reaches through NOTIFY.

    Subclasses set `name` (a short str, used in kill reasons such as
    ``device 0 (block) raised ValueError: ...``) and override `handle`.

    The protocol:

    - `handle(bus, request)` is called synchronously, from the thread that
      runs the guest, while the guest waits: the guest's next instruction runs
      only after it returns, so device I/O is deterministic.  The host holds
      the GIL only for the call (the guest itself runs with the GIL released).
    - `request` is the guest-physical address of the request; its first u32 is
      the device index, the rest is the device's own format.  Read it with
      `bus.read(request, n)`.
    - `bus` (`hv._native.Bus`) is valid only during the call:
      `bus.read(gpa, n) -> bytes` and `bus.write(gpa, data)` access
      guest-physical memory; outside RAM the guest is killed and
      `hv.GuestMemoryError` is raised (let it propagate).  `bus.raise_irq(n)`
      (n in 0..31) makes IRQ n pending now, `bus.raise_irq(n, delay_ns=D)`
      D ns later on the guest clock; `bus.memory_size` is the guest's
      RAM in bytes and `bus.clock_ns` the guest clock now.  Using a bus after
      its call returned raises RuntimeError.
    - The return value goes to the guest's EAX: an int from -2**31 to 2**32-1
      (negative values are errors, by convention -errno).  Anything else, or
      an exception, kills the guest with a reason that names the device.

    A device is reused across restarts of the guest and across runs, and may
    be shared by guests running in several threads at once: `handle` must be
    thread-safe if it is shared.
    """

    name: str = "device"

    def handle(self, bus: Any, request: int) -> int:
        """Serve the request at guest-physical address `request`; return the guest's EAX."""
        raise NotImplementedError(f"{type(self).__name__} does not implement handle()")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# ---- the block device ----

SECTOR_SIZE = 512
OP_READ, OP_WRITE, OP_FLUSH, OP_SIZE = 0, 1, 2, 3
BLOCK_EIO, BLOCK_EINVAL, BLOCK_EROFS, BLOCK_ERANGE = -5, -22, -30, -34

# off 0 u32 device, 4 u32 op, 8 u64 sector, 16 u32 count, 20 u32 buffer gpa, 24/28 reserved
_REQUEST = struct.Struct("<IIQIIII")
_SIZE_FIELD = 8
_U64 = struct.Struct("<Q")
# Transfers bigger than this go through guest memory in pieces of this size.
_CHUNK = 16 << 20


class BlockDevice(Device):
    """A disk backed by a file (or a host block device), 512-byte sectors.

    path: the disk image; opened now, once (read-only if `readonly`).
    readonly: refuse WRITE requests (-30, EROFS) and open the file O_RDONLY.

    Its size is taken when it is opened: floor(bytes / 512) sectors (a last
    partial sector is not addressable).  Requests (32 bytes, little-endian,
    guest-physical; see docs/devices.md):

        off 0  u32 device index     off 16 u32 count (sectors)
        off 4  u32 op               off 20 u32 buffer gpa (count * 512 bytes)
        off 8  u64 sector           off 24, 28 u32 reserved (0)

    op 0 READ (disk -> buffer), 1 WRITE (buffer -> disk), 2 FLUSH (fsync),
    3 SIZE (writes the size in sectors, u64, at request + 8).  Returns 0, -22
    (bad op), -30 (WRITE on a read-only disk), -34 (sector + count past the
    end: nothing is transferred) or -5 (host I/O error).  count 0 is a no-op.

    Thread-safe: requests from several guests run in parallel (pread/pwrite
    take no lock); `close()` waits for requests in flight.
    """

    name = "block"

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        if not isinstance(readonly, bool):
            raise TypeError(f"readonly must be a bool, not {type(readonly).__name__}")
        try:
            self._path = os.fspath(path)
        except TypeError:
            raise TypeError(f"path must be a path, not {type(path).__name__}") from None
        self._readonly = readonly
        self._fd = _open_disk(self._path, readonly)
        try:
            self._sectors = os.lseek(self._fd, 0, os.SEEK_END) // SECTOR_SIZE
        except OSError as exc:
            os.close(self._fd)
            raise DeviceError(f"{self._path}: cannot find its size: {_why(exc)}") from None
        # Guards the descriptor's lifetime only: close() must not pull it from
        # under a request in flight (its number could be reused by another open).
        self._state = threading.Condition(threading.Lock())
        self._busy = 0
        self._closed = False

    # ---- properties ----

    @property
    def path(self) -> str:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def sectors(self) -> int:
        """The disk's size in 512-byte sectors (what SIZE reports)."""
        return self._sectors

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return (f"BlockDevice({self._path!r}, readonly={self._readonly}, "
                f"sectors={self._sectors}{state})")

    # ---- lifetime ----

    def close(self) -> None:
        """Close the file, once requests in flight are done.  Closing twice is fine."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            while self._busy:
                self._state.wait()
        os.close(self._fd)

    def __enter__(self) -> BlockDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A device dropped without close(): give its descriptor back.
        if not getattr(self, "_closed", True):
            self._closed = True
            try:
                os.close(self._fd)
            except OSError:
                pass

    # ---- requests ----

    def handle(self, bus: Any, request: int) -> int:
        raw = bus.read(request, _REQUEST.size)
        _, op, sector, count, buffer, _, _ = _REQUEST.unpack(raw)
        with self._in_flight():
            if op == OP_SIZE:
                bus.write(request + _SIZE_FIELD, _U64.pack(self._sectors))
                return 0
            if op not in (OP_READ, OP_WRITE, OP_FLUSH):
                return BLOCK_EINVAL
            if op == OP_WRITE and self._readonly:
                return BLOCK_EROFS
            if op != OP_FLUSH:
                if count == 0:
                    return 0
                if sector + count > self._sectors:
                    return BLOCK_ERANGE
            try:
                if op == OP_FLUSH:
                    os.fsync(self._fd)
                elif op == OP_READ:
                    self._read(bus, sector, count, buffer)
                else:
                    self._write(bus, sector, count, buffer)
            except OSError:
                return BLOCK_EIO
            return 0

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """One request using the descriptor; close() waits for it."""
        with self._state:
            if self._closed:
                raise ValueError(f"{self._path}: the disk is closed")
            self._busy += 1
        try:
            yield
        finally:
            with self._state:
                self._busy -= 1
                if not self._busy:
                    self._state.notify_all()

    def _read(self, bus: Any, sector: int, count: int, buffer: int) -> None:
        offset, left = sector * SECTOR_SIZE, count * SECTOR_SIZE
        while left:
            n = min(left, _CHUNK)
            data = os.pread(self._fd, n, offset)
            if len(data) != n:          # the file shrank since it was opened
                raise OSError(f"short read at byte {offset + len(data)}")
            bus.write(buffer, data)
            buffer, offset, left = buffer + n, offset + n, left - n

    def _write(self, bus: Any, sector: int, count: int, buffer: int) -> None:
        offset, left = sector * SECTOR_SIZE, count * SECTOR_SIZE
        if left > _CHUNK and buffer + left > bus.memory_size:
            # Piecewise, the disk would get the pieces before the bad one; the
            # whole buffer is checked first instead (this kills the guest).
            # Guest RAM is under 4 GiB, so a length of 2**32-1 is out of it too.
            bus.read(buffer, min(left, 0xFFFFFFFF))
        while left:
            n = min(left, _CHUNK)
            data = memoryview(bus.read(buffer, n))
            at = offset
            while data:
                written = os.pwrite(self._fd, data, at)
                if written <= 0:
                    raise OSError(f"no progress writing at byte {at}")
                data, at = data[written:], at + written
            buffer, offset, left = buffer + n, offset + n, left - n


def _open_disk(path: str, readonly: bool) -> int:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DeviceError(f"{path}: cannot open: {_why(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DeviceError(f"{path}: is a directory, not a disk image")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise DeviceError(f"{path}: not a regular file or block device")
    flags = (os.O_RDONLY if readonly else os.O_RDWR) | os.O_CLOEXEC
    try:
        return os.open(path, flags)
    except OSError as exc:
        denied = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        hint = " (use a read-only disk?)" if denied and not readonly else ""
        mode = "read-only" if readonly else "read-write"
        raise DeviceError(f"{path}: cannot open {mode}: {_why(exc)}{hint}") from None


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)
