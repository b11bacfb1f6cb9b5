"""The floor under a one-shot `hv run`: pyelftools reading an image over an mmap, nothing else.

    python bench/startup_floor.py IMAGE

It does the least that issue 13's start-up target still asks for: map the
file, open it with pyelftools' ELFFile and read its program headers.  There
is no hv code, no argument parser, no guest.  Everything pyelftools imports
but never calls while reading program headers is stood in for, more than
hv.elf itself dares to: its DWARF, ARM EHABI, dynamic, relocation, symbol
version and hash readers, construct's debugging aids, and `pprint` (which
construct's Container imports for its repr, and which imports `dataclasses`
and `inspect`).  What is left is the interpreter, the standard library that
pyelftools imports at run time (`typing`, and `re` through it), and
pyelftools' own modules.

bench/run.py times it next to `hv run hello.elf` and `python -c pass`
(bench/README.md, "One-shot hv run").  It prints the number of PT_LOAD
segments, so that a run that read nothing cannot pass for a fast one.
"""

import mmap
import os
import sys
import types

STOOD_IN_FOR = ("pprint",
                "elftools.construct.debug",
                "elftools.dwarf.dwarfinfo", "elftools.dwarf.dwarf_util",
                "elftools.ehabi.ehabiinfo",
                "elftools.elf.dynamic", "elftools.elf.relocation",
                "elftools.elf.gnuversions", "elftools.elf.hash")


class _StandIn(types.ModuleType):
    """Any name is a function that does nothing: reading program headers calls none."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


def main(path: str) -> int:
    sys.modules.update({name: _StandIn(name) for name in STOOD_IN_FOR})
    from elftools.elf.elffile import ELFFile

    fd = os.open(path, os.O_RDONLY)
    try:
        data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    loads = sum(1 for seg in ELFFile(data).iter_segments() if seg["p_type"] == "PT_LOAD")
    print(loads)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/startup_floor.py IMAGE")
    sys.exit(main(sys.argv[1]))
