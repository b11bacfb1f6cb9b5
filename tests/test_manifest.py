"""Record and replay (hv.manifest): what a manifest holds, `hv run --record`, `hv replay`.

The round trips record real runs of the sample guests (and of the UART
kernel of tests/kernels/, for serial input), then change one input at a
time and check that `hv replay` names it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hv
from hv import cli, manifest

REPO = Path(__file__).resolve().parent.parent
KERNELS = REPO / "tests" / "kernels"
KERNEL_FLAGS = ["-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-nostdlib",
                "-static", "-no-pie", "-O2", "-Wl,--build-id=none",
                "-Wl,--no-warn-rwx-segments", "-T", str(KERNELS / "kernel.ld")]

pytestmark = pytest.mark.usefixtures("native")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def work(tmp_path: Path, guest_images: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory holding copies of a few sample guests; the tests run in it."""
    for name in ("hello", "spin", "clock", "exit_status", "disk_copy"):
        shutil.copy(guest_images / f"{name}.elf", tmp_path / f"{name}.elf")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def uart(work: Path) -> Path:
    """tests/kernels/uart.c built into work/uart.elf: it echoes what COM1 receives."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc builds the UART kernel")
    image = work / "uart.elf"
    subprocess.run(["gcc", *KERNEL_FLAGS, "-o", str(image), str(KERNELS / "uart.c")],
                   check=True)
    return image


def replay(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`hv replay ARGS` in-process: (exit status, stdout, stderr)."""
    status = cli.main(["replay", *args])
    out, err = capfd.readouterr()
    return status, out, err


def record(capfd: pytest.CaptureFixture[str], *args: str) -> int:
    status = cli.main(["run", *args])
    capfd.readouterr()
    return status


# ---- what a manifest holds ----

def test_the_manifest_of_a_run(work: Path) -> None:
    ex = hv.run("hello.elf", timeout=5, cmdline="a=1")
    m = ex.manifest
    assert (m["format"], m["version"], m["hv"]) == ("hv-manifest", 1, hv.__version__)
    assert m["image"] == {"path": str(work / "hello.elf"),
                          "sha256": sha256((work / "hello.elf").read_bytes())}
    assert (m["memory_mib"], m["cmdline"], m["switcher"], m["clock"]) == (
        64, "a=1", hv.guest.default_switcher(), "virtual")
    assert (m["modules"], m["devices"], m["qemu_exit"]) == ([], [], False)
    assert (m["timeout"], m["max_instructions"], m["serial"], m["debugcon"]) == (5.0, None,
                                                                                 None, None)
    assert m["serial_input"] == {"length": 0, "sha256": sha256(b""), "path": None, "base64": ""}
    assert m["result"] == {"status": 0, "reason": None, "instructions": ex.instructions,
                           "console_sha256": sha256(ex.console),
                           "console_length": len(ex.console), "test_results": []}
    json.dumps(m)                       # plain JSON data
    m["result"]["status"] = 99          # a fresh copy each time
    assert ex.manifest["result"]["status"] == 0


def test_a_killed_run_and_its_limits(work: Path) -> None:
    m = hv.Guest("spin.elf", memory_mib=8).run(max_instructions=5000).manifest
    assert (m["memory_mib"], m["max_instructions"], m["timeout"]) == (8, 5000, None)
    assert m["result"]["status"] is None
    assert (m["result"]["reason"], m["result"]["instructions"]) == ("timeout", 5000)


def test_inputs_options_and_outputs_are_recorded(work: Path) -> None:
    module = work / "initrd.bin"
    module.write_bytes(b"module data")
    disk = work / "disk.img"
    disk.write_bytes(bytes(1024))
    with hv.BlockDevice(disk, readonly=True) as block:
        ex = hv.run("hello.elf", cmdline=b"\xff", modules=[("initrd.bin", "x=1")],
                    devices=[block], serial_input=b"ping", qemu_exit=True,
                    serial="com1.txt", debugcon=work / "e9.txt", clock="host")
    m = ex.manifest
    assert m["cmdline_base64"] == base64.b64encode(b"\xff").decode() and "cmdline" not in m
    assert m["modules"] == [{"path": str(module), "given": "initrd.bin", "cmdline": "x=1",
                             "sha256": sha256(b"module data")}]
    assert m["devices"] == [{"index": 0, "kind": "block", "name": "block", "path": str(disk),
                             "readonly": True, "sectors": 2, "sha256": sha256(bytes(1024))}]
    assert m["serial_input"] == {"length": 4, "sha256": sha256(b"ping"), "path": None,
                                 "base64": base64.b64encode(b"ping").decode()}
    assert (m["qemu_exit"], m["clock"]) == (True, "host")
    assert m["serial"] == {"path": str(work / "com1.txt"), "sha256": sha256(b""), "length": 0}
    assert m["debugcon"]["path"] == str(work / "e9.txt")


