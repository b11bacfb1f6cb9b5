#!/usr/bin/env python3
"""The hv benchmark: hv's emu switcher against Unicorn and the real CPU.

    python bench/run.py [--repeat N] [--only fib,sieve,crc32] [--json OUT]
                        [--hello-runs N] [--no-hello]

It builds the bench images (images/build.py), then runs each benchmark guest
three ways and keeps the best (minimum) of N repeats:

  hv       hv.run(image, memory_mib=64): time = Exit.elapsed (the run loop
           alone); the wall time of the whole call is recorded too.
           Exit.instructions / time = guest MIPS.
  unicorn  bench/unicorn_runner.py: emu_start alone (engine setup apart).
  native   the same source built as a static i386 Linux program: CPU time
           (user + system, from os.wait4's rusage) minus that of an empty
           static program built the same way (bench_empty.linux).

The three consoles must be identical, or the script stops with an error.
Then it times hello start-to-exit through hv.run and measures the peak RSS of
a hello guest.  See bench/README.md for what every figure means.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
IMAGES_DIR = REPO_DIR / "images"
BUILD_DIR = IMAGES_DIR / "build"

# Measure this tree's hv, whether or not some other hv is installed.
for _path in (str(REPO_DIR), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

BENCHMARKS = ("fib", "sieve", "crc32")
MEMORY_MIB = 64
HV_TIMEOUT = 300.0
UNICORN_TIMEOUT = 300.0
TARGET_GEOMEAN = 1.0  # hv at least as fast as Unicorn
TARGET_HELLO_S = 1e-3  # hello start-to-exit at most 1 ms (median)


class BenchError(Exception):
    """The benchmark cannot give a valid figure (wrong output, failed run)."""


# ---- Arithmetic (tested in tests/test_bench_harness.py) --------------------


def speed_ratio(reference_time: float | None, hv_time: float | None) -> float | None:
    """How many times faster hv is than the reference: reference_time / hv_time.

    > 1 means hv is faster.  None if either time is missing or hv's is not > 0.
    """
    if reference_time is None or hv_time is None or hv_time <= 0:
        return None
    return reference_time / hv_time


def geomean(values: Iterable[float | None]) -> float | None:
    """Geometric mean of the positive values given; None if there are none.

    A None entry (a figure that could not be measured) makes the result None:
    a mean over fewer benchmarks than asked for would be misleading.
    """
    vals = list(values)
    if not vals or any(v is None or v <= 0 for v in vals):
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def mips(instructions: int | None, seconds: float | None) -> float | None:
    """Millions of guest instructions per second."""
    if not instructions or not seconds or seconds <= 0:
        return None
    return instructions / seconds / 1e6


# ---- Results ----------------------------------------------------------------


@dataclass
class Samples:
    """Every repeat of one measurement; `best` is the minimum."""

    values: list[float] = field(default_factory=list)

    @property
    def best(self) -> float | None:
        return min(self.values) if self.values else None


@dataclass
class BenchResult:
    name: str
    console: str = ""
    instructions: int | None = None
    hv: Samples = field(default_factory=Samples)  # Exit.elapsed
    hv_wall: Samples = field(default_factory=Samples)  # the whole hv.run call
    unicorn: Samples = field(default_factory=Samples)  # emu_start
    unicorn_setup: Samples = field(default_factory=Samples)
    native: Samples = field(default_factory=Samples)  # rusage CPU - baseline
    native_wall: Samples = field(default_factory=Samples)  # wall - baseline wall

    def figures(self) -> dict:
        hv_t, uc_t, nat_t = self.hv.best, self.unicorn.best, self.native.best
        return {
            "name": self.name,
            "console": self.console,
            "instructions": self.instructions,
            "hv_s": hv_t,
            "hv_wall_s": self.hv_wall.best,
            "hv_mips": mips(self.instructions, hv_t),
            "unicorn_s": uc_t,
            "unicorn_setup_s": self.unicorn_setup.best,
            "unicorn_mips": mips(self.instructions, uc_t),
            "native_s": nat_t,
            "native_wall_s": self.native_wall.best,
            # the .linux build runs (nearly) the same instructions: an estimate
            "native_mips_est": mips(self.instructions, nat_t),
            "hv_vs_unicorn": speed_ratio(uc_t, hv_t),
            # slowdowns: how many times longer than the real CPU takes
            "hv_slowdown_vs_native": speed_ratio(hv_t, nat_t),
            "unicorn_slowdown_vs_native": speed_ratio(uc_t, nat_t),
            "samples": {
                key: asdict(getattr(self, key))["values"]
                for key in ("hv", "hv_wall", "unicorn", "unicorn_setup", "native", "native_wall")
            },
        }


# ---- Building ---------------------------------------------------------------


def load_build_module():
    """images/build.py as a module (images/ is not a package)."""
    if "hv_images_build" in sys.modules:
        return sys.modules["hv_images_build"]
    spec = importlib.util.spec_from_file_location("hv_images_build", IMAGES_DIR / "build.py")
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load {IMAGES_DIR / 'build.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def build_images(names: Sequence[str]) -> None:
    build = load_build_module()
    patterns = [f"bench_{n}.*" for n in (*names, "empty")] + ["hello.elf"]
    report = build.build_all(patterns=patterns)
    if not report.ok:
        details = "\n".join(f"{job.name}:\n{err}" for job, err in report.failed)
        raise BenchError(f"building the bench images failed:\n{details}")
    for path in [image(n, ".elf") for n in names] + [BUILD_DIR / "hello.elf"]:
        if not path.is_file():
            raise BenchError(f"{path} was not built")


def image(name: str, suffix: str) -> Path:
    return BUILD_DIR / f"bench_{name}{suffix}"


# ---- The three runners -----------------------------------------------------


def import_hv():
    """(hv module, None) or (None, why hv cannot run guests here)."""
    try:
        import hv
    except Exception as exc:  # noqa: BLE001 - any failure means "no hv figures"
        return None, f"import hv failed: {exc}"
    if not callable(getattr(hv, "run", None)):
        return None, "hv.run does not exist yet (hv Python API not in this tree)"
    return hv, None


def run_hv(hv, path: Path) -> tuple[bytes, int, float, float]:
    """(console, instructions, Exit.elapsed, wall) of one hv.run."""
    t0 = time.perf_counter()
    ex = hv.run(str(path), timeout=HV_TIMEOUT, memory_mib=MEMORY_MIB)
    wall = time.perf_counter() - t0
    if ex.status != 0:
        raise BenchError(
            f"hv: {path.name} ended with status {ex.status} ({ex.reason}); "
            f"console: {bytes(ex.console)[-300:]!r}"
        )
    return bytes(ex.console), int(ex.instructions), float(ex.elapsed), wall


def run_unicorn(path: Path) -> tuple[bytes, float, float]:
    """(console, emu_start time, setup time) of one Unicorn run."""
    import unicorn_runner

    ex = unicorn_runner.run_image(path, memory_mib=MEMORY_MIB, timeout=UNICORN_TIMEOUT)
    if ex.status != 0:
        raise BenchError(
            f"unicorn: {path.name} ended with status {ex.status} ({ex.reason}); "
            f"console: {ex.console[-300:]!r}"
        )
    return ex.console, ex.elapsed, ex.setup


def run_native(path: Path) -> tuple[bytes, float, float]:
    """(stdout, user+system CPU seconds, wall seconds) of one native run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(path)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, wait_status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    if proc.returncode != 0:
        raise BenchError(f"native: {path.name} exited with {proc.returncode}; stdout: {out!r}")
    return out, usage.ru_utime + usage.ru_stime, wall


