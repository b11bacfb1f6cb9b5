"""Random single instructions on the emu switcher and on the real CPU must agree.

See x86_fuzz.py for how cases are made.  Seeds are fixed so a failure is
reproducible: `python -c "import x86_fuzz; print(x86_fuzz.generate(SEED, N)[0])"`.
"""

import shutil
import subprocess

import pytest
import x86_fuzz

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="gcc is needed to assemble the fuzz programs")

GCC = ["gcc", "-m32", "-nostdlib", "-static", "-fno-pic", "-no-pie", "-Wl,--build-id=none",
       "-x", "assembler-with-cpp"]


def build(tmp_path, seed, count, paged=False, passes=1):
    source, cases = x86_fuzz.generate(seed, count, passes)
    src = tmp_path / f"fuzz{seed}.S"
    src.write_text(source)
    native, guest = tmp_path / f"fuzz{seed}.linux", tmp_path / f"fuzz{seed}.elf"
    subprocess.run(GCC + [str(src), "-DHV_TARGET_LINUX", "-o", str(native)], check=True)
    subprocess.run(GCC + [str(src), "-Wl,-Ttext-segment=0x100000", "-o", str(guest)]
                   + (["-DHV_PAGED"] if paged else []), check=True)
    return cases, native, guest


@pytest.mark.parametrize("seed", range(1, 9))
def test_random_instructions_match_the_cpu(tmp_path, seed):
    hv = pytest.importorskip("hv")
    cases, native, guest = build(tmp_path, seed, 400)
    expected = subprocess.run([str(native)], capture_output=True, check=True, timeout=30).stdout
    ex = hv.run(guest, timeout=60)
    assert ex.reason is None and ex.status == 0
    problems = x86_fuzz.compare(cases, expected, ex.console)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("seed", range(101, 105))
def test_random_instructions_match_the_cpu_with_paging_on(tmp_path, seed):
    """The same, through the emu's paged handlers (all RAM identity-mapped)."""
    hv = pytest.importorskip("hv")
    cases, native, guest = build(tmp_path, seed, 400, paged=True)
    expected = subprocess.run([str(native)], capture_output=True, check=True, timeout=30).stdout
    ex = hv.run(guest, timeout=60)
    assert ex.reason is None and ex.status == 0, (ex.status, ex.reason)
    problems = x86_fuzz.compare(cases, expected, ex.console)
    assert not problems, "\n".join(problems[:20])


def test_compare_reports_a_flag_difference():
    cases = [x86_fuzz.Case("addl %eax, %ebx", x86_fuzz.ARITH)]
    good = bytes(x86_fuzz.RECORD)
    bad = bytearray(good)
    bad[4 * len(x86_fuzz.REGS)] = 0x01          # CF set in the emu's dump
    assert x86_fuzz.compare(cases, good, good) == []
    (problem,) = x86_fuzz.compare(cases, good, bytes(bad))
    assert "flags" in problem and "addl" in problem
