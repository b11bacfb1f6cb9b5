"""A one-shot `hv run` imports only what it needs (issue 13; bench/README.md, "One-shot hv run").

Each test starts a fresh interpreter in the source tree, so what it imports
is hv's doing and not this pytest process's.  The module sets are asserted,
not the time: bench/run.py measures that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What a one-shot run must not import: pyelftools' debug-info readers and
# construct's debugging aids (hv/elf.py defers them), and what only other
# commands or options need.
NOT_FOR_A_PLAIN_RUN = (
    "elftools.dwarf", "elftools.dwarf.dwarfinfo", "elftools.ehabi", "elftools.ehabi.ehabiinfo",
    "elftools.construct.debug", "pdb", "elftools.elf.dynamic", "elftools.elf.relocation",
    "elftools.elf.gnuversions", "elftools.elf.hash",
    "rich", "jinja2", "pytest", "importlib.metadata",
    "hv.coverage", "hv.gdbstub", "hv.pytest_plugin", "hv.cc", "hv.suite", "hv.selftest",
    "json", "tempfile", "socket",
)

# Runs `code` with hv importable from this tree; prints the modules it added as JSON.
PROBE = """\
import json, sys
before = set(sys.modules)
{code}
sys.stdout.flush()
print(json.dumps(sorted(set(sys.modules) - before)), file=sys.stderr)
"""


def _probe(code: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc, set(json.loads(proc.stderr.splitlines()[-1]))


@pytest.fixture(scope="module")
def hello(native, guest_images: Path) -> Path:
    return guest_images / "hello.elf"


def test_a_plain_run_imports_no_debug_info_reader(hello: Path) -> None:
    proc, added = _probe(f"from hv.cli import main\nstatus = main(['run', {str(hello)!r}])\n"
                         "assert status == 0, status")
    assert proc.stdout == "Hello from an hv guest!\n"
    # The run did read the image with pyelftools' ELFFile, and ran the extension.
    assert {"elftools.elf.elffile", "elftools.construct", "hv._native"} <= added
    assert sorted(added & set(NOT_FOR_A_PLAIN_RUN)) == []


def test_hv_info_and_the_api_import_no_debug_info_reader(hello: Path) -> None:
    _, added = _probe(f"import hv\nassert hv.run({str(hello)!r}).status == 0\n"
                      f"from hv.cli import main\nassert main(['info', {str(hello)!r}]) == 0")
    assert sorted(added & set(NOT_FOR_A_PLAIN_RUN)) == []


def test_version_still_comes_from_the_metadata() -> None:
    proc, added = _probe("from hv.cli import main\nmain(['--version'])")
    assert proc.stdout.startswith("hv ") and proc.stdout.strip() != "hv"
    assert "importlib.metadata" in added


def test_debug_info_works_after_the_deferred_import(sample_suites: Path) -> None:
    image = sample_suites / "suite_demo.elf"
    _, added = _probe(f"""\
import sys
import hv
import elftools.elf.elffile as elffile
assert "elftools.dwarf.dwarfinfo" not in sys.modules
from hv import coverage
rows = coverage.line_table({str(image)!r})
assert rows, "no line table rows"
import elftools.construct
import elftools.construct.debug
import elftools.dwarf.dwarfinfo as dwarfinfo
import elftools.ehabi.ehabiinfo as ehabiinfo
# The first debug-info call put the real names back into pyelftools.
assert elffile.DWARFInfo is dwarfinfo.DWARFInfo
assert elffile.EHABIInfo is ehabiinfo.EHABIInfo
assert elftools.construct.Probe is elftools.construct.debug.Probe
import elftools.elf.relocation as relocation
assert elffile.RelocationHandler is relocation.RelocationHandler
assert hv.load_image({str(image)!r}).symbols
""")
    assert "elftools.dwarf.dwarfinfo" in added


def test_hv_run_coverage_reads_the_line_table_in_a_fresh_process(
        sample_suites: Path, tmp_path: Path) -> None:
    image = sample_suites / "suite_demo.elf"
    proc = subprocess.run([sys.executable, "-m", "hv", "run", "--coverage", str(tmp_path),
                           str(image)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 2, proc.stderr
    assert "no DWARF line table" not in proc.stderr
    info = (tmp_path / "coverage.info").read_text()
    assert "\nDA:" in info and "SF:" in info


def test_pyelftools_imported_first_is_used_as_it_is() -> None:
    _, added = _probe("import elftools.elf.elffile as elffile\nimport hv.elf\n"
                      "assert hv.elf.ELFFile is elffile.ELFFile\n"
                      "assert not repr(elffile.DWARFInfo).startswith('<deferred')")
    assert "elftools.dwarf.dwarfinfo" in added


def test_a_pyelftools_that_needs_a_deferred_name_at_import_is_imported_plainly(
        hello: Path) -> None:
    # elftools.construct.adapters subclasses construct.core's classes at import
    # time: deferring core makes the guarded import fail, as a pyelftools that
    # used a deferred name so would.
    _probe(f"""\
import sys
import hv.elf as elf
for name in [name for name in sys.modules if name.startswith("elftools")]:
    del sys.modules[name]
elf._DEFERRED += ("elftools.construct.core",)
elffile = elf._import_elffile()
assert elffile is sys.modules["elftools.elf.elffile"]
assert not isinstance(elffile.DWARFInfo, elf._Forward), "imported the plain way"
assert not any(isinstance(module, elf._Deferred) for module in sys.modules.values())
with open({str(hello)!r}, "rb") as f:
    assert elffile.ELFFile(f)["e_machine"] == "EM_386"
""")


def test_the_startup_floor_reads_the_image_with_only_pyelftools(hello: Path) -> None:
    # bench/startup_floor.py is the floor bench/run.py sets under a one-shot
    # run: pyelftools' ELFFile over an mmap, with everything that reading
    # program headers never calls stood in for. It must still read the image
    # (it prints the PT_LOAD count), import no hv module, and import none of
    # the modules it stands in for, nor what only they pull in.
    floor = REPO / "bench" / "startup_floor.py"
    proc, added = _probe(f"import runpy\nprobe = runpy.run_path({str(floor)!r})\n"
                         f"probe['main']({str(hello)!r})\n"
                         "print(all(type(sys.modules[name]).__name__ == '_StandIn'\n"
                         "          for name in probe['STOOD_IN_FOR']))")
    import hv

    loads, stood_in = proc.stdout.split()
    assert int(loads) == len(hv.load_image(hello).segments) > 0
    assert stood_in == "True"
    assert not {name for name in added if name == "hv" or name.startswith("hv.")}
    assert not added & {"dataclasses", "inspect", "pdb", "elftools.dwarf", "elftools.ehabi"}
