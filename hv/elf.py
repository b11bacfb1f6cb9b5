"""Image loading: check an image against Guest ABI v1 and place it in guest RAM.

An image is an ELF file loaded by its program headers, or any file whose
multiboot header sets flag bit 16, loaded by the header's addresses as QEMU's
`-kernel` does (hv.multiboot).

The image file is mapped read-only and segments go to the extension as
memoryview slices of the mapping, so no image byte is copied in Python.

pyelftools reads the header and program headers from the mapping.  Its
struct definitions are built once per ELF layout and reused (see
_ELF32File): building them is what makes a fresh ELFFile cost about a
millisecond, the whole start-to-exit budget of a small guest.
"""

from __future__ import annotations

import importlib
import mmap
import os
import stat
import struct
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from elftools.common.exceptions import ELFError

from hv import multiboot
from hv.errors import ImageError

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "ENTRY_ELF",
    "ENTRY_KLUDGE",
    "IMAGE_BASE",
    "Image",
    "Segment",
    "load_image",
    "load_into",
    "map_file",
    "open_elf",
]

IMAGE_BASE = 0x100000              # ABI v1: nothing loads below 1 MiB
DEFAULT_MEMORY_BYTES = 64 << 20

_ELF_MAGIC = b"\x7fELF"
_ELFCLASS32, _ELFCLASS64 = 1, 2
_ELFDATA2LSB = 1
_PN_XNUM = 0xFFFF
PF_X, PF_W, PF_R = 1, 2, 4

_EHDR_SIZE = 52                    # sizeof(Elf32_Ehdr)
_PHDR_SIZE = 32                    # sizeof(Elf32_Phdr)

_U32 = 1 << 32

