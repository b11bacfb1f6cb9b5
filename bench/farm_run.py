"""farm figures: boot-to-ready per node, and per-test dispatch overhead.

    python bench/farm_run.py [--tests 1000] [--repeat 3] [--keep] [--run-dir DIR]

1. `farm up` of the embedded default (two i386 QEMU nodes under TCG) in a
   fresh run directory: per node, seconds from QEMU start to sshd's banner
   and to ready (a real SSH command, provisioning and `hv selftest` done).
2. The same N trivial tests run through the farm (one xdist worker per node)
   batched (the default), with `--no-batch`, and with none selected (`-k
   nomatch`: the fixed cost of starting the workers and collecting), best of
   --repeat interleaved runs each; then locally with `pytest -n 2` and
   serially.  Once as guest tests (images/build/suite_trivial.elf: each test
   boots a fresh guest) and once as plain Python tests, which isolates the
   dispatch cost from guest execution on the emulated CPU.  The pytest
   session time (`in X s`) is compared, so provisioning and boot are not in it.

Needs root, qemu-system-i386 and the node image (built on first use).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
SESSION = re.compile(r" in ([0-9.]+)s")


def farm(*args: str, run_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "farm", args[0], "--run-dir", str(run_dir), *args[1:]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def session_seconds(output: str) -> float:
    found = SESSION.findall(output)
    if not found:
        sys.exit(f"bench: no pytest session time in:\n{output[-2000:]}")
    return float(found[-1])


def local(args: list[str]) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{proc.stdout[-2000:]}")
    return session_seconds(proc.stdout)


def farm_session(path: str, run_dir: Path, *extra: str) -> float:
    """The pytest session time of one `farm run -q PATH EXTRA...` (0 tests selected is
    not an error here)."""
    proc = farm("run", "-q", path, *extra, run_dir=run_dir, check=False)
    if proc.returncode not in (0, 5):
        sys.exit(f"bench: farm run {path} {' '.join(extra)} failed:\n{proc.stdout[-2000:]}")
    return session_seconds(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tests", type=int, default=1000, help="trivial Python tests (default 1000)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="farm runs of each kind, interleaved; the best is kept (default 3)")
    ap.add_argument("--keep", action="store_true", help="leave the nodes up afterwards")
    ap.add_argument("--run-dir", type=Path, default=None,
                    help="use (and keep) this run directory, e.g. one already up")
    opts = ap.parse_args()
    console = Console()
    run_dir = opts.run_dir or Path(tempfile.mkdtemp(prefix="farm-bench-"))
    keep = opts.keep or opts.run_dir is not None
    pyfile = ROOT / "bench" / "results" / "test_trivial_python.py"
    pyfile.parent.mkdir(exist_ok=True)
    pyfile.write_text("import pytest\n\n\n"
                      f"@pytest.mark.parametrize('i', range({opts.tests}))\n"
                      "def test_trivial(i):\n    assert i >= 0\n")
    figures: dict[str, object] = {}
    try:
        farm("image", run_dir=run_dir)
        t0 = time.monotonic()
        farm("up", run_dir=run_dir)
        figures["farm_up_wall_s"] = round(time.monotonic() - t0, 1)
        state = json.loads(farm("status", "--json", run_dir=run_dir).stdout)
        boot = Table(title="farm up: boot to ready (two nodes started in parallel)")
        for col in ("node", "how", "QEMU start to ready (ssh, provision, selftest)"):
            boot.add_column(col)
        for node in state:
            extra = node["extra"]
            how = "from the snapshot" if "snapshot" in extra else "cold boot"
            boot.add_row(node["name"], how, f"{extra.get('boot_to_ready', '?')} s")
        figures["nodes"] = {n["name"]: n["extra"] for n in state}
        console.print(boot)
        console.print(f"farm up wall time: {figures['farm_up_wall_s']} s")

        rows = []
        suites = {"guest (suite_trivial.elf, 1000)": "images/build/suite_trivial.elf",
                  f"python ({opts.tests})": str(pyfile.relative_to(ROOT))}
        kinds = {"batched": (), "--no-batch": ("--no-batch",), "0 selected": ("-k", "nomatch")}
        for label, path in suites.items():
            farm_session(path, run_dir)                       # warm: uploads, caches
            best = {kind: float("inf") for kind in kinds}
            for _ in range(opts.repeat):
                for kind, extra in kinds.items():
                    best[kind] = min(best[kind], farm_session(path, run_dir, *extra))
            n2 = local(["-n", "2", path])
            serial = local([path])
            count = 1000 if path.endswith(".elf") else opts.tests
            rows.append((label, count, best, n2, serial))
        table = Table(title="per-test dispatch: farm (2 TCG nodes) vs local, pytest session time")
        for col in ("tests", "farm batched", "farm --no-batch", "farm, 0 selected",
                    "per test batched", "per test --no-batch", "local -n 2", "local serial"):
            table.add_column(col, justify="right")
        for label, count, best, n2, serial in rows:
            fixed = best["0 selected"]

            def per(kind: str, best=best, fixed=fixed, count=count) -> float:
                """Milliseconds per test beyond the fixed cost (workers start, collect)."""
                return (best[kind] - fixed) / count * 1000

            table.add_row(label, f"{best['batched']:.2f} s", f"{best['--no-batch']:.2f} s",
                          f"{fixed:.2f} s", f"{per('batched'):.1f} ms",
                          f"{per('--no-batch'):.1f} ms", f"{n2:.2f} s", f"{serial:.2f} s")
            figures[label] = {"farm_batched_s": best["batched"],
                              "farm_no_batch_s": best["--no-batch"], "farm_none_selected_s": fixed,
                              "per_test_batched_ms": round(per("batched"), 2),
                              "per_test_no_batch_ms": round(per("--no-batch"), 2),
                              "local_n2_s": n2, "local_serial_s": serial}
        console.print(table)
        console.print("per test: (session time - the 0-selected session's) / tests: what each "
                      "test adds once the workers have started and collected")
    finally:
        if not keep:
            farm("down", run_dir=run_dir, check=False)
        pyfile.unlink(missing_ok=True)
    out = ROOT / "bench" / "results" / "farm_run.json"
    out.write_text(json.dumps(figures, indent=1) + "\n")
    console.print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
