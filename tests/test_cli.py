"""The `hv` command: run, info, cc; exit statuses and one-line errors.

Most tests call hv.cli.main() in-process (fast); the ones about streaming,
signals and real exit codes run `python -m hv` in a subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hv
from hv import cli

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def hv_cmd(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m hv ARGS` from the source tree."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "hv", *args], capture_output=True,
                          timeout=TIMEOUT, env=env, **kwargs)


def one_error_line(err: str, pattern: str) -> None:
    """stderr is exactly one line matching pattern, with no traceback."""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert re.fullmatch(pattern, err.rstrip("\n")), err


@pytest.fixture(scope="module")
def img(guest_images):
    return lambda name: str(guest_images / f"{name}.elf")


# ---- hv run (in-process) ----

@pytest.mark.usefixtures("native")
def test_run_prints_console_and_returns_status(img, capfd):
    assert cli.main(["run", img("hello")]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ("Hello from an hv guest!\n", "")


@pytest.mark.usefixtures("native")
def test_run_passes_cmdline_and_exits_with_guest_status(img, capfd):
    assert cli.main(["run", "--cmdline", "status=3", img("exit_status")]) == 3
    assert capfd.readouterr().out == "exiting with status 3\n"


@pytest.mark.usefixtures("native")
def test_run_into_a_captured_text_stdout(img, capsys):
    """sys.stdout without a real descriptor (here pytest's capture) still gets the console."""
    assert cli.main(["run", img("debug_ports")]) == 7
    assert capsys.readouterr().out == "hello through port 0xe9\n"


@pytest.mark.usefixtures("native")
@pytest.mark.parametrize(("name", "args", "reason"), [
    ("divzero", [], r"unhandled #DE at eip=0x[0-9a-f]{8}"),
    ("outside_ram", [], r"unhandled #PF at eip=0x[0-9a-f]{8} cr2=0x08000000"),
    ("invalid_opcode", [], r"unhandled #UD at eip=0x[0-9a-f]{8} bytes=0f 0b"),
    ("bad_pointer", [], r"bad write address 0xf0000000 len 16"),
    ("spin", ["--timeout", "0.2"], "timeout"),
    ("spin", ["--max-instructions", "100000"], "timeout"),
])
def test_run_killed_guest(img, capfd, name, args, reason):
    assert cli.main(["run", *args, img(name)]) == cli.EXIT_KILLED == 125
    out, err = capfd.readouterr()
    one_error_line(err, f"hv: guest killed: {reason}")


@pytest.mark.usefixtures("native")
def test_run_memory_option(img, capfd):
    assert cli.main(["run", "--memory", "256", img("outside_ram")]) == 0
    assert capfd.readouterr().out.endswith("still alive: read 0x00000000\n")


# ---- one-line errors, exit status 2 ----

@pytest.mark.parametrize(("args", "pattern"), [
    ([], r"hv: error: the following arguments are required: COMMAND \(see 'hv --help'\)"),
    (["frobnicate"], r"hv: error: argument COMMAND: invalid choice: 'frobnicate'.*"),
    (["run"], r"hv: error: the following arguments are required: IMAGE .*"),
    (["run", "--memory", "1", "x.elf"],
     r"hv: error: argument --memory: must be between 2 and 3072 MiB, not 1 .*"),
    (["run", "--memory", "lots", "x.elf"],
     r"hv: error: argument --memory: expected an integer number of MiB, not 'lots' .*"),
    (["run", "--timeout", "0", "x.elf"],
     r"hv: error: argument --timeout: must be a positive number of seconds, not 0 .*"),
    (["run", "--timeout", "soon", "x.elf"], r"hv: error: argument --timeout: expected .*"),
    (["run", "--max-instructions", "0", "x.elf"],
     r"hv: error: argument --max-instructions: must be a positive integer .*"),
    (["run", "--bogus", "x.elf"], r"hv: error: unrecognized arguments: --bogus .*"),
    (["info", "--memory", "4096", "x.elf"], r"hv: error: argument --memory: .*"),
    (["run", "--clock", "wall", "x.elf"],
     r"hv: error: argument --clock: invalid choice: 'wall' \(choose from .*virtual.*host.*"),
    (["run", "--disk-readonly", "x.elf"],
     r"hv: error: argument --disk-readonly: no --disk given \(see 'hv run --help'\)"),
    (["run", "--disk", "x.elf"], r"hv: error: the following arguments are required: IMAGE .*"),
])
def test_usage_errors(capsys, args, pattern):
    assert cli.main(args) == cli.EXIT_USAGE == 2
    out, err = capsys.readouterr()
    assert out == ""
    one_error_line(err, pattern)


def _needs_native_for_run(request, command: str) -> None:
    # `hv run` looks up the switchers first, which needs the extension.
    if command == "run":
        request.getfixturevalue("native")


@pytest.mark.parametrize("command", ["run", "info"])
def test_missing_image(request, tmp_path, capsys, command):
    _needs_native_for_run(request, command)
    missing = tmp_path / "missing.elf"
    assert cli.main([command, str(missing)]) == 2
    one_error_line(capsys.readouterr().err,
                   re.escape(f"hv: error: {missing}: cannot open: No such file or directory"))


@pytest.mark.parametrize("command", ["run", "info"])
def test_refused_image(request, elf, capsys, command):
    _needs_native_for_run(request, command)
    path = elf.write(segments=[elf.segment(0x80000, elf.program())])
    assert cli.main([command, str(path)]) == 2
    one_error_line(capsys.readouterr().err,
                   re.escape(f"hv: error: {path}: segment 0 at 0x00080000 lies below 1 MiB"))


def test_image_refused_for_the_memory_size(elf, capsys):
    path = elf.write(segments=[elf.segment(0x100000, elf.program()),
                               elf.segment(0x3000000, memsz=0x1000, flags=elf.PF_R)])
    assert cli.main(["info", "--memory", "32", str(path)]) == 2
    assert "past the end of guest RAM (32 MiB)" in capsys.readouterr().err
    assert cli.main(["info", "--memory", "64", str(path)]) == 0


@pytest.mark.usefixtures("native")
def test_unknown_switcher(elf, capsys):
    assert cli.main(["run", "--switcher", "warp", str(elf.write())]) == 2
    one_error_line(capsys.readouterr().err,
                   r"hv: error: unknown switcher 'warp' \(available: .*emu.*\)")


# ---- hv run --disk, --clock ----

def test_a_missing_disk(tmp_path, capsys):
    missing = tmp_path / "missing.img"
    assert cli.main(["run", "--disk", str(missing), "x.elf"]) == 2
    one_error_line(capsys.readouterr().err,
                   re.escape(f"hv: error: {missing}: cannot open: No such file or directory"))


def test_a_directory_as_a_disk(tmp_path, capsys):
    assert cli.main(["run", "--disk", str(tmp_path), "--disk-readonly", "x.elf"]) == 2
    one_error_line(capsys.readouterr().err,
                   re.escape(f"hv: error: {tmp_path}: is a directory, not a disk image"))


def _device_host(native, elf) -> None:
    """Skip unless the extension's Machine.run takes devices= (the host side of NOTIFY)."""
    machine = native.Machine(8 << 20, "emu")
    image = hv.elf.load_into(machine, hv.load_image(elf.write("probe.elf"), 8 << 20))
    machine.boot(image.entry, b"")
    try:
        machine.run(None, 1000, None, devices=(), clock="virtual")
    except TypeError as exc:
        pytest.skip(f"hv._native.Machine.run does not take devices= yet: {exc}")


def _notify_guest(elf, index: int, op: int, name: str = "notify.elf"):
    """NOTIFY one block request (device `index`, sector 1, 1 sector), exit with -EAX."""
    req = struct.pack("<IIQIIII", index, op, 1, 1, 0x200100, 0, 0)
    code = (b"\xb8\x11\x00\x00\x00" + b"\xbb" + struct.pack("<I", 0x200000) + b"\xcd\x1f"
            + b"\x89\xc3\xf7\xdb" + b"\xb8\x21\x00\x00\x00\xcd\x1f\xf4")
    data = req.ljust(0x100, b"\0") + b"W" * 512
    return str(elf.write(name, segments=[elf.segment(0x100000, code),
                                         elf.segment(0x200000, data, flags=elf.PF_R | elf.PF_W)]))


def test_run_with_disks(native, elf, tmp_path, capfd):
    _device_host(native, elf)
    first, second = tmp_path / "a.img", tmp_path / "b.img"
    first.write_bytes(bytes(4 * 512))
    second.write_bytes(bytes(4 * 512))
    write0, write1 = _notify_guest(elf, 0, 1, "w0.elf"), _notify_guest(elf, 1, 1, "w1.elf")
    assert cli.main(["run", write0]) == 19                          # no disk: ENODEV
    assert cli.main(["run", "--disk", str(first), write0]) == 0
    assert first.read_bytes()[512:1024] == b"W" * 512
    assert cli.main(["run", "--disk", str(first), "--disk", str(second), write1]) == 0
    assert second.read_bytes()[512:1024] == b"W" * 512
    second.write_bytes(bytes(4 * 512))
    assert cli.main(["run", "--disk", str(first), "--disk", str(second), "--disk-readonly",
                     write1]) == 30                                 # EROFS
    assert second.read_bytes() == bytes(4 * 512)
    assert cli.main(["run", "--disk", str(first), _notify_guest(elf, 0, 7)]) == 22   # EINVAL
    assert capfd.readouterr() == ("", "")


def test_run_with_a_raising_disk_is_a_kill(native, elf, tmp_path, capfd):
    _device_host(native, elf)
    disk = tmp_path / "a.img"
    disk.write_bytes(bytes(512))
    # A buffer outside guest RAM kills the guest; the bus names the access.
    req = struct.pack("<IIQIIII", 0, 0, 0, 1, 0x7FFFF000, 0, 0)
    code = (b"\xb8\x11\x00\x00\x00" + b"\xbb" + struct.pack("<I", 0x200000) + b"\xcd\x1f"
            + b"\xf4")
    image = elf.write(segments=[elf.segment(0x100000, code),
                                elf.segment(0x200000, req, flags=elf.PF_R | elf.PF_W)])
    assert cli.main(["run", "--disk", str(disk), str(image)]) == cli.EXIT_KILLED
    one_error_line(capfd.readouterr().err,
                   "hv: guest killed: bad write address 0x7ffff000 len 512")


def test_run_disk_copy(native, elf, request, tmp_path, capfd):
    _device_host(native, elf)
    img = request.getfixturevalue("img")            # built only once devices are there
    source, target = tmp_path / "in.img", tmp_path / "out.img"
    source.write_bytes(os.urandom(16 * 512))
    target.write_bytes(bytes(16 * 512))
    disk_copy = img("disk_copy")
    assert cli.main(["run", "--disk", str(source), "--disk", str(target), disk_copy]) == 0
    assert capfd.readouterr().out.endswith("disk copy ok\n")
    assert target.read_bytes() == source.read_bytes()
    assert cli.main(["run", "--disk", str(source), "--disk-readonly", disk_copy]) == 1
    assert "failed: -30" in capfd.readouterr().out


def test_run_with_the_host_clock(native, elf, capfd):
    _device_host(native, elf)
    path = elf.write(segments=[elf.segment(0x100000, elf.program(b"tick\n", 4))])
    for clock in ("virtual", "host"):
        assert cli.main(["run", "--clock", clock, str(path)]) == 4
        assert capfd.readouterr() == ("tick\n", "")


# ---- hv info ----

def test_info_shows_entry_and_segments(elf, capsys):
    path = elf.write(segments=[
        elf.segment(0x100000, elf.program()),
        elf.segment(0x200000, b"data", memsz=0x3000, flags=elf.PF_R | elf.PF_W),
    ])
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"image:    {path}\n" in out
    assert "entry:    0x00100000, from the ELF header e_entry\n" in out
    assert "multiboot: no header in the first 8 KiB" in out
    assert "memory:   64 MiB" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"\d+\s+0x", line)]
    assert rows == [
        ["0", "0x00100000", "0x00100000", "0x5", "0x5", "0x00100005", "R-X", "0x74"],
        ["1", "0x00200000", "0x00200000", "0x4", "0x3000", "0x00203000", "RW-", "0x79"],
    ]


