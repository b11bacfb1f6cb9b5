"""hv's gdb stub (hv/gdbstub.py): the protocol by hand, then real gdb in batch mode.

The gdb tests need Debian's `gdb` (./bootstrap installs it); without it they
skip and say so.  Each guest is built with `hv cc -g` and runs in a thread
under a GdbServer on a free port; gdb drives it with -batch -ex ... and the
tests look at what gdb printed and at the guest's Exit.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import hv
from hv import cc, gdbstub

GDB = shutil.which("gdb")
needs_gdb = pytest.mark.skipif(GDB is None, reason="gdb is not installed (apt-get install gdb; "
                               "./bootstrap installs it)")

SOURCE = r"""
#include <stdio.h>
volatile int counter;
volatile double acc = 1.5;
volatile int table[64];

__attribute__((noinline)) int add(int a, int b)
{
    counter += a;
    acc = acc * 2.0;
    return a + b;
}

__attribute__((noinline)) void spin(void)
{
    for (;;)
        counter++;
}

int main(int argc, char **argv)
{
    int s = 0;
    (void)argv;
    for (int k = 0; k < 10; k++)
        s = add(s, k);
    table[50] = s;
    printf("sum %d\n", s);
    if (argc > 1)
        spin();
    return s == 45 ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("gdb") / "dbg.c"
    src.write_text(SOURCE)
    return cc.compile_guest([src], src.with_suffix(".elf"), ["-g", "-O1"], capture=True)


class Served:
    """A guest running under a GdbServer in a thread; .exit once it is over."""

    def __init__(self, image: Path, cmdline: str = "", **server: int) -> None:
        self.server = gdbstub.GdbServer("127.0.0.1:0", announce=None, **server)
        self.exit: hv.Exit | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(image, cmdline), daemon=True)
        self.thread.start()

    def _run(self, image: Path, cmdline: str) -> None:
        try:
            with self.server:
                self.exit = hv.run(str(image), cmdline=cmdline, gdb=self.server)
        except BaseException as exc:    # noqa: BLE001 - reported by join()
            self.error = exc

    def join(self) -> hv.Exit:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the guest did not finish"
        if self.error is not None:
            raise self.error
        assert self.exit is not None
        return self.exit


