"""Per-test overhead of guest test cases under pytest, next to plain Python tests.

    python bench/pytest_overhead.py [--repeat N] [--tests 1000] [--json OUT]

Runs, in one go and interleaved:
  * 1000 trivial guest test cases (images/build/suite_trivial.elf), each in a
    fresh guest, through hv's pytest plugin;
  * 1000 trivial plain-Python pytest tests (generated into a temporary file);
both serially and with `-n 2` (pytest-xdist), and reports wall time per
suite, time per test, the guest suite's extra cost per test, and the ratio
guest / Python.  Target (issue 3): the guest suite takes <= 2x the time of
the plain-Python suite.  The best (minimum) of N repeats is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "images" / "build" / "suite_trivial.elf"


def build_suite() -> None:
    spec = importlib.util.spec_from_file_location("hv_images_build", REPO / "images" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.build_all(patterns=["suite_trivial.elf"], check=True)


def python_suite(directory: Path, count: int) -> Path:
    path = directory / "test_trivial_python.py"
    body = "".join(f"def test_{n:04d}():\n    assert {n} == {n}\n\n\n" for n in range(count))
    path.write_text(body)
    return path


def run_pytest(target: Path, workers: int, expect: int) -> float:
    # Only the plugins the comparison needs: whatever else is installed in this
    # environment (hypothesis, benchmark ...) would slow both suites alike and
    # flatter the ratio.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-p", "hv.pytest_plugin", "-p", "xdist.plugin", str(target)]
    if workers:
        cmd += ["-n", str(workers)]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=target.parent, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or f"{expect} passed" not in proc.stdout:
        sys.exit(f"pytest {target.name} (-n {workers}) did not pass {expect} tests:\n"
                 f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def measure(repeat: int, count: int) -> dict[str, float]:
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plain = python_suite(Path(tmp), count)
        for _ in range(repeat):
            for workers in (0, 2):
                for kind, target, expect in (("python", plain, count),
                                             ("guest", SUITE, 1000)):
                    key = f"{kind}_n{workers}"
                    best[key] = min(best.get(key, float("inf")),
                                    run_pytest(target, workers, expect))
    return best


def report(best: dict[str, float], count: int) -> dict:
    table = Table(title=f"{count} trivial tests under pytest (best of runs, wall time)")
    for col in ("mode", "plain Python", "guest suite", "per test (Python)",
                "per test (guest)", "guest extra / test", "guest / Python"):
        table.add_column(col, justify="right")
    out = {}
    for workers in (0, 2):
        py, guest = best[f"python_n{workers}"], best[f"guest_n{workers}"]
        ratio = guest / py
        mode = "serial" if workers == 0 else f"-n {workers}"
        out[mode] = {"python_s": py, "guest_s": guest, "ratio": ratio,
                     "extra_per_test_ms": (guest - py) / count * 1e3}
        table.add_row(mode, f"{py:.2f} s", f"{guest:.2f} s", f"{py / count * 1e3:.2f} ms",
                      f"{guest / count * 1e3:.2f} ms", f"{(guest - py) / count * 1e3:.2f} ms",
                      f"{ratio:.2f}x")
    Console().print(table)
    worst = max(v["ratio"] for v in out.values())
    verdict = "met" if worst <= 2.0 else "NOT met"
    print(f"target: guest suite <= 2x plain Python: {verdict} (worst ratio {worst:.2f}x)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tests", type=int, default=1000, help="plain Python tests")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    build_suite()
    best = measure(args.repeat, args.tests)
    out = report(best, args.tests)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