# ---- The benchmark proper ---------------------------------------------------


def check_consoles(name: str, consoles: dict[str, bytes]) -> str:
    """The one console all runners printed; BenchError if they differ."""
    distinct = set(consoles.values())
    if len(distinct) != 1:
        lines = "\n".join(f"  {who:8} {out!r}" for who, out in consoles.items())
        raise BenchError(f"{name}: the runners disagree on the console:\n{lines}")
    return distinct.pop().decode("utf-8", "replace")


def native_baseline(repeat: int) -> tuple[float, float]:
    """Best CPU and wall time of the empty static program."""
    path = image("empty", ".linux")
    runs = [run_native(path) for _ in range(max(repeat, 10))]
    return min(r[1] for r in runs), min(r[2] for r in runs)


def run_benchmarks(
    names: Sequence[str],
    repeat: int,
    hv,
    log: Callable[[str], None] = print,
) -> tuple[list[BenchResult], dict]:
    base_cpu, base_wall = native_baseline(repeat)
    log(f"native baseline (empty static program): cpu {base_cpu * 1e3:.3f} ms, "
        f"wall {base_wall * 1e3:.3f} ms")
    results = []
    for name in names:
        res = BenchResult(name)
        elf, linux = image(name, ".elf"), image(name, ".linux")
        for rep in range(repeat):
            consoles: dict[str, bytes] = {}
            if hv is not None:
                out, insns, elapsed, wall = run_hv(hv, elf)
                consoles["hv"] = out
                if res.instructions is not None and insns != res.instructions:
                    raise BenchError(f"{name}: hv counted {insns} instructions, "
                                     f"then {res.instructions}: the emu is not deterministic")
                res.instructions = insns
                res.hv.values.append(elapsed)
                res.hv_wall.values.append(wall)
            out, elapsed, setup = run_unicorn(elf)
            consoles["unicorn"] = out
            res.unicorn.values.append(elapsed)
            res.unicorn_setup.values.append(setup)
            out, cpu, wall = run_native(linux)
            consoles["native"] = out
            res.native.values.append(max(cpu - base_cpu, 0.0))
            res.native_wall.values.append(max(wall - base_wall, 0.0))
            res.console = check_consoles(name, consoles).strip()
            log(f"{name} #{rep + 1}: " + ", ".join(
                f"{who} {s.values[-1] * 1e3:.1f} ms"
                for who, s in (("hv", res.hv), ("unicorn", res.unicorn), ("native", res.native))
                if s.values
            ))
        results.append(res)
    return results, {"native_baseline_cpu_s": base_cpu, "native_baseline_wall_s": base_wall}