def gdb_batch(image: Path, port: int, *commands: str, interrupt_after: float | None = None) -> str:
    argv = [GDB, "-batch", "-nx", "-ex", f"target remote 127.0.0.1:{port}"]
    for command in commands:
        argv += ["-ex", command]
    # gdb is not ours: it runs without the sanitizer runtime that the asan
    # environment preloads into hv's processes (gdb hangs under it).
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.Popen(argv + [str(image)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        proc.send_signal(signal.SIGINT)     # gdb sends the stub its Ctrl-C byte
    out, _ = proc.communicate(timeout=60)
    return out


# ---- the protocol by hand ----

class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _read_until(self, pattern: bytes) -> None:
        while not re.search(pattern, self.buf, re.S):
            data = self.sock.recv(4096)
            assert data, "the stub closed the connection"
            self.buf += data

    def ask(self, data: bytes) -> bytes:
        self.sock.sendall(b"$" + data + b"#%02x" % (sum(data) & 0xFF))
        self._read_until(rb"^\+\$.*?#..")
        m = re.match(rb"^\+\$(.*?)#(..)", self.buf, re.S)
        assert m
        self.buf = self.buf[m.end():]
        body, check = m.group(1), m.group(2)
        assert int(check, 16) == sum(body) & 0xFF
        self.sock.sendall(b"+")
        return body


def test_protocol_by_hand(image: Path) -> None:
    served = Served(image)
    c = Client(served.server.port)
    assert b"qXfer:features:read+" in c.ask(b"qSupported:swbreak+;hwbreak+")
    assert c.ask(b"?").startswith(b"T05")
    xml = c.ask(b"qXfer:features:read:target.xml:0,ffff")
    assert xml.startswith(b"l<?xml") and b"org.gnu.gdb.i386.core" in xml
    regs = c.ask(b"g")
    assert len(regs) == 2 * (16 * 4 + 8 * 10 + 8 * 4 + 8 * 16 + 4)
    eip = int.from_bytes(bytes.fromhex(regs[64:72].decode()), "little")
    assert eip == hv.elf.load_image(str(image), 64 << 20).entry
    assert c.ask(b"p8") == regs[64:72]
    assert len(c.ask(b"m%x,10" % eip)) == 32
    assert c.ask(b"mfffff000,4") == b"E14"          # outside RAM: an error, no kill
    assert c.ask(b"Z0,%x,1" % eip) == b"OK"
    assert c.ask(b"s").startswith(b"T05")            # a step from a breakpoint moves on
    assert c.ask(b"p8") != regs[64:72]
    assert c.ask(b"z0,%x,1" % eip) == b"OK"
    assert c.ask(b"c") == b"W00"
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n"


def test_parse_address() -> None:
    assert gdbstub.parse_address("1234") == ("127.0.0.1", 1234)
    assert gdbstub.parse_address(":1234") == ("127.0.0.1", 1234)
    assert gdbstub.parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
    with pytest.raises(ValueError, match="PORT"):
        gdbstub.parse_address("host:port")



# ---- read and access watchpoints, on the machine ----

ACCESS_SOURCE = r"""
volatile unsigned probe[4] __attribute__((aligned(16)));
volatile unsigned beside[4];            /* the same page, not watched */

int main(void)
{
    unsigned x;
    __asm__ volatile(
        "mov probe, %%eax\n.globl at_mov\nat_mov:\n"
        "addl $1, probe+4\n.globl at_add\nat_add:\n"
        "pushl probe+8\n.globl at_push\nat_push:\n"
        "addl $4, %%esp\n"
        "lea probe, %%esi\n"
        "lodsl\n.globl at_lods\nat_lods:\n"
        "mov beside, %%eax\n"
        "flds probe+12\n.globl at_fld\nat_fld:\n"
        "fstp %%st(0)\n"
        "movl %%eax, probe+12\n.globl at_store\nat_store:\n"
        "movups probe, %%xmm0\n.globl at_movups\nat_movups:\n"
        "movl $7, beside+4\n"
        "movw probe+2, %%ax\n.globl at_word\nat_word:\n"
        : "=a"(x) : : "esi", "memory", "xmm0");
    return (int)(x & 0);
}
"""


def _symbols(image: Path) -> dict[str, int]:
    out = subprocess.run(["nm", str(image)], capture_output=True, text=True, check=True).stdout
    return {name: int(value, 16) for value, _, name in
            (line.split() for line in out.splitlines() if len(line.split()) == 3)}


def _watch_hits(image: Path, points: list) -> list[tuple[str, str, int]]:
    """Run image with the watchpoints set: (kind, watched address, eip) per stop."""
    from hv import _native
    machine = hv.Guest(str(image))._boot(_native)
    machine.set_watchpoints(points)
    hits = []
    while True:
        result = machine.run(None, 10**6, None)
        if machine.debug_stop is None:
            assert result[0] == 0, result
            return hits
        assert machine.debug_stop == "watch"
        hits.append((machine.watch_kind, machine.watch_hit, machine.debug_regs()[8]))


def test_read_and_access_watchpoints_stop_right_after_each_access(tmp_path: Path) -> None:
    src = tmp_path / "access.c"
    src.write_text(ACCESS_SOURCE)
    image = cc.compile_guest([src], tmp_path / "access.elf", ["-g", "-O1", "-msse2"],
                             capture=True)
    sym = _symbols(image)
    probe = sym["probe"]
    at = [sym[f"at_{name}"] for name in ("mov", "add", "push", "lods", "fld", "store",
                                         "movups", "word")]
    reads = [a for a in at if a != sym["at_store"]]
    # A read watchpoint: every instruction that reads the 16 bytes, right
    # after it (the read-modify-write add too), and neither the store nor
    # the accesses beside them on the same page.
    assert _watch_hits(image, [(probe, 16, "read")]) == [("read", probe, a) for a in reads]
    # An access watchpoint: the store as well.
    assert _watch_hits(image, [(probe, 16, "access")]) == [("access", probe, a) for a in at]
    # A watchpoint on one word sees only what touches it, whatever the size:
    # probe+2 is in probe[0]: the mov, lods, movups and the word read.
    assert _watch_hits(image, [(probe + 2, 1, "read")]) == [
        ("read", probe + 2, sym[f"at_{name}"]) for name in ("mov", "lods", "movups", "word")]
    # A write watchpoint still says only when the bytes change.
    assert _watch_hits(image, [(probe + 4, 4, "write")]) == [("write", probe + 4, sym["at_add"])]
    # Without watchpoints the guest runs as before.
    assert _watch_hits(image, []) == []


def test_watchpoint_kinds_are_checked(image: Path) -> None:
    from hv import _native
    machine = hv.Guest(str(image))._boot(_native)
    with pytest.raises(ValueError, match="'write', 'read' or 'access', not 'exec'"):
        machine.set_watchpoints([(0x1000, 4, "exec")])
    with pytest.raises(TypeError, match=r"\(addr, length\) or \(addr, length, kind\)"):
        machine.set_watchpoints([(0x1000,)])


def test_read_watchpoints_are_guest_virtual_when_paging_is_on(tmp_path: Path) -> None:
    src = tmp_path / "paged.c"
    src.write_text(PAGED_SOURCE)
    image = cc.compile_guest([src], tmp_path / "paged.elf", ["-g", "-O1"], capture=True)
    alias, page = 0x40000000, _symbols(image)["page"]
    # The write through the alias is an access there, and no read of page[1]'s
    # identity address; main's read of page[1] at the end is.
    hits = _watch_hits(image, [(alias + 4, 4, "access"), (page + 4, 4, "read")])
    assert [(kind, addr) for kind, addr, _ in hits] == [("access", alias + 4),
                                                        ("read", page + 4)], hits

# ---- real gdb ----

@needs_gdb
def test_break_bt_registers_memory_step_continue(image: Path) -> None:
    served = Served(image)
    out = gdb_batch(image, served.server.port, "break add", "continue", "bt",
                    "info registers", "x/2x $esp", "stepi", "p $pc", "p a", "delete",
                    "continue")
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n", out
    assert re.search(r"Breakpoint 1, add \(a=.*\) at .*dbg\.c:\d+", out), out
    assert re.search(r"#1  0x[0-9a-f]+ in main \(", out), out
    for reg in ("eax", "esp", "eip", "eflags", "cs", "ss", "ds", "gs"):
        assert re.search(rf"^{reg}\s+0x[0-9a-f]+", out, re.M), (reg, out)
    assert re.search(r"^eip\s+0x[0-9a-f]+\s+0x[0-9a-f]+ <add>", out, re.M), out
    assert re.search(r"^cs\s+0x8\s", out, re.M), out
    assert re.search(r"^0x[0-9a-f]+:\s+0x[0-9a-f]{8}\s+0x0+\n", out, re.M), out  # ret, a == 0
    assert re.search(r"\$1 = .*<add\+\d+>", out), out
    assert "$2 = 0" in out, out
    assert "exited normally" in out, out


@needs_gdb
def test_watch_finish_and_registers(image: Path) -> None:
    served = Served(image)
    out = gdb_batch(image, served.server.port, "watch counter", "continue", "continue",
                    "delete", "break add", "continue", "finish", "p $eflags", "info float",
                    "p $xmm0", "kill")
    ex = served.join()
    assert ex.reason == "killed by gdb", out
    assert re.search(r"Old value = 0\s+New value = 1\b", out), out
    assert re.search(r"Old value = 1\s+New value = 4\b", out), out     # 0 + 1 + 3
    assert re.search(r"Value returned is \$\d+ = 10\b", out), out     # add(6, 4)
    assert re.search(r"\$\d+ = \[ .*\]", out), out
    assert "Control Word:        0x037f" in out, out
    assert "v4_int32 = {0, 0, 0, 0}" in out, out


@needs_gdb
def test_watch_a_whole_array(image: Path) -> None:
    served = Served(image)
    out = gdb_batch(image, served.server.port, "watch table", "continue", "p table[50]",
                    "continue")
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n", out
    assert re.search(r"Hardware watchpoint 1: table", out), out
    assert re.search(r"Old value = \{0 <repeats 64 times>\}\s+New value = ", out), out
    assert "$1 = 45" in out, out


@needs_gdb
def test_read_and_access_watchpoints(image: Path) -> None:
    served = Served(image)
    out = gdb_batch(image, served.server.port, "rwatch counter", "continue", "bt 1",
                    "continue", "p a", "delete", "awatch counter", "continue", "continue",
                    "delete", "continue")
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n", out
    # add(0, 0) reads counter (0), then add(0, 1) does; each stop is in add.
    assert re.findall(r"Hardware read watchpoint 1: counter\s+Value = (\d+)", out) == ["0", "0"]
    assert re.search(r"^#0  .*add \(a=", out, re.M), out
    assert "$1 = 0" in out, out
    # An access watchpoint set there stops right after the write that ends
    # `counter += a` (line 9; the store of 0 + 0), then at the read in add(1, 2).
    stops = re.findall(r"watchpoint 2: counter\s+Value = \d+\n(.*)\n", out)
    assert len(stops) == 2, out
    assert re.match(r"add \(a=a@entry=0, b=b@entry=1\) at .*dbg\.c:10$", stops[0]), out
    assert re.match(r"0x[0-9a-f]+ in add \(a=a@entry=1, b=b@entry=2\) at .*dbg\.c:9$",
                    stops[1]), out


# Snapshot settings: the default (one at the boot: this guest is short), none
# (going back boots again), and one every 25 instructions with at most 4
# kept, so that going back crosses many intervals and thinned-out gaps.
@needs_gdb
def test_reverse_continue_to_a_read(image: Path) -> None:
    served = Served(image, snapshot_interval=50, snapshots=4)
    out = gdb_batch(image, served.server.port, "rwatch counter", "continue", "continue",
                    "continue", "reverse-continue", "p $pc == (char *)add + 4", "p a",
                    "delete", "continue")
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n", out
    assert len(re.findall(r"Hardware read watchpoint 1: counter\s+Value = 0", out)) == 4, out
    # Back to the instruction whose read stopped the guest last, in add(1, 2),
    # not yet run (as rr goes back over a watched access).
    assert "$1 = 1\n$2 = 1" in out, out


SNAPSHOT_SETTINGS = [{}, {"snapshot_interval": 0}, {"snapshot_interval": 25, "snapshots": 4}]


@needs_gdb
@pytest.mark.parametrize("settings", SNAPSHOT_SETTINGS, ids=["default", "reboot", "every-25"])
def test_reverse_execution(image: Path, settings: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    boots = []
    boot = hv.Guest._boot
    monkeypatch.setattr(hv.Guest, "_boot", lambda *a: boots.append(1) or boot(*a))
    served = Served(image, **settings)
    out = gdb_batch(image, served.server.port, "break add", "continue", "continue", "continue",
                    "reverse-continue", "p a", "reverse-stepi", "p $pc == add", "stepi",
                    "p $pc == add", "reverse-finish", "delete", "watch counter", "continue",
                    "continue", "reverse-continue", "p counter", "delete", "continue")
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n", out       # printed once
    hits = re.findall(r"Breakpoint 1, add \(a=(?:a@entry=)?(\d+), b=b@entry=(\d+)\)", out)
    # Three forward, one back, and the stepi back onto the breakpoint.
    assert hits == [("0", "0"), ("0", "1"), ("1", "2"), ("0", "1"), ("0", "1")], out
    assert "$2 = 0" in out and "$3 = 1" in out, out      # off add, then back on it
    assert re.search(r"in main \(.*\n.*s = add\(s, k\);", out), out     # reverse-finish
    # Going back over the write that made counter 4 (from 1): it is 1 again.
    assert re.search(r"Old value = 4\s+New value = 1\b", out), out
    assert "$4 = 1" in out, out
    # With snapshots, going back never boots the image again.
    assert (len(boots) == 1) == (settings.get("snapshot_interval") != 0), len(boots)


@needs_gdb
def test_a_write_from_gdb_forks_the_history(image: Path) -> None:
    """After gdb writes memory, going back to where it wrote finds the write
    (a snapshot is taken there); going back before it drops that fork, and
    running forward again does not write (as a rerun from the boot would not)."""
    served = Served(image, snapshot_interval=40, snapshots=8)
    out = gdb_batch(image, served.server.port, "break add", "continue", "continue", "continue",
                    "set var counter = 100", "continue", "p counter", "reverse-continue",
                    "p counter", "reverse-continue", "p counter", "continue", "p counter",
                    "delete", "continue")
    ex = served.join()
    assert ex.status == 0 and ex.console == b"sum 45\n", out
    hits = re.findall(r"Breakpoint 1, add \(a=(?:a@entry=)?(\d+), b=b@entry=(\d+)\)", out)
    assert hits == [("0", "0"), ("0", "1"), ("1", "2"), ("3", "3"), ("1", "2"), ("0", "1"),
                    ("1", "2")], out
    values = re.findall(r"^\$\d+ = (\d+)", out, re.M)
    assert values == ["101", "100", "0", "0"], out


def test_bad_snapshot_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HV_GDB_SNAPSHOT_INTERVAL", "often")
    with pytest.raises(gdbstub.GdbError, match="HV_GDB_SNAPSHOT_INTERVAL='often' must be"):
        gdbstub.GdbServer("127.0.0.1:0", announce=None)
    monkeypatch.delenv("HV_GDB_SNAPSHOT_INTERVAL")
    with pytest.raises(gdbstub.GdbError, match="snapshots must be an int of at least 2"):
        gdbstub.GdbServer("127.0.0.1:0", announce=None, snapshots=1)


@needs_gdb
def test_ctrl_c_interrupts_a_running_guest(image: Path) -> None:
    served = Served(image, cmdline="spin")
    out = gdb_batch(image, served.server.port, "continue", "bt", "kill", interrupt_after=2.0)
    ex = served.join()
    assert "Program received signal SIGINT" in out, out
    assert re.search(r"^#0  .*spin \(\)", out, re.M), out
    assert ex.reason == "killed by gdb" and ex.console == b"sum 45\n"


@needs_gdb
def test_detach_lets_the_guest_finish(image: Path) -> None:
    served = Served(image)
    out = gdb_batch(image, served.server.port, "break add", "continue", "detach")
    ex = served.join()
    assert "Breakpoint 1, add" in out, out
    assert ex.status == 0 and ex.console == b"sum 45\n"


SERIAL_SOURCE = r"""
#include <stdio.h>
#include <hv_guest.h>

__attribute__((noinline)) int getbyte(void)
{
    while (!(hv_inb(0x3fd) & 1))
        ;
    return hv_inb(0x3f8);
}

int main(void)
{
    char s[5] = { 0 };
    for (int k = 0; k < 4; k++)
        s[k] = (char)getbyte();
    printf("got %s\n", s);
    return 0;
}
"""


def test_serial_input_is_read_once_across_pauses(tmp_path: Path) -> None:
    src = tmp_path / "serial.c"
    src.write_text(SERIAL_SOURCE)
    image = cc.compile_guest([src], tmp_path / "serial.elf", ["-g", "-O1"], capture=True)
    getbyte = hv.elf.load_image(str(image), 64 << 20)
    server = gdbstub.GdbServer("127.0.0.1:0", announce=None)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(
        hv.run(str(image), serial_input=b"ping", gdb=server)), daemon=True)
    thread.start()
    c = Client(server.port)
    symbols = subprocess.run(["nm", str(image)], capture_output=True, text=True).stdout
    addr = int(re.search(r"^([0-9a-f]+) T getbyte$", symbols, re.M).group(1), 16)
    assert getbyte.entry != addr
    assert c.ask(b"Z0,%x,1" % addr) == b"OK"
    for _ in range(4):                      # a pause before each byte
        assert c.ask(b"c").startswith(b"T05")
    assert c.ask(b"z0,%x,1" % addr) == b"OK"
    assert c.ask(b"c") == b"W00"
    thread.join(30)
    server.close()
    assert result and result[0].console == b"got ping\n"


@needs_gdb
def test_hv_run_gdb_prints_the_port(image: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "hv", "run", "--gdb", "127.0.0.1:0",
                             str(image)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    m = re.match(r"hv: waiting for gdb on 127\.0\.0\.1:(\d+)$", line.strip())
    assert m, line
    out = gdb_batch(image, int(m.group(1)), "break main", "continue", "continue")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, stderr)
    assert re.search(r"Breakpoint 1(\.1)?, main", out) and "exited normally" in out, out
    assert stdout == "sum 45\n"


SUITE_SOURCE = r"""
#include <hv_test.h>

volatile int seen;

__attribute__((noinline)) int twice(int v)
{
    seen = v;
    return 2 * v;
}

HV_TEST(doubles)
{
    HV_ASSERT_EQ(twice(21), 42);
}

HV_TEST(doubles_wrongly)
{
    HV_ASSERT_EQ(twice(2), 5);
}
"""


@needs_gdb
def test_pytest_hv_gdb_runs_the_test_under_gdb(tmp_path: Path) -> None:
    src = tmp_path / "dbgsuite.c"
    src.write_text(SUITE_SOURCE)
    image = cc.compile_guest([src], tmp_path / "dbgsuite.elf", ["-g", "-O1"], capture=True)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(hv.__file__).resolve().parent.parent),
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                             "-p", "hv.pytest_plugin", str(image), "-k", "doubles_wrongly",
                             f"--hv-gdb=127.0.0.1:{port}"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report = _wait_for_announce(proc.stdout)
    out = gdb_batch(image, port, "break twice", "continue", "p v", "continue")
    report += proc.communicate(timeout=60)[0]
    assert "$1 = 2" in out and "exited with code 01" in out, out
    assert f"hv: waiting for gdb on 127.0.0.1:{port}" in report, report
    assert re.search(r"^gdb: hv replay --gdb 127\.0\.0\.1:1234 \S+\.json$", report, re.M), report
    manifest = re.search(r"^replay: hv replay (\S+\.json)$", report, re.M).group(1)

    # The failure's own gdb command: paused at instruction 100, then to the end.
    proc = subprocess.Popen([sys.executable, "-m", "hv", "replay", "--gdb", f"127.0.0.1:{port}",
                             "--stop-at", "100", manifest], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_announce(proc.stderr)
    out = gdb_batch(image, port, "p seen", "break twice", "continue", "p v", "continue")
    stdout, stderr = proc.communicate(timeout=60)
    assert "$2 = 2" in out and "exited with code 01" in out, out
    assert "hv replay: ran under gdb (exit status 1," in stderr, stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_announce(stream) -> str:
    """What the process printed up to its "hv: waiting for gdb" line."""
    seen = ""
    while "hv: waiting for gdb" not in seen:
        line = stream.readline()
        assert line, f"no 'waiting for gdb' line in:\n{seen}"
        seen += line
    return seen


HANDLER_SOURCE = r"""
#include <hv_irq.h>

volatile int hits;
void raise_it(void);
void handler(void);
__asm__(".globl raise_it\nraise_it:\n int $0x80\n ret\n"
        ".globl handler\nhandler:\n incl hits\n iret\n");

int main(void)
{
    hv_set_gate(0x80, handler, HV_GATE_TRAP);
    raise_it();
    return hits == 1 ? 0 : 1;
}
"""


@needs_gdb
def test_step_into_an_interrupt_handler_and_out(tmp_path: Path) -> None:
    src = tmp_path / "handler.c"
    src.write_text(HANDLER_SOURCE)
    image = cc.compile_guest([src], tmp_path / "handler.elf", ["-g", "-O1"], capture=True)
    served = Served(image)
    out = gdb_batch(image, served.server.port, "break raise_it", "continue", "stepi",
                    "p $pc == handler", "p hits", "stepi", "p hits", "stepi",
                    "p $pc == (char *)raise_it + 2", "continue")
    ex = served.join()
    assert ex.status == 0, out
    assert re.search(r"\$1 = 1\n\$2 = 0\n.*\$3 = 1\n.*\$4 = 1\n", out, re.S), out


PAGED_SOURCE = r"""
#include <hv_paging.h>

#define ALIAS 0x40000000u
static volatile uint32_t page[1024] __attribute__((aligned(4096)));

__attribute__((noinline)) void paged(volatile uint32_t *alias) { alias[1] = 0x5eed; }

int main(void)
{
    uint32_t *pgdir = hv_pt_new();
    hv_frame_set_limit(0x01000000u);
    if (hv_pt_identity(pgdir, 0, 0x01000000u, HV_PTE_RW | HV_PTE_PS) < 0 ||
        hv_pt_identity_stack(pgdir, 64u << 10, HV_PTE_RW) < 0 ||
        hv_pt_map(pgdir, ALIAS, (uint32_t)(uintptr_t)page, HV_PTE_RW) < 0 ||
        hv_paging_enable(pgdir) < 0)
        return 2;
    page[0] = 0xfeedf00d;
    paged((volatile uint32_t *)ALIAS);
    return page[1] == 0x5eed ? 0 : 1;
}
"""


@needs_gdb
def test_memory_is_guest_virtual_when_paging_is_on(tmp_path: Path) -> None:
    src = tmp_path / "paged.c"
    src.write_text(PAGED_SOURCE)
    image = cc.compile_guest([src], tmp_path / "paged.elf", ["-g", "-O1"], capture=True)
    served = Served(image)
    out = gdb_batch(image, served.server.port, "break paged", "continue", "x/wx 0x40000000",
                    "x/wx 0x40001000", "set var *(int *)0x40000004 = 7", "p page[1]", "finish",
                    "p page[1]", "continue")
    ex = served.join()
    assert ex.status == 0, out
    assert re.search(r"^0x40000000:\s+0xfeedf00d$", out, re.M), out     # through the alias
    assert "Cannot access memory at address 0x40001000" in out, out    # not mapped
    assert "$1 = 7" in out and "$2 = 24301" in out, out                 # 0x5eed


def test_hv_run_gdb_refuses_a_bad_address(image: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "hv", "run", "--gdb", "localhost:http",
                           str(image)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.startswith("hv: error: gdb address must be [HOST:]PORT"), done.stderr


RESTART_SOURCE = r"""
#include <stdio.h>
#include <hv_guest.h>

int main(void)
{
    while (!(hv_inb(0x3fd) & 1))
        ;
    char c = (char)hv_inb(0x3f8);
    printf("boot %c\n", c);
    if (c == 'r')
        hv_shutdown("again", HV_SHUTDOWN_RESTART);
    return 0;
}
"""


@needs_gdb
def test_a_restart_goes_on_under_the_same_gdb(tmp_path: Path) -> None:
    src = tmp_path / "restart.c"
    src.write_text(RESTART_SOURCE)
    image = cc.compile_guest([src], tmp_path / "restart.elf", ["-g", "-O1"], capture=True)
    server = gdbstub.GdbServer("127.0.0.1:0", announce=None)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(
        hv.run(str(image), serial_input=b"rx", gdb=server)), daemon=True)
    thread.start()
    out = gdb_batch(image, server.port, "break main", "continue", "continue", "continue")
    thread.join(30)
    server.close()
    assert len(re.findall(r"Breakpoint 1(\.\d)?, main", out)) == 2, out     # once per boot
    assert "exited normally" in out, out
    assert result and result[0].status == 0 and result[0].console == b"boot r\nagain\nboot x\n"


FPU_SOURCE = r"""
#include <stdio.h>
volatile double d = 1.5;
volatile float f4[4] = {1, 2, 3, 4};

__attribute__((noinline)) double get(double x) { return x * 2.0; }

__attribute__((noinline, target("sse2"))) float addf(void)
{
    float r;
    __asm__ volatile("movups %1, %%xmm1\n\taddss %%xmm1, %%xmm1\n\tmovss %%xmm1, %0"
                     : "=m"(r) : "m"(f4[0]) : "xmm1");
    return r;
}

int main(void)
{
    double r = get(d);
    printf("%d %d\n", (int)r, (int)addf());
    return 0;
}
"""


@needs_gdb
def test_x87_and_sse_registers_read_and_write(tmp_path: Path) -> None:
    src = tmp_path / "fpu.c"
    src.write_text(FPU_SOURCE)
    image = cc.compile_guest([src], tmp_path / "fpu.elf", ["-g", "-O1"], capture=True)
    served = Served(image)
    out = gdb_batch(image, served.server.port, "break get", "break addf", "continue", "finish",
                    "p $st0", "set $st0 = 42", "continue", "stepi", "stepi",
                    "p $xmm1.v4_float", "set $xmm1.v4_float[0] = 10", "p $mxcsr",
                    "set $mxcsr = 0x7f80", "p/x $mxcsr", "set $cs = 0x10", "continue")
    ex = served.join()
    assert "Value returned is $1 = 3" in out and "$2 = 3" in out, out
    assert "$3 = {1, 2, 3, 4}" in out and "$4 = 8064" in out and "$5 = 0x7f80" in out, out
    assert ex.console == b"42 20\n", out        # st0 42 returned; xmm1 10 + 10