def test_info_on_a_built_image(img, capsys):
    image = hv.load_image(img("hello"))
    assert cli.main(["info", img("hello")]) == 0
    out = capsys.readouterr().out
    assert f"entry:    {image.entry:#010x}" in out
    for seg in image.segments:
        assert f"{seg.paddr:#010x}" in out


# ---- help and version ----

def test_run_help_documents_exit_statuses(capsys):
    assert cli.main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0-255  the guest's own exit status", "125    the guest was killed",
                 "2      usage error", "130    interrupted by Ctrl-C", "ambiguous"):
        assert line in out
    for option in ("--memory", "--timeout", "--max-instructions", "--cmdline", "--switcher",
                   "--disk FILE", "--disk-readonly", "--clock"):
        assert option in out
    assert "NOT reproducible" in " ".join(out.split())


def test_main_help_lists_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("run", "info", "cc"))


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"hv {hv.__version__}\n"


# ---- hv cc ----

def test_cc_gets_every_argument_unchanged(monkeypatch):
    from hv import cc

    seen = []
    monkeypatch.setattr(cc, "main", lambda argv: seen.append(argv) or 7)
    argv = ["-o", "out.elf", "-O0", "--linux", "x.c", "-Wl,--gc-sections", "--help"]
    assert cli.main(["cc", *argv]) == 7
    assert seen == [argv]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed for hv cc")
