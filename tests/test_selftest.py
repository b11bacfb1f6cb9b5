"""`hv selftest` and `python -m hv`: the built-in guest, its checks and the command's output."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import hv
from hv import cli, selftest
from hv.guest import Guest

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60

OK_LINE = (r"hv selftest: ok \(hv (?P<version>\S+), python \d+\.\d+\.\d+\S* \S+, "
           r"switchers? (?P<switchers>\S+), (?P<count>\d+) instructions in \d+\.\d ms\)")
FAILED_LINE = r"hv selftest: FAILED: (?P<reason>.+)"


def python_m_hv(*args: str) -> subprocess.CompletedProcess:
    """`python -m hv ARGS` in a subprocess, from the source tree."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "hv", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


def patched(old: bytes, new: bytes) -> bytes:
    """The selftest guest with the one occurrence of `old` replaced by `new`."""
    image = selftest.build_guest()
    assert image.count(old) == 1 and len(old) == len(new)
    return image.replace(old, new)


# ---- the guest image ----

def test_guest_passes_the_loader(tmp_path):
    path = tmp_path / "selftest.elf"
    path.write_bytes(selftest.build_guest())
    image = hv.load_image(path)
    assert [(s.paddr, s.executable) for s in image.segments] == [(0x100000, True)]
    assert image.segments[0].paddr <= image.entry < image.segments[0].end
    # The smallest RAM hv offers still holds it.
    assert hv.load_image(path, 2 << 20).entry == image.entry


def test_guest_is_deterministic_and_small():
    assert selftest.build_guest() == selftest.build_guest()
    assert len(selftest.build_guest()) < 4096


def test_expected_values():
    want = selftest.expected()
    assert want.console == f"hv selftest guest: checksum 0x{want.checksum:08x}\n".encode()
    assert 0 <= want.status <= 255
    assert want.instructions > 9 * selftest.LOOP_COUNT      # the loop dominates


@pytest.mark.usefixtures("native")
def test_guest_runs_as_expected(tmp_path):
    path = tmp_path / "selftest.elf"
    path.write_bytes(selftest.build_guest())
    ex = hv.run(path, timeout=10)
    want = selftest.expected()
    assert (ex.status, ex.reason, ex.console) == (want.status, None, want.console)
    assert ex.instructions == want.instructions


# ---- selftest() ----

@pytest.mark.usefixtures("native")
def test_selftest_passes():
    result = selftest.selftest()
    assert result.ok, result.reason
    assert result.reason is None
    assert result.version == hv.__version__
    assert result.switchers == hv.guest.switchers() and "emu" in result.switchers
    assert result.instructions == selftest.expected().instructions * len(result.switchers)
    assert result.elapsed > 0
    assert re.fullmatch(OK_LINE, result.summary())
    for name in result.switchers:
        assert any(line.startswith(f"switcher {name}: status ") for line in result.details)


@pytest.mark.usefixtures("native")
@pytest.mark.parametrize("old, new, reason", [
    # The LCG multiplier: the guest computes another checksum.
    (struct.pack("<I", 1664525), struct.pack("<I", 1664527),
     r"switcher emu: guest exited with status \d+, expected \d+ \(it computed something else\)"),
    # The first instruction (mov ecx, LOOP_COUNT) becomes ud2 and three nops.
    (b"\xb9" + struct.pack("<I", selftest.LOOP_COUNT), b"\x0f\x0b\x90\x90\x90",
     r"switcher emu: guest killed: unhandled #UD at eip=0x[0-9a-f]{8} bytes=0f 0b"),
    # xor edx, edx -> two nops: EDX is already 0 at entry, so only the count differs.
    (b"\x31\xd2\x69", b"\x90\x90\x69",
     r"switcher emu: \d+ instructions retired, expected \d+"),
    # The hex digit table: the console line comes out wrong.
    (b"0123456789abcdef", b"0123456789ABCDEF",
     r"switcher emu: guest console b'.*', expected b'.*'"),
])
def test_selftest_catches_a_broken_guest(old, new, reason):
    result = selftest.selftest(guest=patched(old, new))
    assert not result.ok
    assert re.fullmatch(reason, result.reason), result.reason
    assert result.summary() == f"hv selftest: FAILED: {result.reason}"