def test_big_serial_input_is_only_hashed_and_python_devices_are_named(work: Path) -> None:
    data = bytes(manifest.SERIAL_INLINE_MAX + 1)

    class Probe(hv.Device):
        name = "probe"

    m = hv.run("hello.elf", serial_input=data, devices=[Probe()]).manifest
    assert m["serial_input"] == {"length": len(data), "sha256": sha256(data), "path": None}
    (device,) = m["devices"]
    assert (device["kind"], device["name"]) == ("python", "probe")
    assert device["class"].endswith("Probe")


def test_an_exit_made_by_hand_has_no_manifest() -> None:
    assert hv.Exit(0, None, b"", 0, 0.0).manifest is None


# ---- hv run --record, hv replay ----

def test_record_and_replay(work: Path, capfd) -> None:
    assert record(capfd, "--record", "run.json", "--cmdline", "status=3",
                  "exit_status.elf") == 3
    m = manifest.load("run.json")
    assert (m["cmdline"], m["result"]["status"]) == ("status=3", 3)
    status, out, err = replay(capfd, "run.json")
    assert status == 0
    assert out == "exiting with status 3\n"
    assert err == (f"hv replay: same as the recording (exit status 3, "
                   f"{m['result']['instructions']} "
                   f"instructions, console {m['result']['console_length']} bytes)\n")


def test_replay_as_a_command(work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(REPO), os.environ.get("PYTHONPATH")]))}

    def hv_cmd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hv", *args], capture_output=True,
                              text=True, timeout=60, env=env)

    assert hv_cmd("run", "--record", "run.json", "hello.elf").returncode == 0
    done = hv_cmd("replay", "run.json")
    assert (done.returncode, done.stdout) == (0, "Hello from an hv guest!\n")
    assert done.stderr.startswith("hv replay: same as the recording (")


def test_a_changed_image_is_named(work: Path, capfd) -> None:
    record(capfd, "--record", "run.json", "hello.elf")
    recorded = manifest.load("run.json")["image"]["sha256"]
    with open("hello.elf", "ab") as f:
        f.write(b"\0")
    status, out, err = replay(capfd, "run.json")
    now = sha256((work / "hello.elf").read_bytes())
    assert (status, out) == (1, "")
    assert err == (f"hv replay: image hello.elf changed since the recording (sha256 "
                   f"{now[:12]}..., recorded {recorded[:12]}...)\n")


def test_a_changed_serial_input_file_is_named(uart: Path, capfd) -> None:
    Path("in.txt").write_bytes(b"ping")
    assert record(capfd, "--record", "run.json", "--serial-in", "in.txt", "--qemu-exit",
                  "uart.elf") == 0
    m = manifest.load("run.json")
    assert m["serial_input"]["path"] == str(uart.parent / "in.txt")
    status, out, _ = replay(capfd, "run.json")
    assert status == 0 and "received: ping" in out
    Path("in.txt").write_bytes(b"pong")
    status, out, err = replay(capfd, "run.json")
    assert (status, out) == (1, "")
    assert err.startswith("hv replay: serial input in.txt changed since the recording "
                          f"(sha256 {sha256(b'pong')[:12]}..., recorded "
                          f"{sha256(b'ping')[:12]}...)")
    # Without the file, the copy kept in the manifest is replayed.
    os.remove("in.txt")
    status, out, err = replay(capfd, "run.json")
    assert status == 0 and "received: ping" in out


def test_a_different_run_is_named(work: Path, capfd) -> None:
    record(capfd, "--record", "run.json", "hello.elf")
    m = manifest.load("run.json")
    m["result"]["instructions"] += 1
    m["result"]["console_sha256"] = sha256(b"other")
    manifest.write(m, "run.json")
    status, _, err = replay(capfd, "run.json")
    count, console = m["result"]["instructions"], sha256(b"Hello from an hv guest!\n")
    assert status == 1
    assert err == (f"hv replay: differs from the recording: instructions {count - 1} "
                   f"(recorded {count}); console 24 bytes sha256 {console[:12]}... "
                   f"(recorded 24 bytes {sha256(b'other')[:12]}...)\n")


