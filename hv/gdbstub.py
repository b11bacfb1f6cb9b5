"""A GDB remote serial protocol server for a running guest (`hv run --gdb`).

    gdb -ex 'target remote :1234' images/build/hello.elf

`GdbServer` listens on [HOST:]PORT and waits for one gdb; `GdbServer.runner`
wraps a booted machine's run() so that the guest runs under gdb's control,
and returns how the run ended, as Machine.run does.  The pieces, in the
order a packet meets them: `_Link` frames packets (`$data#checksum`, the
`+`/`-` acknowledgements, gdb's Ctrl-C byte), `_Session` answers one packet
per small handler, and `_target_xml` is the i386 target description, as
data.  The native side (hv/native/module.c) gives the primitives: a
breakpoint set, a single step, a pause from another thread, the registers
and the guest-virtual memory as the debugger sees it.

Addresses are linear (guest-virtual when paging is on): the segments of a
flat guest make them the same as gdb's.  Watchpoints make the host run the
guest one instruction at a time (hv_set_watchpoints): after each it compares
the bytes under write watchpoints (Z2), and the emu reports every access an
instruction makes to a page that holds a read or access watchpoint (Z3, Z4).
They are exact, at any size, and some 60 times slower than running freely
(docs/debugging.md).  Reverse execution
(bs, bc) puts the machine back to a snapshot taken on the way forward
(Machine.snapshot, every `snapshot_interval` instructions) and reruns it to
an earlier instruction count, exact under the virtual clock; without
snapshots it boots the image again and reruns from there (_Runner.rewind).
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hv.errors import HvError

__all__ = ["GdbError", "GdbServer", "parse_address"]

SIGINT, SIGTRAP, SIGKILL = 2, 5, 9
# gdb's i386 register numbers: 16 core registers (32 bits each), 8 x87 stack
# registers (80 bits), 8 x87 control registers, 8 XMM registers (128 bits)
# and MXCSR.
_CORE = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags",
         "cs", "ss", "ds", "es", "fs", "gs")
_X87_CONTROL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
_REG_SIZES = (4,) * 16 + (10,) * 8 + (4,) * 8 + (16,) * 8 + (4,)
_PACKET_MAX = 0x4000
# Z2, Z3, Z4 and what their stop replies say.
_WATCH_KINDS = {2: "write", 3: "read", 4: "access"}
_WATCH_REPLY = {"write": "watch", "read": "rwatch", "access": "awatch"}
# Reverse execution: a snapshot every this many instructions of forward
# progress (~15 ms of running, against ~0.2 ms to take one), at most this
# many kept.  HV_GDB_SNAPSHOT_INTERVAL=0 turns them off (going back boots).
SNAPSHOT_INTERVAL = 1 << 23
SNAPSHOTS_MAX = 64
# ... and thinned out further while they hold more than this (each counted
# as what it held alone when taken: a guest that rewrites much of its RAM
# between two makes big ones).
SNAPSHOT_BYTES = 1 << 30


class GdbError(HvError):
    """The connection to gdb failed or gdb broke the protocol."""


def parse_address(spec: str | int) -> tuple[str, int]:
    """'[HOST:]PORT' (or a port number) -> (host, port); the host defaults to 127.0.0.1."""
    if isinstance(spec, int):
        host, port_s = "127.0.0.1", str(spec)
    else:
        host, sep, port_s = spec.rpartition(":")
        host = host if sep and host else "127.0.0.1"
    try:
        port = int(port_s)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"gdb address must be [HOST:]PORT with a port 0..65535, not {spec!r}")
    return host, port


def _reg_type(name: str) -> str:
    if name in ("eip",):
        return "code_ptr"
    if name in ("esp", "ebp"):
        return "data_ptr"
    if name.startswith("st"):
        return "i387_ext"
    if name.startswith("xmm"):
        return "vec128"
    if name == "eflags":
        return "i386_eflags"
    return "int32"


def _target_xml() -> str:
    """The i386 target description: core (GPRs, eip, eflags, segments, x87) and SSE."""
    regs = list(_CORE) + [f"st{k}" for k in range(8)] + list(_X87_CONTROL)
    flags = "".join(f'<field name="{n}" start="{b}" end="{b}"/>' for b, n in (
        (0, "CF"), (1, ""), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"),
        (10, "DF"), (11, "OF"), (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"),
        (20, "VIP"), (21, "ID")))
    core = "".join(f'<reg name="{n}" bitsize="{_REG_SIZES[k] * 8}" type="{_reg_type(n)}" '
                   f'regnum="{k}"/>' for k, n in enumerate(regs))
    sse = "".join(f'<reg name="xmm{k}" bitsize="128" type="vec128" regnum="{32 + k}"/>'
                  for k in range(8))
    vectors = "".join(f'<vector id="{i}" type="{t}" count="{n}"/>' for i, t, n in (
        ("v4f", "ieee_single", 4), ("v2d", "ieee_double", 2), ("v16i8", "int8", 16),
        ("v8i16", "int16", 8), ("v4i32", "int32", 4), ("v2i64", "int64", 2)))
    fields = "".join(f'<field name="{n}" type="{t}"/>' for n, t in (
        ("v4_float", "v4f"), ("v2_double", "v2d"), ("v16_int8", "v16i8"),
        ("v8_int16", "v8i16"), ("v4_int32", "v4i32"), ("v2_int64", "v2i64"),
        ("uint128", "uint128")))
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>i386</architecture>'
            f'<feature name="org.gnu.gdb.i386.core"><flags id="i386_eflags" size="4">{flags}'
            f'</flags>{core}</feature>'
            f'<feature name="org.gnu.gdb.i386.sse">{vectors}<union id="vec128">{fields}</union>'
            f'{sse}<reg name="mxcsr" bitsize="32" type="int" regnum="40"/></feature>'
            '</target>')


def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def _escape(data: bytes) -> bytes:
    """Binary data in a packet: $, #, } and * become } and the byte xor 0x20."""
    out = bytearray()
    for b in data:
        if b in b"$#}*":
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def _unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for b in it:
        out.append(next(it, 0) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


# Where gdb's x87 control registers 24..31 live in the FNSAVE image:
# (offset, bytes) of fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop.
_X87_FIELDS = ((0, 2), (4, 2), (8, 2), (16, 2), (12, 4), (24, 2), (20, 4), (18, 2))


def _put_fpu_reg(fpu: bytearray, n: int, raw: bytes) -> None:
    """Write gdb register n (16..40, little-endian `raw`) into debug_fpu()'s bytes."""
    if n < 24:                                  # st0..st7: 10 bytes each, from byte 28
        fpu[28 + 10 * (n - 16):38 + 10 * (n - 16)] = raw[:10].ljust(10, b"\0")
    elif n < 32:
        offset, size = _X87_FIELDS[n - 24]
        value = int.from_bytes(raw, "little") & ((1 << (8 * size)) - 1)
        if n == 31:
            value &= 0x7FF                      # the opcode's 11 bits
        fpu[offset:offset + size] = value.to_bytes(size, "little")
    elif n < 40:                                # xmm0..xmm7 after the 108-byte image
        fpu[108 + 16 * (n - 32):124 + 16 * (n - 32)] = raw[:16].ljust(16, b"\0")
    else:
        fpu[236:240] = raw[:4].ljust(4, b"\0")


class _Link:
    """Packet framing over the socket: checksums, acknowledgements, Ctrl-C."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.acks = True
        self.interrupted = False      # a 0x03 arrived outside a packet

    def _fill(self, timeout: float | None = None) -> bool:
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            return False
        data = self.sock.recv(4096)
        if not data:
            raise GdbError("gdb closed the connection")
        self.buf += data
        return True

    def _take_interrupts(self) -> None:
        while self.buf[:1] in (b"\x03", b"+", b"-") and self.buf:
            if self.buf[0] == 3:
                self.interrupted = True
            del self.buf[0]

    def poll_interrupt(self, timeout: float = 0.0) -> bool:
        """Did gdb send Ctrl-C (looking for up to `timeout` seconds)?"""
        if self._fill(timeout):
            self._take_interrupts()
        got, self.interrupted = self.interrupted, False
        return got

    def recv(self) -> bytes:
        """The next packet's data (acknowledged), skipping stray acks."""
        while True:
            self._take_interrupts()
            if self.interrupted and not self.buf:
                self.interrupted = False
                return b"\x03"
            start = self.buf.find(b"$")
            end = self.buf.find(b"#", start)
            if start < 0 or end < 0 or len(self.buf) < end + 3:
                self._fill()
                continue
            data, check = bytes(self.buf[start + 1:end]), bytes(self.buf[end + 1:end + 3])
            del self.buf[:end + 3]
            if self.interrupted:
                self.interrupted = False
                self.buf[:0] = b"$" + data + b"#" + check
                return b"\x03"
            if not self.acks:
                return data
            if check.lower() == _checksum(data):
                self.sock.sendall(b"+")
                return data
            self.sock.sendall(b"-")

    def send(self, data: bytes) -> None:
        packet = b"$" + data + b"#" + _checksum(data)
        for _ in range(10):
            self.sock.sendall(packet)
            if not self.acks:
                return
            while True:
                if not self.buf:
                    self._fill()
                b = self.buf[0]
                del self.buf[0]
                if b == 3:
                    self.interrupted = True
                elif b in b"+-":
                    break
            if b == ord("+"):
                return
        raise GdbError("gdb did not acknowledge a packet ten times")


def _hex_le(value: int, size: int) -> str:
    return value.to_bytes(size, "little").hex()


class _Session:
    """One gdb connection driving one machine at a time."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.breakpoints: dict[int, set[int]] = {0: set(), 1: set()}
        self.watchpoints: set[tuple[int, int, str]] = set()     # (addr, length, kind)
        self.machine: Any = None
        self.run_native: Callable[..., tuple] | None = None
        self.detached = False
        self.last_stop = b"S05"
        self.resume: str | None = None
        self.restarted: str | None = None
        self.changed: Callable[[], None] = lambda: None    # gdb wrote registers or memory

    # ---- registers ----

    def _registers(self) -> list[int | bytes]:
        m = self.machine
        regs: list[int | bytes] = list(m.debug_regs())
        fpu = m.debug_fpu()
        image, xmm, mxcsr = fpu[:108], fpu[108:236], int.from_bytes(fpu[236:240], "little")
        le = int.from_bytes
        regs += [image[28 + 10 * k:38 + 10 * k] for k in range(8)]
        regs += [le(image[0:2], "little"), le(image[4:6], "little"), le(image[8:10], "little"),
                 le(image[16:18], "little"), le(image[12:16], "little"),
                 le(image[24:26], "little"), le(image[20:24], "little"),
                 le(image[18:20], "little") & 0x7FF]
        regs += [xmm[16 * k:16 * k + 16] for k in range(8)]
        regs.append(mxcsr)
        return regs

    def _reg_hex(self, value: int | bytes, size: int) -> str:
        return value.hex() if isinstance(value, bytes) else _hex_le(value, size)

    def _set_core(self, values: dict[int, int]) -> None:
        regs = list(self.machine.debug_regs())[:10]
        for n, v in values.items():
            if n < 10:
                regs[n] = v
        self.machine.debug_set_regs(regs)
        self.changed()

    def breakpoint_at(self, eip: int) -> str | None:
        """The stop reply's reason if a breakpoint is set at eip."""
        if eip in self.breakpoints[0]:
            return "swbreak:;"
        return "hwbreak:;" if eip in self.breakpoints[1] else None

    # ---- stop replies ----

    def stop_reply(self, signal: int, extra: str = "") -> bytes:
        regs = self.machine.debug_regs()
        text = f"T{signal:02x}{extra}"
        for n in (4, 5, 8):                 # esp, ebp, eip: what gdb looks at first
            text += f"{n:02x}:{_hex_le(regs[n], 4)};"
        text += "thread:1;"
        self.last_stop = text.encode()
        return self.last_stop

    # ---- the packets ----

    def handle(self, packet: bytes) -> bytes | None:
        """The reply to one packet; None means resume (the caller runs the guest)."""
        if packet == b"\x03":
            return self.last_stop           # Ctrl-C while stopped: still stopped
        kind, body = chr(packet[0]), packet[1:]
        handler = getattr(self, f"_pkt_{_PACKET_NAMES.get(kind, '')}", None)
        if handler is None:
            return b""
        return handler(body)

    def _pkt_query(self, body: bytes) -> bytes:
        name, _, args = body.partition(b":")
        if name == b"Supported":
            return (b"PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;"
                    b"vContSupported+;ReverseStep+;ReverseContinue+" % _PACKET_MAX)
        if name == b"Xfer" and args.startswith(b"features:read:"):
            annex, _, span = args[len(b"features:read:"):].partition(b":")
            if annex != b"target.xml":
                return b"E00"
            off_s, _, len_s = span.partition(b",")
            data = _target_xml().encode()
            off, length = int(off_s, 16), int(len_s, 16)
            chunk = data[off:off + length]
            return (b"m" if off + length < len(data) else b"l") + _escape(chunk)
        if name == b"Attached":
            return b"1"
        if name == b"C":
            return b"QC1"
        if name == b"fThreadInfo":
            return b"m1"
        if name == b"sThreadInfo":
            return b"l"
        if name == b"Symbol":
            return b"OK"
        return b""

    def _pkt_set(self, body: bytes) -> bytes:
        if body == b"StartNoAckMode":
            self.link.send(b"OK")
            self.link.acks = False
            return b"\x00"                  # already answered
        return b""

    def _pkt_status(self, body: bytes) -> bytes:
        return self.last_stop

    def _pkt_thread(self, body: bytes) -> bytes:
        return b"OK"                        # Hg, Hc: there is one thread

    def _pkt_alive(self, body: bytes) -> bytes:
        return b"OK"

    def _pkt_read_regs(self, body: bytes) -> bytes:
        regs = self._registers()
        return "".join(self._reg_hex(v, s) for v, s in zip(regs, _REG_SIZES, strict=True)).encode()

    def _pkt_write_regs(self, body: bytes) -> bytes:
        raw = bytes.fromhex(body.decode())
        self._set_core({n: int.from_bytes(raw[4 * n:4 * n + 4], "little")
                        for n in range(min(len(raw) // 4, 10))})
        if len(raw) >= sum(_REG_SIZES):         # and the x87 and SSE registers
            fpu = bytearray(self.machine.debug_fpu())
            offset = sum(_REG_SIZES[:16])
            for n in range(16, len(_REG_SIZES)):
                _put_fpu_reg(fpu, n, raw[offset:offset + _REG_SIZES[n]])
                offset += _REG_SIZES[n]
            self.machine.debug_set_fpu(bytes(fpu))
        self.changed()
        return b"OK"

    def _pkt_read_reg(self, body: bytes) -> bytes:
        n = int(body, 16)
        if n >= len(_REG_SIZES):
            return b"E00"
        return self._reg_hex(self._registers()[n], _REG_SIZES[n]).encode()

    def _pkt_write_reg(self, body: bytes) -> bytes:
        n_s, _, value = body.partition(b"=")
        n = int(n_s, 16)
        raw = bytes.fromhex(value.decode())
        if 10 <= n < 16 or n >= len(_REG_SIZES):
            return b"E01"                  # segment registers: read-only here
        if n >= 16:
            fpu = bytearray(self.machine.debug_fpu())
            _put_fpu_reg(fpu, n, raw)
            self.machine.debug_set_fpu(bytes(fpu))
            self.changed()
            return b"OK"
        self._set_core({n: int.from_bytes(raw, "little")})
        return b"OK"

    def _pkt_read_mem(self, body: bytes) -> bytes:
        addr_s, _, len_s = body.partition(b",")
        data = self.machine.debug_read(int(addr_s, 16), min(int(len_s, 16), _PACKET_MAX // 2))
        return data.hex().encode() if data or int(len_s, 16) == 0 else b"E14"

    def _write_mem(self, addr: int, data: bytes) -> bytes:
        done = self.machine.debug_write(addr, data)
        self.machine.set_watchpoints(sorted(self.watchpoints))  # what gdb wrote is no change
        self.changed()
        return b"OK" if done == len(data) else b"E14"

    def _pkt_write_mem(self, body: bytes) -> bytes:
        head, _, hexdata = body.partition(b":")
        addr_s, _, _ = head.partition(b",")
        return self._write_mem(int(addr_s, 16), bytes.fromhex(hexdata.decode()))

    def _pkt_write_bin(self, body: bytes) -> bytes:
        head, _, data = body.partition(b":")
        addr_s, _, _ = head.partition(b",")
        return self._write_mem(int(addr_s, 16), _unescape(data))

    def _point(self, body: bytes, insert: bool) -> bytes:
        kind_s, addr_s, len_s = (body.split(b";")[0].split(b",") + [b"1"])[:3]
        kind, addr, length = int(kind_s), int(addr_s, 16), int(len_s, 16)
        if kind in (0, 1):
            points = self.breakpoints[kind]
            (points.add if insert else points.discard)(addr)
            self.machine.set_breakpoints(sorted(self.breakpoints[0] | self.breakpoints[1]))
            return b"OK"
        if kind in _WATCH_KINDS:
            point = (addr, length, _WATCH_KINDS[kind])
            (self.watchpoints.add if insert else self.watchpoints.discard)(point)
            self.machine.set_watchpoints(sorted(self.watchpoints))
            return b"OK"
        return b""                          # another kind of point: not supported

    def watch_reason(self, addr: int, kind: str | None = None) -> str:
        """The stop reply's reason for a hit on the watchpoint at addr."""
        if kind is None:                    # (going back: the kinds set at addr)
            kinds = {k for a, _, k in self.watchpoints if a == addr}
            kind = "write" if "write" in kinds or not kinds else min(kinds)
        return f"{_WATCH_REPLY[kind]}:{addr:x};"

    def _pkt_insert(self, body: bytes) -> bytes:
        return self._point(body, True)

    def _pkt_remove(self, body: bytes) -> bytes:
        return self._point(body, False)

    def _pkt_v(self, body: bytes) -> bytes | None:
        if body == b"Cont?":
            return b"vCont;c;C;s;S"
        if body.startswith(b"Cont;"):
            action = body[5:].split(b";")[0].split(b":")[0]
            self.resume = "step" if action[:1] in (b"s", b"S") else "continue"
            return None
        if body.startswith(b"Kill"):
            self.resume = "kill"
            return None
        if body == b"MustReplyEmpty":
            return b""
        return b""

    def _resume_at(self, body: bytes, how: str) -> None:
        addr = body.split(b";")[-1] if how in ("C", "S") else body
        if addr and (how in ("c", "s") or b";" in body):
            self._set_core({8: int(addr, 16)})

    def _pkt_continue(self, body: bytes) -> None:
        self._resume_at(body, "c")
        self.resume = "continue"

    def _pkt_continue_sig(self, body: bytes) -> None:
        self._resume_at(body, "C")
        self.resume = "continue"

    def _pkt_step(self, body: bytes) -> None:
        self._resume_at(body, "s")
        self.resume = "step"

    def _pkt_step_sig(self, body: bytes) -> None:
        self._resume_at(body, "S")
        self.resume = "step"

    def _pkt_kill(self, body: bytes) -> None:
        self.resume = "kill"

    def _pkt_back(self, body: bytes) -> bytes | None:
        if body not in (b"s", b"c"):
            return b""
        self.resume = "reverse-step" if body == b"s" else "reverse-continue"
        return None

    def _pkt_detach(self, body: bytes) -> bytes:
        self.link.send(b"OK")
        self.detached = True
        self.resume = "detach"
        return b"\x00"


_PACKET_NAMES = {
    "q": "query", "Q": "set", "?": "status", "H": "thread", "T": "alive", "g": "read_regs",
    "G": "write_regs", "p": "read_reg", "P": "write_reg", "m": "read_mem", "M": "write_mem",
    "X": "write_bin", "Z": "insert", "z": "remove", "v": "v", "c": "continue",
    "C": "continue_sig", "s": "step", "S": "step_sig", "k": "kill", "D": "detach",
    "b": "back",
}


class GdbServer:
    """Listen on [HOST:]PORT (port 0: any free one) and serve one gdb.

    `runner(machine)` returns a callable with Machine.run's signature that
    runs the guest under gdb; connect() happens on the first one.  The
    server stays connected across the guest's restarts; close() ends it.
    For reverse execution a snapshot is taken every `snapshot_interval`
    instructions the guest runs forward (0: none, going back boots the
    image again), and at most `snapshots` are kept; both default to the
    environment's HV_GDB_SNAPSHOT_INTERVAL and HV_GDB_SNAPSHOTS, else to
    SNAPSHOT_INTERVAL and SNAPSHOTS_MAX.
    """

    def __init__(self, address: str | int = 0, *, announce: Any = sys.stderr,
                 stop_at: int | None = None, snapshot_interval: int | None = None,
                 snapshots: int | None = None) -> None:
        host, port = parse_address(address)
        self.stop_at = stop_at          # run to this instruction before gdb takes over
        self.snapshot_interval = _setting("HV_GDB_SNAPSHOT_INTERVAL", snapshot_interval,
                                          SNAPSHOT_INTERVAL, 0)
        self.snapshots = _setting("HV_GDB_SNAPSHOTS", snapshots, SNAPSHOTS_MAX, 2)
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._announce = announce
        self._session: _Session | None = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> GdbServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._listener.close()

    def connect(self) -> None:
        """Wait for gdb to connect (once)."""
        if self._session is not None:
            return
        if self._announce is not None:
            print(f"hv: waiting for gdb on {self.host}:{self.port}", file=self._announce,
                  flush=True)
        self._sock, _ = self._listener.accept()
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._session = _Session(_Link(self._sock))

    def runner(self, machine: Any, reboot: Callable[[], Any] | None = None) -> _Runner:
        """Machine.run's stand-in for this boot; reboot() boots the image afresh
        (for reverse execution; without it gdb cannot go back)."""
        return _Runner(self, machine, reboot)


def _setting(env: str, value: int | None, default: int, low: int) -> int:
    """A snapshot setting: the argument, else the environment's, else the default."""
    where = f"{env}={os.environ[env]!r}" if value is None and env in os.environ else None
    if value is None:
        text = os.environ.get(env)
        try:
            value = default if text is None else int(text)
        except ValueError:
            raise GdbError(f"{where} must be a whole number") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise GdbError(f"{where or env.lower()[7:]} must be an int of at least {low}, "
                       f"not {value!r}")
    return value


@dataclass
class _Snapshot:
    """The machine at one instruction count, and the runner's own state there."""

    instructions: int
    state: Any                      # Machine.snapshot()
    serial_read: int
    seen: int
    console_len: int
    nbytes: int
    pinned: bool = False            # taken where gdb changed the machine: kept


class _Runner:
    """Machine.run under gdb: many runs of one boot, one result.

    Each pause for gdb ends one Machine.run; the next goes on from there,
    with the serial input the guest has not read yet (serial_read is what
    it read in all).  On the way forward the runner takes a snapshot every
    snapshot_interval instructions (a continue is cut into runs that end
    there).  Going back (reverse-stepi, reverse-continue) restores the
    latest snapshot before the target and reruns quietly to it, which the
    virtual clock makes exact; without snapshots it boots the image again
    and reruns from the start.  The console shows each byte once.

    The snapshots are one history.  Where gdb writes registers or memory
    the history forks: the snapshots after that point are dropped and one
    is taken there (pinned: never thinned out), and going back before it
    drops it and what follows, since rerunning does not write again.
    """

    def __init__(self, server: GdbServer, machine: Any,
                 reboot: Callable[[], Any] | None = None) -> None:
        self.server, self.machine, self.reboot = server, machine, reboot
        self.serial_read = 0
        self.elapsed = 0.0
        self.console = b""
        self.emitted = 0                # console bytes the sink has had
        self.seen = 0                   # console bytes of this boot's timeline
        self.interval = server.snapshot_interval
        self.snapshots: list[_Snapshot] = []    # by instruction count

    def __call__(self, timeout: float | None = None, max_instructions: int | None = None,
                 console: Any = None, *args: Any, serial_input: bytes = b"",
                 **kwargs: Any) -> tuple:
        self.server.connect()
        assert self.server._session is not None
        self.budget, self.sink, self.serial_input = max_instructions, console, serial_input
        self.args, self.kwargs = args, kwargs
        self.reversible = (self.reboot is not None and not kwargs.get("devices")
                           and kwargs.get("clock", "virtual") == "virtual")
        if not self.reversible:
            self.interval = 0
        self._snapshot()                # instruction 0 (the boot)
        return _serve(self.server._session, self)

    # ---- snapshots ----

    def _snapshot(self, pinned: bool = False) -> None:
        """Take a snapshot now (if snapshots are on), then thin them out to the cap."""
        if not self.interval:
            return
        m = self.machine
        try:
            state = m.snapshot()
        except MemoryError:
            return                      # going back reruns from an older one
        snap = _Snapshot(m.instructions, state, self.serial_read, self.seen,
                         len(self.console), state.nbytes, pinned)
        self.snapshots = [s for s in self.snapshots if s.instructions != snap.instructions]
        self.snapshots.append(snap)
        self.snapshots.sort(key=lambda s: s.instructions)
        while (len(self.snapshots) > self.server.snapshots
               or sum(s.nbytes for s in self.snapshots) > SNAPSHOT_BYTES):
            if not self._thin(snap):
                break

    def _thin(self, new: _Snapshot) -> bool:
        """Drop the snapshot whose loss leaves the shortest gap (never the boot's,
        the last, the new or a pinned one): the history stays evenly covered."""
        counts = [s.instructions for s in self.snapshots]
        gaps = [(counts[k + 1] - counts[k - 1], k) for k in range(1, len(counts) - 1)
                if not self.snapshots[k].pinned and self.snapshots[k] is not new]
        if not gaps:
            return False
        del self.snapshots[min(gaps)[1]]
        return True

    def _latest(self, count: int) -> _Snapshot | None:
        """The latest snapshot at or before instruction `count`."""
        before = [s for s in self.snapshots if s.instructions <= count]
        return before[-1] if before else None

    def _forget_from(self, count: int) -> None:
        self.snapshots = [s for s in self.snapshots if s.instructions < count]

    def changed(self) -> None:
        """gdb wrote registers or memory: the history forks here."""
        if self.interval:
            self._forget_from(self.machine.instructions)
            self._snapshot(pinned=True)

    # ---- running ----

    def run(self, step: bool = False, stop_at: int = 0) -> tuple | None:
        """Run forward for gdb (a step, or until a stop or stop_at): the result
        if the guest ended, None if it paused.  With snapshots on, a run is cut
        where the next one is due (or one was taken before) and goes on."""
        m = self.machine
        while True:
            end = stop_at
            if self.interval and not step:
                now = m.instructions
                base = self._latest(now)
                cut = base.instructions + self.interval if base else 0
                cut = min([cut if cut > now else now + self.interval]
                          + [s.instructions for s in self.snapshots if s.instructions > now])
                end = min(end, cut) if end else cut
            result = self._run_once(step, end)
            if result is not None:
                return result
            if self.interval:
                base = self._latest(m.instructions)
                if base is None or m.instructions - base.instructions >= self.interval:
                    self._snapshot()
            if step or m.debug_stop != "stop_at" or m.instructions == stop_at:
                return None

    def _run_once(self, step: bool = False, stop_at: int = 0) -> tuple | None:
        """One Machine.run: its result if the guest ended, None if it paused."""
        m = self.machine
        left = None if self.budget is None else self.budget - m.instructions
        if left is not None and left <= 0:
            return (None, "timeout", self.console, 0, 0.0, False, ())
        result = m.run(None, left, self._write if self.sink is not None else None, *self.args,
                       step=step, stop_at=stop_at,
                       serial_input=self.serial_input[self.serial_read:], **self.kwargs)
        self.serial_read += m.serial_read
        self.elapsed += result[4]
        self.console = result[2]
        return None if m.debug_stop else result

    def result(self, result: tuple) -> tuple:
        """Machine.run's result for the whole boot."""
        return result[:3] + (self.machine.instructions, self.elapsed) + result[5:]

    def _write(self, data: bytes) -> None:
        start, self.seen = self.seen, self.seen + len(data)
        new = data[max(0, self.emitted - start):]
        if not new:
            return                      # already shown before going back
        self.emitted = self.seen
        if isinstance(self.sink, int):
            while new:
                new = new[os.write(self.sink, new):]
        else:
            self.sink(new)

    def rewind(self, target: int, points: tuple[list, list] | None = None,
               start: int | None = None) -> list[tuple]:
        """Go back and run quietly to instruction `target`, from the latest
        snapshot at or before it (or at or before `start`), or from a new boot
        without snapshots; with points (breakpoints, watchpoints), the stops
        on the way: (instructions, kind, address)."""
        snap = self._latest(target if start is None else start)
        if snap is None:
            assert self.reboot is not None
            self.machine = m = self.reboot()
            self.serial_read = self.seen = 0
        else:
            m = self.machine
            m.restore(snap.state)
            self.serial_read, self.seen = snap.serial_read, snap.seen
            self.console = self.console[:snap.console_len]
        # Rerunning does not repeat what gdb wrote: the forks after here are gone.
        forks = [s.instructions for s in self.snapshots if s.pinned and s.instructions > target]
        if forks:
            self._forget_from(min(forks))
        m.set_breakpoints(points[0] if points else [])
        m.set_watchpoints(points[1] if points else [])
        stops = []
        while m.instructions < target:
            if (self._run_once(stop_at=target) is not None
                    or m.debug_stop not in ("break", "watch")):
                break
            stops.append((m.instructions, m.debug_stop, m.watch_hit))
        return stops

    def last_stop(self, now: int, points: tuple[list, list]) -> tuple | None:
        """The last stop at a breakpoint or watchpoint before instruction `now`,
        as (instructions, kind, address), or None since the boot.  Searches
        back one snapshot interval at a time, rerunning each with the points
        set, so the cost is that of the intervals it looks through.  Going
        back, a watched write shows just before its instruction (a forward
        stop is just after it, even the stop we are at now)."""
        end = now
        starts = sorted({s.instructions for s in self.snapshots if s.instructions < now},
                        reverse=True) or [0]
        for start in starts:
            stops = [(count - (kind == "watch"), kind, addr)
                     for count, kind, addr in self.rewind(end, points, start)]
            stops = [stop for stop in stops if stop[0] < now]
            if stops:
                return max(stops)
            end = start
        return None


def _serve(s: _Session, runner: _Runner) -> tuple:
    """Answer gdb until the guest exits or is killed; Machine.run's result."""
    s.machine = runner.machine
    s.changed = runner.changed
    stop_at = runner.server.stop_at
    while stop_at and runner.machine.instructions < stop_at:
        result = runner.run(stop_at=stop_at)    # (before gdb's breakpoints exist)
        if result is not None:
            s.link.send(b"W%02x" % (result[0] & 0xFF) if result[0] is not None
                        else b"X%02x" % SIGKILL)
            return runner.result(result)
    s.stop_reply(SIGTRAP)               # what '?' says before the guest first runs
    _arm(s)

    def finish(result: tuple) -> tuple:
        if not s.detached and not result[5]:            # a restart: the next boot goes on
            status = result[0]
            s.link.send(b"W%02x" % (status & 0xFF) if status is not None else b"X%02x" % SIGKILL)
        return runner.result(result)

    if s.detached:
        return finish(_run_out(runner))
    while True:
        if s.restarted is not None:     # the boot before restarted during a step or continue
            s.resume, s.restarted = s.restarted, None
        else:
            packet = s.link.recv()
            s.resume = None
            reply = s.handle(packet)
            if reply is not None:
                if reply != b"\x00":
                    s.link.send(reply)
                if s.resume != "detach":
                    continue
        if s.resume == "kill":
            s.link.send(b"X%02x" % SIGKILL)
            return runner.result((None, "killed by gdb", runner.console, 0, 0.0, False, ()))
        if s.resume == "detach":
            runner.interval, runner.snapshots = 0, []   # no going back any more
            s.breakpoints = {0: set(), 1: set()}
            s.watchpoints.clear()
            _arm(s)
            return finish(_run_out(runner))
        if s.resume in ("reverse-step", "reverse-continue"):
            _reverse(s, runner, s.resume == "reverse-step")
            continue
        result = _resume(s, runner, s.resume == "step")
        if result is not None:
            if result[5]:
                s.restarted = s.resume  # gdb still waits: go on in the next boot
            return finish(result)


def _arm(s: _Session) -> None:
    s.machine.set_breakpoints(sorted(s.breakpoints[0] | s.breakpoints[1]))
    s.machine.set_watchpoints(sorted(s.watchpoints))


def _run_out(runner: _Runner) -> tuple:
    while True:
        result = runner.run()
        if result is not None:
            return result


def _reverse(s: _Session, runner: _Runner, step: bool) -> None:
    """bs, bc: go back one instruction, or to the last stop at a breakpoint or
    watchpoint before this instruction, by running again from a snapshot."""
    if not runner.reversible:
        s.link.send(b"E01")             # Python devices or the host clock: not repeatable
        return
    now = runner.machine.instructions
    extra = ""
    if step:
        target = now - 1 if now else 0
    else:
        points = (sorted(s.breakpoints[0] | s.breakpoints[1]), sorted(s.watchpoints))
        last = runner.last_stop(now, points)
        target = last[0] if last else 0
        if last and last[1] == "watch":
            extra = s.watch_reason(last[2])
        elif last:
            extra = "swbreak:;"
    runner.rewind(target, None)
    s.machine = runner.machine
    _arm(s)
    if target == 0 and not extra:
        extra = "replaylog:begin;"      # back at the boot: the start of the history
    s.link.send(s.stop_reply(SIGTRAP, extra))


def _resume(s: _Session, runner: _Runner, step: bool) -> tuple | None:
    """Run until the next stop (sending its reply) or the end (returned)."""
    m = s.machine
    if step:
        result = runner.run(step=True)
        if result is None:
            s.link.send(s.stop_reply(SIGTRAP, _why(s)))
        return result
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_catch(runner.run, False)),
                              daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            if s.link.poll_interrupt(0.05):
                m.interrupt()
    except BaseException:
        m.interrupt()               # Ctrl-C here, or gdb went away: pause, then say so
        worker.join()
        if not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            raise
    worker.join()
    kind, value = outcome[0]
    if kind == "raise":
        raise value
    if value is None:
        signal = SIGINT if m.debug_stop == "interrupt" else SIGTRAP
        s.link.send(s.stop_reply(signal, _why(s)))
    return value


def _catch(fn: Callable[[bool], Any], arg: bool) -> tuple[str, Any]:
    try:
        return ("ok", fn(arg))
    except BaseException as exc:        # re-raised in the gdb thread
        return ("raise", exc)


def _why(s: _Session) -> str:
    if s.machine.debug_stop == "watch":
        return s.watch_reason(s.machine.watch_hit, s.machine.watch_kind)
    if s.machine.debug_stop != "break":
        return ""
    return s.breakpoint_at(s.machine.debug_regs()[8]) or "swbreak:;"
