"""Guest ABI v1, the full host: gates, frames and double faults.

Guests: images/host/gates.c and images/host/dfault.c (see their headers for
the scenarios).  The contract is DESIGN.md "Guest ABI v1: the full host" and
the issue 8 spec: LOAD_IDT_ENTRY's return values, the frame pushed at ring 0
on the current stack ([ESP] = error code for 8, 10-14, 17, then EIP, CS,
EFLAGS), the return EIP of faults vs traps, IF after an interrupt vs a trap
gate, and #DF / triple fault when pushing a frame faults.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("host_abi")

from host_abi import assert_exits, assert_killed, needs_gcc, rec, run, symbol  # noqa: E402

pytestmark = needs_gcc

FL = 0x4293          # NT IF SF AF CF: what gates.c puts in EFLAGS before each trap
FL_INTR = 0x0093     # ... inside an interrupt-gate handler (IF and NT cleared)
FL_TRAP = 0x0293     # ... inside a trap-gate handler (NT cleared)


@pytest.fixture(scope="module")
def gates(host_images) -> Path:
    return host_images / "host_gates.elf"


@pytest.fixture(scope="module")
def dfault(host_images) -> Path:
    return host_images / "host_dfault.elf"


def test_load_idt_entry_return_values(hv, gates):
    ex = run(hv, gates, "op=retvals")
    assert_exits(ex, [
        "op retvals",
        "load intr 0x40 = 0",
        "load trap 0x41 = 0",
        "load vector 0 = 0",
        "load vector 255 = 0",
        "load dpl 3 = 0",
        "load vector 0x1f = -22",
        "load vector 256 = -22",
        "load vector -1 = -22",
        "load type 0x5 = -22",
        "load type 0xc = -22",
        "load type 0x6 = -22",
        "load type 0x7 = -22",
        "load type 0x0 = -22",
        "load type 0x1e = -22",
        "load remove 0x40 = 0",
        "load remove type 0x5 = 0",
        "load remove unused 0x50 = 0",
        "load remove 0x1f = -22",
        "done",
    ])


@pytest.mark.parametrize(("op", "flags_in"), [("int40", FL_INTR), ("int40trap", FL_TRAP)])
def test_int_n_frame_and_gate_type(hv, gates, op, flags_in):
    """int $0x40: no error code, EIP = the next instruction, CS = 0x08, EFLAGS as
    before; an interrupt gate clears IF (and NT), a trap gate leaves IF."""
    ex = run(hv, gates, f"op={op}")
    assert_exits(ex, [
        f"op {op}",
        "gate 0",
        rec("int40", vec=0x40, eip=symbol(gates, "after_int40"), eflags=FL, flags_in=flags_in,
            depth=12),
        "done",
    ])


# op, vector, error code, return EIP label, gate type, EFLAGS before
FAULTS = [
    ("de", 0, None, "fault_de", FL_INTR, FL),
    ("ud", 6, None, "fault_ud", FL_INTR, FL),
    ("gp_ss", 13, 0x18, "fault_gp_ss", FL_INTR, FL),
    ("gp_iret", 13, 0x18, "fault_gp_iret", FL_INTR, 0x0293),
    ("pf_load", 14, 0x0, "fault_pf_load", FL_INTR, FL),
    ("pf_store", 14, 0x2, "fault_pf_store", FL_TRAP, FL),
    ("bp", 3, None, "after_bp", FL_TRAP, FL),
    ("bp_long", 3, None, "after_bp_long", FL_INTR, FL),
    ("of", 4, None, "after_of", FL_INTR | 0x800, FL | 0x800),
]


@pytest.mark.parametrize(("op", "vec", "err", "label", "flags_in", "eflags"), FAULTS,
                         ids=[case[0] for case in FAULTS])
def test_exception_frame(hv, gates, op, vec, err, label, flags_in, eflags):
    """Faults return to the faulting instruction, int3/into to the next one;
    #GP and #PF push an error code (the frame is 16 bytes deep, not 12)."""
    ex = run(hv, gates, f"op={op}")
    line = rec(op, vec=vec, err=err or 0, eip=symbol(gates, label), eflags=eflags,
               flags_in=flags_in,
               depth=12 if err is None else 16)
    expected = [f"op {op}"]
    if op == "pf_load":
        expected += ["init 0", line, "cr2=08000000 gd_cr2=08000000"]
    elif op == "pf_store":
        expected += [line, "cr2=08000004"]
    elif op == "of":
        expected += ["into with OF clear: count=0", line]
    else:
        expected += [line]
    assert_exits(ex, expected + ["done"])