def test_a_wall_clock_timeout_replays_to_the_same_instruction(work: Path, capfd) -> None:
    assert record(capfd, "--record", "run.json", "--timeout", "0.2", "spin.elf") == 125
    m = manifest.load("run.json")
    assert m["result"]["reason"] == "timeout"
    status, out, err = replay(capfd, "run.json")
    assert (status, out) == (0, "spinning\n")
    count = m["result"]["instructions"]
    assert err.splitlines() == [
        f"hv replay: note: the recording's 0.2 s timeout stopped it at instruction {count}: "
        "replaying to that instruction",
        f"hv replay: same as the recording (killed: timeout, {count} instructions, "
        "console 9 bytes)"]


def test_a_host_clock_recording_compares_status_and_reason_only(work: Path, capfd) -> None:
    assert record(capfd, "--record", "run.json", "--clock", "host", "clock.elf") == 0
    m = manifest.load("run.json")
    m["result"]["instructions"] += 12345            # as if the host's timing had differed
    manifest.write(m, "run.json")
    status, out, err = replay(capfd, "run.json")
    assert status == 0 and "clock: monotonic" in out
    assert err.splitlines() == [
        "hv replay: warning: recorded with the host clock, which no run can repeat: comparing "
        "the exit status and kill reason only",
        "hv replay: same as the recording (exit status 0; only that is compared)"]
    m["result"]["status"] = 7
    manifest.write(m, "run.json")
    status, _, err = replay(capfd, "run.json")
    assert status == 1
    assert err.splitlines()[-1] == ("hv replay: differs from the recording: exit status 0 "
                                    "(recorded exit status 7)")


def test_inputs_are_found_beside_the_manifest(work: Path, tmp_path_factory, capfd) -> None:
    record(capfd, "--record", "run.json", "hello.elf")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.move("run.json", elsewhere / "run.json")
    shutil.move("hello.elf", elsewhere / "hello.elf")
    status, out, _ = replay(capfd, str(elsewhere / "run.json"))
    assert (status, out) == (0, "Hello from an hv guest!\n")
    shutil.move(elsewhere / "hello.elf", work / "renamed.elf")
    status, _, err = replay(capfd, str(elsewhere / "run.json"))
    assert status == 1
    assert err.startswith(f"hv replay: image {work / 'hello.elf'} not found (also looked in "
                          f"{elsewhere}) (give its path with --image)")
    status, out, _ = replay(capfd, "--image", "renamed.elf", str(elsewhere / "run.json"))
    assert (status, out) == (0, "Hello from an hv guest!\n")
    status, _, err = replay(capfd, "--image", "spin.elf", str(elsewhere / "run.json"))
    assert status == 1 and err.startswith("hv replay: image spin.elf changed since")
    status, _, err = replay(capfd, "--image", "typo.elf", str(elsewhere / "run.json"))
    assert status == 1
    assert err == (f"hv replay: image typo.elf not found (given instead of the recorded "
                   f"{work / 'hello.elf'})\n")


def test_stop_at_an_instruction(work: Path, capfd) -> None:
    record(capfd, "--record", "run.json", "hello.elf")
    count = manifest.load("run.json")["result"]["instructions"]
    status, _, err = replay(capfd, "--stop-at", "100", "run.json")
    assert status == 0
    assert err == (f"hv replay: stopped at instruction 100 (the recording ran {count}); "
                   "nothing compared\n")
    status, _, err = replay(capfd, "--stop-at", str(count + 1), "run.json")
    assert status == 0 and err.startswith("hv replay: same as the recording")


def test_disks_are_checked_and_replayed_on_copies(work: Path, capfd) -> None:
    source, target = work / "in.img", work / "out.img"
    source.write_bytes(os.urandom(16 * 512))
    target.write_bytes(bytes(16 * 512))
    assert record(capfd, "--record", "run.json", "--disk", "in.img", "--disk", "out.img",
                  "disk_copy.elf") == 0
    # The run wrote out.img: replaying on what it left would not be the same run.
    status, _, err = replay(capfd, "run.json")
    assert status == 1
    assert err == ("hv replay: disk out.img holds what the recorded run wrote to it; restore "
                   f"its contents from before the run (sha256 {sha256(bytes(8192))[:12]}...) "
                   "to replay\n")
    target.write_bytes(bytes(16 * 512))
    status, out, _ = replay(capfd, "run.json")
    assert status == 0 and out.endswith("disk copy ok\n")
    assert target.read_bytes() == bytes(16 * 512)       # the replay ran on a copy
    source.write_bytes(os.urandom(16 * 512))
    status, _, err = replay(capfd, "run.json")
    assert status == 1 and err.startswith("hv replay: disk in.img changed since the recording")