def time_hello(hv, runs: int, warmup: int = 20) -> dict:
    """hello start-to-exit through hv.run: the whole call, imports excluded."""
    path = BUILD_DIR / "hello.elf"
    walls, elapsed = [], []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        ex = hv.run(str(path), timeout=10.0, memory_mib=MEMORY_MIB)
        wall = time.perf_counter() - t0
        if ex.status != 0:
            raise BenchError(f"hv: hello.elf ended with status {ex.status} ({ex.reason})")
        if i >= warmup:
            walls.append(wall)
            elapsed.append(float(ex.elapsed))
    return {
        "runs": runs,
        "warmup": warmup,
        "wall_median_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "run_loop_median_s": statistics.median(elapsed),
        "instructions": int(ex.instructions),
    }


def time_hello_unicorn(runs: int, warmup: int = 5) -> dict:
    """The same for Unicorn, for comparison: run_image end to end."""
    import unicorn_runner

    path = BUILD_DIR / "hello.elf"
    walls = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        unicorn_runner.run_image(path, memory_mib=MEMORY_MIB)
        if i >= warmup:
            walls.append(time.perf_counter() - t0)
    return {"runs": runs, "wall_median_s": statistics.median(walls), "wall_min_s": min(walls)}


def _peak_rss_kib(code: str) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_DIR), str(BENCH_DIR), *filter(None, [env.get("PYTHONPATH")])]
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_DIR,
        check=False,
    )
    if out.returncode != 0:
        raise BenchError(f"RSS probe failed ({out.returncode}):\n{code}\n{out.stderr}")
    return int(out.stdout.strip().splitlines()[-1])


