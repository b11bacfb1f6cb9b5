"""Guest ABI v1, the full host: IRQs, the timer, guest_data and halt.

Guests: images/host/irq.c and images/host/halt.c.  Under the default virtual
clock one retired instruction is one nanosecond (plus time skipped while
halted), and SET_CLOCKEVENT(d) makes IRQ 0 pending after exactly d further
instructions, so the guests can check timing to the instruction: they do the
timing-critical parts in asm and print instruction-count differences.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.register_assert_rewrite("host_abi")

from host_abi import (  # noqa: E402
    assert_exits,
    assert_killed,
    console,
    needs_gcc,
    parse_rec,
    rec,
    run,
    symbol,
)

pytestmark = needs_gcc


@pytest.fixture(scope="module")
def irq(host_images) -> Path:
    return host_images / "host_irq.elf"


@pytest.fixture(scope="module")
def halt(host_images) -> Path:
    return host_images / "host_halt.elf"


def expected_spins(d: int) -> int:
    """irq.c's measure(): after SET_CLOCKEVENT(d) retires come 2 instructions,
    then the loop `incl; testl pending; jz`.  The testl of iteration j (from 0)
    is instruction 4 + 3j; it sees the bit once d instructions have retired
    since the hypercall: 3 + 3j >= d."""
    return max(0, math.ceil((d - 3) / 3)) + 1


@pytest.mark.parametrize("d", [7, 1000, 1001, 1002, 30001])
def test_timer_pending_at_exact_instruction(hv, irq, d):
    """`pending` shows IRQ 0 at the exact instruction count of its deadline
    (with IF=0, no hypercall in the loop); `sti; nop` then delivers it after
    the nop, with time_ns = the clock at delivery and the bit cleared."""
    ex = run(hv, irq, f"op=spin d={d}")
    spins = expected_spins(d)
    text = console(ex)
    assert ex.reason is None, f"{ex.reason}\n{text}"
    lines = text.splitlines()
    assert lines[:3] == ["op spin", "init 0",
                         f"spin: spins={spins} dclock={8 + 3 * spins} count=0 pending=00000001"]
    got = parse_rec(text, "irq")
    assert got["count"] == 1 and got["vec"] == 0x20 and got["err"] == 0
    assert got["eip"] == symbol(irq, "after_shadow")
    assert got["cs"] == 8 and got["depth"] == 12
    assert got["eflags"] & 0x200 and not got["flags_in"] & 0x200
    # the clock read 4 instructions before the delivery: movl, movl, sti, nop
    assert lines[4:] == ["time=4 gd_pending=00000000 pending=00000000", "done"]
    assert ex.status == 0


def test_timer_rearm_replaces_and_fires_once(hv, irq):
    ex = run(hv, irq, "op=rearm")
    spins = expected_spins(1000)
    lines = console(ex).splitlines()
    assert ex.reason is None, ex.reason
    assert lines[2] == f"spin: spins={spins} dclock={8 + 3 * spins} count=0 pending=00000001"
    assert parse_rec(console(ex), "irq")["eip"] == symbol(irq, "after_shadow")
    assert lines[-2:] == ["after: count=1 pending=00000000", "done"]


def irq_line(irq: Path, label: str, *, eflags: int = 0x202, flags_in: int = 0x002,
             depth: int = 0, vec: int = 0x20, what: str = "irq") -> str:
    return rec(what, vec=vec, eip=symbol(irq, label), eflags=eflags, flags_in=flags_in,
               depth=depth)


def assert_irq(ex, irq: Path, label: str, what: str = "irq", vec: int = 0x20,
               depth: int | None = None) -> dict[str, int]:
    got = parse_rec(console(ex), what)
    assert (got["count"], got["vec"], got["eip"], got["cs"]) == (1, vec, symbol(irq, label), 8)
    assert got["err"] == 0
    assert got["eflags"] & 0x200, "the frame's EFLAGS must have IF set"
    assert not got["flags_in"] & 0x200, "an interrupt gate clears IF"
    if depth is not None:
        assert got["depth"] == depth
    return got


def test_blocked_irq_stays_pending_until_unblocked(hv, irq):
    ex = run(hv, irq, "op=blocked")
    assert ex.reason is None, ex.reason
    lines = console(ex).splitlines()
    assert lines[:3] == ["op blocked", "blocked: count=0 pending=00000001", "send=0"]
    assert lines[-2:] == ["pending=00000000", "done"]
    assert_irq(ex, irq, "after_send")


def test_irq_without_gate_stays_pending(hv, irq):
    """No gate for vector 0x20: SEND_INTERRUPTS delivers nothing; installing the
    gate (IF=1) delivers at once, right after LOAD_IDT_ENTRY."""
    ex = run(hv, irq, "op=nogate")
    assert ex.reason is None, ex.reason
    lines = console(ex).splitlines()
    assert lines[:3] == ["op nogate", "nogate: send=0 count=0 pending=00000001",
                         "gate=0 count=1"]
    assert lines[-2:] == ["pending=00000000", "done"]
    assert_irq(ex, irq, "after_gate")


def test_cancel_timer(hv, irq):
    ex = run(hv, irq, "op=cancel")
    assert_exits(ex, ["op cancel", "cancel: 0 0 count=0 pending=00000000", "done"])


@pytest.mark.parametrize(("op", "label"), [("popf", "after_popf"), ("iret", "after_iret")])
def test_setting_if_delivers_at_once(hv, irq, op, label):
    """popf and iret have no interrupt shadow: the pending IRQ comes right after."""
    ex = run(hv, irq, f"op={op}")
    assert_exits(ex, [f"op {op}", irq_line(irq, label, depth=12), "done"])


def test_sti_shadow_covers_one_instruction(hv, irq):
    """`sti; cli` delivers nothing (cli runs in the shadow); `sti; nop` delivers
    after the nop."""
    ex = run(hv, irq, "op=sti_cli")
    assert ex.reason is None, ex.reason
    lines = console(ex).splitlines()
    assert lines[:2] == ["op sti_cli", "sti;cli: count=0 pending=00000001"]
    assert_irq(ex, irq, "after_shadow2")
    assert lines[-1] == "done"


def test_mov_ss_holds_interrupts_off_for_one_instruction(hv, irq):
    """`sti; mov %ax, %ss; nop`: the IRQ waits for the sti's shadow and then
    for the mov to SS's own, so it comes after the nop."""
    ex = run(hv, irq, "op=mov_ss")
    assert ex.reason is None, ex.reason
    assert_irq(ex, irq, "after_ss_shadow")
    assert console(ex).splitlines()[-1] == "done"


