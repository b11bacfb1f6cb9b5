"""The ELF loader's checks (Guest ABI v1, "Image"): one test per refusal.

Images are written by hand (conftest's `elf` fixture), so these tests need
neither gcc nor the native module.
"""

from __future__ import annotations

import os
import re

import pytest

from hv import Image, ImageError, Segment, load_image
from hv.elf import load_into

MIB = 1 << 20
RAM = 64 * MIB


def refused(path, problem: str, memory_bytes: int = RAM) -> None:
    """load_image(path) must fail with exactly '<path>: <problem>'."""
    with pytest.raises(ImageError) as info:
        load_image(path, memory_bytes)
    assert str(info.value) == f"{path}: {problem}"


def refused_like(path, pattern: str, memory_bytes: int = RAM) -> None:
    with pytest.raises(ImageError) as info:
        load_image(path, memory_bytes)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert re.search(pattern, message), message


# ---- accepted ----

def test_accepts_a_valid_image(elf):
    code = elf.program(b"hi", 3)
    path = elf.write(segments=[
        elf.segment(0x100000, code),
        elf.segment(0x101000, b"\x01\x02", memsz=0x2000, flags=elf.PF_R | elf.PF_W),
    ], entry=0x100000)
    image = load_image(path, RAM)
    assert isinstance(image, Image)
    assert image.path == str(path)
    assert image.entry == 0x100000
    assert image.memory_bytes == RAM
    text, data = image.segments
    assert text == Segment(index=0, paddr=0x100000, vaddr=0x100000, filesz=len(code),
                           memsz=len(code), flags=elf.PF_R | elf.PF_X, offset=52 + 2 * 32)
    assert (data.paddr, data.filesz, data.memsz, data.end) == (0x101000, 2, 0x2000, 0x103000)
    assert text.executable and not data.executable
    assert (text.flags_str, data.flags_str) == ("R-X", "RW-")


def test_accepts_a_pathlike_and_segment_at_the_very_end_of_ram(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program()),
                               elf.segment(RAM - 0x1000, memsz=0x1000, flags=elf.PF_R)])
    assert load_image(path, RAM).segments[1].end == RAM


def test_skips_non_load_and_empty_segments(elf):
    """PT_NOTE and an empty PT_LOAD place nothing, so their addresses do not matter."""
    path = elf.write(segments=[
        elf.segment(0x0, b"note", p_type=elf.PT_NOTE),
        elf.segment(0x1000, memsz=0),
        elf.segment(0x100000, elf.program()),
    ], entry=0x100000)
    image = load_image(path, RAM)
    assert [seg.index for seg in image.segments] == [2]


def test_places_segments_at_paddr_not_vaddr(elf):
    path = elf.write(segments=[elf.segment(0x200000, elf.program(), vaddr=0xC0200000)],
                     entry=0x200000)
    (seg,) = load_image(path, RAM).segments
    assert (seg.paddr, seg.vaddr) == (0x200000, 0xC0200000)


# ---- refused: the file itself ----

def test_refuses_bad_magic(elf):
    refused(elf.write(raw=b"MZ\x90\x00" + bytes(100)), r"not an ELF file (no \x7fELF magic)")


def test_refuses_truncated_header(elf):
    whole = elf.build([elf.segment(0x100000, elf.program())])
    refused(elf.write(raw=whole[:30]), "truncated ELF header (30 of 52 bytes)")
    refused(elf.write(raw=whole[:5]), "truncated ELF header (5 bytes)")


def test_refuses_truncated_program_headers(elf):
    whole = elf.build([elf.segment(0x100000, elf.program())])
    refused(elf.write(raw=whole[:60]), "truncated: 1 program headers at offset 0x34 run past "
            "the end of the file (60 bytes)")


def test_refuses_empty_file(elf):
    refused(elf.write(raw=b""), "empty file, not an ELF image")


