"""The bt switcher against the emu: the same guest must give the same run.

bt (docs/switchers.md) runs every block it does not translate in the emu,
so it must match the emu exactly, not only the real CPU: console, exit
status, kill reason and the number of instructions retired.  This module
runs under both switchers the conformance guests (paging off and on), the
emu fuzzer's random instructions, the full-host sample guests, the bench
guests and the bare-metal kernels of tests/kernels/, and compares.

bt runs with translation on (its default) and every block hot at its first
run (HV_BT_HOT=1), so that everything the translator accepts is run
translated, and again hot at its second (HV_BT_HOT=2), so that host code
also holds the blocks a block went on to the first time (parts), and that
again with the code buffer's fallback mapping (HV_BT_WX=mprotect), unless
the environment sets HV_BT_TRANSLATE (=0: the fallback alone; =1: the
default threshold).

    pytest tests/test_switcher_bt.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BUILD, build_images, sample_guest_names
from test_conformance import conformance_images, conformance_stems  # noqa: F401 (fixture)
from test_conformance_paged import paged_images  # noqa: F401 (fixture)
from test_emu_fuzz import build as build_fuzz
from test_kernels import CFLAGS as KERNEL_CFLAGS
from test_kernels import KERNELS, kernel_names
from test_numeric import numeric_images, numeric_stems  # noqa: F401 (fixture)

TIMEOUT = 120               # wall-clock seconds: only a hung switcher meets it

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the guests")


@pytest.fixture(scope="module", autouse=True)
def bt_available(native):
    if "bt" not in native.SWITCHERS:
        pytest.skip(f"this build has no bt switcher (have {', '.join(native.SWITCHERS)}); "
                    "bt needs an x86-64 host")


@pytest.fixture(autouse=True, params=[("1", None), ("2", None), ("2", "mprotect")],
                ids=["hot1", "hot2", "hot2-mprotect"])
def translate_everything(request, monkeypatch):
    """bt reads these when a machine is created (docs/switchers.md).  Hot at
    the first run, a block is translated before the emu has linked the
    blocks it goes on to; at the second, those it went on to the first time
    are linked, and its host code holds theirs too where it may (parts).
    HV_BT_WX=mprotect: host code is written with mprotect flips, not through
    a second view of the code buffer."""
    if "HV_BT_TRANSLATE" not in os.environ:
        hot, wx = request.param
        monkeypatch.setenv("HV_BT_HOT", hot)
        if wx:
            monkeypatch.setenv("HV_BT_WX", wx)


def outcome(ex) -> tuple:
    return (ex.console, ex.status, ex.reason, ex.instructions)


def differ(image, *, max_instructions: int | None = None, **kwargs):
    """Run `image` under emu and bt; assert the runs are identical; the emu's Exit."""
    import hv

    runs = {name: hv.run(str(image), switcher=name, timeout=TIMEOUT,
                         max_instructions=max_instructions, **kwargs)
            for name in ("emu", "bt")}
    # The machines the runs kept for the next ones go: bt prints its HV_BT_STATS
    # line when its machine is freed, and each comparison starts from new machines.
    from hv import guest
    guest._MACHINES.clear()
    emu, bt = runs["emu"], runs["bt"]
    for name, ex in runs.items():
        assert ex.reason != "timeout" or ex.instructions == max_instructions, \
            f"{name} ran out of wall-clock time: the comparison means nothing"
    if outcome(emu) != outcome(bt):
        lines = [f"{image}: bt differs from emu"]
        for what, a, b in zip(("console", "status", "reason", "instructions"),
                              outcome(emu), outcome(bt), strict=True):
            if a != b:
                shown = (a[-200:], b[-200:]) if what == "console" else (a, b)
                lines.append(f"  {what}: emu {shown[0]!r}, bt {shown[1]!r}")
        pytest.fail("\n".join(lines), pytrace=False)
    return emu


# ---- the conformance guests ----

@needs_gcc
@pytest.mark.parametrize("stem", conformance_stems())
def test_conformance_guest(conformance_images, stem):  # noqa: F811
    ex = differ(conformance_images / f"conf_{stem}.elf")
    assert (ex.status, ex.reason) == (0, None)


@needs_gcc
@pytest.mark.parametrize("stem", numeric_stems())
def test_numeric_guest(numeric_images, stem):  # noqa: F811
    """x87 and SSE2 programs: SSE runs in host code, x87 in the emu."""
    ex = differ(numeric_images / f"num_{stem}.elf")
    assert (ex.status, ex.reason) == (0, None)


@needs_gcc
@pytest.mark.parametrize("stem", conformance_stems())
def test_conformance_guest_with_paging_on(paged_images, stem):  # noqa: F811
    ex = differ(paged_images / f"conf_{stem}.elf", cmdline="paging=1")
    assert (ex.status, ex.reason) == (0, None)


# ---- the emu fuzzer's random instructions ----

# Each guest runs its cases twice over, so that they are hot at the second
# run too (HV_BT_HOT=2), translated then with what the first pass linked.

@needs_gcc
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fuzz_cases(tmp_path, seed):
    _, _, guest = build_fuzz(tmp_path, seed, 400, passes=2)
    ex = differ(guest)
    assert (ex.status, ex.reason) == (0, None)


@needs_gcc
@pytest.mark.parametrize("seed", [101, 102])
def test_fuzz_cases_with_paging_on(tmp_path, seed):
    _, _, guest = build_fuzz(tmp_path, seed, 400, paged=True, passes=2)
    ex = differ(guest)
    assert (ex.status, ex.reason) == (0, None)


# ---- full-host guests: the samples and the benchmarks ----

