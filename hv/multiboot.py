"""The multiboot v1 header of a kernel image, and where it says to load it.

Multiboot Specification 0.6.96, 3.1: the header lies 4-byte aligned in the
first 8192 bytes of the file, and magic + flags + checksum is 0 (mod 2**32).
hv picks it up as QEMU's `-kernel` loader does:

- the first header whose checksum is right counts; a magic with a wrong
  checksum is skipped (and reported only if no good header follows);
- with flag bit 16 (the "a.out kludge") the header's address fields say
  everything: the file is read from the offset that puts the header at
  `header_addr`, `load_end_addr - load_addr` bytes of it (all the rest of the
  file when 0) go to `load_addr`, memory up to `bss_end_addr` (when not 0) is
  zeroed, and execution starts at `entry_addr`, whether or not the file is
  an ELF file at all;
- without bit 16 the file must be an ELF image, loaded by its program
  headers and entered at `e_entry`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["FLAG_ADDRESSES", "HEADER_MAGIC", "MODULES_MAX", "SEARCH_BYTES", "Header", "Kludge",
           "ModuleLayout", "Refused", "find_header", "kludge_layout", "layout_modules"]

HEADER_MAGIC = 0x1BADB002
SEARCH_BYTES = 8192
FLAG_ADDRESSES = 1 << 16           # the a.out kludge: load by the header's address fields
_U32 = 1 << 32
_MAGIC_BYTES = struct.pack("<I", HEADER_MAGIC)


class Refused(Exception):
    """The header cannot be loaded; the message names the field."""


@dataclass(frozen=True)
class Header:
    """A multiboot header with a good checksum, at `offset` in the file."""

    offset: int
    flags: int
    # The address fields (valid with FLAG_ADDRESSES), as the header holds them.
    header_addr: int = 0
    load_addr: int = 0
    load_end_addr: int = 0
    bss_end_addr: int = 0
    entry_addr: int = 0

    @property
    def has_addresses(self) -> bool:
        return bool(self.flags & FLAG_ADDRESSES)

    def where(self) -> str:
        return f"multiboot header at file offset {self.offset:#x}"


@dataclass(frozen=True)
class Kludge:
    """What the a.out kludge loads: file bytes [offset, offset + filesz) at
    load_addr, zeroed up to load_addr + memsz, entered at entry."""

    load_addr: int
    offset: int
    filesz: int
    memsz: int
    entry: int


def find_header(data) -> Header | None:
    """The first multiboot header with a good checksum in the first 8 KiB.

    Returns None when there is no magic at all; raises Refused when every
    magic found has a wrong checksum, or a kludge header is cut short.
    """
    limit = min(len(data), SEARCH_BYTES)
    bad: str | None = None
    pos = data.find(_MAGIC_BYTES, 0, limit)
    while pos >= 0:
        if pos % 4 == 0 and pos + 12 <= len(data):
            magic, flags, checksum = struct.unpack_from("<III", data, pos)
            total = (magic + flags + checksum) % _U32
            if total == 0:
                return _read_header(data, pos, flags)
            if bad is None:
                bad = (f"multiboot header at file offset {pos:#x}: checksum {checksum:#010x} is "
                       f"wrong (magic + flags + checksum = {total:#010x}, not 0)")
        pos = data.find(_MAGIC_BYTES, pos + 1, limit)
    if bad is not None:
        raise Refused(bad)
    return None


def _read_header(data, pos: int, flags: int) -> Header:
    if not flags & FLAG_ADDRESSES:
        return Header(pos, flags)
    if pos + 32 > len(data):
        raise Refused(f"multiboot header at file offset {pos:#x}: flag bit 16 is set but the "
                      f"address fields (32 bytes) run past the end of the file ({len(data)} bytes)")
    fields = struct.unpack_from("<5I", data, pos + 12)
    return Header(pos, flags, *fields)


def kludge_layout(header: Header, file_size: int) -> Kludge:
    """Where the a.out kludge puts the file, checked the way QEMU checks it."""
    where = header.where()
    h, load, load_end, bss_end = (header.header_addr, header.load_addr, header.load_end_addr,
                                  header.bss_end_addr)
    if h < load:
        raise Refused(f"{where}: load_addr {load:#010x} is above header_addr {h:#010x}")
    if h - load > header.offset:
        raise Refused(f"{where}: header_addr - load_addr = {h - load:#x} puts the start of the "
                      f"load before the start of the file (the header is at {header.offset:#x})")
    offset = header.offset - (h - load)
    if load_end:
        if load_end < load:
            raise Refused(f"{where}: load_end_addr {load_end:#010x} is below load_addr "
                          f"{load:#010x}")
        filesz = load_end - load
        if offset + filesz > file_size:
            raise Refused(f"{where}: load_addr..load_end_addr needs {filesz:#x} bytes of the "
                          f"file from offset {offset:#x}, past its end ({file_size} bytes)")
    else:
        filesz = file_size - offset           # the rest of the file
    memsz = filesz
    if bss_end:
        if bss_end < load + filesz:
            raise Refused(f"{where}: bss_end_addr {bss_end:#010x} is below the end of the "
                          f"loaded data {load + filesz:#010x}")
        memsz = bss_end - load
    if load + memsz > _U32:
        raise Refused(f"{where}: load_addr {load:#010x} + {memsz:#x} bytes overflows 32 bits")
    return Kludge(load, offset, filesz, memsz, header.entry_addr)


# ---- boot modules (Multiboot 3.3, mods_count / mods_addr) ----

PAGE = 4096
MODULES_MAX = 64


def _page_up(addr: int) -> int:
    return (addr + PAGE - 1) & ~(PAGE - 1)


@dataclass(frozen=True)
class ModuleLayout:
    """Where the boot modules go: the table (16 bytes a module: mod_start,
    mod_end, string, reserved) and their strings at `table_addr`, then each
    module's bytes, page-aligned, at `starts`."""

    table_addr: int
    table: bytes
    starts: tuple[int, ...]


def layout_modules(kernel_end: int, strings: list[bytes], sizes: list[int],
                   memory_bytes: int) -> ModuleLayout:
    """Place modules after the kernel as QEMU does: the module table and the
    strings on the next page boundary, then each module on a page boundary.
    Raises Refused naming the module that does not fit."""
    count = len(sizes)
    table_addr = _page_up(kernel_end)
    string_addr = table_addr + 16 * count
    blob = b""
    string_addrs = []
    for text in strings:
        string_addrs.append(string_addr + len(blob))
        blob += text + b"\0"
    at = _page_up(string_addr + len(blob))
    starts, entries = [], b""
    for k, size in enumerate(sizes):
        if at + size > memory_bytes:
            raise Refused(f"module {k} ({strings[k].decode(errors='replace')}, {size} bytes) "
                          f"does not fit in guest RAM: it would end at {at + size:#010x}, past "
                          f"{memory_bytes:#010x}")
        starts.append(at)
        entries += struct.pack("<4I", at, at + size, string_addrs[k], 0)
        at = _page_up(at + size)
    return ModuleLayout(table_addr, entries + blob, tuple(starts))