def test_serial_and_debugcon_outputs_are_compared(uart: Path, capfd) -> None:
    assert record(capfd, "--record", "run.json", "--serial", "com1.txt", "--qemu-exit",
                  "uart.elf") == 0
    com1 = Path("com1.txt").read_bytes()
    assert b"powering off" in com1
    status, out, _ = replay(capfd, "run.json")
    assert (status, out) == (0, "")
    assert Path("com1.txt").read_bytes() == com1            # replays write elsewhere
    m = manifest.load("run.json")
    m["serial"]["sha256"] = sha256(b"other")
    manifest.write(m, "run.json")
    status, _, err = replay(capfd, "run.json")
    assert status == 1
    assert err == (f"hv replay: differs from the recording: serial output sha256 "
                   f"{sha256(com1)[:12]}... (recorded {sha256(b'other')[:12]}...)\n")


def test_what_cannot_be_replayed(work: Path, capfd) -> None:
    class Probe(hv.Device):
        name = "probe"

    manifest.write(hv.run("hello.elf", devices=[Probe()]).manifest, "python.json")
    status, _, err = replay(capfd, "python.json")
    assert status == 1
    assert err.startswith("hv replay: device 0 (probe, ")
    assert err.endswith("Probe) is a Python device: hv replay recreates block devices only\n")
    manifest.write(hv.run("hello.elf", serial_input=bytes(20000)).manifest, "big.json")
    status, _, err = replay(capfd, "big.json")
    assert (status, err) == (1, "hv replay: serial input not found, and its 20000 bytes are "
                                "not kept in the manifest\n")


def test_another_switcher(work: Path, capfd) -> None:
    record(capfd, "--record", "run.json", "hello.elf")
    m = manifest.load("run.json")
    m["switcher"] = "elsewhere"             # recorded under a switcher this build lacks
    manifest.write(m, "run.json")
    status, _, err = replay(capfd, "run.json")
    assert status == cli.EXIT_USAGE and "unknown switcher 'elsewhere'" in err
    status, out, err = replay(capfd, "--switcher", "emu", "run.json")
    assert (status, out) == (0, "Hello from an hv guest!\n")
    assert err.splitlines()[0] == ("hv replay: note: replaying under switcher emu (recorded "
                                   "under elsewhere)")


def test_an_incomplete_manifest(work: Path, capfd) -> None:
    m = hv.run("hello.elf").manifest
    del m["clock"], m["result"]["instructions"]
    manifest.write(m, "run.json")
    status, _, err = replay(capfd, "run.json")
    assert (status, err) == (cli.EXIT_USAGE, "hv: error: run.json: incomplete manifest: no "
                                             "clock, result.instructions\n")


def test_replay_help_documents_exit_statuses(capsys) -> None:
    assert cli.main(["replay", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in ("--image PATH", "--stop-at N", "--timeout S", "0 the run did the same",
                 "1 an input changed or is missing", "2 usage error", "host clock"):
        assert text in out


def test_the_python_example_of_docs_debugging_md(work: Path, guest_images: Path) -> None:
    text = (REPO / "docs" / "debugging.md").read_text()
    example = re.search(r"### From Python\n.*?```python\n(.*?)```", text, re.S).group(1)
    exec(compile(example.replace("images/build/", f"{guest_images}/"), "debugging.md", "exec"),
         {})
    assert manifest.load("run.json")["image"]["path"] == str(guest_images / "hello.elf")


@pytest.mark.parametrize(("text", "problem"), [
    ("{", "not a manifest (bad JSON: "),
    ('{"format": "other"}', 'not an hv manifest (no "format": "hv-manifest")'),
    ('{"format": "hv-manifest", "version": 2}', "manifest version 2; this hv reads version 1"),
])
def test_a_file_that_is_not_a_manifest(tmp_path: Path, capfd, text: str, problem: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(text)
    status, _, err = replay(capfd, str(path))
    assert status == cli.EXIT_USAGE
    assert err.startswith(f"hv: error: {path}: {problem}")
