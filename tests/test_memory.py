"""Checked guest memory through hv._native.Machine: read, write, load.

Every access goes through the host's range check, which must refuse any
byte outside RAM and catch `addr + len` wrapping past 32 bits.
"""

from __future__ import annotations

import mmap

import pytest

MIB = 1 << 20
RAM = 4 * MIB


@pytest.fixture
def machine(native):
    return native.Machine(RAM)


# ---- construction ----

def test_memory_size(native):
    assert native.Machine(RAM).memory_size == RAM
    assert native.Machine(2 * MIB).memory_size == 2 * MIB


@pytest.mark.parametrize("size", [2 * MIB + 1, 2 * MIB - 4096, 3 * 1024 * MIB + 4096, 0])
def test_bad_memory_sizes_are_refused(native, size):
    with pytest.raises(ValueError, match="memory_bytes"):
        native.Machine(size)


def test_unknown_switcher_is_refused(native):
    with pytest.raises(ValueError, match="switcher"):
        native.Machine(RAM, "no-such-switcher")


def test_largest_guest_is_mapped_lazily(native):
    """3 GiB of RAM costs nothing until touched; the last byte reads as zero."""
    big = native.Machine(3072 * MIB)
    assert big.read(3072 * MIB - 1, 1) == b"\0"


# ---- read and write ----

def test_read_write_in_range(machine):
    machine.write(0x100000, b"hello")
    assert machine.read(0x100000, 5) == b"hello"
    machine.write(0, b"\xaa")
    assert machine.read(0, 1) == b"\xaa"
    assert machine.read(0x200000, 4) == b"\0\0\0\0"     # fresh RAM is zero


def test_last_bytes_of_ram(machine):
    machine.write(RAM - 4, b"\x01\x02\x03\x04")
    assert machine.read(RAM - 4, 4) == b"\x01\x02\x03\x04"
    assert machine.read(RAM - 1, 1) == b"\x04"


def test_write_accepts_any_buffer(machine):
    machine.write(0x1000, bytearray(b"ab"))
    machine.write(0x1002, memoryview(b"cd"))
    assert machine.read(0x1000, 4) == b"abcd"


@pytest.mark.parametrize(("addr", "length"), [(RAM, 1), (RAM - 1, 2), (RAM - 3, 4),
                                               (0x80000000, 1), (0, RAM + 1)])
def test_read_beyond_ram_is_refused(machine, addr, length):
    with pytest.raises(ValueError, match=f"0x{addr:08x}"):
        machine.read(addr, length)


@pytest.mark.parametrize(("addr", "length"), [(RAM, 1), (RAM - 1, 2), (0xFFFFF000, 16)])
def test_write_beyond_ram_is_refused(machine, addr, length):
    with pytest.raises(ValueError, match=f"0x{addr:08x}"):
        machine.write(addr, b"x" * length)
    assert machine.read(RAM - 1, 1) == b"\0"          # nothing was written


def test_address_plus_length_overflow_is_refused(machine):
    """0xffffffff + 2 wraps to 1 in 32 bits: a naive check would accept it."""
    with pytest.raises(ValueError, match="0xffffffff"):
        machine.read(0xFFFFFFFF, 2)
    with pytest.raises(ValueError, match="0xffffffff"):
        machine.write(0xFFFFFFFF, b"ab")
    with pytest.raises(ValueError):
        machine.read(1, 0xFFFFFFFF)


def test_values_beyond_32_bits_are_refused(machine):
    with pytest.raises(ValueError, match="32-bit"):
        machine.read(1 << 32, 1)
    with pytest.raises(ValueError, match="32-bit"):
        machine.read(0, 1 << 32)
    with pytest.raises(ValueError, match="32-bit"):
        machine.read(-1, 1)


def test_zero_length(machine):
    assert machine.read(0, 0) == b""
    assert machine.read(RAM, 0) == b""             # the empty range at the very end
    machine.write(RAM, b"")
    with pytest.raises(ValueError):
        machine.read(RAM + 1, 0)


# ---- load ----

def test_load_zero_fills_up_to_memsz(machine):
    machine.write(0x100000, b"\xff" * 32)
    machine.load(0x100000, b"abc", 16)
    assert machine.read(0x100000, 32) == b"abc" + bytes(13) + b"\xff" * 16


def test_load_from_an_mmap_slice(machine, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        with memoryview(data) as view, view[2:6] as part:
            machine.load(0x100000, part, 4)
    assert machine.read(0x100000, 4) == b"2345"


def test_load_exactly_at_the_end_of_ram(machine):
    machine.load(RAM - 0x1000, b"end", 0x1000)
    assert machine.read(RAM - 0x1000, 3) == b"end"


@pytest.mark.parametrize(("paddr", "memsz"), [(RAM - 0x1000, 0x1001), (RAM, 1),
                                              (0xFFFFF000, 0x2000), (0x100000, RAM)])
def test_load_beyond_ram_is_refused(machine, paddr, memsz):
    with pytest.raises(ValueError, match=f"0x{paddr:08x}"):
        machine.load(paddr, b"", memsz)


def test_load_with_more_data_than_memsz_is_refused(machine):
    with pytest.raises(ValueError, match="memsz"):
        machine.load(0x100000, b"abcdef", 4)
    assert machine.read(0x100000, 6) == bytes(6)
