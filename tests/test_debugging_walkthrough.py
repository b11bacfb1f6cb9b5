"""docs/debugging.md, "A failing test, start to finish": its four steps, as written.

A failing guest test under pytest, its replay, the replay under real gdb,
and the coverage of the tests around it, each by the command the docs show,
run from the root of the source tree.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE = "images/build/suite_demo.elf"
TEST = "ring_accepts_any_capacity"
MANIFEST = f"hv-manifests/images_build_suite_demo.elf_{TEST}.json"


def _run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Step 1: the failing test; the directory of its JUnit file."""
    out = tmp_path_factory.mktemp("walk") / "out"
    done = _run("pytest", SUITE, "--runxfail", "-k", TEST, f"--junitxml={out}/report.xml",
                "-p", "no:cacheprovider")
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout
    assert "images/suites/demo/test_ring.c:146: HV_ASSERT failed: " \
           "ring_init(&r, odd, sizeof(odd)) == 0\n  left:  -1\n  right: 0\n" in text, text
    assert f"replay: hv replay {out}/{MANIFEST}\n" in text, text
    assert f"gdb: hv replay --gdb 127.0.0.1:1234 {out}/{MANIFEST}\n" in text, text
    assert (out / MANIFEST).is_file()
    return out


def test_step2_the_replay_is_the_same(failed: Path) -> None:
    done = _run("hv", "replay", str(failed / MANIFEST))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"FAIL {TEST}: "), done.stdout
    # (The console holds the source's path, so its length depends on the tree's place.)
    assert re.fullmatch(r"hv replay: same as the recording \(exit status 1, \d+ instructions, "
                        rf"console {len(done.stdout.encode())} bytes\)\n", done.stderr), \
        done.stderr


@pytest.mark.skipif(shutil.which("gdb") is None,
                    reason="gdb is not installed (apt-get install gdb; ./bootstrap installs it)")
def test_step3_the_replay_under_gdb(failed: Path) -> None:
    port = _free_port()
    replay = subprocess.Popen([sys.executable, "-m", "hv", "replay", "--gdb",
                               f"127.0.0.1:{port}", str(failed / MANIFEST)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert replay.stderr is not None
        waiting = replay.stderr.readline()     # the stub listens once it says so
        assert waiting == f"hv: waiting for gdb on 127.0.0.1:{port}\n", waiting
        # gdb is not ours: it runs without the sanitizer runtime the asan
        # environment preloads.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        gdb = subprocess.run(
            ["gdb", "-batch", "-nx", "-ex", f"target remote :{port}", "-ex", "break ring_init",
             "-ex", "continue", "-ex", "p capacity & (capacity - 1)", "-ex", "finish",
             "-ex", "reverse-finish", "-ex", "continue", SUITE],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
        out = gdb.stdout + gdb.stderr
    except BaseException:
        replay.kill()
        raise
    stdout, stderr = replay.communicate(timeout=60)
    assert re.search(r"Breakpoint 1, ring_init \(.*capacity=capacity@entry=100\) at "
                     r".*demo/ring\.c:9\n", out), out
    assert "$1 = 96" in out, out
    assert re.search(r"test_ring\.c:146\n146\t    HV_ASSERT_EQ\(ring_init", out), out
    assert "Value returned is $2 = -1" in out, out
    assert len(re.findall(r"Breakpoint 1, ring_init", out)) == 2, out      # back again
    assert "exited with code 01" in out, out
    assert replay.returncode == 0 and stdout.startswith(f"FAIL {TEST}: "), (stdout, stderr)
    assert "hv replay: ran under gdb (exit status 1" in stderr, stderr


def test_step4_the_coverage(failed: Path) -> None:
    cov = failed.parent / "cov"
    done = _run("pytest", SUITE, "-q", "-k", "ring", "--runxfail", f"--hv-cov={cov}",
                "-p", "no:cacheprovider")
    assert done.returncode == 1, done.stdout      # the failing test is among them
    assert f"hv coverage: {cov}/coverage.info, {cov}/index.html" in done.stdout, done.stdout
    info = (cov / "coverage.info").read_text()
    record = re.search(r"SF:\S*images/suites/demo/ring\.c\n(.*?)end_of_record", info, re.S)
    assert record, info[:2000]
    assert "\nDA:13,4\n" in "\n" + record.group(1), record.group(1)    # return -1, 4 times
    assert (cov / "index.html").is_file()
