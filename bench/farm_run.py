"""farm figures: boot-to-ready per node, and per-test dispatch overhead.

    python bench/farm_run.py [--tests 1000] [--keep]

1. `farm up` of the embedded default (two i386 QEMU nodes under TCG) in a
   fresh run directory: per node, seconds from QEMU start to sshd's banner
   and to ready (a real SSH command, provisioning and `hv selftest` done).
2. The same N trivial tests run three ways in one session: through the farm
   (one xdist worker per node), locally with `pytest -n 2`, and locally
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tests", type=int, default=1000, help="trivial Python tests (default 1000)")
    ap.add_argument("--keep", action="store_true", help="leave the nodes up afterwards")
    opts = ap.parse_args()
    console = Console()
    run_dir = Path(tempfile.mkdtemp(prefix="farm-bench-"))
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
        boot = Table(title="farm up: boot to ready (two nodes booted in parallel)")
        for col in ("node", "QEMU start to sshd banner", "to ready (ssh, provision, selftest)"):
            boot.add_column(col)
        for node in state:
            boot.add_row(node["name"], f"{node['extra']['boot_to_sshd']} s",
                         f"{node['extra']['boot_to_ready']} s")
        figures["nodes"] = {n["name"]: n["extra"] for n in state}
        console.print(boot)
        console.print(f"farm up wall time: {figures['farm_up_wall_s']} s")

        rows = []
        suites = {"guest (suite_trivial.elf, 1000)": "images/build/suite_trivial.elf",
                  f"python ({opts.tests})": str(pyfile.relative_to(ROOT))}
        for label, path in suites.items():
            farm("run", "-q", path, run_dir=run_dir)          # warm: uploads, caches
            remote = session_seconds(farm("run", "-q", path, run_dir=run_dir).stdout)
            n2 = local(["-n", "2", path])
            serial = local([path])
            count = 1000 if path.endswith(".elf") else opts.tests
            rows.append((label, count, remote, n2, serial))
        table = Table(title="per-test dispatch: farm (2 TCG nodes) vs local")
        for col in ("tests", "farm", "local -n 2", "local serial", "farm / local -n 2",
                    "farm per test", "local -n 2 per test"):
            table.add_column(col, justify="right")
        for label, count, remote, n2, serial in rows:
            table.add_row(label, f"{remote:.2f} s", f"{n2:.2f} s", f"{serial:.2f} s",
                          f"{remote / n2:.1f}x", f"{remote / count * 1000:.1f} ms",
                          f"{n2 / count * 1000:.1f} ms")
            figures[label] = {"farm_s": remote, "local_n2_s": n2, "local_serial_s": serial}
        console.print(table)
    finally:
        if not opts.keep:
            farm("down", run_dir=run_dir, check=False)
        pyfile.unlink(missing_ok=True)
    out = ROOT / "bench" / "results" / "farm_run.json"
    out.write_text(json.dumps(figures, indent=1) + "\n")
    console.print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
