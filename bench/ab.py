#!/usr/bin/env python3
"""A/B: this checkout's emu against another checkout's, on the same images, in one run.

    python bench/ab.py --base DIR [--repeat N] [--only fib,sieve,crc32] [--cmdline STR]

DIR is another checkout with its extension built in place (for example
`git worktree add /tmp/base HEAD~1 && (cd /tmp/base && python setup.py
build_ext --inplace)`).  Each benchmark image of *this* checkout runs under
both builds, each run in a fresh Python process that imports hv from one
checkout, interleaved A B A B ..., and the best Exit.elapsed of each is kept.
Both builds run the very same image, so only the emu differs; the instruction
counts must agree.  This is the "speed bench within 5 %" check for changes to
a hot path.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_DIR / "images" / "build"
BENCHMARKS = ("fib", "sieve", "crc32")

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import hv
ex = hv.run(sys.argv[2], cmdline=sys.argv[3], memory_mib=64, timeout=300)
print(json.dumps({"status": ex.status, "reason": ex.reason, "insns": ex.instructions,
                  "elapsed": ex.elapsed, "hv": hv.__file__}))
"""


def run_once(tree: Path, image: Path, cmdline: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(image), cmdline],
                         capture_output=True, text=True, check=True, cwd="/")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != 0:
        raise SystemExit(f"{image.name} under {tree}: status {result['status']} "
                         f"({result['reason']})")
    if not result["hv"].startswith(str(tree)):
        raise SystemExit(f"{tree}: imported hv from {result['hv']}, not from the checkout")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, type=Path, help="the other checkout (A)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default=",".join(BENCHMARKS))
    ap.add_argument("--cmdline", default="", help="guest command line for both")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    trees = {"base": args.base.resolve(), "this": REPO_DIR}
    figures = {}
    print(f"{'bench':8} {'base':>10} {'this':>10} {'this/base':>10}")
    for name in args.only.split(","):
        image = BUILD_DIR / f"bench_{name}.elf"
        if not image.is_file():
            raise SystemExit(f"{image} is missing: run python images/build.py first")
        best: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _ in range(args.repeat):
            for who, tree in trees.items():
                r = run_once(tree, image, args.cmdline)
                best[who] = min(best.get(who, r["elapsed"]), r["elapsed"])
                counts[who] = r["insns"]
        if counts["base"] != counts["this"]:
            print(f"  note: instruction counts differ: base {counts['base']}, "
                  f"this {counts['this']}")
        ratio = best["this"] / best["base"]
        figures[name] = {"base_s": best["base"], "this_s": best["this"], "ratio": ratio,
                         "instructions": counts["this"]}
        print(f"{name:8} {best['base'] * 1e3:8.1f}ms {best['this'] * 1e3:8.1f}ms {ratio:10.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
