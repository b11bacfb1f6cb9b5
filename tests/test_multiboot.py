"""The multiboot v1 header and its a.out kludge (flag bit 16), loaded as
QEMU's `-kernel` loader does: hv.multiboot, hv.elf, `hv info`, and a
differential run of the same kernel under real QEMU.
"""

from __future__ import annotations

import shutil
import struct

import pytest
from conftest import elf32, port_program, run_qemu, segment

import hv
from hv import cli

MAGIC = 0x1BADB002
KLUDGE = 1 << 16
BASE = 0x100000


def header(flags: int = KLUDGE, *, header_addr: int = BASE, load_addr: int = BASE,
           load_end: int = 0, bss_end: int = 0, entry: int = BASE + 32,
           checksum: int | None = None) -> bytes:
    if checksum is None:
        checksum = (-(MAGIC + flags)) & 0xFFFFFFFF
    return struct.pack("<8I", MAGIC, flags, checksum, header_addr, load_addr, load_end, bss_end,
                       entry)


def raw_kernel(text: bytes = b"K\n", status: int = 7, **fields) -> bytes:
    """Not an ELF file: a multiboot header at offset 0, then code right after it."""
    return header(**fields) + port_program(text, status)


def test_raw_kernel_with_the_kludge_runs(elf):
    ex = hv.run(elf.write("k.bin", raw=raw_kernel()), timeout=10)
    assert (ex.status, ex.console) == (7, b"K\n")


def test_kludge_entry_wins_over_the_elf_entry(elf):
    """An ELF file whose multiboot header sets bit 16: QEMU enters at
    entry_addr, not e_entry (e_entry here points at code that exits 1)."""
    good = port_program(b"entry_addr\n", 0)
    bad = port_program(b"e_entry\n", 1)
    # ELF header + 1 phdr = 84 bytes; pad to put the multiboot header at 0x60.
    pad = bytes(0x60 - 84)
    body = bytearray(pad + bytes(32) + good + bad)
    image = elf32([segment(BASE, bytes(body))], entry=BASE + 0x60 + 32 + len(good))
    # The segment's data starts at file offset 84 = physical BASE.
    hdr_at = 0x60
    image = bytearray(image)
    image[hdr_at:hdr_at + 32] = header(header_addr=BASE + hdr_at - 84, load_addr=BASE,
                                       load_end=BASE + len(image) - 84,
                                       entry=BASE + hdr_at - 84 + 32)
    path = elf.write("both.elf", raw=bytes(image))
    loaded = hv.load_image(path)
    assert loaded.entry_source == hv.elf.ENTRY_KLUDGE
    assert loaded.entry == BASE + hdr_at - 84 + 32
    ex = hv.run(path, timeout=10)
    assert (ex.status, ex.console) == (0, b"entry_addr\n")


def test_without_bit_16_the_elf_headers_count(elf):
    code = port_program(b"elf\n", 3)
    mb = struct.pack("<3I", MAGIC, 3, (-(MAGIC + 3)) & 0xFFFFFFFF)
    path = elf.write(segments=[segment(BASE, mb + code)], entry=BASE + 12)
    image = hv.load_image(path)
    assert image.entry_source == hv.elf.ENTRY_ELF and image.multiboot.flags == 3
    assert hv.run(path, timeout=10).console == b"elf\n"


def test_bss_is_zeroed_up_to_bss_end(elf):
    kernel = raw_kernel(bss_end=BASE + 0x3000)
    image = hv.load_image(elf.write("k.bin", raw=kernel))
    (seg,) = image.segments
    assert (seg.paddr, seg.filesz, seg.memsz, seg.offset) == (BASE, len(kernel), 0x3000, 0)


def test_header_not_at_the_start_of_the_load(elf):
    """header_addr - load_addr says how far into the load the header is."""
    lead = port_program(b"lead\n", 5)
    lead += bytes(-len(lead) % 4)
    kernel = lead + header(header_addr=BASE + len(lead), entry=BASE)
    ex = hv.run(elf.write("k.bin", raw=kernel), timeout=10)
    assert (ex.status, ex.console) == (5, b"lead\n")


def test_a_bad_checksum_is_skipped_for_a_good_header(elf):
    kernel = header(checksum=1) + raw_kernel(header_addr=BASE + 32, entry=BASE + 64)
    ex = hv.run(elf.write("k.bin", raw=kernel), timeout=10)
    assert (ex.status, ex.console) == (7, b"K\n")


