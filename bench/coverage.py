#!/usr/bin/env python3
"""What coverage costs: the compute guests with `hv run --coverage` on and off.

    python bench/coverage.py [--repeat N] [--only fib,sieve,crc32,...]

For each bench guest (images/bench/, built by images/build.py) it takes the
best of N runs (default 3) of Exit.elapsed (the run loop alone) without
coverage and with it (hv.coverage collecting, as `hv run --coverage` and
`pytest --hv-cov` do), checks that both print the same and retire the same
number of instructions, and prints the ratio.  The target is <= 1.3x.
Mapping the blocks to lines (the report) is not timed: it is done once per
session, not per instruction.  bench/README.md ("Coverage") has figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
for _path in (str(REPO_DIR), str(REPO_DIR / "images")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import hv  # noqa: E402
from hv import coverage  # noqa: E402

GUESTS = ("fib", "sieve", "crc32", "nbody", "spectral", "nbody_sse2", "spectral_sse2")
TARGET = 1.3


def _timed(image: Path, counting: bool) -> hv.Exit:
    if counting:
        coverage.start()
    try:
        return hv.run(image, memory_mib=64, timeout=300)
    finally:
        coverage.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(GUESTS))
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    import build  # images/build.py

    build.build_all(patterns=[f"bench_{n}.elf" for n in names], jobs=1)
    worst = 0.0
    print(f"{'guest':<16}{'instructions':>14}{'off s':>10}{'on s':>10}{'on/off':>8}")
    for name in names:
        image = REPO_DIR / "images" / "build" / f"bench_{name}.elf"
        best = {}
        for counting in (False, True):
            runs = [_timed(image, counting) for _ in range(args.repeat)]
            best[counting] = min(ex.elapsed for ex in runs)
            ref = runs[0]
        off = _timed(image, False)
        if (ref.console, ref.instructions) != (off.console, off.instructions):
            raise SystemExit(f"{name}: coverage changed the run")
        ratio = best[True] / best[False]
        worst = max(worst, ratio)
        print(f"{name:<16}{ref.instructions:>14}{best[False]:>10.3f}{best[True]:>10.3f}"
              f"{ratio:>7.2f}x")
    print(f"worst: {worst:.2f}x (target <= {TARGET}x)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