@pytest.fixture(scope="module")
def sample_images() -> Path:
    build_images("the sample guests", *sample_guest_names(), "bench_fib.elf",
                 "bench_sieve.elf", "bench_crc32.elf", "bench_timer_irq.elf")
    return BUILD


@needs_gcc
@pytest.mark.parametrize("name", sample_guest_names())
def test_sample_guest(sample_images, name):
    """Every sample, as it is (some die on purpose: they must die the same way)."""
    ex = differ(sample_images / name, max_instructions=50_000_000)
    assert ex.instructions > 0


@needs_gcc
@pytest.mark.parametrize("name", ["bench_fib", "bench_sieve", "bench_crc32"])
def test_bench_guest(sample_images, name):
    ex = differ(sample_images / f"{name}.elf")
    assert (ex.status, ex.reason) == (0, None)


@needs_gcc
def test_timer_interrupts_land_on_the_same_instruction(sample_images):
    ex = differ(sample_images / "bench_timer_irq.elf")
    assert (ex.status, ex.reason) == (0, None)


@needs_gcc
@pytest.mark.parametrize("budget", [1, 2, 3, 17, 1000, 123_457])
def test_max_instructions_stops_at_the_same_instruction(sample_images, budget):
    ex = differ(sample_images / "spin.elf", max_instructions=budget)
    assert (ex.reason, ex.instructions) == ("timeout", budget)


@needs_gcc
def test_snapshot_of_a_bt_machine_goes_back_into_one(sample_images, native):
    """Machine.snapshot/restore keep working: bt's state is the emu's."""
    import hv

    guest = hv.Guest(str(sample_images / "bench_fib.elf"), switcher="bt")
    whole = guest.run(timeout=TIMEOUT)
    assert (whole.status, whole.reason) == (0, None)
    machine = native.Machine(64 << 20, "bt")
    assert machine.switcher == "bt"
    snap = machine.snapshot()
    other = native.Machine(64 << 20, "emu")
    with pytest.raises(ValueError, match="bt"):
        other.restore(snap)
    machine.restore(snap)


# ---- bare-metal kernels (their own GDT, IDT, TSS, PIC, PIT ...) ----

@needs_gcc
@pytest.mark.parametrize("name", kernel_names())
def test_kernel(tmp_path, name):
    image = tmp_path / f"{name}.elf"
    subprocess.run(["gcc", *KERNEL_CFLAGS, "-o", str(image), str(KERNELS / f"{name}.c")],
                   check=True)
    ex = differ(image, qemu_exit=True, serial_input=b"ping")
    assert b"powering off" in ex.console, ex.console[-300:]


# ---- choosing bt ----

def test_bt_is_listed(native):
    from hv import guest

    assert guest.switchers() == ("emu", "bt") == native.SWITCHERS


def test_hv_switcher_picks_the_default(monkeypatch, elf):
    import hv

    image = elf.write(segments=[elf.segment(elf.IMAGE_BASE, elf.program(b"hi\n"))])
    monkeypatch.setenv("HV_SWITCHER", "emu")
    assert hv.Guest(image).switcher == "emu"
    assert hv.Guest(image, switcher="bt").switcher == "bt"
    ex = hv.run(image)
    assert ex.manifest["switcher"] == "emu"
    monkeypatch.setenv("HV_SWITCHER", "warp")
    with pytest.raises(ValueError, match=r"^HV_SWITCHER: unknown switcher 'warp' "
                                         r"\(available: emu, bt\)"):
        hv.Guest(image)
    monkeypatch.delenv("HV_SWITCHER")
    assert hv.Guest(image).switcher == "bt"     # the default on an x86-64 host
    assert hv.guest.DEFAULT_SWITCHER == "bt"


def test_cli_runs_under_bt(capfd, elf):
    from hv import cli

    image = elf.write(segments=[elf.segment(elf.IMAGE_BASE, elf.program(b"hi\n", 3))])
    assert cli.main(["run", "--switcher", "bt", str(image)]) == 3
    assert capfd.readouterr().out == "hi\n"


# ---- what the translator must get right (hand-written guests) ----

ASM_GCC = ["gcc", "-m32", "-nostdlib", "-static", "-fno-pic", "-no-pie", "-Wl,--build-id=none",
           "-Wl,-Ttext-segment=0x100000", "-Wl,--no-warn-rwx-segments", "-x", "assembler"]
EXIT_WITH_BL = """
    movb %bl, %al
    outb %al, $0xf4
    hlt
"""


def asm_guest(tmp_path, body: str) -> Path:
    src = tmp_path / "guest.s"
    src.write_text(".text\n.globl _start\n_start:\n" + body + EXIT_WITH_BL)
    image = tmp_path / "guest.elf"
    subprocess.run([*ASM_GCC, str(src), "-o", str(image)], check=True)
    return image