@pytest.mark.parametrize(("kernel", "message"), [
    (header(checksum=5) + port_program(),
     "multiboot header at file offset 0x0: checksum 0x00000005 is wrong (magic + flags + "
     "checksum = 0x1baeb007, not 0)"),
    (raw_kernel(load_addr=BASE + 0x1000),
     "multiboot header at file offset 0x0: load_addr 0x00101000 is above header_addr 0x00100000"),
    (raw_kernel(header_addr=BASE + 0x100),
     "multiboot header at file offset 0x0: header_addr - load_addr = 0x100 puts the start of "
     "the load before the start of the file (the header is at 0x0)"),
    (raw_kernel(load_end=BASE - 4, load_addr=BASE - 8, header_addr=BASE - 8),
     "multiboot header at file offset 0x0: load_addr 0x000ffff8 lies below 1 MiB"),
    (raw_kernel(load_end=BASE + 0x10000),
     "multiboot header at file offset 0x0: load_addr..load_end_addr needs 0x10000 bytes of the "
     "file from offset 0x0, past its end (45 bytes)"),
    (raw_kernel(load_end=BASE + 8, load_addr=BASE + 16, header_addr=BASE + 16),
     "multiboot header at file offset 0x0: load_end_addr 0x00100008 is below load_addr "
     "0x00100010"),
    (raw_kernel(bss_end=BASE + 4),
     "multiboot header at file offset 0x0: bss_end_addr 0x00100004 is below the end of the "
     "loaded data 0x0010002d"),
    (raw_kernel(entry=BASE + 0x5000),
     "multiboot header at file offset 0x0: entry_addr 0x00105000 is not inside the loaded "
     "image 0x00100000..0x0010002d"),
    (raw_kernel(bss_end=0x08000000),
     "multiboot header at file offset 0x0: load_addr 0x00100000: the image ends at 0x08000000, "
     "past the end of guest RAM (64 MiB)"),
    (struct.pack("<3I", MAGIC, KLUDGE, (-(MAGIC + KLUDGE)) & 0xFFFFFFFF) + b"\0" * 8,
     "multiboot header at file offset 0x0: flag bit 16 is set but the address fields (32 "
     "bytes) run past the end of the file (20 bytes)"),
])
def test_bad_headers_are_refused_naming_the_field(elf, kernel, message):
    path = elf.write("k.bin", raw=kernel)
    with pytest.raises(hv.ImageError) as info:
        hv.load_image(path)
    assert str(info.value) == f"{path}: {message}"


def test_no_header_and_no_elf_is_still_not_an_elf(elf):
    path = elf.write("k.bin", raw=port_program())
    with pytest.raises(hv.ImageError, match=r"not an ELF file \(no \\x7fELF magic\)"):
        hv.load_image(path)


def test_info_says_which_entry_and_why(elf, capsys):
    path = elf.write("k.bin", raw=raw_kernel())
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "entry:    0x00100020, from the multiboot header entry_addr (flag bit 16" in out
    assert "multiboot: header at file offset 0x0, flags 0x00010000: bit 16 is set" in out


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None,
                    reason="qemu-system-i386 is needed (Debian's qemu-system-x86; ./bootstrap)")
def test_raw_kernel_matches_qemu(elf, tmp_path, native):
    """The same file under `qemu-system-i386 -kernel`: same console (debugcon)
    and the same status, in QEMU's isa-debug-exit encoding (v << 1) | 1."""
    path = elf.write("k.bin", raw=raw_kernel(b"hello from a kludge\n", 9))
    qemu = run_qemu(path, tmp_path)
    ex = hv.run(path, timeout=10)
    assert qemu.debugcon == ex.console == b"hello from a kludge\n"
    assert qemu.status == (ex.status << 1) | 1


# ---- boot modules ----

@pytest.fixture(scope="module")
def modules_guest(native):
    from conftest import BUILD, build_images

    build_images("the modules sample guest", "modules.elf")
    return BUILD / "modules.elf"


def test_modules_are_loaded_after_the_kernel(modules_guest, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.bin"
    a.write_bytes(b"first module data")
    b.write_bytes(bytes(range(256)) * 40)
    ex = hv.run(modules_guest, modules=[(a, "root=/dev/x"), b], timeout=10)
    assert ex.status == 0
    assert ex.console.decode().splitlines() == [
        "2 modules",
        f"module 0: '{a} root=/dev/x' 17 bytes, page aligned: yes, starts 'first module dat'",
        f"module 1: '{b}' 10240 bytes, page aligned: yes, starts '................'",
    ]


def test_no_modules(modules_guest):
    assert hv.run(modules_guest, timeout=10).console == b"no modules\n"


def test_module_errors(modules_guest, tmp_path):
    with pytest.raises(hv.ImageError, match=r"module .*nope: cannot open: No such file"):
        hv.Guest(modules_guest, modules=[tmp_path / "nope"])
    big = tmp_path / "big"
    big.write_bytes(bytes(3 << 20))
    with pytest.raises(hv.ImageError, match=r"module 0 \(.*big, 3145728 bytes\) does not fit "
                                            r"in guest RAM"):
        hv.run(modules_guest, memory_mib=2, modules=[big])
    with pytest.raises(TypeError, match="modules must be a list"):
        hv.Guest(modules_guest, modules=str(big))


def test_cli_module_option(modules_guest, tmp_path, capfd):
    m = tmp_path / "m"
    m.write_bytes(b"xyz")
    assert cli.main(["run", "--module", f"{m},a b,c", str(modules_guest)]) == 0
    assert f"module 0: '{m} a b,c' 3 bytes" in capfd.readouterr().out
    assert cli.main(["run", "--module", str(tmp_path / "missing"), str(modules_guest)]) == 2
    assert "hv: error: module" in capfd.readouterr().err
