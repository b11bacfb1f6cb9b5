"""Guest ABI v1, the full host: paging, and a fuzz of the whole host ABI.

Guests: images/host/paging.c (one scenario per op=, see its header) and
images/host/fuzz.c (random gates, page tables, hypercalls and accesses from
a seed).  The fuzz runs in a subprocess so that a host crash fails the test
instead of killing pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.register_assert_rewrite("host_abi")

from host_abi import (  # noqa: E402
    RAM_MIB,
    REPO,
    assert_exits,
    assert_killed,
    needs_gcc,
    run,
    symbol,
)

pytestmark = needs_gcc


@pytest.fixture(scope="module")
def paging(host_images) -> Path:
    return host_images / "host_paging.elf"


def test_new_pgtable_and_control_registers(hv, paging):
    """-22 for a directory that is unaligned or not inside RAM (paging stays
    off); then CR0.PG|WP, CR3 = the directory, CR4.PSE; the walk set Accessed
    in the code's and the stack's entries, Dirty only where written, and never
    Dirty in a directory entry that points to a table."""
    ex = run(hv, paging, "op=enable")
    assert_exits(ex, [
        "op enable",
        "bad: unaligned=-22 outside=-22 end=-22 top=-22",
        "cr0.pg before=0",
        "enable=0",
        "cr0=80010001 cr3_ok=1 cr4.pse=10",
        "code pte: A=1 D=0",
        "code pde: A=1 D=0",
        "stack pte: A=1 D=1",
        "stack pde: A=1 D=0",
        "done",
    ])


def test_accessed_and_dirty_bits(hv, paging):
    ex = run(hv, paging, "op=ad")
    assert_exits(ex, [
        "op ad",
        "enable=0",
        "pte before: A=0 D=0",
        "pde before: A=0 D=0",
        "read=11223344",
        "pte after read: A=1 D=0",
        "pde after read: A=1 D=0",
        "pte after write: A=1 D=1",
        "pde after write: A=1 D=0",
        "frame=5",
        "set_pte=0 set_pgd=0",
        "read=11223344",
        "pte reread: A=1 D=0",
        "pde reread: A=1 D=0",
        "set_pgd=0",
        "big before: A=0 D=0",
        "big read=4d4d4d4d",
        "big after read: A=1 D=0",
        "big after write: A=1 D=1",
        "big frame=7",
        "done",
    ])


def test_page_fault_error_codes(hv, paging):
    """Not present read 0, not present write 2, write to a read-only page 3
    (CR0.WP = 1 at ring 0), also when the directory entry is the read-only
    one; a fetch from a not-present page: EIP = cr2 = its address, error 0.
    cr2 by mov %cr2 and in guest_data."""
    ex = run(hv, paging, "op=pf")

    def pf(name, err, cr2, eip):
        return f"pf {name}: n=1 err={err:08x} cr2={cr2:08x} gd_cr2={cr2:08x} eip={eip:08x}"

    def at(label):
        return symbol(paging, label)

    assert_exits(ex, [
        "op pf",
        "enable=0",
        pf("np_read", 0, 0x40001000, at("fault_pf_np_read")),
        pf("np_write", 2, 0x40001004, at("fault_pf_np_write")),
        pf("ro_write", 3, 0x40002008, at("fault_pf_ro_write")),
        "ro read=abcd faults=0",
        pf("pde_np", 0, 0x40400010, at("fault_pf_pde_np")),
        pf("pde_ro", 3, 0x40800020, at("fault_pf_pde_ro")),
        "pde_ro read=1234 faults=0",
        pf("fetch", 0, 0x40001000, 0x40001000),
        "done",
    ])


@pytest.mark.parametrize(("op", "reason"), [
    ("pte_outside", "page table entry for 0x40000000 maps 0x10000000 outside RAM"),
    ("pde_outside", "page table entry for 0x50000000 maps 0x20000000 outside RAM"),
    ("pde4m_outside", "page table entry for 0x60000000 maps 0x40000000 outside RAM"),
])
def test_entry_mapping_outside_ram_kills(hv, paging, op, reason):
    ex = run(hv, paging, f"op={op}")
    assert_killed(ex, reason)
    assert ex.console == f"op {op}\nenable=0\n".encode()


def test_remap_with_set_pte_invlpg_flush_set_pgd_new_pgtable(hv, paging):
    ex = run(hv, paging, "op=remap")
    assert_exits(ex, [
        "op remap",
        "enable=0",
        "first=aaaa0001",
        "set_pte=0 read=bbbb0002",
        "invlpg read=aaaa0001",
        "flush_tlb=0 read=bbbb0002",
        "set_pgd=0 read=cccc0003",
        "fc=cccc0004",
        "new_pgtable=0 read=aaaa0001 cr3_ok=1",
        "fa=aaaa0005",
        "done",
    ])


def test_self_modifying_code_through_alias(hv, paging):
    """One physical code page at two virtual addresses: bytes written through
    the alias (and through the identity map) run through the original."""
    ex = run(hv, paging, "op=smc_alias")
    assert_exits(ex, ["op smc_alias", "enable=0", "smc: 1 2 3", "done"])


def test_remapped_code_page_runs_new_code(hv, paging):
    ex = run(hv, paging, "op=code_remap")
    assert_exits(ex, ["op code_remap", "enable=0", "code: 1 set_pte=0 3 1", "done"])


def test_page_mapped_without_flush_after_a_fault(hv, paging):
    """A CPU never caches a not-present translation, so a #PF handler may map
    the page without SET_PTE: the restarted fetch and load see it."""
    ex = run(hv, paging, "op=map_no_flush")
    assert_exits(ex, ["op map_no_flush", "enable=0", "code: 9 faults=1 cr2=40005000",
                      "data: 5151 faults=2 cr2=40007000", "done"])


def test_write_buffer_is_guest_virtual(hv, paging):
    """Virtual 0x00700000 is mapped to another frame; physical 0x00700000 holds
    different bytes.  WRITE prints the virtual buffer."""
    ex = run(hv, paging, "op=write_virt")
    assert_exits(ex, ["op write_virt", "enable=0", "from virtual!", "write=14", "done"])


def test_shutdown_message_is_guest_virtual(hv, paging):
    ex = run(hv, paging, "op=shutdown_virt")
    assert_exits(ex, ["op shutdown_virt", "enable=0", "bye from virtual"])


def test_write_unmapped_buffer_kills(hv, paging):
    ex = run(hv, paging, "op=write_unmapped")
    assert_killed(ex, "bad write address 0x40001000 len 14", "op write_unmapped\nenable=0\n")


def test_write_buffer_running_into_unmapped_page_kills(hv, paging):
    ex = run(hv, paging, "op=write_cross")
    assert_killed(ex, "bad write address ", "op write_cross\nenable=0\n", prefix=True)
    assert b"abcd" not in ex.console


def test_page_table_hypercall_return_values(hv, paging):
    ex = run(hv, paging, "op=retvals")
    assert_exits(ex, [
        "op retvals",
        "enable=0",
        "set_pte: unaligned=-22 outside=-22 ok=0",
        "set_pgd: 1024=-22 -1=-22 unaligned=-22 outside=-22 ok=0 last=0",
        "flush_tlb=0 0",
        "new_pgtable: unaligned=-22 outside=-22",
        "read=42 cr3_ok=1",
        "done",
    ])


@pytest.mark.parametrize(("op", "reason"), [
    ("stack_ro", "triple fault at eip=0x{:08x}"),
    ("stack_np", "unhandled #DF at eip=0x{:08x}"),
])
def test_stack_fault_while_pushing_frame(hv, paging, op, reason):
    """ESP in a read-only page (host pushes obey WP) or an unmapped one: the
    #DE push faults -> #DF; with a #DF gate its push faults too -> triple."""
    ex = run(hv, paging, f"op={op}")
    assert_killed(ex, reason.format(symbol(paging, "fault_div_stack")), f"op {op}\nenable=0\n")


