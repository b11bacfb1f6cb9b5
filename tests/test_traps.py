"""Trap guests: faults with no guest gate kill the guest with an exact reason.

Guest ABI v1, "Faults": the reason names the vector and the EIP of the
faulting or trapping instruction; #PF also names cr2, and #UD the instruction
bytes.  Each trap guest in images/traps/ marks its faulting instruction with a
global label fault_<op>; the expected EIP is read from the ELF symbol table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from test_conformance import load_build_module

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "images"
TIMEOUT = 60
RAM_MIB = 64

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is needed to build the trap guests"
)


@pytest.fixture(scope="session")
def trap_images() -> Path:
    build = load_build_module()
    if build is None:
        pytest.skip("images/build.py is missing")
    report = build.build_all(kinds=["traps"])
    if not report.ok:
        details = "\n\n".join(f"{job.name}:\n{error}" for job, error in report.failed)
        pytest.fail(f"trap images failed to build:\n{details}", pytrace=False)
    return IMAGES / "build"


@pytest.fixture(scope="module")
def hv(native):
    """The hv package, once the conftest's `native` fixture has found the extension."""
    import hv

    return hv


def symbol(image: Path, name: str) -> int:
    with open(image, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        found = symtab.get_symbol_by_name(name) if symtab else None
    assert found, f"{image.name} has no symbol {name}"
    return found[0]["st_value"]


def run(hv, image: Path, cmdline: str = "", **kwargs):
    guest = hv.Guest(str(image), memory_mib=RAM_MIB, cmdline=cmdline)
    return guest.run(timeout=TIMEOUT, **kwargs)


def assert_killed(ex, reason: str, *, prefix: bool = False) -> None:
    assert ex.status is None, f"guest exited with {ex.status}; console: {bytes(ex.console)!r}"
    if prefix:
        assert ex.reason is not None and ex.reason.startswith(reason), ex.reason
    else:
        assert ex.reason == reason
    assert b"survived" not in bytes(ex.console)


@pytest.mark.parametrize("op", ["div8", "div16", "div32", "idiv8", "idiv16", "idiv32", "quot32"])
def test_divide_error(hv, trap_images, op):
    image = trap_images / "trap_de.elf"
    ex = run(hv, image, f"op={op}")
    assert bytes(ex.console).startswith(f"trigger {op}\n".encode())
    assert_killed(ex, f"unhandled #DE at eip=0x{symbol(image, 'fault_' + op):08x}")


def test_invalid_opcode_ud2(hv, trap_images):
    image = trap_images / "trap_ud.elf"
    ex = run(hv, image, "op=ud2")
    assert_killed(ex, f"unhandled #UD at eip=0x{symbol(image, 'fault_ud2'):08x} bytes=0f 0b")


@pytest.mark.parametrize(("op", "bytes_"), [("0f04", "0f 04"), ("lockreg", "f0 01 c8")])
def test_invalid_opcode_bytes(hv, trap_images, op, bytes_):
    """The reason starts with the undefined instruction's bytes."""
    image = trap_images / "trap_ud.elf"
    ex = run(hv, image, f"op={op}")
    eip = symbol(image, f"fault_{op}")
    assert_killed(ex, f"unhandled #UD at eip=0x{eip:08x} bytes={bytes_}", prefix=True)


@pytest.mark.parametrize(("op", "vector"), [("int3", "#BP"), ("int3long", "#BP"),
                                            ("into", "#OF")])
def test_breakpoint_and_overflow(hv, trap_images, op, vector):
    image = trap_images / "trap_softint.elf"
    ex = run(hv, image, f"op={op}")
    assert_killed(ex, f"unhandled {vector} at eip=0x{symbol(image, 'fault_' + op):08x}")
    if op == "into":
        assert b"into with OF clear did not trap\n" in bytes(ex.console)


def test_int80_without_gate(hv, trap_images):
    image = trap_images / "trap_softint.elf"
    ex = run(hv, image, "op=int80")
    assert_killed(ex, f"unhandled int 0x80 at eip=0x{symbol(image, 'fault_int80'):08x}")


@pytest.mark.parametrize(("op", "cr2"), [("load", 0x08000000), ("store", 0x08000000),
                                         ("movsb", RAM_MIB << 20)])
def test_page_fault_outside_ram(hv, trap_images, op, cr2):
    image = trap_images / "trap_pf.elf"
    ex = run(hv, image, f"op={op}")
    eip = symbol(image, f"fault_{op}")
    assert_killed(ex, f"unhandled #PF at eip=0x{eip:08x} cr2=0x{cr2:08x}")


def test_page_fault_on_fetch(hv, trap_images):
    ex = run(hv, trap_images / "trap_pf.elf", "op=exec")
    assert_killed(ex, "unhandled #PF at eip=0x08000000 cr2=0x08000000")


def test_hlt_with_interrupts_off(hv, trap_images):
    ex = run(hv, trap_images / "trap_hlt.elf")
    assert ex.status is None
    assert ex.reason is not None and "hlt" in ex.reason
    assert b"survived" not in bytes(ex.console)


def test_self_modifying_code(hv, trap_images):
    ex = run(hv, trap_images / "trap_smc.elf")
    assert ex.reason is None and ex.status == 0
    assert bytes(ex.console) == (
        b"smc 1: 11111111 -> 22222222\n"
        b"smc 2: c2ec8096 last 15\n"
        b"smc 3: 00000042\n"
        b"smc 4: 55\n"
    )


def _icount(hv, trap_images, extra: int) -> int:
    ex = run(hv, trap_images / "trap_icount.elf", f"extra={extra}")
    assert ex.reason is None and ex.status == 0
    if not ex.instructions:
        pytest.skip("this switcher does not count instructions")
    return ex.instructions


def test_instruction_count_is_exact(hv, trap_images):
    base = _icount(hv, trap_images, 0)
    assert _icount(hv, trap_images, 0) == base, "the count is not deterministic"
    assert _icount(hv, trap_images, 1) - base == 1000      # 1000 nops
    assert _icount(hv, trap_images, 2) - base == 2001      # mov + 1000 x (dec, jnz)
    assert _icount(hv, trap_images, 3) - base == 2000      # 500 x 4 instructions


def test_instruction_budget_kills_with_timeout(hv, trap_images):
    ex = run(hv, trap_images / "trap_icount.elf", "extra=9", max_instructions=100_000)
    assert ex.status is None
    assert ex.reason == "timeout"


@pytest.mark.parametrize(("op", "label"), [("ts", "fault_ts"), ("em", "fault_em"),
                                           ("wait_ts", "fault_wait_ts")])
def test_fpu_not_available(hv, trap_images, op, label):
    """CR0.TS or CR0.EM: x87 instructions raise #NM; FWAIT only with MP and TS."""
    image = trap_images / "trap_fpu.elf"
    ex = run(hv, image, f"op={op}")
    assert_killed(ex, f"unhandled #NM at eip=0x{symbol(image, label):08x}")


def test_fpu_unmasked_exception_is_deferred_to_the_next_waiting_instruction(hv, trap_images):
    """With CR0.NE, an unmasked zero divide stays pending (FNSTSW shows ES and
    ZE without waiting) and the next waiting x87 instruction raises #MF."""
    image = trap_images / "trap_fpu.elf"
    ex = run(hv, image, "op=mf")
    assert_killed(ex, f"unhandled #MF at eip=0x{symbol(image, 'fault_mf'):08x}")


def test_fpu_legacy_error_reporting_through_irq13(hv, trap_images):
    """CR0.NE clear: the waiting instruction asserts FERR# (IRQ 13) instead of
    running; the handler writes port 0xF0 and clears the exception, and the
    instruction then runs (one interrupt, the status word clean)."""
    ex = run(hv, trap_images / "trap_fpu.elf", "op=irq13")
    assert ex.status == 0, ex.reason
    assert b"irq13: status b884\nafter: status 3800, 1 interrupt(s)\n" in bytes(ex.console)


def test_fpu_ignne_lets_instructions_run_with_the_exception_pending(hv, trap_images):
    ex = run(hv, trap_images / "trap_fpu.elf", "op=ignne")
    assert ex.status == 0, ex.reason
    assert b"irq13: status b884\nafter: status b884, 1 interrupt(s)\n" in bytes(ex.console)


def test_fpu_ferr_with_interrupts_off_stops_the_guest(hv, trap_images):
    image = trap_images / "trap_fpu.elf"
    ex = run(hv, image, "op=frozen")
    assert_killed(ex, f"unsupported at eip=0x{symbol(image, 'fault_frozen'):08x}: frozen on FERR#",
                  prefix=True)


def test_fpu_masked_exception_does_not_fault(hv, trap_images):
    image = trap_images / "trap_fpu.elf"
    ex = run(hv, image, "op=nomf")
    assert ex.reason is None, ex.reason
    assert ex.status == 0
    assert b"no fault: status 3804\n" in bytes(ex.console)    # ZE, TOP 7


@pytest.mark.parametrize(("op", "vector"), [
    ("nofxsr", "#UD"), ("em", "#UD"), ("mmx_em", "#UD"), ("ts", "#NM"), ("mmx_ts", "#NM"),
    ("mmx_mf", "#MF"), ("align", "#GP"), ("xm_ud", "#UD"), ("ldmxcsr", "#GP"),
    ("fxsave", "#GP"),
])
def test_sse_and_mmx_faults(hv, trap_images, op, vector):
    """CR4.OSFXSR, CR0.EM/TS, a pending x87 exception, alignment, an unmasked
    SIMD exception without CR4.OSXMMEXCPT, and reserved MXCSR bits."""
    image = trap_images / "trap_sse.elf"
    ex = run(hv, image, f"op={op}")
    label = "fault_xm" if op == "xm_ud" else f"fault_{op}"
    assert_killed(ex, f"unhandled {vector} at eip=0x{symbol(image, label):08x}",
                  prefix=vector == "#UD")


def test_sse_unaligned_forms_do_not_fault(hv, trap_images):
    ex = run(hv, trap_images / "trap_sse.elf", "op=unalign")
    assert ex.status == 0, ex.reason
    assert b"no fault\n" in bytes(ex.console)


def test_sse_unmasked_exception_raises_xm_with_the_destination_unchanged(hv, trap_images):
    """ZE unmasked: DIVSS by zero raises #XM (the handler runs), XMM0 still
    holds 1.0 and MXCSR has ZE set, as the CPU reports it."""
    ex = run(hv, trap_images / "trap_sse.elf", "op=xm")
    assert ex.status == 0, ex.reason
    assert b"#XM\nmxcsr 00001d84 xmm0 3f800000\n" in bytes(ex.console)


def test_sse_masked_exception_gives_infinity(hv, trap_images):
    ex = run(hv, trap_images / "trap_sse.elf", "op=xm_masked")
    assert ex.status == 0, ex.reason
    assert b"mxcsr 00001f84 xmm0 7f800000\n" in bytes(ex.console)