def test_refuses_missing_file(tmp_path):
    refused(tmp_path / "nope.elf", "cannot open: No such file or directory")


def test_refuses_a_directory(tmp_path):
    refused(tmp_path, "not a regular file")


def test_refuses_a_fifo_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file")


# ---- refused: the ELF header ----

def test_refuses_elfclass64(elf):
    refused(elf.write(ei_class=2),
            "64-bit ELF (ELFCLASS64); hv runs 32-bit (ELFCLASS32) images")


def test_refuses_big_endian(elf):
    refused(elf.write(ei_data=2),
            "big-endian ELF; hv runs little-endian (ELFDATA2LSB) i386 images")


def test_refuses_et_dyn(elf):
    refused(elf.write(e_type=3), "ELF type ET_DYN (a PIE or shared object; link with -static "
            "-no-pie); hv runs ET_EXEC images only")


def test_refuses_et_rel(elf):
    refused(elf.write(e_type=1), "ELF type ET_REL; hv runs ET_EXEC images only")


def test_refuses_em_x86_64(elf):
    refused(elf.write(machine=62), "machine EM_X86_64; hv runs EM_386 (i386) images only")


def test_refuses_bad_program_header_size(elf):
    refused(elf.write(phentsize=56), "program header entry size 56; ELF32 uses 32")


def test_refuses_no_program_headers(elf):
    refused(elf.write(segments=[]), "no PT_LOAD segment (the image has no program headers)")


def test_refuses_no_pt_load(elf):
    path = elf.write(segments=[elf.segment(0x100000, b"note", p_type=elf.PT_NOTE)])
    refused(path, "no PT_LOAD segment")


# ---- refused: the segments ----

def test_refuses_segment_below_1mib(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program()),
                               elf.segment(0x80000, b"data", flags=elf.PF_R)])
    refused(path, "segment 1 at 0x00080000 lies below 1 MiB")


def test_refuses_segment_past_end_of_ram(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program()),
                               elf.segment(RAM - 0x1000, memsz=0x2000, flags=elf.PF_R)])
    refused(path, "segment 1 at 0x03fff000 ends at 0x04001000, past the end of guest RAM "
            "(64 MiB)")
    # The same image fits a bigger guest: the limit is the RAM size.
    assert load_image(path, 128 * MIB).segments[1].end == RAM + 0x1000


def test_refuses_filesz_greater_than_memsz(elf):
    path = elf.write(segments=[elf.segment(0x100000, b"\x90" * 8 + elf.program(), memsz=4)])
    refused(path, "segment 0 at 0x00100000: p_filesz 0xd exceeds p_memsz 0x4")


def test_refuses_data_past_end_of_file(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program(), filesz=0x1000,
                                           memsz=0x1000)])
    size = os.path.getsize(path)
    refused(path, f"segment 0 at 0x00100000: file data 0x54..0x1054 lies past the end of the "
            f"file ({size} bytes; truncated?)")


def test_refuses_offset_past_end_of_file(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program(), offset=0x10000)])
    refused_like(path, r"segment 0 at 0x00100000: file data 0x10000\.\.0x10005 lies past the end")


def test_refuses_overlapping_segments(elf):
    path = elf.write(segments=[
        elf.segment(0x100000, elf.program(), memsz=0x2000),
        elf.segment(0x101000, b"data", flags=elf.PF_R | elf.PF_W),
    ])
    refused(path, "segments 0 and 1 overlap (0x00100000..0x00102000 and 0x00101000..0x00101004)")


def test_refuses_overlap_regardless_of_header_order(elf):
    path = elf.write(segments=[
        elf.segment(0x300000, b"data", memsz=0x100, flags=elf.PF_R),
        elf.segment(0x100000, elf.program()),
        elf.segment(0x2fff00, b"more", memsz=0x200, flags=elf.PF_R),
    ], entry=0x100000)
    refused(path, "segments 0 and 2 overlap (0x00300000..0x00300100 and 0x002fff00..0x00300100)")