def test_send_interrupts_with_if_clear_delivers_nothing(hv, irq):
    ex = run(hv, irq, "op=send_if0")
    assert ex.reason is None, ex.reason
    lines = console(ex).splitlines()
    assert lines[1] == "send with IF=0: send=0 count=0 pending=00000001"
    assert_irq(ex, irq, "after_shadow", depth=12)
    assert lines[-1] == "done"


def test_cli_sti_with_nothing_pending(hv, irq):
    ex = run(hv, irq, "op=clisti")
    assert_exits(ex, ["op clisti", "clisti: send=0 count=0 pending=00000000", "done"])


def test_timer_without_init(hv, irq):
    ex = run(hv, irq, "op=noinit")
    assert_exits(ex, ["op noinit", "noinit: count=1 vec=20", "done"])


def test_irq_through_bad_selector_is_double_fault(hv, irq):
    ex = run(hv, irq, "op=irq_badsel")
    assert ex.reason is None, ex.reason
    got = parse_rec(console(ex), "df")
    assert (got["count"], got["vec"], got["err"], got["eip"]) == (
        1, 8, 0, symbol(irq, "after_badsel"))
    assert got["eflags"] & 0x200 and got["depth"] == 16


def test_timer_is_deterministic(hv, irq):
    """The same periodic-timer guest five times: the same console (every tick's
    time_ns, the work done between ticks) and the same instruction count."""
    runs = [run(hv, irq, "op=periodic n=20 d=5000") for _ in range(5)]
    first = runs[0]
    assert first.reason is None and first.status == 0, first.reason
    lines = console(first).splitlines()
    ticks = [int(line.split()[-1]) for line in lines if line.startswith("tick ")]
    assert len(ticks) == 20
    assert all(b - a >= 5000 for a, b in zip(ticks, ticks[1:], strict=False)), ticks
    assert all(b - a < 5000 + 2000 for a, b in zip(ticks, ticks[1:], strict=False)), ticks
    for other in runs[1:]:
        assert other.console == first.console
        assert other.instructions == first.instructions
        assert other.status == 0


# ---- devices raising IRQs: lowest first ----

def _irq_device(hv):
    if not hasattr(hv, "Device"):
        pytest.skip("hv has no Device yet (hv/devices.py)")

    class Raiser(hv.Device):
        name = "raiser"

        def handle(self, bus, request):
            bus.raise_irq(3)
            bus.raise_irq(1)
            return 7

    return Raiser()


