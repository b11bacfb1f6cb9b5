#!/usr/bin/env python3
"""What debugging a guest costs: the gdb stub's step rate, watchpoints, going back.

    python bench/gdb.py [--insns N]

Builds a small guest (hv cc -g) that runs about N instructions (default
10**8) in a loop that calls a function, then measures, each the best of 3:

  step      single steps through the GDB remote protocol ('s' packets over
            TCP from a client in this process): steps per second
  free      the guest run to its end under the stub with nothing set
  watch     the same with one write watchpoint on a variable nothing
            writes: guest instructions per second
  snapshot  Machine.snapshot() and Machine.restore() halfway through the
            guest: time to take one, to put one back, and bytes it holds
  reverse   from the guest's last breakpoint stop (3/4 N instructions in), a
            reverse-continue back to the one before (1/4 N back) and a
            reverse-stepi, with snapshots (the default interval) and without
            (HV_GDB_SNAPSHOT_INTERVAL=0: reruns from the boot)

Results go to stdout; bench/README.md ("gdb stub") has the figures.
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

import hv  # noqa: E402
from hv import cc, gdbstub  # noqa: E402

SOURCE = r"""
#include <stdio.h>
volatile unsigned sum, untouched;

__attribute__((noinline)) void mark(unsigned k) { sum += k; }

int main(int argc, char **argv)
{
    unsigned n = 0;
    for (const char *p = argc > 1 ? argv[1] : ""; *p; p++)
        n = n * 10 + (unsigned)(*p - '0');
    for (unsigned outer = 0; outer < 4; outer++) {
        mark(outer);
        for (unsigned k = 0; k < n; k++)
            sum += k;
    }
    printf("%u\n", sum);
    return 0;
}
"""


class Client:
    """A bare protocol client: enough to time packets."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def ask(self, data: bytes) -> bytes:
        self.sock.sendall(b"$" + data + b"#%02x" % (sum(data) & 0xFF))
        while True:
            m = re.search(rb"\$(.*?)#..", self.buf, re.S)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                return m.group(1)
            self.buf += self.sock.recv(65536)


def serve(image: Path, cmdline: str, **settings: int
          ) -> tuple[gdbstub.GdbServer, threading.Thread, list]:
    server = gdbstub.GdbServer("127.0.0.1:0", announce=None, **settings)
    out: list = []
    thread = threading.Thread(target=lambda: out.append(
        hv.run(str(image), cmdline=cmdline, gdb=server)), daemon=True)
    thread.start()
    return server, thread, out


def symbol(image: Path, name: str) -> int:
    nm = subprocess.run(["nm", str(image)], capture_output=True, text=True, check=True).stdout
    return int(re.search(rf"^([0-9a-f]+) [BbTt] {name}$", nm, re.M).group(1), 16)


def session(image: Path, cmdline: str, body, **settings: int):
    server, thread, out = serve(image, cmdline, **settings)
    client = Client(server.port)
    try:
        return body(client)
    finally:
        client.ask(b"k")
        thread.join(60)
        server.close()


def bench_step(image: Path, steps: int) -> float:
    def body(c: Client) -> float:
        t = time.perf_counter()
        for _ in range(steps):
            c.ask(b"s")
        return steps / (time.perf_counter() - t)
    return session(image, "1000000", body)


def bench_run(image: Path, insns: int, watch: bool, **settings: int) -> float:
    def body(c: Client) -> float:
        if watch:
            c.ask(b"Z2,%x,4" % symbol(image, "untouched"))
        t = time.perf_counter()
        reply = c.ask(b"c")
        assert reply.startswith(b"W"), reply
        return time.perf_counter() - t
    server, thread, out = serve(image, str(insns // 4 // 5), **settings)
    client = Client(server.port)
    elapsed = body(client)
    thread.join(60)
    server.close()
    return out[0].instructions / elapsed


def bench_reverse(image: Path, insns: int, **settings: int) -> tuple[float, float]:
    """reverse-continue from mark()'s 4th call (3/4 of the way) back to its
    3rd, then reverse-stepi from the 4th again: seconds for each."""
    def body(c: Client) -> tuple[float, float]:
        c.ask(b"Z0,%x,1" % symbol(image, "mark"))
        for _ in range(4):
            assert c.ask(b"c").startswith(b"T05")
        t = time.perf_counter()
        assert c.ask(b"bc").startswith(b"T05")
        back = time.perf_counter() - t
        assert c.ask(b"c").startswith(b"T05")
        t = time.perf_counter()
        assert c.ask(b"bs").startswith(b"T05")
        return back, time.perf_counter() - t
    return session(image, str(insns // 4 // 5), body, **settings)


def bench_snapshot(image: Path, insns: int) -> tuple[float, float, int]:
    """Best times (s) to take and to restore a snapshot halfway, and its bytes."""
    from hv import guest

    m = hv.Guest(str(image), cmdline=str(insns // 4 // 5))._boot(guest._native())
    m.run(stop_at=insns // 2)
    takes, restores = [], []
    for _ in range(50):
        t = time.perf_counter()
        snap = m.snapshot()
        takes.append(time.perf_counter() - t)
        m.run(stop_at=m.instructions + 1000)    # a little further, then back
        t = time.perf_counter()
        m.restore(snap)
        restores.append(time.perf_counter() - t)
    first = hv.Guest(str(image), cmdline=str(insns // 4 // 5))._boot(guest._native())
    first.run(stop_at=insns // 2)
    return min(takes), min(restores), first.snapshot().nbytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insns", type=int, default=10**8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "dbgbench.c"
        src.write_text(SOURCE)
        image = cc.compile_guest([src], src.with_suffix(".elf"), ["-g", "-O1"], capture=True)
        step = max(bench_step(image, 20000) for _ in range(3))
        free = max(bench_run(image, args.insns, False) for _ in range(3))
        free_off = max(bench_run(image, args.insns, False, snapshot_interval=0)
                       for _ in range(3))
        watch = max(bench_run(image, args.insns // 20, True) for _ in range(3))
        take, restore, nbytes = bench_snapshot(image, args.insns)
        snap = [bench_reverse(image, args.insns) for _ in range(3)]
        boot = [bench_reverse(image, args.insns, snapshot_interval=0) for _ in range(3)]
    print(f"step     {step:12,.0f} steps/s through the protocol")
    print(f"free     {free / 1e6:12,.1f} M instructions/s under the stub, nothing set "
          f"({free_off / 1e6:,.1f} without snapshots)")
    print(f"watch    {watch / 1e6:12,.1f} M instructions/s with one write watchpoint")
    print(f"snapshot {take * 1e3:12.3f} ms to take, {restore * 1e3:.3f} ms to restore, "
          f"{nbytes:,} bytes (64 MiB guest)")
    for name, runs in (("snapshots", snap), ("reboot", boot)):
        print(f"reverse  {min(r[0] for r in runs):12.3f} s reverse-continue, "
              f"{min(r[1] for r in runs):.3f} s reverse-stepi at ~{3 * args.insns // 4:,} "
              f"instructions ({name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