def test_refuses_32_bit_overflow(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program()),
                               elf.segment(0xFFFFF000, memsz=0x2000, flags=elf.PF_R)])
    refused(path, "segment 1 at 0xfffff000: p_paddr + p_memsz (0xfffff000 + 0x2000) "
            "overflows 32 bits", memory_bytes=3072 * MIB)


# ---- refused: the entry point ----

def test_refuses_entry_outside_any_segment(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program())], entry=0x200000)
    refused(path, "entry point 0x00200000 is not inside any loaded segment")


def test_refuses_entry_just_past_a_segment(elf):
    code = elf.program()
    path = elf.write(segments=[elf.segment(0x100000, code)], entry=0x100000 + len(code))
    refused(path, f"entry point {0x100000 + len(code):#010x} is not inside any loaded segment")


def test_refuses_entry_in_non_executable_segment(elf):
    path = elf.write(segments=[
        elf.segment(0x100000, elf.program()),
        elf.segment(0x200000, b"data", flags=elf.PF_R | elf.PF_W),
    ], entry=0x200000)
    refused(path, "entry point 0x00200000 lies in segment 1, which is not executable (flags RW-)")


# ---- load_into: zero copy, and re-checking a changed file ----

class FakeMachine:
    """Records what load_into hands to Machine.load."""

    def __init__(self, memory_size: int = RAM) -> None:
        self.memory_size = memory_size
        self.loads: list[tuple[int, bytes, int, type]] = []

    def load(self, paddr, data, memsz):
        self.loads.append((paddr, bytes(data), memsz, type(data)))


def test_load_into_passes_memoryviews_of_the_file(elf):
    code = elf.program(b"x", 1)
    path = elf.write(segments=[elf.segment(0x100000, code),
                               elf.segment(0x200000, b"abc", memsz=16, flags=elf.PF_R)])
    machine = FakeMachine()
    image = load_image(path, RAM)
    assert load_into(machine, image) is image
    assert machine.loads == [(0x100000, code, len(code), memoryview),
                             (0x200000, b"abc", 16, memoryview)]


def test_load_into_rechecks_a_replaced_file(elf, tmp_path):
    path = elf.write(segments=[elf.segment(0x100000, elf.program(b"", 1))])
    image = load_image(path, RAM)
    replacement = elf.write("new.elf", segments=[elf.segment(0x200000, elf.program(b"", 2))])
    os.replace(replacement, path)
    machine = FakeMachine()
    loaded = load_into(machine, image)
    assert loaded.entry == 0x200000 and loaded is not image
    assert [paddr for paddr, *_ in machine.loads] == [0x200000]


def test_load_into_rechecks_against_the_machines_ram(elf):
    path = elf.write(segments=[elf.segment(0x100000, elf.program()),
                               elf.segment(0x300000, memsz=0x1000, flags=elf.PF_R)])
    image = load_image(path, RAM)
    with pytest.raises(ImageError, match="past the end of guest RAM \\(2 MiB\\)"):
        load_into(FakeMachine(2 * MIB), image)


def test_load_into_refuses_a_file_that_became_invalid(elf):
    path = elf.write()
    image = load_image(path, RAM)
    path.write_bytes(b"garbage, and a different size")
    with pytest.raises(ImageError, match="not an ELF file"):
        load_into(FakeMachine(), image)


# ---- symbols ----

def test_symbols_of_an_image_without_a_symbol_table(elf):
    image = load_image(elf.write(), RAM)
    assert image.symbol("main") is None
    assert dict(image.symbols) == {}


def test_symbols_of_a_built_image(guest_images):
    image = load_image(guest_images / "hello.elf", RAM)
    text = image.segments[0]
    assert text.paddr <= image.symbol("main") < text.end
    assert image.symbol("_start") == image.entry
    assert image.symbol("no_such_symbol") is None
