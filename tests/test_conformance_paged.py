"""The conformance guests again, with paging on: the paged build of the emu's
handlers (switcher_emu_paged.c, every access through the soft TLB) must give
the real CPU's output too.

Each conformance source is compiled with its main() renamed, and linked with
a main that identity-maps all of RAM with 4 KiB pages (images/bench/
bench_paging.h, `paging=1`), turns paging on and then calls the original.
The reference is the same .linux twin test_conformance.py uses.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import IMAGES, build_images
from test_conformance import (
    HV_TIMEOUT,
    conformance_stems,
    first_difference,
    run_native,
)

PAGED_MAIN = """\
#include <hv_guest.h>
#include "bench_paging.h"

int conf_main(void);
int paged_main(void) __asm__("main");

int paged_main(void)
{
    bench_paging_from_cmdline();
    uint32_t cr0;
    __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
    if (!(cr0 & 0x80000000u))
        return 99;                  /* paging did not come on: fail loudly */
    return conf_main();
}
"""


@pytest.fixture(scope="module")
def paged_images(native, tmp_path_factory) -> Path:
    from hv import cc

    stems = conformance_stems()
    build_images("the conformance references", *(f"conf_{s}.linux" for s in stems))
    out = tmp_path_factory.mktemp("paged")
    main = out / "paged_main.c"
    main.write_text(PAGED_MAIN)
    bench = IMAGES / "bench"
    for stem in stems:
        source, _, opt = stem.partition("-")        # "mixed-O0": mixed.c at -O0
        obj = out / f"{stem}.o"
        flags = cc._target_flags("hv", [f"-{opt or 'O2'}", "-Dmain=conf_main",
                                        f"-I{IMAGES / 'conformance'}"])
        subprocess.run([cc._compiler(), *flags, "-c", str(IMAGES / "conformance" / f"{source}.c"),
                        "-o", str(obj)], check=True, capture_output=True)
        cc.compile_guest([obj, main], out / f"conf_{stem}.elf", ["-O2", f"-I{bench}"], "hv")
    return out


@pytest.mark.parametrize("stem", conformance_stems())
def test_guest_matches_cpu_with_paging_on(paged_images, stem):
    from conftest import BUILD

    import hv

    ref = run_native(BUILD / f"conf_{stem}.linux")
    assert ref.returncode == 0
    ex = hv.run(str(paged_images / f"conf_{stem}.elf"), cmdline="paging=1", timeout=HV_TIMEOUT)
    assert ex.reason is None, f"killed: {ex.reason}\n" + first_difference(ref.stdout, ex.console)
    assert ex.status == 0
    if ex.console != ref.stdout:
        pytest.fail(first_difference(ref.stdout, ex.console), pytrace=False)
