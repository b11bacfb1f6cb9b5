"""Tests for the benchmark harness (bench/): the Unicorn runner implements Guest
ABI v1 as hv does, and run.py's ratio and geometric-mean arithmetic is right.

These are fast; the benchmark itself (python bench/run.py) is not a test.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"

needs_gcc = pytest.mark.skipif(
    shutil.which(os.environ.get("HV_CC", "gcc")) is None,
    reason="gcc not found: install gcc (Debian: apt-get install gcc) to build guests",
)


def load(name: str):
    """A module from bench/ (which is not a package), registered in sys.modules."""
    key = f"hv_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="module")
def runner():
    pytest.importorskip("unicorn", reason="unicorn is not installed (pip install unicorn)")
    return load("unicorn_runner")


@pytest.fixture(scope="module")
def sdk_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SDK build cache for the module's guests (the SDK takes seconds to build)."""
    return tmp_path_factory.mktemp("sdk-cache")


@pytest.fixture
def build_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sdk_cache: Path):
    """Build C source into an hv image with the SDK (hv cc)."""
    if shutil.which(os.environ.get("HV_CC", "gcc")) is None:
        pytest.skip("gcc not found: install gcc to build guests")
    from hv import cc

    monkeypatch.setenv("HV_CACHE_DIR", str(sdk_cache))

    def build(name: str, source: str, flags: tuple[str, ...] = ()) -> Path:
        src = tmp_path / f"{name}.c"
        src.write_text(source)
        bench = REPO / "images" / "bench"     # the bench guests' own headers
        return cc.compile_guest([src], tmp_path / f"{name}.elf", ["-O2", f"-I{bench}", *flags],
                                "hv", capture=True)

    return build


ABI_GUEST = r"""
#include <hv_guest.h>

int main(void)
{
    int local;
    const struct hv_multiboot_info *mb = hv_multiboot();

    printf("magic=%08x mb=%s flags=%u\n", (unsigned)hv_multiboot_magic,
           mb ? "yes" : "no", mb ? (unsigned)mb->flags : 99u);
    printf("stack_top_mib=%u\n", (unsigned)((uintptr_t)&local >> 20));
    printf("unknown=%ld badfd=%ld\n", hv_hypercall(99, 0, 0, 0, 0),
           hv_write(7, "x", 1));
    long n = hv_write(1, "raw\n", 4);
    printf("write=%ld\n", n);
    uint64_t t0 = hv_clock(), t1 = hv_clock();
    printf("clock_monotonic=%d\n", t1 >= t0);
    hv_flush();
    hv_debug_putc('P');
    hv_debug_putc('\n');
    hv_exit(42);
}
"""


@needs_gcc
def test_unicorn_runner_implements_abi(runner, build_guest) -> None:
    ex = runner.run_image(build_guest("abi", ABI_GUEST), memory_mib=64, timeout=30)
    assert ex.reason == "exit"
    assert ex.status == 42
    assert ex.console.decode() == (
        "magic=2badb002 mb=yes flags=0\n"
        "stack_top_mib=63\n"
        "unknown=-38 badfd=-9\n"
        "raw\n"
        "write=4\n"
        "clock_monotonic=1\n"
        "P\n"
    )
    assert ex.elapsed > 0 and ex.setup > 0


@needs_gcc
def test_unicorn_runner_debug_exit_port(runner, build_guest) -> None:
    image = build_guest("port", "#include <hv_guest.h>\n"
                        "int main(void) { printf(\"bye\\n\"); hv_debug_exit(7); }\n")
    ex = runner.run_image(image, timeout=30)
    assert (ex.status, ex.reason, ex.console) == (7, "exit", b"bye\n")


@needs_gcc
def test_unicorn_runner_kills_bad_pointer(runner, build_guest) -> None:
    image = build_guest("bad", "#include <hv_guest.h>\n"
                        "int main(void) { hv_write(1, (void *)0xf0000000, 16); return 0; }\n")
    ex = runner.run_image(image, timeout=30)
    assert ex.status is None
    assert ex.reason == "bad write address 0xf0000000 len 16"