@pytest.mark.usefixtures("native")
def test_cc_then_run(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("HV_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "hi.c"
    source.write_text('#include <hv_guest.h>\n'
                      'int main(void) { printf("hi %s\\n", hv_cmdline()); return 5; }\n')
    out = tmp_path / "hi.elf"
    assert cli.main(["cc", "-o", str(out), str(source), "-O1"]) == 0
    assert cli.main(["run", "--cmdline", "there", str(out)]) == 5
    assert capfd.readouterr().out.endswith("hi there\n")


# ---- the real command in a subprocess ----

@pytest.mark.usefixtures("native")
def test_subprocess_exit_status_and_output(img):
    proc = hv_cmd("run", "--cmdline", "status=77", img("exit_status"))
    assert (proc.returncode, proc.stdout, proc.stderr) == (77, b"exiting with status 77\n", b"")


@pytest.mark.usefixtures("native")
def test_subprocess_big_console_through_a_pipe(img):
    proc = hv_cmd("run", img("big_console"))
    assert proc.returncode == 0 and len(proc.stdout) == 100_000


@pytest.mark.usefixtures("native")
def test_subprocess_killed(img):
    proc = hv_cmd("run", img("divzero"))
    assert proc.returncode == 125 and proc.stdout == b"dividing by zero\n"
    one_error_line(proc.stderr.decode(), r"hv: guest killed: unhandled #DE at eip=0x[0-9a-f]{8}")


@pytest.mark.usefixtures("native")
def test_subprocess_bad_image(elf):
    proc = hv_cmd("run", str(elf.write(raw=b"\x7fELF\x02" + bytes(60))))
    assert proc.returncode == 2
    one_error_line(proc.stderr.decode(),
                   r"hv: error: .*guest\.elf: 64-bit ELF \(ELFCLASS64\); .*")


def _start_spin(img, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "hv", "run", *args, img("spin")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # The guest prints before it spins: the line must arrive while it still runs.
    assert proc.stdout.readline() == b"spinning\n"
    return proc


@pytest.mark.usefixtures("native")
def test_subprocess_streams_while_running(img):
    proc = _start_spin(img, "--timeout", "2")
    try:
        assert proc.poll() is None, "hv exited before its guest's timeout"
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert proc.returncode == 125
    one_error_line(err.decode(), "hv: guest killed: timeout")


@pytest.mark.usefixtures("native")
def test_subprocess_ctrl_c(img):
    proc = _start_spin(img, "--timeout", str(TIMEOUT))
    try:
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == cli.EXIT_INTERRUPTED == 130
    one_error_line(err.decode(), "hv: interrupted")
