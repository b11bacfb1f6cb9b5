#!/usr/bin/env python3
"""The full host's figures: timer interrupts, NOTIFY round trips, paging on/off.

    python bench/host.py [--repeat N] [--json OUT]

- timer: images/build/bench_timer_irq.elf takes 100,000 IRQ 0 interrupts, each
  handler re-arming a 1 us one-shot timer; once HALTing between them (the
  virtual clock jumps to each deadline) and once spinning with IF set.
  Figure: interrupts delivered per second of Exit.elapsed.
- notify: images/build/bench_notify.elf makes 100,000 NOTIFY calls to a
  Python device that reads 4 bytes of the request and returns them; and the
  same through hv.BlockDevice reading one 512-byte sector (the SDK's block
  request, built here in Python).  Figure: round trips per second.
- paging: the sieve, crc32 and fib benchmarks with `paging=1` (all RAM
  identity-mapped with 4 KiB pages, then paging on) and `paging=4m` (4 MiB
  pages), and `segments=1` (a null FS: the segmented build, paging off),
  against the same image with paging off.  Figure: paging-off time /
  paging-on time (1.0 = no cost; the target is >= 0.7), and the same for
  the segmented build.

Every run is checked (exit status 0, the expected console) and the best of N
repeats is kept.  See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
BUILD_DIR = REPO_DIR / "images" / "build"
sys.path.insert(0, str(REPO_DIR))

import hv  # noqa: E402

N = 100_000
PAGING_BENCHES = ("sieve", "crc32", "fib")
TARGET_PAGING = 0.7


class Echo(hv.Device):
    """Answers each request with its second u32."""

    name = "echo"

    def handle(self, bus, request: int) -> int:
        return int.from_bytes(bus.read(request + 4, 4), "little")


def run(image: str, cmdline: str = "", devices=(), expect: str | None = None) -> hv.Exit:
    ex = hv.run(str(BUILD_DIR / image), cmdline=cmdline, devices=devices, timeout=300)
    if ex.status != 0 or (expect is not None and expect not in ex.console.decode()):
        raise SystemExit(f"{image} {cmdline!r}: status {ex.status} ({ex.reason}), "
                         f"console {ex.console[-200:]!r}")
    return ex


def best(repeat: int, fn) -> float:
    return min(fn() for _ in range(repeat))


def bench_timer(repeat: int) -> dict:
    out = {}
    for mode in ("halt", "spin"):
        t = best(repeat, lambda m=mode: run("bench_timer_irq.elf", f"mode={m} n={N}",
                                            expect=f"{N} timer interrupts").elapsed)
        out[mode] = {"seconds": t, "per_second": N / t}
    return out


def bench_notify(repeat: int) -> dict:
    out = {}
    t = best(repeat, lambda: run("bench_notify.elf", f"n={N}", [Echo()],
                                 expect=f"{N} notify round trips").elapsed)
    out["echo"] = {"seconds": t, "per_second": N / t}
    with tempfile.NamedTemporaryFile(suffix=".img") as disk:
        disk.write(os.urandom(512 * 64))
        disk.flush()
        dev = hv.BlockDevice(disk.name)
        try:
            t = best(repeat, lambda: run("bench_blk_read.elf", f"n={N}", [dev],
                                         expect=f"{N} sector reads").elapsed)
        finally:
            dev.close()
    out["block_read_512"] = {"seconds": t, "per_second": N / t}
    return out


def bench_paging(repeat: int) -> dict:
    out = {}
    for name in PAGING_BENCHES:
        image = f"bench_{name}.elf"
        times: dict[str, float] = {}
        for _ in range(repeat):         # interleaved, so a slow spell hits all three
            for mode in ("", "paging=1", "paging=4m", "segments=1"):
                t = run(image, mode).elapsed
                times[mode or "off"] = min(times.get(mode or "off", t), t)
        out[name] = {
            "off_s": times["off"], "4k_s": times["paging=1"], "4m_s": times["paging=4m"],
            "ratio_4k": times["off"] / times["paging=1"],
            "ratio_4m": times["off"] / times["paging=4m"],
            "seg_s": times["segments=1"], "ratio_seg": times["off"] / times["segments=1"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(REPO_DIR / "images"))
    import build  # images/build.py

    report = build.build_all(patterns=["bench_*"])
    if not report.ok:
        raise SystemExit("building the bench images failed")

    figures = {"timer": bench_timer(args.repeat), "notify": bench_notify(args.repeat),
               "paging": bench_paging(args.repeat)}
    t = figures["timer"]
    print(f"timer interrupts/s: {t['halt']['per_second']:,.0f} (halting), "
          f"{t['spin']['per_second']:,.0f} (spinning)")
    n = figures["notify"]
    print(f"NOTIFY round trips/s: {n['echo']['per_second']:,.0f} (Python echo device), "
          f"{n['block_read_512']['per_second']:,.0f} (BlockDevice, 512-byte reads)")
    print(f"{'paging':8} {'off':>9} {'4 KiB':>9} {'ratio':>6} {'4 MiB':>9} {'ratio':>6} "
          f"{'segmented':>9} {'ratio':>6}")
    worst = 10.0
    for name, p in figures["paging"].items():
        print(f"{name:8} {p['off_s'] * 1e3:7.1f}ms {p['4k_s'] * 1e3:7.1f}ms "
              f"{p['ratio_4k']:6.2f} {p['4m_s'] * 1e3:7.1f}ms {p['ratio_4m']:6.2f} "
              f"{p['seg_s'] * 1e3:7.1f}ms {p['ratio_seg']:6.2f}")
        if name in ("sieve", "crc32"):
            worst = min(worst, p["ratio_4k"], p["ratio_4m"])
    print(f"worst paging-on speed (sieve, crc32): {worst:.2f}x of paging off; "
          f"target >= {TARGET_PAGING}: {'met' if worst >= TARGET_PAGING else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