def peak_rss(with_hv: bool) -> dict:
    """Peak RSS (KiB) of a fresh interpreter: imports only, and with one hello run.

    The probe reads VmHWM (the peak RSS of its own address space) from
    /proc/self/status.  getrusage's ru_maxrss is no good here: Linux carries
    the parent's peak over into a vfork()ed child at exec, so every probe
    would report at least this (large) benchmark process.
    """
    hello = str(BUILD_DIR / "hello.elf")
    show = (
        "print([line.split()[1] for line in open('/proc/self/status') "
        "if line.startswith('VmHWM:')][0])"
    )
    result = {}
    if with_hv:
        result["hv_import_kib"] = _peak_rss_kib(f"import hv; {show}")
        result["hv_hello_kib"] = _peak_rss_kib(
            f"import hv; hv.run({hello!r}, memory_mib={MEMORY_MIB}); {show}"
        )
    result["unicorn_import_kib"] = _peak_rss_kib(f"import unicorn_runner, unicorn; {show}")
    result["unicorn_hello_kib"] = _peak_rss_kib(
        f"import unicorn_runner; unicorn_runner.run_image({hello!r}, memory_mib={MEMORY_MIB}); "
        f"{show}"
    )
    return result


# ---- Output -----------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "pending"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_num(value: float | None, suffix: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def machine_info() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import unicorn

        info["unicorn"] = unicorn.__version__
    except ImportError:
        pass
    return info