# ---- fuzz ----

FUZZ_SEEDS = 50
FUZZ_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import hv
    image, memory, seeds = sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    for seed in seeds:
        print(json.dumps({"start": seed}), flush=True)
        ex = hv.Guest(image, memory_mib=memory, cmdline=f"seed={seed} iters=600").run(
            timeout=30, max_instructions=5_000_000)
        assert ex.status is not None or ex.reason, ex
        print(json.dumps({"seed": seed, "status": ex.status, "reason": ex.reason,
                          "instructions": ex.instructions}), flush=True)
""")


def _fuzz_batch(image: Path, seeds: list[int]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", FUZZ_SCRIPT, str(REPO), str(image), str(RAM_MIB),
         json.dumps(seeds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_fuzz_host_never_crashes(native, host_images):
    """Random gates, page tables, hypercalls and accesses from ~50 seeds: every
    run ends with an Exit (any status or kill reason); the host process never
    dies.  Batches run in parallel subprocesses."""
    image = host_images / "host_fuzz.elf"
    seeds = list(range(FUZZ_SEEDS))
    batches = [seeds[k::4] for k in range(4)]
    procs = [_fuzz_batch(image, batch) for batch in batches]
    results = {}
    problems = []
    for batch, proc in zip(batches, procs, strict=True):
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            problems.append(f"batch {batch} hung")
        started = None
        for line in out.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
            else:
                results[record["seed"]] = record
        if proc.returncode != 0:
            problems.append(f"the host died (exit {proc.returncode}) running seed {started} "
                            f"(image {image.name}, cmdline 'seed={started} iters=600'):\n"
                            f"{err[-3000:]}")
    assert not problems, "\n".join(problems)
    assert sorted(results) == seeds
    # the fuzz must actually get somewhere: not every run dies at once
    assert sum(r["instructions"] > 100_000 for r in results.values()) >= FUZZ_SEEDS // 5, results