def test_unicorn_runner_refuses_non_elf(runner, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.elf"
    bogus.write_bytes(b"not an elf at all")
    with pytest.raises(runner.ImageError, match="bogus.elf"):
        runner.run_image(bogus)


@needs_gcc
def test_unicorn_runner_runs_a_bench_guest(runner, build_guest) -> None:
    """The fib benchmark's source, with a small n, gives fib's answer."""
    source = (REPO / "images" / "bench" / "fib.c").read_text()
    assert "bench_n = 30;" in source
    image = build_guest("fib20", source.replace("bench_n = 30;", "bench_n = 20;"))
    ex = runner.run_image(image, timeout=30)
    assert (ex.status, ex.console) == (0, b"fib(20) = 6765\n")


@needs_gcc
@pytest.mark.parametrize("flags", [(), ("-msse2", "-mfpmath=sse")], ids=["x87", "sse2"])
def test_unicorn_runner_runs_a_float_bench_guest(runner, build_guest, flags) -> None:
    """The spectral-norm benchmark, 10 x 10, in x87 and SSE2 code: Unicorn
    runs both (the SDK's crt0 enables SSE from CPUID, as under hv)."""
    image = build_guest(f"spectral10{len(flags)}", '#define SPECTRAL_N 10\n#include "spectral.h"\n',
                        ("-fno-math-errno", *flags))
    ex = runner.run_image(image, timeout=30)
    assert (ex.status, ex.reason) == (0, "exit")
    first, second = ex.console.decode().splitlines()
    assert first == "spectral norm, n = 10"
    # The same power method in Python's doubles gives 1.2718440192507248; the
    # x87 build may differ in the last bits, not in the first 40.
    bits = struct.unpack("<Q", struct.pack("<d", 1.2718440192507248))[0]
    assert second.startswith(f"norm 1.271844019 [{bits:016x}"[:-3])


# ---- run.py arithmetic ------------------------------------------------------


def test_speed_ratio() -> None:
    run = load("run")
    assert run.speed_ratio(0.300, 0.100) == pytest.approx(3.0)  # hv 3x faster
    assert run.speed_ratio(0.050, 0.100) == pytest.approx(0.5)  # hv 2x slower
    assert run.speed_ratio(None, 0.1) is None
    assert run.speed_ratio(0.1, None) is None
    assert run.speed_ratio(0.1, 0.0) is None


def test_geomean() -> None:
    run = load("run")
    assert run.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert run.geomean([0.5, 2.0, 1.0]) == pytest.approx(1.0)
    assert run.geomean([3.0]) == pytest.approx(3.0)
    ratios = [run.speed_ratio(u, h) for u, h in [(0.155, 0.062), (3.6, 0.83), (0.345, 0.54)]]
    expected = math.exp((math.log(0.155 / 0.062) + math.log(3.6 / 0.83)
                         + math.log(0.345 / 0.54)) / 3)
    assert run.geomean(ratios) == pytest.approx(expected)
    assert run.geomean([]) is None
    assert run.geomean([2.0, None]) is None  # a missing figure is not averaged away
    assert run.geomean([2.0, 0.0]) is None


def test_mips_and_best_of_samples() -> None:
    run = load("run")
    assert run.mips(360_000_000, 1.0) == pytest.approx(360.0)
    assert run.mips(None, 1.0) is None
    assert run.Samples([0.3, 0.1, 0.2]).best == 0.1
    assert run.Samples().best is None


def test_oneshot_figures_judge_hv_by_its_best_run() -> None:
    run = load("run")
    figures = run.oneshot_figures({"hv_run": [0.030, 0.024, 0.040], "python": [0.009, 0.008],
                                   "qemu": [0.011, 0.010, 0.012]})
    assert figures["runs"] == 2
    assert figures["hv_run_cpu_min_s"] == 0.024 and figures["hv_run_cpu_median_s"] == 0.030
    assert figures["python_cpu_median_s"] == pytest.approx(0.0085)
    assert figures["qemu_cpu_min_s"] == 0.010
    assert figures["target_met"] is True            # 24 ms <= 25 ms
    assert run.oneshot_figures({"hv_run": [0.026]})["target_met"] is False


def test_oneshot_commands_run_this_trees_hv() -> None:
    run = load("run")
    commands = run.oneshot_commands("qemu-i386")
    hv_run = commands["hv_run"]
    assert hv_run[0] == sys.executable and hv_run[-2:] == ["run", str(run.BUILD_DIR / "hello.elf")]
    assert repr(str(REPO)) in hv_run[2] and "hv.cli import main" in hv_run[2]
    assert commands["python"][1:] == ["-c", "pass"]
    assert commands["qemu"] == ["qemu-i386", str(run.BUILD_DIR / "bench_empty.linux")]
    assert "qemu" not in run.oneshot_commands(None)
    assert commands["floor"] == [sys.executable, str(BENCH / "startup_floor.py"),
                                 str(run.BUILD_DIR / "hello.elf")]


def test_consoles_must_agree() -> None:
    run = load("run")
    assert run.check_consoles("fib", {"hv": b"42\n", "unicorn": b"42\n"}) == "42\n"
    with pytest.raises(run.BenchError, match="disagree"):
        run.check_consoles("fib", {"hv": b"42\n", "unicorn": b"42\n", "native": b"43\n"})


def test_a_peer_that_fails_is_reported_not_raised() -> None:
    run = load("run")
    res = run.BenchResult("nbody")
    run.run_peer(res, "unicorn", lambda: (b"e -0.1\n", 0.5), b"e -0.1\n")
    assert res.unicorn.values == [0.5] and not res.failures

    def crash():
        raise run.BenchError("unicorn: bench_nbody.elf ended with status None (unhandled "
                             "exception vector 6 at eip=0x00100234)")

    run.run_peer(res, "unicorn", crash, b"e -0.1\n")
    assert "vector 6" in res.failures["unicorn"]
    assert res.unicorn.values == []       # no figure from a peer that failed once
    run.run_peer(res, "unicorn", lambda: (b"e -0.1\n", 0.4), b"e -0.1\n")
    assert res.unicorn.values == []       # and it is not run again

    run.run_peer(res, "qemu", lambda: (b"e -0.2\n", 0.3), b"e -0.1\n")
    assert res.failures["qemu"] == "wrong output at line 1: b'e -0.2', the CPU prints b'e -0.1'"
    fig = res.figures()
    assert fig["qemu_s"] is None and fig["hv_vs_qemu"] is None
    assert set(fig["failures"]) == {"unicorn", "qemu"}


def test_peer_mismatch_says_where() -> None:
    run = load("run")
    assert run.peer_mismatch(b"a\nb\n", b"a\nb\n") is None
    assert "line 2" in run.peer_mismatch(b"a\nb\n", b"a\nc\n")
    assert "1 lines, the CPU prints 2" in run.peer_mismatch(b"a\nb\n", b"a\n")


def test_geomeans_by_group() -> None:
    """The hv-vs-Unicorn target is over the integer benchmarks only."""
    run = load("run")

    def result(name: str, hv: float, unicorn: float, qemu: float) -> object:
        return run.BenchResult(name, hv=run.Samples([hv]), unicorn=run.Samples([unicorn]),
                               qemu=run.Samples([qemu]), native=run.Samples([hv / 10]))

    results = [result("fib", 1.0, 4.0, 2.0), result("crc32", 1.0, 1.0, 2.0),
               result("nbody", 2.0, 1.0, 1.0), result("spectral_sse2", 1.0, 0.5, 1.0)]
    means = run.summary_geomeans(results)
    assert means["geomean_hv_vs_unicorn"] == pytest.approx(2.0)
    assert means["geomean_hv_vs_unicorn_float"] == pytest.approx(0.5)
    assert means["geomean_hv_vs_qemu"] == pytest.approx(2 ** 0.25)
    assert means["geomean_hv_slowdown_vs_native"] == pytest.approx(10.0)
    assert means["geomean_hv_bt_slowdown_vs_native"] is None     # no bt figures
    assert run.summary_geomeans(results[2:])["geomean_hv_vs_unicorn"] is None
    for r, bt in zip(results, (0.2, 0.05, 1.0, 1.0), strict=True):
        r.hv_bt = run.Samples([bt])
    # over fib and crc32 (integer): native 0.1 each, bt 0.2 and 0.05
    assert run.summary_geomeans(results)["geomean_hv_bt_slowdown_vs_native"] == pytest.approx(1.0)