def test_control_registers_at_ring_0(hv, gates):
    """mov to/from CR0, CR2 and CR4 work with paging off: PE set, PG clear."""
    ex = run(hv, gates, "op=cr")
    assert_exits(ex, ["op cr", "cr0=00000001 cr2=12345678 cr4.pse=0", "done"])


def test_removed_gate_is_unhandled_again(hv, gates):
    ex = run(hv, gates, "op=remove")
    assert_killed(ex, f"unhandled #UD at eip=0x{symbol(gates, 'fault_ud_2'):08x} bytes=0f 0b")
    assert ex.console == b"op remove\nhandled: count=1\nremove = 0\n"


def test_int_n_without_its_gate(hv, gates):
    ex = run(hv, gates, "op=nogate")
    assert_killed(ex, f"unhandled int 0x41 at eip=0x{symbol(gates, 'fault_int41'):08x}")
    assert ex.console == b"op nogate\nint 0x40: count=1\n"


# ---- double and triple faults ----

@pytest.mark.parametrize(("op", "reason"), [
    ("nodf", "unhandled #DF at eip=0x{fault_div_bad_stack:08x}"),
    ("triple", "triple fault at eip=0x{fault_div_bad_stack:08x}"),
    ("nogate_stack", "unhandled #DE at eip=0x{fault_div_bad_stack:08x}"),
    ("badsel_nodf", "unhandled #DF at eip=0x{fault_div:08x}"),
    ("badsel_both", "triple fault at eip=0x{fault_div:08x}"),
])
def test_fault_while_delivering(hv, dfault, op, reason):
    """Pushing the #DE frame on a stack outside RAM faults: #DF; with a #DF gate
    the #DF push faults too (same stack): triple fault.  Without a #DE gate
    nothing is pushed, so it is a plain unhandled #DE.  A gate whose selector
    is not 0x08 is a fault while delivering as well."""
    ex = run(hv, dfault, f"op={op}")
    labels = {name: symbol(dfault, name) for name in ("fault_div", "fault_div_bad_stack")}
    assert_killed(ex, reason.format(**labels), f"op {op}\n")


def test_double_fault_handler_runs(hv, dfault):
    """#DE through a gate with selector 0x10: the #DF handler runs on the good
    stack with error code 0 and the EIP the #DE frame would have held."""
    ex = run(hv, dfault, "op=badsel")
    assert_exits(ex, [
        "op badsel",
        "gate 0",
        rec("df", vec=8, err=0, eip=symbol(dfault, "fault_div"), eflags=0x293, flags_in=0x93,
            depth=16),
        "done",
    ])


def test_double_fault_from_int_n(hv, dfault):
    """int $0x40 through a bad selector: #DF with EIP = after the int."""
    ex = run(hv, dfault, "op=badsel_int")
    assert_exits(ex, [
        "op badsel_int",
        "gate 0",
        rec("df", vec=8, err=0, eip=symbol(dfault, "after_int40"), eflags=0x293,
            flags_in=0x93, depth=16),
        "done",
    ])


@pytest.mark.parametrize(("op", "addr"), [("init_outside", 0x08000000), ("init_edge", 0x03fff001)])
def test_init_outside_ram_kills(hv, gates, op, addr):
    ex = run(hv, gates, f"op={op}")
    assert_killed(ex, f"bad guest_data address 0x{addr:08x}")


def test_init_writes_the_clock_at_once(hv, gates):
    ex = run(hv, gates, "op=init_time")
    assert_exits(ex, ["op init_time", "init=0 time_set=1", "done"])
