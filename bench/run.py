#!/usr/bin/env python3
"""The hv benchmark: hv's emu and bt switchers against Unicorn, qemu-i386 and the real CPU.

    python bench/run.py [--repeat N] [--only fib,sieve,nbody] [--json OUT]
                        [--hello-runs N] [--oneshot-runs N] [--no-hello]

It builds the bench images (images/build.py), then runs each benchmark guest
four ways and keeps the best (minimum) of N repeats:

  hv       hv.run(image, memory_mib=64, switcher="emu"): time = Exit.elapsed
           (the run loop alone); the wall time of the whole call is recorded
           too.  Exit.instructions / time = guest MIPS.
  hv bt    the same with switcher="bt" (x86-64 hosts; docs/switchers.md): its
           console and instruction count must be the emu's.
  unicorn  bench/unicorn_runner.py: emu_start alone (engine setup apart).
  qemu     the .linux build under QEMU's user-mode emulator, qemu-i386
           (Debian's qemu-user): CPU time as for native, minus that of
           qemu-i386 running the empty program.
  native   the same source built as a static i386 Linux program: CPU time
           (user + system, from os.wait4's rusage) minus that of an empty
           static program built the same way (bench_empty.linux).

hv's console must be the real CPU's, or the script stops with an error.  A
peer (Unicorn, qemu-i386) that fails a benchmark or prints something else
does not stop the run: the table says "failed" and a line below it says why.
Then it times hello start-to-exit through hv.run, the process time of a
one-shot `hv run hello.elf` next to `qemu-i386 bench_empty.linux` and the
floor under it (bench/startup_floor.py), and measures
the peak RSS of a hello guest.  See bench/README.md for what every figure means.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import shutil
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

INTEGER_BENCHMARKS = ("fib", "sieve", "crc32")
# x87 (gcc's -m32 default) and SSE2 (-msse2 -mfpmath=sse) builds of each kernel.
FLOAT_BENCHMARKS = ("nbody", "spectral", "nbody_sse2", "spectral_sse2")
BENCHMARKS = INTEGER_BENCHMARKS + FLOAT_BENCHMARKS
PEERS = ("unicorn", "qemu")
QEMU = "qemu-i386"
MEMORY_MIB = 64
HV_TIMEOUT = 300.0
UNICORN_TIMEOUT = 300.0
TARGET_GEOMEAN = 1.0  # hv at least as fast as Unicorn
TARGET_HELLO_S = 1e-3  # hello start-to-exit at most 1 ms (median)
TARGET_ONESHOT_S = 25e-3  # one-shot `hv run hello.elf`: at most 25 ms of process time (best)
# What the `hv` console script runs (hv.cli:main), with this tree's hv first on sys.path.
HV_ENTRY = "import sys; sys.path.insert(0, {repo!r}); from hv.cli import main; sys.exit(main())"


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
    hv_bt: Samples = field(default_factory=Samples)  # Exit.elapsed under switcher="bt"
    unicorn: Samples = field(default_factory=Samples)  # emu_start
    unicorn_setup: Samples = field(default_factory=Samples)
    qemu: Samples = field(default_factory=Samples)  # qemu-i386 rusage CPU - its baseline
    native: Samples = field(default_factory=Samples)  # rusage CPU - baseline
    native_wall: Samples = field(default_factory=Samples)  # wall - baseline wall
    # peer -> why it has no figure for this benchmark (it failed, or is missing)
    failures: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict:
        hv_t, uc_t, nat_t = self.hv.best, self.unicorn.best, self.native.best
        qemu_t = self.qemu.best
        return {
            "name": self.name,
            "console": self.console,
            "instructions": self.instructions,
            "hv_s": hv_t,
            "hv_wall_s": self.hv_wall.best,
            "hv_mips": mips(self.instructions, hv_t),
            "hv_bt_s": self.hv_bt.best,
            "hv_bt_mips": mips(self.instructions, self.hv_bt.best),
            "unicorn_s": uc_t,
            "unicorn_setup_s": self.unicorn_setup.best,
            "unicorn_mips": mips(self.instructions, uc_t),
            "qemu_s": qemu_t,
            "qemu_mips_est": mips(self.instructions, qemu_t),
            "native_s": nat_t,
            "native_wall_s": self.native_wall.best,
            # the .linux build runs (nearly) the same instructions: an estimate
            "native_mips_est": mips(self.instructions, nat_t),
            "hv_vs_unicorn": speed_ratio(uc_t, hv_t),
            "hv_vs_qemu": speed_ratio(qemu_t, hv_t),
            "hv_bt_vs_qemu": speed_ratio(qemu_t, self.hv_bt.best),
            "hv_bt_vs_emu": speed_ratio(hv_t, self.hv_bt.best),
            # slowdowns: how many times longer than the real CPU takes
            "hv_slowdown_vs_native": speed_ratio(hv_t, nat_t),
            "hv_bt_slowdown_vs_native": speed_ratio(self.hv_bt.best, nat_t),
            "unicorn_slowdown_vs_native": speed_ratio(uc_t, nat_t),
            "qemu_slowdown_vs_native": speed_ratio(qemu_t, nat_t),
            "failures": dict(self.failures),
            "samples": {
                key: asdict(getattr(self, key))["values"]
                for key in ("hv", "hv_wall", "hv_bt", "unicorn", "unicorn_setup", "qemu", "native",
                            "native_wall")
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


def run_hv(hv, path: Path, switcher: str = "emu") -> tuple[bytes, int, float, float]:
    """(console, instructions, Exit.elapsed, wall) of one hv.run."""
    t0 = time.perf_counter()
    ex = hv.run(str(path), timeout=HV_TIMEOUT, memory_mib=MEMORY_MIB, switcher=switcher)
    wall = time.perf_counter() - t0
    if ex.status != 0:
        raise BenchError(
            f"hv {switcher}: {path.name} ended with status {ex.status} ({ex.reason}); "
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


def run_native(path: Path, prefix: Sequence[str] = (), who: str = "native"
               ) -> tuple[bytes, float, float]:
    """(stdout, user+system CPU seconds, wall seconds) of one native run
    (of `prefix + [path]`: e.g. the program under qemu-i386)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen([*prefix, str(path)], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise BenchError(f"{who}: cannot run {path.name}: {exc}") from None
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _, wait_status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    if proc.returncode != 0:
        raise BenchError(f"{who}: {path.name} exited with {proc.returncode}; "
                         f"stdout: {out[-300:]!r}")
    return out, usage.ru_utime + usage.ru_stime, wall


def find_qemu() -> tuple[str | None, str | None]:
    """(path of qemu-i386, None) or (None, why there are no QEMU figures)."""
    path = shutil.which(QEMU)
    if path is None:
        return None, f"{QEMU} not found (Debian: apt-get install qemu-user)"
    return path, None


# ---- The benchmark proper ---------------------------------------------------


def check_consoles(name: str, consoles: dict[str, bytes]) -> str:
    """The one console all runners printed; BenchError if they differ."""
    distinct = set(consoles.values())
    if len(distinct) != 1:
        lines = "\n".join(f"  {who:8} {out!r}" for who, out in consoles.items())
        raise BenchError(f"{name}: the runners disagree on the console:\n{lines}")
    return distinct.pop().decode("utf-8", "replace")


def peer_mismatch(reference: bytes, out: bytes) -> str | None:
    """Why a peer's console is not the real CPU's (None if it is)."""
    if out == reference:
        return None
    ref_lines, out_lines = reference.splitlines(), out.splitlines()
    for i, (want, got) in enumerate(zip(ref_lines, out_lines, strict=False)):
        if want != got:
            return f"wrong output at line {i + 1}: {got!r}, the CPU prints {want!r}"
    return (f"wrong output: {len(out_lines)} lines, the CPU prints {len(ref_lines)} "
            f"(last: {out[-80:]!r})")


def native_baseline(repeat: int, prefix: Sequence[str] = ()) -> tuple[float, float]:
    """Best CPU and wall time of the empty static program (under `prefix`)."""
    path = image("empty", ".linux")
    runs = [run_native(path, prefix, prefix[0] if prefix else "native")
            for _ in range(max(repeat, 10))]
    return min(r[1] for r in runs), min(r[2] for r in runs)


def unicorn_once(res: BenchResult, elf: Path) -> tuple[bytes, float]:
    """(console, emu_start time) of one Unicorn run; the setup time goes into res."""
    out, elapsed, setup = run_unicorn(elf)
    res.unicorn_setup.values.append(setup)
    return out, elapsed


def qemu_once(qemu: str, baseline: float, linux: Path) -> tuple[bytes, float]:
    """(stdout, CPU time less qemu-i386's own start-up) of the .linux build under QEMU."""
    out, cpu, _ = run_native(linux, [qemu], QEMU)
    return out, max(cpu - baseline, 0.0)


def run_peer(res: BenchResult, who: str, run: Callable[[], tuple[bytes, float]],
             reference: bytes) -> None:
    """One run of a peer (Unicorn or qemu-i386) on res's benchmark.

    A peer that fails, or prints other than the real CPU, is recorded in
    res.failures (its times are dropped) and not run again: a figure for it
    would be meaningless, and it must not stop the others.
    """
    if who in res.failures:
        return
    try:
        out, seconds = run()
        why = peer_mismatch(reference, out)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        why = str(exc) or type(exc).__name__
    if why is not None:
        res.failures[who] = why
        getattr(res, who).values.clear()
        return
    getattr(res, who).values.append(seconds)


def run_benchmarks(
    names: Sequence[str],
    repeat: int,
    hv,
    log: Callable[[str], None] = print,
    qemu: str | None = None,
) -> tuple[list[BenchResult], dict]:
    base_cpu, base_wall = native_baseline(repeat)
    log(f"native baseline (empty static program): cpu {base_cpu * 1e3:.3f} ms, "
        f"wall {base_wall * 1e3:.3f} ms")
    extra = {"native_baseline_cpu_s": base_cpu, "native_baseline_wall_s": base_wall}
    if qemu is not None:
        qemu_base, _ = native_baseline(repeat, [qemu])
        extra["qemu_baseline_cpu_s"] = qemu_base
        log(f"qemu-i386 baseline (the empty program under it): cpu {qemu_base * 1e3:.3f} ms")
    results = []
    for name in names:
        res = BenchResult(name)
        elf, linux = image(name, ".elf"), image(name, ".linux")
        for rep in range(repeat):
            reference, cpu, wall = run_native(linux)
            res.native.values.append(max(cpu - base_cpu, 0.0))
            res.native_wall.values.append(max(wall - base_wall, 0.0))
            console = reference.decode("utf-8", "replace").strip()
            if rep and console != res.console:
                raise BenchError(f"{name}: the native reference printed {console!r}, "
                                 f"then {res.console!r}")
            res.console = console
            if hv is not None:
                out, insns, elapsed, wall = run_hv(hv, elf)
                check_consoles(name, {"native": reference, "hv": out})
                if res.instructions is not None and insns != res.instructions:
                    raise BenchError(f"{name}: hv counted {insns} instructions, "
                                     f"then {res.instructions}: the emu is not deterministic")
                res.instructions = insns
                res.hv.values.append(elapsed)
                res.hv_wall.values.append(wall)
                if "bt" in hv.guest.switchers():
                    out, insns, elapsed, _ = run_hv(hv, elf, "bt")
                    check_consoles(name, {"native": reference, "hv bt": out})
                    if insns != res.instructions:
                        raise BenchError(f"{name}: hv bt counted {insns} instructions, the "
                                         f"emu {res.instructions}: bt must count exactly")
                    res.hv_bt.values.append(elapsed)
            run_peer(res, "unicorn", functools.partial(unicorn_once, res, elf), reference)
            if qemu is not None:
                run_peer(res, "qemu", functools.partial(
                    qemu_once, qemu, extra["qemu_baseline_cpu_s"], linux), reference)
            log(f"{name} #{rep + 1}: " + ", ".join(
                f"{who} {s.values[-1] * 1e3:.1f} ms"
                for who, s in (("hv", res.hv), ("hv bt", res.hv_bt), ("unicorn", res.unicorn),
                               ("qemu", res.qemu), ("native", res.native))
                if s.values
            ) + "".join(f", {who} failed" for who in res.failures))
        for who, why in res.failures.items():
            log(f"{name}: no {who} figure: {why}")
        results.append(res)
    return results, extra


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


def oneshot_commands(qemu: str | None) -> dict[str, list[str]]:
    """The one-shot commands timed side by side: what -> argv."""
    hello = str(BUILD_DIR / "hello.elf")
    commands = {
        "hv_run": [sys.executable, "-c", HV_ENTRY.format(repo=str(REPO_DIR)), "run", hello],
        "python": [sys.executable, "-c", "pass"],
        # pyelftools reading hello's program headers and nothing else: the floor under hv_run.
        "floor": [sys.executable, str(BENCH_DIR / "startup_floor.py"), hello],
    }
    if qemu is not None:
        commands["qemu"] = [qemu, str(image("empty", ".linux"))]
    return commands


def oneshot_figures(samples: dict[str, list[float]]) -> dict:
    """Best and median process time of each one-shot command; the target is on hv's best."""
    figures: dict = {"runs": min(map(len, samples.values()), default=0)}
    for what, values in samples.items():
        figures[f"{what}_cpu_min_s"] = min(values)
        figures[f"{what}_cpu_median_s"] = statistics.median(values)
    hv_best = figures.get("hv_run_cpu_min_s")
    figures["target_met"] = None if hv_best is None else hv_best <= TARGET_ONESHOT_S
    return figures


def time_oneshot(runs: int, qemu: str | None) -> dict:
    """Process time (user + system, os.wait4) of a one-shot `hv run hello.elf`.

    It is timed next to `python -c pass` (the interpreter's own start-up, the
    floor under any Python command), bench/startup_floor.py (pyelftools
    reading the image and nothing else, the floor under `hv run`) and
    `qemu-i386 bench_empty.linux`, interleaved so that a slow spell hits them
    alike.  hv's modules are
    compiled first: with PYTHONDONTWRITEBYTECODE set, every run would compile
    them again, which an installed hv never does.
    """
    import compileall

    compileall.compile_dir(str(REPO_DIR / "hv"), quiet=1)
    commands = oneshot_commands(qemu)
    samples: dict[str, list[float]] = {what: [] for what in commands}
    for _ in range(runs):
        for what, argv in commands.items():
            out, cpu, _ = run_native(Path(argv[-1]), argv[:-1], what)
            if what == "hv_run" and out != b"Hello from an hv guest!\n":
                raise BenchError(f"hv run hello.elf printed {out[-300:]!r}")
            if what == "floor" and not out.strip().isdigit():
                raise BenchError(f"bench/startup_floor.py printed {out[-300:]!r}")
            samples[what].append(cpu)
    return {**oneshot_figures(samples), "samples": samples}


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


def group_geomean(results: Sequence[BenchResult], key: str,
                  group: Sequence[str] = BENCHMARKS) -> float | None:
    """geomean() of one figure over the results whose benchmark is in group
    (None when there are none, or one of them lacks the figure)."""
    return geomean(r.figures()[key] for r in results if r.name in group)


def summary_geomeans(results: Sequence[BenchResult]) -> dict:
    """The geometric means the report shows.  The hv-vs-Unicorn target is
    defined on the integer benchmarks alone, as it was before there were
    floating-point ones; those get their own mean."""
    return {
        "geomean_hv_vs_unicorn": group_geomean(results, "hv_vs_unicorn", INTEGER_BENCHMARKS),
        "geomean_hv_vs_unicorn_float": group_geomean(results, "hv_vs_unicorn",
                                                     FLOAT_BENCHMARKS),
        "geomean_hv_vs_qemu": group_geomean(results, "hv_vs_qemu"),
        # issue 13's target: qemu-i386 time / hv bt time on fib, sieve, crc32
        "geomean_hv_bt_vs_qemu": group_geomean(results, "hv_bt_vs_qemu", INTEGER_BENCHMARKS),
        "geomean_hv_bt_vs_emu": group_geomean(results, "hv_bt_vs_emu"),
        "geomean_hv_slowdown_vs_native": group_geomean(results, "hv_slowdown_vs_native"),
        # issue 13's other target: hv bt within 2x of native on the same three
        "geomean_hv_bt_slowdown_vs_native": group_geomean(results, "hv_bt_slowdown_vs_native",
                                                          INTEGER_BENCHMARKS),
    }


def print_report(console, results: list[BenchResult], summary: dict) -> None:
    from rich.table import Table

    table = Table(title="hv emu and bt switchers vs Unicorn vs qemu-i386 vs native "
                        f"(best of {summary['repeat']})")
    for col in ("benchmark", "hv time", "hv MIPS", "hv bt time", "hv bt vs emu", "Unicorn time",
                "Unicorn MIPS", "qemu-i386 time", "native time", "hv vs Unicorn", "hv vs qemu-i386",
                "hv ÷ native"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for res in results:
        fig = res.figures()

        def peer(who: str, cell: str, res: BenchResult = res) -> str:
            return "[red]failed[/]" if who in res.failures else cell

        table.add_row(
            res.name,
            fmt_time(fig["hv_s"]),
            fmt_num(fig["hv_mips"]),
            fmt_time(fig["hv_bt_s"]),
            fmt_num(fig["hv_bt_vs_emu"], "×", 2),
            peer("unicorn", fmt_time(fig["unicorn_s"])),
            peer("unicorn", fmt_num(fig["unicorn_mips"])),
            peer("qemu", fmt_time(fig["qemu_s"])),
            fmt_time(fig["native_s"]),
            peer("unicorn", fmt_num(fig["hv_vs_unicorn"], "×", 2)),
            peer("qemu", fmt_num(fig["hv_vs_qemu"], "×", 2)),
            fmt_num(fig["hv_slowdown_vs_native"], "×", 1),
        )
    console.print(table)
    console.print("hv = the emu switcher, hv bt = the bt switcher (bt vs emu = emu time / bt "
                  "time); hv vs Unicorn = Unicorn time / hv time (> 1: hv is faster), the same "
                  "for qemu-i386; hv ÷ native = hv time / native time (how many times slower "
                  "than the CPU).")
    for res in results:
        for who, why in res.failures.items():
            console.print(f"[yellow]{res.name}: no {who} figure: {why}[/]", highlight=False)
    gm = summary["geomean_hv_vs_unicorn"]
    if gm is not None:
        met = gm >= TARGET_GEOMEAN
        console.print(
            f"geometric mean hv vs Unicorn, integer benchmarks: [bold]{gm:.2f}×[/] "
            f"(target ≥ {TARGET_GEOMEAN:.1f}×: {'[green]met' if met else '[red]NOT met'}[/])"
        )
    elif any(r.name in INTEGER_BENCHMARKS for r in results):
        console.print("[yellow]geometric mean hv vs Unicorn: pending (a figure is missing)[/]")
    for key, what in (("geomean_hv_vs_unicorn_float", "hv vs Unicorn, floating point"),
                      ("geomean_hv_vs_qemu", "hv vs qemu-i386, all benchmarks"),
                      ("geomean_hv_bt_vs_qemu", "hv bt vs qemu-i386, integer benchmarks "
                       "(issue 13's target: >= 1)"),
                      ("geomean_hv_bt_vs_emu", "hv bt vs hv emu, all benchmarks"),
                      ("geomean_hv_slowdown_vs_native", "hv ÷ native, all benchmarks"),
                      ("geomean_hv_bt_slowdown_vs_native", "hv bt ÷ native, integer benchmarks "
                       "(issue 13's target: <= 2)")):
        if summary.get(key) is not None:
            console.print(f"geometric mean {what}: [bold]{summary[key]:.2f}×[/]")
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
    oneshot = summary.get("oneshot")
    if oneshot:
        met = oneshot["target_met"]
        qemu = ("" if "qemu_cpu_min_s" not in oneshot else
                f"; qemu-i386 bench_empty.linux {fmt_time(oneshot['qemu_cpu_min_s'])}, "
                f"median {fmt_time(oneshot['qemu_cpu_median_s'])}")
        console.print(
            f"one-shot `hv run hello.elf`, process time (user+sys, best of {oneshot['runs']}): "
            f"[bold]{fmt_time(oneshot['hv_run_cpu_min_s'])}[/], median "
            f"{fmt_time(oneshot['hv_run_cpu_median_s'])} (target ≤ "
            f"{TARGET_ONESHOT_S * 1e3:.0f} ms: {'[green]met' if met else '[red]NOT met'}[/]); "
            f"python -c pass {fmt_time(oneshot['python_cpu_min_s'])}, median "
            f"{fmt_time(oneshot['python_cpu_median_s'])}{qemu}"
        )
        if "floor_cpu_min_s" in oneshot:
            console.print(
                f"  the floor under it, pyelftools reading hello's program headers and nothing "
                f"else (bench/startup_floor.py): {fmt_time(oneshot['floor_cpu_min_s'])}, median "
                f"{fmt_time(oneshot['floor_cpu_median_s'])}"
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
    if summary.get("qemu_unavailable"):
        console.print(f"[yellow]qemu-i386 figures pending: {summary['qemu_unavailable']}[/]")


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
    parser = argparse.ArgumentParser(description="Benchmark hv's emu and bt switchers.")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (best is kept)")
    parser.add_argument("--only", type=parse_only, default=list(BENCHMARKS),
                        help="comma-separated subset of " + ",".join(BENCHMARKS))
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--hello-runs", type=int, default=200, help="hello start-to-exit runs")
    parser.add_argument("--oneshot-runs", type=int, default=20,
                        help="runs of the one-shot `hv run hello.elf` figure")
    parser.add_argument("--no-hello", action="store_true",
                        help="skip the hello, one-shot and RSS figures")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.hello_runs < 1 or args.oneshot_runs < 1:
        parser.error("--repeat, --hello-runs and --oneshot-runs must be at least 1")

    from rich.console import Console

    # A pipe gets 80 columns by default: too narrow for the table.
    console = Console(width=None if sys.stdout.isatty() else 150)
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
            err.print(f"[yellow]{hv_unavailable}: measuring the others only[/]")
        qemu, qemu_unavailable = find_qemu()
        if qemu_unavailable:
            err.print(f"[yellow]{qemu_unavailable}: no qemu-i386 figures[/]")
        results, baseline = run_benchmarks(args.only, args.repeat, hv, log, qemu)
        summary: dict = {
            "repeat": args.repeat,
            "memory_mib": MEMORY_MIB,
            "machine": machine_info(),
            "hv_unavailable": hv_unavailable,
            "qemu_unavailable": qemu_unavailable,
            **baseline,
            **summary_geomeans(results),
        }
        if not args.no_hello:
            if hv is not None:
                log(f"hello start-to-exit x{args.hello_runs} ...")
                summary["hello"] = time_hello(hv, args.hello_runs)
                log(f"one-shot hv run hello.elf x{args.oneshot_runs} ...")
                summary["oneshot"] = time_oneshot(args.oneshot_runs, qemu)
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
        "oneshot_le_25ms": summary.get("oneshot", {}).get("target_met"),
    }
    if args.json:
        data = {**summary, "benchmarks": [r.figures() for r in results]}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