@needs_gcc
def test_self_modifying_code_runs_the_new_instruction(tmp_path, capfd, monkeypatch):
    """A translated block stores into its own code: the store leaves for the
    emu, which drops the block, and the next round runs the new immediate."""
    monkeypatch.setenv("HV_BT_STATS", "1")
    image = asm_guest(tmp_path, """
    .section .text
    movl $100, %ecx
    xorl %ebx, %ebx
1:
patch:
    movl $1, %eax
    addl %eax, %ebx
    movl $7, patch + 1
    subl $1, %ecx
    jnz 1b
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == ((1 + 7 * 99) & 0xFF, None)
    if os.environ.get("HV_BT_TRANSLATE") != "0":
        assert "blocks translated" in capfd.readouterr().err


@needs_gcc
def test_a_store_from_a_code_pages_last_bytes_into_the_next_page(tmp_path):
    """bt checks a store by the page of its last byte.  Here a dword store
    starts in the last 3 bytes of a page, which end a block (f's immediate
    and RET), and ends in the next page, which holds no code: it must still
    leave for the emu, which drops f, and later calls run the new immediate."""
    image = asm_guest(tmp_path, """
    movl $100, %ecx
    xorl %ebx, %ebx
1:
    call f
    addl %eax, %ebx
    movl $0x00c30700, %edx          # f's immediate's top bytes 0, 7; its RET; data
    movl %edx, f_end - 3
    subl $1, %ecx
    jnz 1b
    shrl $24, %ebx
    jmp 9f
    .balign 4096
    .skip 4096 - 6
f:
    movl $0x01000000, %eax
    ret
f_end:
    .long 0
    .balign 4096
9:
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == ((1 + 7 * 99) & 0xFF, None)


@needs_gcc
@pytest.mark.parametrize("branch", ["jmp b_blk", "cmpl $0, %ecx; jne b_blk; jmp 9f"])
def test_a_direct_jump_to_a_dropped_block_is_undone(tmp_path, branch):
    """A's JMP (or Jcc taken) to B becomes a direct jump to B's host code once
    both are translated.  A store from another page rewrites B's immediate:
    the emu drops B alone, and A's jump must no longer reach B's old code."""
    image = asm_guest(tmp_path, """
    movl $100, %ecx
    xorl %ebx, %ebx
1:
    addl $0, %edx
    BRANCH
back:
    cmpl $50, %ecx
    jne 3f
    movl $7, patch + 1
3:
    subl $1, %ecx
    jnz 1b
    jmp 9f
    .balign 4096
b_blk:
patch:
    movl $1, %eax
    addl %eax, %ebx
    jmp back
    .balign 4096
9:
""".replace("BRANCH", branch))
    ex = differ(image)
    assert (ex.status, ex.reason) == ((51 + 7 * 49) & 0xFF, None)


@needs_gcc
def test_inc_keeps_the_carry_of_the_block_before(tmp_path):
    """INC first in a translated block: CF comes from before the block."""
    image = asm_guest(tmp_path, """
    movl $0xffffffff, %eax
    stc
    jmp 1f
1:
    incl %eax
    movl $5, %edx
    pushfl
    popl %ebx
    andl $0x8d5, %ebx
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == (0x55, None)        # CF kept; ZF, PF, AF set


@needs_gcc
def test_memory_outside_ram_and_wrapping_addresses(tmp_path):
    """A load whose address wraps at 4 GiB reads low RAM; one outside RAM
    leaves for the emu, which kills the guest as it always does."""
    image = asm_guest(tmp_path, """
    movl $0x1000, %edi
    movl $0x2a, (%edi)
    movl $0xfffff000, %esi
    movl $3, %ecx
1:
    movl 0x2000(%esi), %ebx
    addl $0, %ebx
    subl $1, %ecx
    jnz 1b
    movl $0x7ffffff0, %edx
    movl $9, %ecx
    movl (%edx), %eax
    addl %eax, %ebx
""")
    ex = differ(image)
    assert ex.status is None and "0x7ffffff0" in ex.reason, ex.reason


@needs_gcc
def test_translation_covers_hot_loops(sample_images, capfd, monkeypatch):
    """With the default threshold, fib's hot blocks are translated, their
    branches become direct jumps, and most of its instructions run as host
    code."""
    if os.environ.get("HV_BT_TRANSLATE") == "0":
        pytest.skip("translation is off (HV_BT_TRANSLATE=0)")
    monkeypatch.delenv("HV_BT_HOT", raising=False)
    monkeypatch.setenv("HV_BT_STATS", "1")
    differ(sample_images / "bench_fib.elf")
    line = capfd.readouterr().err.strip().splitlines()[-1]
    numbers = [int(w) for w in line.replace(",", " ").replace("(", " ").split() if w.isdigit()]
    translated, inlined, _, direct, runs, native, total = numbers
    assert translated > 0 and inlined > 0 and runs > 0 and direct > 0, line
    assert native > total // 2, line


def exec_memfd_ok() -> bool:
    """May this host map a memory file executable (bt's code buffer, two views)?"""
    import mmap
    try:
        fd = os.memfd_create("hv-test")
    except OSError:
        return False
    try:
        os.ftruncate(fd, mmap.PAGESIZE)
        mmap.mmap(fd, mmap.PAGESIZE, flags=mmap.MAP_SHARED,
                  prot=mmap.PROT_READ | mmap.PROT_EXEC).close()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


@needs_gcc
@pytest.mark.parametrize("wx", [None, "mprotect"])
def test_host_code_is_written_through_a_second_mapping(sample_images, capfd, monkeypatch, wx):
    """The code buffer is two views of one memory file, read+execute and
    read+write, so that writing host code costs no system call; HV_BT_WX=
    mprotect asks for the one mapping made writable for each write."""
    if os.environ.get("HV_BT_TRANSLATE") == "0":
        pytest.skip("translation is off (HV_BT_TRANSLATE=0)")
    if wx is None and not exec_memfd_ok():
        pytest.skip("this host refuses to map a memory file executable: bt uses mprotect flips")
    monkeypatch.setenv("HV_BT_STATS", "1")
    if wx:
        monkeypatch.setenv("HV_BT_WX", wx)
    else:
        monkeypatch.delenv("HV_BT_WX", raising=False)
    differ(sample_images / "bench_fib.elf")
    line = capfd.readouterr().err.strip().splitlines()[-1]
    assert line.endswith("through a second mapping" if wx is None else "with mprotect flips"), line


@needs_gcc
def test_a_forked_child_maps_its_own_code_buffer(sample_images, capfd, monkeypatch):
    """A fork's child does not inherit the code buffer (shared memory: host
    code it wrote would change what its parent runs).  Running a machine its
    parent made, it maps its own and translates again; parent and child both
    go on giving the same run.  (A machine's HV_BT_STATS line counts all its
    runs: both machines' second runs translate again what the first did.)"""
    if os.environ.get("HV_BT_TRANSLATE") == "0":
        pytest.skip("translation is off (HV_BT_TRANSLATE=0)")
    import hv
    from hv import guest

    monkeypatch.setenv("HV_BT_STATS", "1")
    image = str(sample_images / "bench_fib.elf")
    guest._MACHINES.clear()
    capfd.readouterr()
    first = outcome(hv.run(image, switcher="bt", timeout=TIMEOUT))     # the machine is kept
    assert len(guest._MACHINES._idle) == 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:        # the child: its run must reuse the machine, or this tests nothing
        code = 1
        try:
            os.close(r)
            reused = len(guest._MACHINES._idle) == 1
            ex = hv.run(image, switcher="bt", timeout=TIMEOUT)
            guest._MACHINES.clear()             # its statistics line
            os.write(w, repr((reused, outcome(ex))).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        said = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the child died: status {status:#x}"
    assert said == repr((True, first))
    assert outcome(hv.run(image, switcher="bt", timeout=TIMEOUT)) == first
    guest._MACHINES.clear()
    lines = [x for x in capfd.readouterr().err.splitlines() if x.startswith("hv bt:")]
    translated = [int(x.split()[2]) for x in lines]
    assert len(translated) == 2 and translated[0] == translated[1] > 0, lines


PARTS_GUEST = """
    movl $0x90000, %esp
    movl $data, %edi
    movl $data, %esi
    movl $data + 12, %ebp
    movl $300, %ecx
    xorl %ebx, %ebx
1:
    movl (%edi), %eax               # the first part: a Jcc forward, rarely taken
    addl %eax, %ebx
    cmpl $SIDE, %ecx
    je 5f
    pushl %ecx                      # the second: its fall-through, to a CALL
    movl 4(%esi), %edx
patch:
    addl $1, %edx
    addl %edx, %ebx
    movb %dl, (%ebp)
    popl %ecx
    call f
    cmpl $STORE, %ecx
    je 6f
    cmpl $FAULT, %ecx
    je 7f
4:
    subl $1, %ecx
    jnz 1b
    jmp done
5:
    addl $3, %ebx
    jmp 4b
6:
    movl $patch + 2, %ebp           # the second part stores into its own code
    jmp 4b
7:
    movl $0x7ffffff0, %esi          # the second part's load leaves RAM
    jmp 4b
f:
    movl 8(%edi), %eax              # the third: the called block
    xorl %eax, %ebx
    ret
    .balign 4096                    # (data on a page of its own)
data:
    .long 5, 9, 0x1234, 0
    .balign 4096
done:
"""


@needs_gcc
@pytest.mark.parametrize("what", ["plain", "side-exit", "store-into-part", "fault-in-part"])
@pytest.mark.parametrize("budget", [None, 27, 31, 37, 2006, 2007, 2009, 2011, 2014, 2016, 2018,
                                    2020])
def test_blocks_run_in_a_row_in_one_host_code(tmp_path, what, budget):
    """A block's host code holds the blocks it goes on to (a Jcc's
    fall-through, a JMP's or CALL's target, on its pages): they are counted
    at its entry, and it may leave from any of them, by a Jcc taken early,
    a store into their code, a load outside RAM or a budget that ends
    inside them, and give back the count of those not reached."""
    values = {"SIDE": 250 if what == "side-exit" else -1,
              "STORE": 200 if what == "store-into-part" else -1,
              "FAULT": 100 if what == "fault-in-part" else -1}
    body = PARTS_GUEST
    for name, value in values.items():
        body = body.replace(f"${name},", f"${value},")
    image = asm_guest(tmp_path, body)
    ex = differ(image, max_instructions=budget)
    if budget is not None:
        assert (ex.reason, ex.instructions) == ("timeout", budget)
    elif what == "fault-in-part":
        assert ex.status is None and "0x7ffffff4" in ex.reason, ex.reason
    else:
        assert ex.reason is None and ex.status is not None


@needs_gcc
def test_blocks_run_in_a_row_are_in_the_statistics(tmp_path, capfd, monkeypatch):
    """The guest above does make host code with parts (else its test would
    prove nothing about them)."""
    if os.environ.get("HV_BT_TRANSLATE") == "0":
        pytest.skip("translation is off (HV_BT_TRANSLATE=0)")
    monkeypatch.setenv("HV_BT_HOT", "2")
    monkeypatch.setenv("HV_BT_STATS", "1")
    body = PARTS_GUEST
    for name in ("SIDE", "STORE", "FAULT"):
        body = body.replace(f"${name},", "$-1,")
    differ(asm_guest(tmp_path, body))
    line = capfd.readouterr().err.strip().splitlines()[-1]
    inlined = int(line.split("(")[1].split()[0])
    assert inlined >= 2, line


@needs_gcc
def test_a_host_code_loop_stops_at_the_timeout(tmp_path):
    """A tight loop translated whole loops in host code, but only within the
    host's slices: a wall-clock timeout still stops it promptly."""
    import time

    import hv

    image = asm_guest(tmp_path, """
1:
    addl $1, %eax
    xorl %ecx, %edx
    jmp 1b
""")
    started = time.monotonic()
    ex = hv.run(str(image), switcher="bt", timeout=0.3)
    took = time.monotonic() - started
    assert ex.reason == "timeout" and ex.instructions > 1000, (ex.reason, ex.instructions)
    assert took < 2.0, f"the timeout took {took:.2f} s"


@needs_gcc
@pytest.mark.parametrize("budget", [2, 4, 1_000_000, 1_000_001, 3_000_002])
def test_a_host_code_loop_stops_at_max_instructions(tmp_path, budget):
    """The same loop with an instruction budget: it stops on the very
    instruction the emu stops on."""
    image = asm_guest(tmp_path, """
1:
    addl $1, %eax
    xorl %eax, %edx
    jmp 1b
""")
    ex = differ(image, max_instructions=budget)
    assert (ex.reason, ex.instructions) == ("timeout", budget)


@needs_gcc
def test_push_and_pop_in_translated_blocks(tmp_path):
    """PUSH and POP of registers run as host code: the values, ESP itself
    (PUSH ESP stores the old value) and the flags they must not touch."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $50, %edi
    xorl %ebx, %ebx
1:
    movl %edi, %eax
    pushl %eax
    pushl %ebx
    cmpl $25, %edi
    pushl %esp
    popl %ecx
    popl %edx
    popl %esi
    pushl %ebp
    popl %ebp
    jb 2f
    addl %esi, %ebx
2:
    addl $0x90000 - 8, %ebx
    subl %ecx, %ebx
    subl $1, %edi
    jnz 1b
    cmpl $0x90000, %esp
    jne 3f
    movl %esp, %ecx
3:
    subl $0x90000, %ecx
    orl %ecx, %ebx
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == (sum(range(25, 51)) & 0xFF, None)


@needs_gcc
@pytest.mark.parametrize("esp", ["0", "2", "0x7ffffffe"])
def test_push_and_pop_at_the_edge_of_ram(tmp_path, esp):
    """A PUSH whose address wraps below 0 or lies outside RAM, and a POP
    outside RAM, leave for the emu, which kills the guest as it always
    does; a POP at the very end of a wrap-around is the emu's too."""
    image = asm_guest(tmp_path, f"""
    movl $0x8000, %esp
    movl $3, %ecx
1:
    pushl %ecx
    popl %eax
    subl $1, %ecx
    jnz 1b
    movl ${esp}, %esp
    movl $9, %ebx
    pushl %ebx
    popl %ebx
""")
    ex = differ(image)
    assert ex.status is None and ex.reason, ex.reason


@needs_gcc
@pytest.mark.parametrize("esp", ["0x8000", "0", "4", "8", "0xc", "0xfffffffc", "0xfffff800",
                                 "0x3fffff0", "0x3fffff8", "0x4000000", "0x4000010",
                                 "code + 16", "code + 0x1000"])
def test_a_run_of_stack_accesses_checked_once(tmp_path, esp):
    """bt checks a block's accesses by [ESP + disp] once, by the range they
    and ESP cover (stack_run): near 0 (wrapping), near 4 GiB, at the end of
    RAM and on code, the run goes to the emu as a whole, which faults or
    drops code exactly where it always does."""
    image = asm_guest(tmp_path, f"""
    movl ${esp}, %esp
    movl $3, %ecx
    xorl %ebx, %ebx
code:
1:
    movl %ecx, 8(%esp)
    pushl %ecx
    movl 12(%esp), %eax
    addl $8, %esp
    movl -8(%esp), %edx
    subl $8, %esp
    popl %edi
    addl %eax, %ebx
    addl %edx, %ebx
    addl %edi, %ebx
    subl $1, %ecx
    jnz 1b
""")
    ex = differ(image)
    if esp == "0x8000":
        assert (ex.status, ex.reason) == (3 * (3 + 2 + 1), None)
    else:
        assert ex.reason or ex.status is not None


@needs_gcc
def test_a_run_of_stack_accesses_ending_in_code_leaves(tmp_path):
    """A run of stack accesses whose lowest bytes are f's immediate, near
    the end of a page, and whose highest are in the next page (no code
    there): the run's check of its low end sends it to the emu, which
    drops f."""
    image = asm_guest(tmp_path, """
    movl $3, %ecx
    xorl %ebx, %ebx
1:
    call f
    addl %eax, %ebx
    movl %esp, %ebp
    movl $f + 5, %esp
    movl %ecx, 8(%esp)
    pushl %ecx
    popl %edi
    movl %ebp, %esp
    subl $1, %ecx
    jnz 1b
    jmp 9f
    .balign 4096
    .skip 4096 - 10
f:
    movl $1, %eax
    ret
    .skip 64
    .balign 4096
9:
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == (1 + 3 + 2, None)


@needs_gcc
@pytest.mark.parametrize("bad", ["0x7ffffff0", "code"])
def test_a_failed_check_far_from_its_exit(tmp_path, bad):
    """A long block whose first access fails its check on the last round
    (outside RAM, or a store into code): the check's exit is too far for a
    short jump, and its long form must still leave before that access."""
    body = "\n".join(f"    movl {4 * k}(%edx), %eax\n    addl %eax, %ebx" for k in range(24))
    image = asm_guest(tmp_path, f"""
    movl $3, %ecx
    xorl %ebx, %ebx
    movl $0x9000, %edx
code:
1:
    cmpl $1, %ecx
    jne 2f
    movl ${bad}, %edx
2:
    movl %ecx, 0(%edx)
{body}
    subl $1, %ecx
    jnz 1b
""")
    ex = differ(image)
    assert ex.reason or ex.status is not None


@needs_gcc
def test_push_into_code_runs_the_new_instruction(tmp_path):
    """A PUSH that writes the immediate of an instruction of the loop leaves
    for the emu, which drops the block: the next round runs the new one."""
    image = asm_guest(tmp_path, """
    movl $100, %ecx
    xorl %ebx, %ebx
    movl $7, %edx
1:
patch:
    movl $1, %eax
    addl %eax, %ebx
    movl %esp, %edi
    movl $patch + 5, %esp
    pushl %edx
    movl %edi, %esp
    subl $1, %ecx
    jnz 1b
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == ((1 + 7 * 99) & 0xFF, None)


@needs_gcc
@pytest.mark.parametrize("budget", [3, 5, 1_000_000, 1_000_003, 2_000_005])
def test_a_push_pop_loop_stops_at_max_instructions(tmp_path, budget):
    """A loop of PUSH and POP translated whole stops on the very instruction
    the emu stops on."""
    image = asm_guest(tmp_path, """
    movl $0x9000, %esp
1:
    pushl %eax
    addl $1, %eax
    popl %edx
    jmp 1b
""")
    ex = differ(image, max_instructions=budget)
    assert (ex.reason, ex.instructions) == ("timeout", budget)


@needs_gcc
def test_calls_at_the_end_of_translated_blocks(tmp_path):
    """A CALL ending a translated block pushes its return address in host
    code and goes on at its target; recursion and RET (the emu's) meet it."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $12, %eax
    call sum
    movl %eax, %ebx
    cmpl $0x90000, %esp
    je 1f
    movl $1, %ebx
1:
    jmp done
sum:
    testl %eax, %eax
    jz 2f
    pushl %eax
    subl $1, %eax
    call sum
    popl %edx
    addl %edx, %eax
2:
    ret
done:
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == (sum(range(13)) & 0xFF, None)


@needs_gcc
@pytest.mark.parametrize("esp", ["0", "3", "0x7ffffffe", "patch + 5"])
def test_a_call_pushing_outside_ram_or_into_code(tmp_path, esp):
    """A CALL whose return address would go outside RAM (or wrap below 0)
    leaves for the emu, which kills the guest; one whose push writes the
    code of the block before goes to the emu too, which drops that block."""
    image = asm_guest(tmp_path, f"""
    movl $3, %ecx
1:
patch:
    movl $1, %eax
    subl $1, %ecx
    jnz 1b
    movl ${esp}, %esp
    movl $9, %ebx
    addl $1, %ebx
    call 2f
2:
    movl %esp, %ebx
""")
    ex = differ(image)
    if esp == "patch + 5":
        assert ex.status is not None and ex.reason is None, ex.reason
    else:
        assert ex.status is None and ex.reason, ex.reason


@needs_gcc
@pytest.mark.parametrize("budget", [1000, 1001, 1003, 4096, 4099])
def test_chained_calls_and_returns_stop_at_max_instructions(tmp_path, budget):
    """Blocks chained in host code, RETs through the target table included,
    count each block as the emu does: a budget that ends anywhere in a
    recursion stops on the emu's instruction."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $400, %esi
3:
    movl $6, %eax
    call sum
    subl $1, %esi
    jnz 3b
    movl %eax, %ebx
    jmp done
sum:
    testl %eax, %eax
    jz 2f
    pushl %eax
    subl $1, %eax
    call sum
    popl %edx
    addl %edx, %eax
2:
    ret
done:
""")
    ex = differ(image, max_instructions=budget)
    assert (ex.reason, ex.instructions) == ("timeout", budget)
    ex = differ(image)
    assert (ex.status, ex.reason) == (21, None)


@needs_gcc
def test_read_modify_write_into_code_runs_the_new_instruction(tmp_path):
    """An ADD to memory that rewrites an immediate of code the emu decoded
    leaves host code for the emu, which drops that code: the next round
    runs the new immediate."""
    image = asm_guest(tmp_path, """
    movl $4, %ecx
    xorl %ebx, %ebx
1:
patch:
    movl $1, %eax
    addl %eax, %ebx
    addl $2, patch + 1
    subl $1, %ecx
    jnz 1b
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == (1 + 3 + 5 + 7, None)


@needs_gcc
def test_imul_flags_and_rmw_flags_as_the_emu_leaves_them(tmp_path):
    """IMUL's undefined SF, ZF, PF, AF are the emu's (made from the product)
    wherever host code exposes them: here PUSHF, the emu's, reads them."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $0x100, 0x80000
    xorl %ebx, %ebx
    movl $5, %ecx
1:
    movl %ecx, %eax
    imull $0x1000000, %eax, %eax
    imull %ecx, %eax
    addl $0, %eax
    imull %eax, %eax
    subl $3, 0x80000
    incl 0x80000
    leal -1(%ecx), %edx
    imull %ecx, %edx
    pushfl
    popl %edx
    roll $5, %ebx
    xorl %edx, %ebx
    imull $0x10101, %ecx, %edx
    pushfl
    popl %edx
    roll $5, %ebx
    xorl %edx, %ebx
    subl $1, %ecx
    jnz 1b
    movl %ebx, %eax
    shrl $16, %eax
    xorl %eax, %ebx
    xorb %bh, %bl
""")
    ex = differ(image)
    assert ex.reason is None and ex.status is not None


# PUSHF (the emu's) and ROL end bt's run; the JMP starts a block, so that
# what follows is translated again.
FLAGS_INTO_EBX = """
    pushfl
    popl %edx
    roll $7, %ebx
    xorl %edx, %ebx
    jmp 8f
8:
"""


@needs_gcc
def test_more_translated_forms_give_the_emus_registers_and_flags(tmp_path):
    """ADC/SBB of registers and memory, SETcc, CMOVcc, MOVSX, NOT, NEG,
    TEST imm8, AL forms, PUSH imm, XCHG, CDQ, CWDE, MOV r8, imm8, shifts
    by CL (0, 1 and more, where SHL's OF differs on some CPUs), rotates
    (whose OF for counts over 1 may differ) and one-operand MUL and IMUL
    (SF, ZF, PF, AF undefined) leave what the emu leaves, flags
    included, in every round of a translated loop."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $0x7ffffff0, 0x80000
    xorl %ebx, %ebx
    movl $9, %esi
1:
    movl %esi, %eax
    imull $0x1f3a7, %eax, %eax
    movl %esi, %ecx
    adcl %eax, %ecx
    sbbl 0x80000, %ecx
    adcl %ecx, 0x80000
    adcb %cl, %al
    sbbb $3, %al
    adcl $0x11, %eax
    setc %dl
    setg 0x80004
    cmpl $5, %esi
    cmovl %ecx, %eax
    cmovge 0x80000, %ecx
    movsbl %al, %edi
    movswl %cx, %ebp
    movsbl 0x80004, %edx
    notl %edi
    negl %ebp
    negb %cl
    testb $0x81, %al
    orb $0x10, %al
    subb $7, %al
    testb $1, %cl
    pushl $0x12345
    pushl $-3
    popl %edx
    addl %edx, %eax
    popl %edx
    xchgl %edx, %eax
    xchgl 0x80000, %ecx
    cdq
    cwde
    movb $0x9c, %cl
    movl %esi, %ecx
    andl $3, %ecx
    shll %cl, %eax
    shrl %cl, %edx
    sarl %cl, %ebp
    addl %eax, %ebx
    addl %edx, %ebx
    addl %ebp, %ebx
    addl %edi, %ebx
""" + FLAGS_INTO_EBX + """
    movl %esi, %ecx
    shll %cl, %eax
""" + FLAGS_INTO_EBX + """
    xorl %eax, %ebx
    movl $0x80000000, %eax
    orl %esi, %eax
    movl $3, %ecx
    shll %cl, %eax
""" + FLAGS_INTO_EBX + """
    movl $0x12345678, %eax
    shll $3, %eax
""" + FLAGS_INTO_EBX + """
    movl %esi, %eax
    imull $0x9e3779b9, %eax, %eax
    mull %esi
    movl %edx, %edi
""" + FLAGS_INTO_EBX + """
    addl %edi, %ebx
    movl $0x80000000, %eax
    movl %esi, 0x80008
    imull 0x80008
    movl %edx, %edi
""" + FLAGS_INTO_EBX + """
    subl %edi, %ebx
    movl %esi, %eax
    subl $5, %eax
    mull 0x80008
    movl %eax, %edi
""" + FLAGS_INTO_EBX + """
    addl %edi, %ebx
    movl $0x12345678, %eax
    roll $3, %eax
""" + FLAGS_INTO_EBX + """
    rorl $7, %eax
    adcl $0, %ebx
    rorl $1, %eax
""" + FLAGS_INTO_EBX + """
    xorl %eax, %ebx
    subl $1, %esi
    jnz 1b
    movl %ebx, %eax
    shrl $16, %eax
    xorl %eax, %ebx
    xorb %bh, %bl
""")
    ex = differ(image)
    assert ex.reason is None and ex.status is not None


@needs_gcc
def test_16_bit_operands_give_the_emus_registers_and_flags(tmp_path):
    """With an operand-size prefix: loads, stores (immediate too), ALU ops
    with registers, memory and immediates (16 and 8 bits), INC, DEC, NOT,
    NEG, MOV r16, imm16 keep the upper halves and leave the emu's flags."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $0x1234fff0, 0x80000
    xorl %ebx, %ebx
    movl $7, %esi
1:
    movl $0xabcd8000, %eax
    movl %esi, %ecx
    imull $0x3333, %ecx, %ecx
    addw %cx, %ax
    movw 0x80000, %dx
    subw %dx, %ax
    adcw 0x80002, %cx
    xorw $0x5a5a, %ax
    cmpw $0x7fff, %cx
    movw %ax, 0x80004
    movw $0xfffe, 0x80006
    addw $1, 0x80006
    incw %dx
    decw 0x80000
    andw $-16, %cx
    notw %dx
    negw %cx
    movw $0x8001, %di
    testw $0x8000, %di
    addl %eax, %ebx
    addl %ecx, %ebx
    addl %edx, %ebx
    addl %edi, %ebx
    addl 0x80004, %ebx
""" + FLAGS_INTO_EBX + """
    subl $1, %esi
    jnz 1b
    movl %ebx, %eax
    shrl $16, %eax
    xorl %eax, %ebx
    xorb %bh, %bl
""")
    ex = differ(image)
    assert ex.reason is None and ex.status is not None


@needs_gcc
@pytest.mark.parametrize("budget", [None, 700, 701, 1000])
def test_indirect_calls_and_jumps_through_registers_and_memory(tmp_path, budget):
    """CALL and JMP through a register or memory (a function pointer, a
    jump table) go on at the target's host code as RET does, and count as
    the emu's; a table entry outside RAM kills the guest as under the emu."""
    image = asm_guest(tmp_path, """
    movl $0x90000, %esp
    movl $f1, 0x80000
    movl $f2, 0x80004
    movl $t0, 0x80010
    movl $t1, 0x80014
    movl $t2, 0x80018
    xorl %ebx, %ebx
    movl $60, %esi
1:
    movl %esi, %eax
    andl $1, %eax
    call *0x80000(,%eax,4)
    movl $f1, %edx
    call *%edx
    movl %esi, %eax
    xorl %edx, %edx
    movl $3, %ecx
    divl %ecx
    jmp *0x80010(,%edx,4)
t0:
    addl $3, %ebx
    jmp 2f
t1:
    movl $t2, %ecx
    jmp *%ecx
t2:
    addl $5, %ebx
2:
    subl $1, %esi
    jnz 1b
    movl $0x7fffff00, 0x80004
    movl $1, %eax
    call *0x80000(,%eax,4)
    jmp done
f1:
    addl $1, %ebx
    ret
f2:
    addl $2, %ebx
    ret
done:
""")
    ex = differ(image, max_instructions=budget)
    if budget:
        assert (ex.reason, ex.instructions) == ("timeout", budget)
    else:
        assert ex.status is None and ex.reason, (ex.status, ex.reason)


# ---- SSE in host code ----

SSE_ON = """
    movl %cr4, %eax
    orl $0x600, %eax
    movl %eax, %cr4
    movl %cr0, %eax
    andl $0xfffffff3, %eax
    orl $0x22, %eax
    movl %eax, %cr0
    movl $0x90000, %esp
    movl $0x3ff80000, 0x70004
    movl $0, 0x70000
    movl $0x3fb99999, 0x7000c
    movl $0x9999999a, 0x70008
    movl $0x80000000, 0x7001c
    movl $0x55555555, 0x70018
"""

SSE_ROUND = """
    cvtsi2sd %esi, %xmm0
    movsd 0x70000, %xmm1
    mulsd %xmm0, %xmm1
    addsd 0x70008, %xmm1
    sqrtsd %xmm1, %xmm2
    divsd %xmm0, %xmm2
    cvttsd2si %xmm2, %edx
    cvtsd2si %xmm1, %ecx
    movd %xmm2, %ebp
    ucomisd %xmm0, %xmm2
    setb %al
    movzbl %al, %eax
    comisd 0x70000, %xmm1
    adcl %edx, %eax
    movsd %xmm2, (%edi)
    movups %xmm1, 8(%edi)
    movl %eax, 24(%edi)
    movl %ecx, 28(%edi)
    movl %ebp, 32(%edi)
    pushl %esi
    pushl %edx
    movsd (%esp), %xmm3
    cvtsd2ss %xmm3, %xmm4
    movss %xmm4, 4(%esp)
    popl %edx
    popl %eax
    movl %eax, 36(%edi)
    unpcklpd %xmm0, %xmm1
    shufpd $1, %xmm1, %xmm1
    maxsd %xmm0, %xmm1
    movd %esi, %xmm5
    pxor %xmm5, %xmm1
    movq %xmm1, 40(%edi)
    xorpd 0x70010, %xmm1
    movapd %xmm1, 64(%edi)
    addpd 64(%edi), %xmm1
"""


@needs_gcc
def test_sse_in_translated_blocks_gives_the_emus_results(tmp_path):
    """Scalar and packed SSE2 in host code: memory operands (a stack run's
    among them, and 16-byte ones that must be aligned), general-register
    operands both ways, COMISD's flags read
    by SETcc and ADC, and MXCSR's sticky flags afterwards (STMXCSR, in the
    emu), written out on the console round by round."""
    image = asm_guest(tmp_path, SSE_ON + """
    movl $0x80000, %edi
    movl $12, %esi
1:
""" + SSE_ROUND + """
    stmxcsr 48(%edi)
    addl $80, %edi
    jmp 2f
2:
    decl %esi
    jnz 1b
    movl $0x80000, %esi
    movl %edi, %ecx
    subl %esi, %ecx
3:
    movb (%esi), %al
    outb %al, $0xe9
    incl %esi
    decl %ecx
    jnz 3b
    xorl %ebx, %ebx
""")
    ex = differ(image)
    assert (ex.status, ex.reason) == (0, None)
    assert len(ex.console) == 12 * 80
    assert ex.console[48:52] != b"\0\0\0\0"     # MXCSR: its mask bits at least


@needs_gcc
@pytest.mark.parametrize("fault", ["cr0.ts", "unmasked", "outside-ram", "into-code", "misaligned"])
def test_sse_in_translated_blocks_faults_as_the_emu(tmp_path, fault):
    """After rounds of host code: CR0.TS set (#NM), a division by zero
    unmasked in MXCSR (#XM), a memory operand past RAM, a 16-byte one that
    must be aligned and is not (#GP), a store into the
    code (which then runs what the store wrote there): each is the emu's,
    at the same instruction."""
    change = {
        "cr0.ts": "movl %cr0, %eax\n    orl $8, %eax\n    movl %eax, %cr0",
        "unmasked": "subl $4, %esp\n    stmxcsr (%esp)\n    andl $0xfffffdff, (%esp)\n"
                    "    ldmxcsr (%esp)\n    addl $4, %esp\n    movl $0, 0x70004",
        "outside-ram": "movl $0x7fffff00, %edi",
        "into-code": "movl $patch, %edi",
        "misaligned": "movl $0x80008, %edi",
    }[fault]
    image = asm_guest(tmp_path, SSE_ON + """
    movl $0x80000, %edi
    movl $40, %esi
    xorl %ebx, %ebx
1:
    cmpl $30, %esi
    jne 2f
    """ + change + """
2:
    incl %ebx
    .p2align 4
patch:
""" + SSE_ROUND.replace("divsd %xmm0, %xmm2", "divsd 0x70000, %xmm2") + """
    decl %esi
    jnz 1b
""")
    ex = differ(image)
    expected = {"cr0.ts": "#NM", "unmasked": "#XM", "outside-ram": "#PF", "into-code": "#UD",
                "misaligned": "#GP"}
    assert expected[fault] in ex.reason and ex.instructions > 10 * 38, ex