@pytest.mark.usefixtures("native")
def test_selftest_holds_every_switcher_to_the_exact_count():
    if "bt" not in hv.guest.switchers():
        pytest.skip("no bt switcher in this build (x86-64 hosts only)")
    result = selftest.selftest(guest=patched(b"\x31\xd2\x69", b"\x90\x90\x69"),
                               switchers=["bt"])
    assert not result.ok
    assert re.fullmatch(r"switcher bt: \d+ instructions retired, expected \d+", result.reason)


@pytest.mark.usefixtures("native")
def test_selftest_reports_a_refused_guest():
    result = selftest.selftest(guest=selftest.build_guest()[:100])
    assert not result.ok
    assert result.reason.startswith("the selftest guest was refused: ")
    assert "lies past the end of the file" in result.reason


@pytest.mark.usefixtures("native")
def test_selftest_reports_an_unknown_switcher():
    result = selftest.selftest(switchers=["nope"])
    assert not result.ok
    assert result.reason.startswith("unknown switcher 'nope'")


def test_selftest_reports_an_extension_that_does_not_load(monkeypatch):
    def broken() -> None:
        raise ImportError("hv._native is not built (no module named 'hv._native')")

    monkeypatch.setattr("hv.guest._native", broken)
    result = selftest.selftest()
    assert not result.ok
    assert result.reason == ("the C extension does not load: hv._native is not built "
                             "(no module named 'hv._native')")


@pytest.mark.usefixtures("native")
def test_selftest_never_raises(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(Guest, "run", boom)
    result = selftest.selftest()
    assert not result.ok
    assert result.reason == "unexpected error: RuntimeError: something broke"


# ---- hv selftest ----

@pytest.mark.usefixtures("native")
def test_cli_selftest_ok(capsys):
    assert cli.main(["selftest"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    match = re.fullmatch(OK_LINE, out.rstrip("\n"))
    assert match and out.count("\n") == 1, out
    assert match["version"] == hv.__version__
    # One full run under each switcher, each counted exactly.
    names = match["switchers"].split("/")
    assert names == list(hv.guest.switchers())
    assert int(match["count"]) == selftest.expected().instructions * len(names)


@pytest.mark.usefixtures("native")
def test_cli_selftest_verbose(capsys):
    assert cli.main(["selftest", "--verbose"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(OK_LINE, lines[-1])
    assert len(lines) > 3 and all(line.startswith("  ") for line in lines[:-1])


@pytest.mark.usefixtures("native")
def test_cli_selftest_failed(monkeypatch, capsys):
    broken = patched(struct.pack("<I", 1664525), struct.pack("<I", 1664527))
    monkeypatch.setattr(selftest, "build_guest", lambda: broken)
    assert cli.main(["selftest"]) == cli.EXIT_FAILED == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert re.fullmatch(FAILED_LINE, err.rstrip("\n"))
    assert "expected" in err


def test_cli_selftest_takes_no_image(capsys):
    assert cli.main(["selftest", "guest.elf"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.startswith("hv: error: unrecognized arguments: guest.elf")


def test_cli_help_lists_selftest(capsys):
    assert cli.main(["--help"]) == 0
    assert re.search(r"^\s+selftest\s", capsys.readouterr().out, re.MULTILINE)


# ---- python -m hv ----

@pytest.mark.usefixtures("native")
def test_python_m_hv_selftest():
    proc = python_m_hv("selftest")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert re.fullmatch(OK_LINE, proc.stdout.rstrip("\n")), proc.stdout


def test_python_m_hv_version():
    proc = python_m_hv("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"hv {hv.__version__}\n", "")
    assert re.fullmatch(r"hv \d+\.\d+\.\d+\S*\n", proc.stdout)
