"""Real floating-point programs under hv give the real CPU's bits.

images/numeric/ holds three numerical programs (an FFT, a Mandelbrot render
printed as text, matrix inversion), each built from one body by two wrappers,
<name>_x87.c and <name>_sse2.c (-msse2 -mfpmath=sse), at -O0, -O2 and -Os,
as an hv guest (num_<stem>.elf) and as a static i386 Linux program
(num_<stem>.linux).  The Linux build runs natively and is the reference; the
guest must print the same console, byte for byte.  The programs print their
results' bits in hex and a hash over all of them, so one differently rounded
operation anywhere fails the test.

    pytest tests/test_numeric.py
    HV_CONFORMANCE_SWITCHERS=emu,kvm pytest tests/test_numeric.py
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from test_conformance import (
    BUILD,
    first_difference,
    load_build_module,
    run_hv,
    run_native,
    switchers,
)

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is needed to build the numeric programs"
)


def numeric_stems() -> list[str]:
    """e.g. "fft_x87-O0", "mandel_sse2-Os": every image pair the plan gives."""
    try:
        build = load_build_module()
    except Exception:   # a broken build script is reported by the fixture
        return sorted(p.name[len("num_"):-len(".elf")] for p in BUILD.glob("num_*.elf"))
    names = {job.output.name for job in build.plan(kinds=["numeric"])}
    return sorted(
        name[len("num_"):-len(".elf")]
        for name in names
        if name.endswith(".elf") and name[: -len(".elf")] + ".linux" in names
    )


@pytest.fixture(scope="session")
def numeric_images() -> Path:
    """Build (incrementally) every numeric image; fail on any build error."""
    build = load_build_module()
    if build is None:
        pytest.skip("images/build.py is missing")
    report = build.build_all(kinds=["numeric"])
    if not report.ok:
        details = "\n\n".join(f"{job.name}:\n{error}" for job, error in report.failed)
        pytest.fail(f"numeric images failed to build:\n{details}", pytrace=False)
    return BUILD


def test_every_program_has_both_builds_at_three_levels():
    stems = set(numeric_stems())
    for program in ("fft", "mandel", "matinv"):
        for fpmath in ("x87", "sse2"):
            for level in ("O0", "O2", "Os"):
                assert f"{program}_{fpmath}-{level}" in stems


@pytest.mark.parametrize("stem", numeric_stems())
def test_reference_is_sane(numeric_images, stem):
    """The native build finishes, names its arithmetic, and uses it: an SSE2
    build has SSE2 code and an x87 build has none."""
    path = numeric_images / f"num_{stem}.linux"
    proc = run_native(path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    first, *_, last = proc.stdout.decode().splitlines()
    assert last == "done"
    fpmath = "sse2" if "_sse2-" in stem else "x87"
    assert first.endswith(f", {fpmath}")
    if shutil.which("objdump") is not None:
        code = subprocess.run(["objdump", "-d", str(path)], capture_output=True, text=True,
                              check=True).stdout
        assert ("%xmm" in code) == (fpmath == "sse2")


@pytest.mark.parametrize("program", ["fft", "mandel", "matinv"])
def test_sse2_builds_agree_across_levels(numeric_images, program):
    """SSE2 rounds every operation to its type, so -O0, -O2 and -Os print the
    same bits.  (The x87 builds need not: where gcc spills an 80-bit value
    to a double in memory depends on the level.)"""
    outputs = {level: run_native(numeric_images / f"num_{program}_sse2-{level}.linux").stdout
               for level in ("O0", "O2", "Os")}
    assert outputs["O2"] == outputs["O0"], first_difference(outputs["O0"], outputs["O2"])
    assert outputs["Os"] == outputs["O0"], first_difference(outputs["O0"], outputs["Os"])


@pytest.mark.parametrize("switcher", switchers())
@pytest.mark.parametrize("stem", numeric_stems())
def test_program_matches_cpu(native, numeric_images, stem, switcher):
    import hv

    reference = run_native(numeric_images / f"num_{stem}.linux")
    assert reference.returncode == 0, "the native reference itself failed"
    ex = run_hv(hv, numeric_images / f"num_{stem}.elf", switcher)
    assert ex.reason is None, (
        f"guest was killed: {ex.reason}\n" + first_difference(reference.stdout, bytes(ex.console))
    )
    assert ex.status == reference.returncode
    if bytes(ex.console) != reference.stdout:
        pytest.fail(first_difference(reference.stdout, bytes(ex.console)), pytrace=False)
