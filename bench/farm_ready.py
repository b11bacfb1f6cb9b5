#!/usr/bin/env python3
"""How soon a farm node is ready: a QEMU node from its snapshot against a cold
boot, and an SSH host provisioned from the controller, cold and cached.

    python bench/farm_ready.py [--repeat N] [--skip-ssh]

QEMU node: `farm up -n 1` in a fresh run directory, N times each way
(FARM_SNAPSHOTS=0 for the cold boot); the figure is the node's own
`boot_to_ready` (from starting QEMU to a passed health check) and the whole
command's wall time.  The snapshot is built first if missing (not timed).

SSH host: a throwaway sshd on 127.0.0.1 (tests/test_farm_sshd.py's), `farm up`
of an inventory with just that host: cold (the host holds nothing: the venv
is made and every wheel installed; the controller's wheel and wheelhouse
are cached) and cached (it holds this hv: nothing is sent).

Results go to stdout; bench/README.md ("farm: nodes ready") has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def farm(*args: str, run_dir: Path, env: dict | None = None) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "farm", args[0], "--run-dir", str(run_dir), *args[1:]]
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    took = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"farm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return took, done.stdout


def qemu_ready(snapshots: bool, repeat: int, work: Path) -> list[tuple[float, float]]:
    """(boot_to_ready, wall time of farm up) per try."""
    env = {} if snapshots else {"FARM_SNAPSHOTS": "0"}
    out = []
    for k in range(repeat):
        run = work / f"{'snap' if snapshots else 'cold'}-{k}"
        wall, _ = farm("up", "-n", "1", run_dir=run, env=env)
        state = json.loads((run / "state.json").read_text())
        (node,) = state["nodes"]
        assert ("snapshot" in node["extra"]) == snapshots, node["extra"]
        out.append((float(node["extra"]["boot_to_ready"]), wall))
        farm("down", run_dir=run)
    return out


def ssh_ready(work: Path) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_farm_sshd import Sshd
    server = Sshd(work / "sshd", sftp=False)
    try:
        inventory = server.inventory()
        cold, _ = farm("up", "-i", str(inventory), run_dir=work / "ssh-run")
        farm("down", run_dir=work / "ssh-run")
        cached, _ = farm("up", "-i", str(inventory), run_dir=work / "ssh-run")
        farm("down", run_dir=work / "ssh-run")
        return cold, cached
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ssh", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="farm-ready-"))
    (work / "sshd").mkdir()
    try:
        farm("up", "-n", "1", run_dir=work / "warmup")      # builds what is missing
        farm("down", run_dir=work / "warmup")
        for label, snaps in (("from the snapshot", True), ("cold boot", False)):
            tries = qemu_ready(snaps, args.repeat, work)
            ready = [t[0] for t in tries]
            wall = [t[1] for t in tries]
            print(f"QEMU node, {label}: boot_to_ready median {statistics.median(ready):.1f} s "
                  f"(min {min(ready):.1f}, max {max(ready):.1f}); farm up -n 1 median "
                  f"{statistics.median(wall):.1f} s")
        if not args.skip_ssh:
            cold, cached = ssh_ready(work)
            print(f"SSH host: farm up cold (venv + wheels installed) {cold:.1f} s; "
                  f"cached (nothing sent) {cached:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