def print_report(console, results: list[BenchResult], summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"hv emu switcher vs Unicorn vs native (best of {summary['repeat']})")
    for col in ("benchmark", "hv time", "hv MIPS", "Unicorn time", "Unicorn MIPS",
                "native time", "hv vs Unicorn", "hv ÷ native"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for res in results:
        fig = res.figures()
        table.add_row(
            res.name,
            fmt_time(fig["hv_s"]),
            fmt_num(fig["hv_mips"]),
            fmt_time(fig["unicorn_s"]),
            fmt_num(fig["unicorn_mips"]),
            fmt_time(fig["native_s"]),
            fmt_num(fig["hv_vs_unicorn"], "×", 2),
            fmt_num(fig["hv_slowdown_vs_native"], "×", 1),
        )
    console.print(table)
    console.print("hv vs Unicorn = Unicorn time / hv time (> 1: hv is faster); "
                  "hv ÷ native = hv time / native time (how many times slower than the CPU).")
    gm = summary["geomean_hv_vs_unicorn"]
    if gm is None:
        console.print("[yellow]geometric mean hv vs Unicorn: pending (no hv figures)[/]")
    else:
        met = gm >= TARGET_GEOMEAN
        console.print(
            f"geometric mean hv vs Unicorn: [bold]{gm:.2f}×[/] "
            f"(target ≥ {TARGET_GEOMEAN:.1f}×: {'[green]met' if met else '[red]NOT met'}[/])"
        )
    walls = [(r.name, r.hv_wall.best) for r in results if r.hv_wall.best is not None]
    if walls:
        console.print("hv.run wall time, loading included (best): "
                      + ", ".join(f"{name} {fmt_time(t)}" for name, t in walls))
    setups = [r.unicorn_setup.best for r in results if r.unicorn_setup.best is not None]
    if setups:
        console.print(f"Unicorn setup (engine, RAM map, load, hooks), not in its times: "
                      f"{fmt_time(min(setups))}–{fmt_time(max(setups))}")
    console.print(f"native: user+system CPU time from os.wait4 rusage, minus an empty static "
                  f"program's {fmt_time(summary['native_baseline_cpu_s'])}")

    hello = summary.get("hello")
    if hello:
        met = hello["wall_median_s"] <= TARGET_HELLO_S
        console.print(
            f"hello start-to-exit via hv.run ({hello['runs']} runs after {hello['warmup']} "
            f"warm-up): median [bold]{fmt_time(hello['wall_median_s'])}[/], "
            f"min {fmt_time(hello['wall_min_s'])} (run loop alone: median "
            f"{fmt_time(hello['run_loop_median_s'])}; target ≤ 1 ms: "
            f"{'[green]met' if met else '[red]NOT met'}[/])"
        )
    uc_hello = summary.get("hello_unicorn")
    if uc_hello:
        console.print(f"hello start-to-exit via Unicorn run_image, for comparison: median "
                      f"{fmt_time(uc_hello['wall_median_s'])}, "
                      f"min {fmt_time(uc_hello['wall_min_s'])}")
    rss = summary.get("rss")
    if rss:
        if "hv_hello_kib" in rss:
            console.print(
                f"peak RSS, hello with {MEMORY_MIB} MiB RAM: hv [bold]"
                f"{rss['hv_hello_kib'] / 1024:.1f} MiB[/] (import hv alone: "
                f"{rss['hv_import_kib'] / 1024:.1f} MiB, so the guest adds "
                f"{(rss['hv_hello_kib'] - rss['hv_import_kib']) / 1024:.1f} MiB)"
            )
        console.print(
            f"peak RSS, hello under Unicorn: {rss['unicorn_hello_kib'] / 1024:.1f} MiB "
            f"(imports alone: {rss['unicorn_import_kib'] / 1024:.1f} MiB)"
        )
    if summary.get("hv_unavailable"):
        console.print(f"[yellow]hv figures pending: {summary['hv_unavailable']}[/]")


# ---- Main -------------------------------------------------------------------


def parse_only(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {','.join(BENCHMARKS)}"
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark hv's emu switcher.")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (best is kept)")
    parser.add_argument("--only", type=parse_only, default=list(BENCHMARKS),
                        help="comma-separated subset of " + ",".join(BENCHMARKS))
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--hello-runs", type=int, default=200, help="hello start-to-exit runs")
    parser.add_argument("--no-hello", action="store_true", help="skip the hello and RSS figures")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.hello_runs < 1:
        parser.error("--repeat and --hello-runs must be at least 1")

    from rich.console import Console

    # A pipe gets 80 columns by default: too narrow for the table.
    console = Console(width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

    def log(msg: str) -> None:
        err.print(f"[dim]{msg}[/]", highlight=False)

    try:
        import unicorn  # noqa: F401
        import unicorn_runner  # noqa: F401 - fail early with a clear message
    except ImportError as exc:
        err.print(f"run.py: Unicorn is needed as the peer: {exc} (pip install unicorn)")
        return 2

    try:
        log("building images ...")
        build_images(args.only)
        hv, hv_unavailable = import_hv()
        if hv_unavailable:
            err.print(f"[yellow]{hv_unavailable}: measuring Unicorn and native only[/]")
        results, baseline = run_benchmarks(args.only, args.repeat, hv, log)
        summary: dict = {
            "repeat": args.repeat,
            "memory_mib": MEMORY_MIB,
            "machine": machine_info(),
            "hv_unavailable": hv_unavailable,
            **baseline,
            "geomean_hv_vs_unicorn": geomean(r.figures()["hv_vs_unicorn"] for r in results),
            "geomean_hv_slowdown_vs_native": geomean(
                r.figures()["hv_slowdown_vs_native"] for r in results
            ),
        }
        if not args.no_hello:
            if hv is not None:
                log(f"hello start-to-exit x{args.hello_runs} ...")
                summary["hello"] = time_hello(hv, args.hello_runs)
            summary["hello_unicorn"] = time_hello_unicorn(min(args.hello_runs, 50))
            log("peak RSS ...")
            summary["rss"] = peak_rss(with_hv=hv is not None)
    except BenchError as exc:
        err.print(f"[bold red]run.py: {exc}[/]", highlight=False)
        return 1

    print_report(console, results, summary)
    gm = summary["geomean_hv_vs_unicorn"]
    hello = summary.get("hello")
    summary["targets"] = {
        "geomean_ge_1": None if gm is None else gm >= TARGET_GEOMEAN,
        "hello_le_1ms": None if not hello else hello["wall_median_s"] <= TARGET_HELLO_S,
    }
    if args.json:
        data = {**summary, "benchmarks": [r.figures() for r in results]}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