# Where Image.entry came from.
ENTRY_ELF = "ELF header e_entry"
ENTRY_KLUDGE = "multiboot header entry_addr (flag bit 16, the a.out kludge)"


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment; `index` is its number in the program header table."""

    index: int
    paddr: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int
    offset: int

    @property
    def end(self) -> int:
        """First physical address past the segment."""
        return self.paddr + self.memsz

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)

    @property
    def flags_str(self) -> str:
        """Flags as readelf shows them, e.g. "R-X"."""
        return "".join(c if self.flags & bit else "-"
                       for c, bit in (("R", PF_R), ("W", PF_W), ("X", PF_X)))


@dataclass(frozen=True)
class Image:
    """A validated image: where each segment goes and where execution starts."""

    path: str
    entry: int
    segments: tuple[Segment, ...]
    memory_bytes: int                  # the guest RAM size it was checked against
    # Identity of the file contents that were checked: (dev, inode, size, mtime_ns).
    stamp: tuple[int, ...] = field(default=(), repr=False, compare=False)
    # ENTRY_ELF or ENTRY_KLUDGE, and the multiboot header if the file has one.
    entry_source: str = ENTRY_ELF
    multiboot: multiboot.Header | None = None

    def symbol(self, name: str) -> int | None:
        """Address (st_value) of a symbol, or None; reads the symbol table once."""
        return self.symbols.get(name)

    @cached_property
    def symbols(self) -> Mapping[str, int]:
        """Every named symbol -> st_value.  Parsed only when first asked for."""
        return _read_symbols(self.path)


class _Loader(Protocol):
    """What load_into needs from hv._native.Machine."""

    memory_size: int

    def load(self, paddr: int, data: memoryview, memsz: int) -> None: ...


def load_image(path: str | os.PathLike[str], memory_bytes: int = DEFAULT_MEMORY_BYTES) -> Image:
    """Check the image at `path` for a guest with `memory_bytes` of RAM.

    Raises ImageError naming the file and the problem if ABI v1 refuses it.
    """
    path = os.fspath(path)
    data, stamp = map_file(path)
    try:
        return _parse(data, stamp, path, memory_bytes)
    finally:
        data.close()


def load_into(machine: _Loader, image: Image) -> Image:
    """Copy `image`'s segments into `machine`'s RAM; return the Image loaded.

    The file is mapped again for the copy.  If it changed since `image` was
    checked (or the machine's RAM differs), it is checked again first and the
    new Image is returned, so a rebuilt image never loads with stale headers.
    """
    data, stamp = map_file(image.path)
    try:
        if stamp != image.stamp or machine.memory_size != image.memory_bytes:
            image = _parse(data, stamp, image.path, machine.memory_size)
        with memoryview(data) as view:
            for seg in image.segments:
                # Released before the mapping closes: an exported buffer would
                # make mmap.close() fail.
                with view[seg.offset:seg.offset + seg.filesz] as part:
                    machine.load(seg.paddr, part, seg.memsz)
    except ValueError as exc:       # the host's own range check; unreachable after _parse
        raise ImageError(f"{image.path}: {exc}") from exc
    finally:
        data.close()
    return image


# ---- importing pyelftools without its debug-info readers ----
#
# elftools.elf.elffile imports pyelftools' DWARF reader and ARM exception
# table reader at its top (and with them most of the package), though ELFFile
# calls them only from its debug-info methods: get_dwarf_info(),
# get_ehabi_infos() and their helpers; its readers of dynamic, relocation,
# symbol version and hash sections only from the methods that make those
# sections (or a PT_DYNAMIC segment).  elftools.construct likewise imports
# its debugging aids (Probe, Debugger; they import pdb), which pyelftools
# never uses.  Reading program headers needs none of them, and importing them
# was about a third of a one-shot `hv run` (bench/README.md, "One-shot hv run").
#
# So while elffile is imported, each module in _DEFERRED is stood in for by a
# _Deferred module, whose every name is a _Forward: a callable that, when
# called, imports the real modules and puts the real names back wherever a
# _Forward was bound in pyelftools.  The stand-ins leave sys.modules as soon
# as elffile is imported, so a later import of those modules (hv.coverage's
# line tables, the user's own code) gets the real ones, and ELFFile's
# debug-info methods work as ever.  A pyelftools that uses one of those names
# at import time other than by calling it makes the guarded import fail; elffile
# is then imported the plain way.  If elffile is already imported, it is used
# as it is.  A thread that imports one of those modules while elffile is being
# imported gets the stand-in; its names work there too, as long as they are
# only called.

_DEFERRED = ("elftools.dwarf.dwarfinfo", "elftools.dwarf.dwarf_util",
             "elftools.ehabi.ehabiinfo", "elftools.construct.debug",
             # Section and segment kinds a Guest ABI v1 image has no use for.
             "elftools.elf.dynamic", "elftools.elf.relocation", "elftools.elf.gnuversions",
             "elftools.elf.hash")


class _Forward:
    """Stands for `name` of the deferred module `module`, until first called."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _undefer()
        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<deferred {self.module}.{self.name}>"


class _Deferred(types.ModuleType):
    """A stand-in for one of _DEFERRED while elftools.elf.elffile is imported."""

    def __getattr__(self, name: str) -> _Forward:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Forward(self.__name__, name)


def _undefer() -> None:
    """Import the deferred modules; replace every _Forward in pyelftools by the real name."""
    for module in [m for name, m in sys.modules.items() if name.startswith("elftools.")]:
        for name, value in list(vars(module).items()):
            if isinstance(value, _Forward):
                setattr(module, name, getattr(importlib.import_module(value.module),
                                              value.name))


def _import_elffile() -> types.ModuleType:
    """elftools.elf.elffile, imported without the modules in _DEFERRED if it is not yet."""
    loaded = sys.modules.get("elftools.elf.elffile")
    if loaded is not None:
        return loaded
    before = set(sys.modules)
    stand_ins = {name: _Deferred(name) for name in _DEFERRED if name not in sys.modules}
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module("elftools.elf.elffile")
    except Exception:  # noqa: BLE001 - any failure: forget the guarded import, do it plainly
        for name in set(sys.modules) - before:
            if name.startswith("elftools."):
                del sys.modules[name]
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return importlib.import_module("elftools.elf.elffile")


_elffile = _import_elffile()
ELFFile = _elffile.ELFFile
ELFStructs = _elffile.ELFStructs


# ---- mapping ----

def map_file(path: str) -> tuple[mmap.mmap, tuple[int, ...]]:
    """Map the file read-only; returns the mapping and the file's identity."""
    try:
        # O_NONBLOCK: opening a FIFO must fail the S_ISREG check below, not hang.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise ImageError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{path}: not a regular file")
        if st.st_size == 0:
            raise ImageError(f"{path}: empty file, not an ELF image")
        # mmap keeps its own duplicate of the descriptor; ours closes below.
        data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ImageError(f"{path}: cannot map: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return data, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


# ---- validation (Guest ABI v1, "Image") ----

def _parse(data: mmap.mmap, stamp: tuple[int, ...], path: str, memory_bytes: int) -> Image:
    size = len(data)
    try:
        header = multiboot.find_header(data)
        if header is not None and header.has_addresses:
            # QEMU's loader: the header's addresses say it all, ELF or not.
            segment, entry = _kludge(header, size, memory_bytes)
            return Image(path, entry, (segment,), memory_bytes, stamp, ENTRY_KLUDGE, header)
        elf = _check_header(data, size)
        entry = elf["e_entry"]
        segments = _read_segments(elf, size, memory_bytes)
        _check_overlap(segments)
        _check_entry(entry, segments)
    except (_Refused, multiboot.Refused) as exc:
        raise ImageError(f"{path}: {exc}") from None
    return Image(path, entry, segments, memory_bytes, stamp, ENTRY_ELF, header)


def _kludge(header: multiboot.Header, size: int, memory_bytes: int) -> tuple[Segment, int]:
    """The one segment and the entry point the a.out kludge describes."""
    k = multiboot.kludge_layout(header, size)
    seg = Segment(0, k.load_addr, k.load_addr, k.filesz, k.memsz, PF_R | PF_W | PF_X, k.offset)
    where = f"{header.where()}: load_addr {seg.paddr:#010x}"
    if seg.paddr < IMAGE_BASE:
        raise _Refused(f"{where} lies below 1 MiB")
    if seg.end > memory_bytes:
        raise _Refused(f"{where}: the image ends at {seg.end:#010x}, past the end of guest RAM "
                       f"({_size_str(memory_bytes)})")
    if not seg.paddr <= k.entry < max(seg.end, seg.paddr + 1):
        raise _Refused(f"{header.where()}: entry_addr {k.entry:#010x} is not inside the loaded "
                       f"image {_range_str(seg)}")
    return seg, k.entry


class _Refused(Exception):
    """A problem found while checking; becomes an ImageError naming the file."""


class _ELF32File(ELFFile):
    """pyelftools' ELFFile, with its struct definitions built once per layout.

    Building the construct structs is what makes ELFFile() slow (about 1 ms,
    the whole start-to-exit budget of a small guest); parsing with them is
    quick.  They depend only on the byte order, class, e_type, e_machine and
    OS ABI, so they are cached on those.
    """

    _structs: dict[tuple, ELFStructs] = {}

    def __init__(self, stream):  # noqa: D107 - mirrors ELFFile.__init__
        self.stream = stream
        self.stream.seek(0, os.SEEK_END)
        self.stream_len = self.stream.tell()
        self._identify_file()
        layout = (self.little_endian, self.elfclass)
        self.structs = self._basic(layout)
        self.header = self._parse_elf_header()
        key = (*layout, self["e_type"], self["e_machine"], self["e_ident"]["EI_OSABI"])
        structs = self._structs.get(key)
        if structs is None:
            structs = ELFStructs(little_endian=self.little_endian, elfclass=self.elfclass)
            structs.create_basic_structs()
            structs.create_advanced_structs(*key[2:])
            self._structs[key] = structs
        self.structs = structs
        self.stream.seek(0)
        self.e_ident_raw = self.stream.read(16)
        self.stream_loader = None

    @classmethod
    def _basic(cls, layout: tuple) -> ELFStructs:
        structs = cls._structs.get(layout)
        if structs is None:
            structs = ELFStructs(little_endian=layout[0], elfclass=layout[1])
            structs.create_basic_structs()
            cls._structs[layout] = structs
        return structs


def open_elf(data: mmap.mmap) -> ELFFile:
    """pyelftools over the mapping (no copy); the plain ELFFile if our fast
    path no longer fits the installed pyelftools."""
    try:
        return _ELF32File(data)
    except AttributeError:
        data.seek(0)
        return ELFFile(data)


def _check_header(data: mmap.mmap, size: int) -> ELFFile:
    """Check the ELF identification and header; returns the parsed file."""
    if data[:4] != _ELF_MAGIC:
        raise _Refused("not an ELF file (no \\x7fELF magic)")
    if size < 6:
        raise _Refused(f"truncated ELF header ({size} bytes)")
    if data[4] == _ELFCLASS64:
        raise _Refused("64-bit ELF (ELFCLASS64); hv runs 32-bit (ELFCLASS32) images")
    if data[4] != _ELFCLASS32:
        raise _Refused(f"unknown ELF class {data[4]}; hv runs 32-bit (ELFCLASS32) images")
    if data[5] != _ELFDATA2LSB:
        raise _Refused("big-endian ELF; hv runs little-endian (ELFDATA2LSB) i386 images")
    if size < _EHDR_SIZE:
        raise _Refused(f"truncated ELF header ({size} of {_EHDR_SIZE} bytes)")
    try:
        elf = open_elf(data)
    except (ELFError, struct.error, ValueError) as exc:
        raise _Refused(f"unreadable ELF header: {exc}") from None
    e_type, machine = elf["e_type"], elf["e_machine"]
    if e_type != "ET_EXEC":
        hint = " (a PIE or shared object; link with -static -no-pie)" if e_type == "ET_DYN" else ""
        raise _Refused(f"ELF type {e_type}{hint}; hv runs ET_EXEC images only")
    if machine != "EM_386":
        raise _Refused(f"machine {machine}; hv runs EM_386 (i386) images only")
    phnum, phoff, phentsize = elf["e_phnum"], elf["e_phoff"], elf["e_phentsize"]
    if phnum == 0:
        raise _Refused("no PT_LOAD segment (the image has no program headers)")
    if phnum == _PN_XNUM:
        raise _Refused("extended program header numbering (PN_XNUM) is not supported")
    if phentsize != _PHDR_SIZE:
        raise _Refused(f"program header entry size {phentsize}; ELF32 uses {_PHDR_SIZE}")
    if phoff + phnum * _PHDR_SIZE > size:
        raise _Refused(f"truncated: {phnum} program headers at offset {phoff:#x} run past "
                       f"the end of the file ({size} bytes)")
    return elf


def _read_segments(elf: ELFFile, size: int, memory_bytes: int) -> tuple[Segment, ...]:
    segments = []
    for index in range(elf["e_phnum"]):
        ph = elf.get_segment(index).header
        # An empty PT_LOAD places nothing, so it cannot break the layout.
        if ph["p_type"] != "PT_LOAD" or ph["p_memsz"] == 0:
            continue
        seg = Segment(index, ph["p_paddr"], ph["p_vaddr"], ph["p_filesz"], ph["p_memsz"],
                      ph["p_flags"], ph["p_offset"])
        _check_segment(seg, size, memory_bytes)
        segments.append(seg)
    if not segments:
        raise _Refused("no PT_LOAD segment")
    return tuple(segments)


def _check_segment(seg: Segment, size: int, memory_bytes: int) -> None:
    where = f"segment {seg.index} at {seg.paddr:#010x}"
    if seg.filesz > seg.memsz:
        raise _Refused(f"{where}: p_filesz {seg.filesz:#x} exceeds p_memsz {seg.memsz:#x}")
    if seg.offset + seg.filesz > size:
        raise _Refused(f"{where}: file data {seg.offset:#x}..{seg.offset + seg.filesz:#x} lies "
                       f"past the end of the file ({size} bytes; truncated?)")
    if seg.end > _U32:
        raise _Refused(f"{where}: p_paddr + p_memsz ({seg.paddr:#x} + {seg.memsz:#x}) "
                       "overflows 32 bits")
    if seg.paddr < IMAGE_BASE:
        raise _Refused(f"{where} lies below 1 MiB")
    if seg.end > memory_bytes:
        raise _Refused(f"{where} ends at {seg.end:#010x}, past the end of guest RAM "
                       f"({_size_str(memory_bytes)})")


def _check_overlap(segments: tuple[Segment, ...]) -> None:
    ordered = sorted(segments, key=lambda seg: seg.paddr)
    for low, high in zip(ordered, ordered[1:], strict=False):
        if low.end > high.paddr:
            first, second = sorted((low, high), key=lambda seg: seg.index)
            raise _Refused(f"segments {first.index} and {second.index} overlap "
                           f"({_range_str(first)} and {_range_str(second)})")


def _check_entry(entry: int, segments: tuple[Segment, ...]) -> None:
    for seg in segments:
        if seg.paddr <= entry < seg.end:
            if not seg.executable:
                raise _Refused(f"entry point {entry:#010x} lies in segment {seg.index}, "
                               f"which is not executable (flags {seg.flags_str})")
            return
    raise _Refused(f"entry point {entry:#010x} is not inside any loaded segment")


def _range_str(seg: Segment) -> str:
    return f"{seg.paddr:#010x}..{seg.end:#010x}"


def _size_str(nbytes: int) -> str:
    return f"{nbytes >> 20} MiB" if nbytes % (1 << 20) == 0 else f"{nbytes} bytes"


# ---- symbols ----

def _read_symbols(path: str) -> dict[str, int]:
    from elftools.elf.sections import SymbolTableSection

    data, _ = map_file(path)
    table: dict[str, int] = {}
    try:
        for section in ELFFile(data).iter_sections():
            if not isinstance(section, SymbolTableSection):
                continue
            for sym in section.iter_symbols():
                info = sym["st_info"]
                if not sym.name or info["type"] in ("STT_FILE", "STT_SECTION"):
                    continue
                # A global wins over a local of the same name (e.g. a static helper).
                if sym.name not in table or info["bind"] == "STB_GLOBAL":
                    table[sym.name] = sym["st_value"]
    except (ELFError, struct.error, ValueError) as exc:
        raise ImageError(f"{path}: cannot read the symbol table: {exc}") from None
    finally:
        data.close()
    return table