@pytest.mark.parametrize(("op", "pending", "order", "left"), [
    ("lowest", "0000000b", "20 21 23", "00000000"),
    ("lowest_blocked", "0000000b", "20 23", "00000002"),
])
def test_lowest_irq_first(hv, irq, op, pending, order, left):
    ex = run(hv, irq, f"op={op}", devices=[_irq_device(hv)])
    assert_exits(ex, [f"op {op}", f"notify=7 pending={pending}", f"order: {order}",
                      f"pending={left}", "done"])


class Later:
    """A device that completes `delay` ns after the request: IRQ 5 then."""

    name = "later"

    def __init__(self, delay: int) -> None:
        self.delay = delay

    def handle(self, bus, request):
        bus.raise_irq(5, delay_ns=self.delay)
        return 0


def test_device_irq_later_wakes_halt(hv, irq):
    """A device schedules its IRQ on the guest clock; HALT sleeps until then
    (the virtual clock jumps there) and the IRQ arrives at that exact time:
    delay ns after the NOTIFY, which retired a fixed few instructions after
    the guest read the clock."""
    offsets = set()
    for delay in (1_000_000, 3_000_000_000):
        runs = [run(hv, irq, "op=device_later", devices=[Later(delay)]) for _ in range(3)]
        lines = console(runs[0]).splitlines()
        assert lines[:2] == ["op device_later",
                             "notify=0 pending_after_notify=00000000 halt=0 vec=25 n=1"], lines
        waited = int(lines[2].removeprefix("waited="))
        assert 0 < waited - delay < 100
        offsets.add(waited - delay)
        assert all(r.console == runs[0].console and r.instructions == runs[0].instructions
                   for r in runs)
        assert runs[0].elapsed < 1.0
    assert len(offsets) == 1


def test_device_irq_schedule_limits(hv, irq):
    class Flood:
        name = "flood"

        def handle(self, bus, request):
            for _ in range(100):
                bus.raise_irq(5, delay_ns=10)
            return 0

    class Bad:
        name = "bad"

        def handle(self, bus, request):
            bus.raise_irq(5, delay_ns=-1)
            return 0

    ex = run(hv, irq, "op=device_later", devices=[Flood()])
    assert ex.reason == ("device 0 (flood) raised ValueError: 64 IRQs are already scheduled; "
                         "deliver some first")
    ex = run(hv, irq, "op=device_later", devices=[Bad()])
    assert ex.reason.startswith("device 0 (bad) raised ValueError: delay_ns must be")


# ---- halt ----

def test_halt_until_timer(hv, halt):
    """HALT returns 0 after the handler ran (EIP = after the int $0x1f); the
    clock jumps to the deadline: time_ns = SET_CLOCKEVENT's retire + d."""
    d = 1_000_000
    ex = run(hv, halt, f"op=timer d={d}")
    assert ex.reason is None, ex.reason
    lines = console(ex).splitlines()
    assert_irq(ex, halt, "after_halt")
    assert lines[-3:] == [f"halt=0 time={d + 4} after={d + 4} if=200", "elapsed>=d: 1", "done"]
    assert ex.status == 0


def test_halt_with_irq_already_pending(hv, halt):
    ex = run(hv, halt, "op=pending")
    assert ex.reason is None, ex.reason
    assert console(ex).splitlines()[1] == "before: count=0 halt=0"
    assert_irq(ex, halt, "after_halt2")


@pytest.mark.parametrize(("op", "reason", "label"), [
    ("none", "halted with no interrupt source", "fault_halt"),
    ("cancelled", "halted with no interrupt source", "fault_halt"),
    ("hlt_off", "hlt with interrupts off", "fault_hlt_off"),
    ("hlt_none", "halted with no interrupt source", "fault_hlt_none"),
])
def test_wait_that_nothing_can_end(hv, halt, op, reason, label):
    ex = run(hv, halt, f"op={op}")
    assert_killed(ex, f"{reason} at eip=0x{symbol(halt, label):08x}", f"op {op}\n")


def test_hlt_wakes_on_timer(hv, halt):
    d = 100_000
    ex = run(hv, halt, f"op=hlt_timer d={d}")
    assert ex.reason is None, ex.reason
    assert_irq(ex, halt, "after_hlt")
    assert console(ex).splitlines()[-2:] == [f"time={d + 4} after={d + 4}", "done"]


def test_sleep_costs_no_host_time(hv, halt):
    """Ten HALTs of one virtual second: the guest clock advances 10 s, the run
    takes well under one real second."""
    ex = run(hv, halt, "op=sleep")
    assert_exits(ex, ["op sleep", "sleep: count=10 slept=10000 ms ok=1", "done"])
    assert ex.elapsed < 1.0
