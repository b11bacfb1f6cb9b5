"""The Python API: `Guest`, `run` and `Exit`.

A Guest is an image plus how to boot it (RAM size, command line, switcher).
Each `Guest.run()` boots the image in a fresh `hv._native.Machine` and
runs it with the GIL released, so many guests can run at once in threads.
(A machine that ran the same image before may be put back to the state it
had just after loading it, which is a fresh machine to the guest: see
`_Machines`.)  A Guest may carry devices (hv.devices), which the guest reaches
through NOTIFY, and a clock ("virtual", the default, or "host").  The
extension is imported on first use, so `import hv` (and `hv cc`) work before
it is built.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hv import elf, manifest, multiboot
from hv.errors import GuestMemoryError, HvError, ImageError

__all__ = ["CLOCKS", "MAX_RESTARTS", "Exit", "Guest", "TestResult", "run"]

MEMORY_MIB_MIN = 2
MEMORY_MIB_MAX = 3072
# A guest that keeps asking SHUTDOWN(restart) is stuck in a boot loop.
MAX_RESTARTS = 16
_U64_MAX = (1 << 64) - 1
# "virtual": one retired instruction is one ns (reproducible); "host": CLOCK_MONOTONIC.
CLOCKS = ("virtual", "host")

ConsoleSink = None | int | Callable[[bytes], Any]


@dataclass(frozen=True)
class TestResult:
    """One TEST_RESULT report from the guest (see docs/abi.md).

    outcome: "passed", "failed" or "skipped".  The other fields are what the
    guest's assertion recorded; any may be None.
    """

    outcome: str
    file: str | None = None
    line: int = 0
    expr: str | None = None
    lhs: str | None = None
    rhs: str | None = None
    message: str | None = None

    __test__ = False        # not a pytest test class

    OUTCOMES = ("passed", "failed", "skipped")

    @classmethod
    def from_native(cls, raw: tuple) -> TestResult:
        outcome, file, line, expr, lhs, rhs, message = raw
        return cls(cls.OUTCOMES[outcome], file, line, expr, lhs, rhs, message)


@dataclass(frozen=True)
class Exit:
    """How a run ended.

    status: the guest's exit status (0..255), or None if it was killed.
    reason: why it was killed (e.g. "timeout"), or None if it exited.
    console: every console byte it wrote (across restarts).
    instructions: instructions retired (0 if the switcher does not count).
    elapsed: seconds spent running the guest, loading excluded.
    results: the TEST_RESULT reports the guest made, in order.
    manifest: the run's record (a dict; hv.manifest, docs/debugging.md), or
        None for an Exit made by hand.
    """

    status: int | None
    reason: str | None
    console: bytes = field(repr=False)
    instructions: int
    elapsed: float
    results: tuple[TestResult, ...] = ()
    # What manifest() completes: the run's inputs and limits (hv.manifest.build's arguments).
    recording: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def killed(self) -> bool:
        return self.status is None

    @property
    def manifest(self) -> dict[str, Any] | None:
        """A fresh dict each time: what `hv run --record` writes, `hv replay` reads."""
        if self.recording is None:
            return None
        # Imported here: hv.__version__ is looked up lazily (importlib.metadata is slow).
        import hv

        return manifest.build(**self.recording, status=self.status, reason=self.reason,
                              console=self.console, instructions=self.instructions,
                              results=self.results, version=hv.__version__)

    def __repr__(self) -> str:
        shown = self.console[:60]
        more = f"...+{len(self.console) - 60} bytes" if len(self.console) > 60 else ""
        return (f"Exit(status={self.status!r}, reason={self.reason!r}, console={shown!r}{more}, "
                f"instructions={self.instructions}, elapsed={self.elapsed:.6f})")


class Guest:
    """An image and how to boot it; `run()` it as often as you like.

    image: path of an ELF32 image (Guest ABI v1); checked now, ImageError if refused.
    memory_mib: guest RAM in MiB (2..3072).
    cmdline: the multiboot command line (str or bytes, no NUL).
    switcher: what runs the guest; "emu" (the interpreter) is always there,
        "bt" (the binary translator) on x86-64 hosts (docs/switchers.md).
        None: the HV_SWITCHER environment variable, else "bt" on x86-64 hosts
        and "emu" elsewhere.
    devices: the devices the guest reaches through NOTIFY, in index order
        (device 0 first): hv.Device instances, or any objects with a str `name`
        and a callable `handle(bus, request) -> int` (see docs/devices.md).
        They are reused by every run and restart; share them between guests in
        threads only if they are thread-safe.
    clock: "virtual" (default: one retired instruction is one ns, halts skip
        ahead; runs are reproducible) or "host" (CLOCK_MONOTONIC since boot,
        halts really sleep; not reproducible).
    modules: multiboot boot modules, in order: paths, or (path, cmdline) pairs.
        Each is loaded page-aligned after the kernel, as QEMU's `-initrd "a,b"`
        does, and the kernel finds them through mods_count/mods_addr; a
        module's string is its path, then a space and its cmdline if any.
        The files are read afresh at every boot.
    serial_input: the bytes COM1 (the 16550 UART at 0x3F8) receives, one per
        read of its data register; a restarted guest goes on where the last
        boot stopped reading.
    serial, debugcon: a file for what COM1 transmits / what port 0xE9 gets,
        instead of the console (like QEMU's -serial file:F and -debugcon
        file:F); created or truncated at each run.  None: the console.
    qemu_exit: an `out` of v to port 0xF4 exits with QEMU's isa-debug-exit
        status (v << 1) | 1 instead of hv's v, so exit statuses match a run
        under `qemu-system-i386 -device isa-debug-exit`.
    """

    def __init__(self, image: str | os.PathLike[str] | elf.Image, memory_mib: int = 64,
                 cmdline: str | bytes = "", switcher: str | None = None,
                 devices: Iterable[Any] = (), clock: str = "virtual",
                 modules: Iterable[Any] = (), qemu_exit: bool = False,
                 serial_input: bytes = b"", serial: Any = None, debugcon: Any = None) -> None:
        self._memory_mib = _check_int("memory_mib", memory_mib, MEMORY_MIB_MIN, MEMORY_MIB_MAX)
        self._cmdline = _check_cmdline(cmdline)
        self._switcher = _check_switcher(switcher)
        self._devices = _check_devices(devices)
        self._clock = _check_clock(clock)
        self._modules = _check_modules(modules)
        if not isinstance(qemu_exit, bool):
            raise TypeError(f"qemu_exit must be a bool, not {type(qemu_exit).__name__}")
        self._qemu_exit = qemu_exit
        if not isinstance(serial_input, bytes | bytearray | memoryview):
            raise TypeError(f"serial_input must be bytes, not {type(serial_input).__name__}")
        self._serial_input = bytes(serial_input)
        self._serial = None if serial is None else _check_path(serial)
        self._debugcon = None if debugcon is None else _check_path(debugcon)
        memory = self._memory_mib << 20
        if isinstance(image, elf.Image) and image.memory_bytes == memory:
            # Already checked; load_into() checks again if the file changed since.
            self._image = image
        else:
            path = image.path if isinstance(image, elf.Image) else _check_path(image)
            self._image = elf.load_image(path, memory)

    @property
    def image(self) -> elf.Image:
        return self._image

    @property
    def memory_mib(self) -> int:
        return self._memory_mib

    @property
    def cmdline(self) -> bytes:
        return self._cmdline

    @property
    def switcher(self) -> str:
        return self._switcher

    @property
    def devices(self) -> tuple[Any, ...]:
        """The devices, in index order (device 0 first)."""
        return self._devices

    @property
    def clock(self) -> str:
        return self._clock

    @property
    def qemu_exit(self) -> bool:
        return self._qemu_exit

    @property
    def modules(self) -> tuple[tuple[str, bytes], ...]:
        """The boot modules as (path, the string the kernel sees)."""
        return self._modules

    @property
    def serial_input(self) -> bytes:
        return self._serial_input

    @property
    def serial(self) -> str | None:
        return self._serial

    @property
    def debugcon(self) -> str | None:
        return self._debugcon

    def __repr__(self) -> str:
        extra = ""
        if self._devices:
            extra += f", devices={list(self._devices)!r}"
        if self._clock != "virtual":
            extra += f", clock={self._clock!r}"
        return (f"Guest({self._image.path!r}, memory_mib={self._memory_mib}, "
                f"cmdline={self._cmdline!r}, switcher={self._switcher!r}{extra})")

    def run(self, timeout: float | None = None, max_instructions: int | None = None,
            console: Any = None, gdb: Any = None) -> Exit:
        """Boot the image in a fresh machine and run it until it exits or is killed.

        timeout: wall-clock seconds before the guest is killed with "timeout".
        max_instructions: instruction budget; running out also kills with "timeout".
        console: where console bytes go while the guest runs, besides Exit.console:
            None; a file descriptor; a file object with a real fileno() (flushed,
            then written directly by the host); an object with write(bytes); or a
            callable(bytes).
        Both limits cover the whole run, restarts included.  Ctrl-C raises
        KeyboardInterrupt.  A device that raises, or returns something other
        than a 32-bit int, kills the guest (Exit.reason names the device).
        gdb: "[HOST:]PORT", a port, or an hv.gdbstub.GdbServer: wait for gdb
            there and run under its control (docs/debugging.md); the timeout
            does not apply then.
        """
        timeout = _check_timeout(timeout)
        budget = _check_max_instructions(max_instructions)
        return _Run(self, timeout, budget, _console_sink(console), gdb).go()

    # Used by _Run: one boot of the image in a fresh machine.
    def _boot(self, native: ModuleType) -> Any:
        return self._boot_fresh(native, False)[0]

    def _boot_kept(self, native: ModuleType) -> tuple[Any, Any]:
        """The same, in a machine _MACHINES kept if it has one for this image; and
        what it needs to keep the machine after the run (None: it cannot)."""
        if self._modules:
            return self._boot(native), None
        key = _MACHINES.key_now(self)
        kept = _MACHINES.take(key) if key is not None else None
        if kept is None:
            return self._boot_fresh(native, True)
        machine, loaded = kept
        machine.restore(loaded)
        machine.boot(self._image.entry, self._cmdline)
        return machine, (key, loaded)

    def _boot_fresh(self, native: ModuleType, keep: bool) -> tuple[Any, Any]:
        machine = native.Machine(self._memory_mib << 20, self._switcher)
        self._image = elf.load_into(machine, self._image)
        if not self._modules:
            # load_into has just read the file with this image's stamp.
            kept = (_MACHINES.key(self), machine.snapshot()) if keep else None
            machine.boot(self._image.entry, self._cmdline)
            return machine, kept
        datas = [_read_module(path) for path, _ in self._modules]
        kernel_end = max(seg.end for seg in self._image.segments)
        try:
            layout = multiboot.layout_modules(kernel_end, [text for _, text in self._modules],
                                              [len(d) for d in datas], machine.memory_size)
        except multiboot.Refused as exc:
            raise ImageError(f"{self._image.path}: {exc}") from None
        for start, data in zip(layout.starts, datas, strict=True):
            machine.load(start, data, len(data))
        machine.load(layout.table_addr, layout.table, len(layout.table))
        machine.boot(self._image.entry, self._cmdline, layout.table_addr, len(datas))
        return machine, None


class _Machines:
    """Machines kept for the next run of the same image, each with its snapshot
    taken right after the image was loaded (before the boot).

    Building a machine maps its RAM and the engine's tables, and loading copies
    the image; for a short guest (one test of a suite) that is most of the run,
    and on an emulated farm node, where every page fault and mapping is costly,
    nearly all of it.  Restoring the snapshot puts back RAM, every register, the
    devices, the clock and the engine's state (its decoded code is dropped) as
    they were before the first boot, so the guest starts in what is, bit for
    bit, a fresh machine: same console, instruction count and interrupt timing
    (tests/test_api.py compares the two).  Kept: one idle machine per image
    file (as it is on disk), RAM size and switcher, for the last LIMIT of them.
    """

    LIMIT = 4

    def __init__(self) -> None:
        self._idle: dict[tuple[Any, ...], tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(guest: Guest) -> tuple[Any, ...]:
        """What a kept machine must match: the image as it was checked, RAM, switcher."""
        image = guest._image
        return image.path, image.stamp, guest._memory_mib, guest._switcher

    @classmethod
    def key_now(cls, guest: Guest) -> tuple[Any, ...] | None:
        """The key, if the file on disk is still the one checked; else None (then it is
        loaded, and checked, again)."""
        image = guest._image
        try:
            st = os.stat(image.path)
        except OSError:
            return None
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != image.stamp:
            return None
        return cls.key(guest)

    def take(self, key: tuple[Any, ...]) -> tuple[Any, Any] | None:
        with self._lock:
            return self._idle.pop(key, None)

    def give(self, kept: tuple[tuple[Any, ...], Any], machine: Any) -> None:
        key, loaded = kept
        with self._lock:
            self._idle.pop(key, None)
            self._idle[key] = (machine, loaded)
            while len(self._idle) > self.LIMIT:
                del self._idle[next(iter(self._idle))]

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()


_MACHINES = _Machines()


class _Run:
    """One Guest.run(): boots, and boots again while the guest asks to restart."""

    def __init__(self, guest: Guest, timeout: float | None, budget: int | None,
                 sink: ConsoleSink, gdb: Any = None) -> None:
        self.guest, self.timeout, self.budget, self.sink = guest, timeout, budget, sink
        self.gdb = gdb
        # What Machine.run takes: (name, handler) pairs, bound once per run.
        self.devices = [(device.name, device.handle) for device in guest.devices]
        self.serial_pos = 0                 # input bytes earlier boots read
        self.console: list[bytes] = []
        self.results: list[TestResult] = []
        self.instructions = 0
        self.elapsed = 0.0

    def go(self) -> Exit:
        # Hashed before the run: a disk may change while it runs.
        self.inputs = manifest.inputs(self.guest)
        with contextlib.ExitStack() as files:
            if self.gdb is not None:
                # Imported only under gdb: sockets, select, threads.
                from hv import gdbstub

                if not isinstance(self.gdb, gdbstub.GdbServer):
                    self.gdb = files.enter_context(gdbstub.GdbServer(self.gdb))
            self.fds = {name: files.enter_context(_open_chardev(name, path)).fileno()
                        for name, path in (("serial", self.guest._serial),
                                           ("debugcon", self.guest._debugcon)) if path}
            return self._boots()

    def _boots(self) -> Exit:
        native = _native()
        for _ in range(MAX_RESTARTS + 1):
            limits = self._remaining()
            if limits is None:
                return self._exit(None, "timeout")
            counting = _coverage_collector()
            # A machine that counts coverage or serves gdb is not kept for another run.
            if counting is None and self.gdb is None:
                machine, kept = self.guest._boot_kept(native)
            else:
                machine, kept = self.guest._boot(native), None
            if counting is not None:
                machine.coverage_on()
            run = (machine.run if self.gdb is None else
                   self.gdb.runner(machine, reboot=lambda: self.guest._boot(native)))
            status, reason, out, count, elapsed, restart, results = run(
                *limits, self.sink, devices=self.devices, clock=self.guest.clock,
                qemu_exit=self.guest.qemu_exit,
                serial_input=self.guest._serial_input[self.serial_pos:],
                serial_fd=self.fds.get("serial", -1), debugcon_fd=self.fds.get("debugcon", -1))
            self.serial_pos += machine.serial_read if self.gdb is None else run.serial_read
            if kept is not None:
                _MACHINES.give(kept, machine)
            if counting is not None:
                counting.add(self.guest._image.path, machine.coverage())
                counting.add_branches(self.guest._image.path, machine.coverage_branches())
            self.console.append(out)
            self.results.extend(map(TestResult.from_native, results))
            self.instructions += count
            self.elapsed += elapsed
            if not restart:
                return self._exit(status, reason)
        return self._exit(None, f"too many restarts (more than {MAX_RESTARTS})")

    def _remaining(self) -> tuple[float | None, int | None] | None:
        """What is left of the limits for the next boot; None if nothing is."""
        timeout = budget = None
        if self.timeout is not None:
            timeout = self.timeout - self.elapsed
            if timeout <= 0:
                return None
        if self.budget is not None:
            budget = self.budget - self.instructions
            if budget <= 0:
                return None
        return timeout, budget

    def _exit(self, status: int | None, reason: str | None) -> Exit:
        recording = manifest.record(self.inputs, timeout=self.timeout,
                                    max_instructions=self.budget, serial=self.guest.serial,
                                    debugcon=self.guest.debugcon)
        return Exit(status, reason, b"".join(self.console), self.instructions, self.elapsed,
                    tuple(self.results), recording)


def run(image: str | os.PathLike[str] | elf.Image, *, memory_mib: int = 64,
        cmdline: str | bytes = "", switcher: str | None = None, timeout: float | None = None,
        max_instructions: int | None = None, console: Any = None,
        devices: Iterable[Any] = (), clock: str = "virtual", modules: Iterable[Any] = (),
        qemu_exit: bool = False, serial_input: bytes = b"", serial: Any = None,
        debugcon: Any = None, gdb: Any = None) -> Exit:
    """Run an image once: `Guest(image, ...).run(...)` in one call."""
    guest = Guest(image, memory_mib=memory_mib, cmdline=cmdline, switcher=switcher,
                  devices=devices, clock=clock, modules=modules, qemu_exit=qemu_exit,
                  serial_input=serial_input, serial=serial, debugcon=debugcon)
    return guest.run(timeout=timeout, max_instructions=max_instructions, console=console,
                     gdb=gdb)


def _coverage_collector() -> Any:
    """hv.coverage's collector, if coverage is on (hv run --coverage, pytest --hv-cov).

    Only hv.coverage.start() turns it on, so a process that never imported
    hv.coverage has none, and a plain run need not import it (pathlib, json
    and pyelftools' DWARF reader come with it).
    """
    coverage = sys.modules.get("hv.coverage")
    return None if coverage is None else coverage.collector()


# ---- the extension ----

_native_module: ModuleType | None = None


def _native() -> ModuleType:
    """hv._native, imported on first use with an actionable error if it is not built."""
    global _native_module
    if _native_module is None:
        try:
            from hv import _native as module
        except ImportError as exc:
            raise ImportError(
                f"hv._native is not built ({exc}); install hv with `pip install -e .` or run "
                "`python setup.py build_ext --inplace` in the source tree") from exc
        # The Bus raises hv.GuestMemoryError; hv.errors cannot import the
        # extension, so the extension is told the type here.
        set_memory_error = getattr(module, "set_memory_error", None)
        if set_memory_error is not None:
            set_memory_error(GuestMemoryError)
        _native_module = module
    return _native_module


def switchers() -> tuple[str, ...]:
    """Names of the switchers this build of the extension has."""
    return tuple(getattr(_native(), "SWITCHERS", ("emu",)))


# bt on x86-64 hosts (the extension built there has it), the emu elsewhere.
DEFAULT_SWITCHER = "bt" if os.uname().machine in ("x86_64", "amd64") else "emu"


def default_switcher() -> str:
    """The switcher a guest gets when none is named: $HV_SWITCHER, else
    DEFAULT_SWITCHER ("bt" on x86-64 hosts, "emu" elsewhere).

    The name is not checked here (that needs the extension); Guest() checks
    it and names HV_SWITCHER in its error.
    """
    return os.environ.get("HV_SWITCHER", "").strip() or DEFAULT_SWITCHER


# ---- argument checks: each error names the parameter ----

def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _check_path(image: Any) -> str:
    try:
        return os.fspath(image)
    except TypeError:
        raise TypeError(f"image must be a path or an hv.Image, not {type(image).__name__}"
                        ) from None


def _check_cmdline(cmdline: Any) -> bytes:
    if isinstance(cmdline, str):
        cmdline = cmdline.encode()
    elif not isinstance(cmdline, bytes | bytearray):
        raise TypeError(f"cmdline must be str or bytes, not {type(cmdline).__name__}")
    if b"\0" in cmdline:
        raise ValueError("cmdline must not contain a NUL byte")
    limit = _native().CMDLINE_MAX     # the room the host keeps below 1 MiB
    if len(cmdline) > limit:
        raise ValueError(f"cmdline is {len(cmdline)} bytes; the limit is {limit}")
    return bytes(cmdline)


def _check_switcher(switcher: Any) -> str:
    where = ""
    if switcher is None:
        switcher = default_switcher()
        if "HV_SWITCHER" in os.environ:
            where = "HV_SWITCHER: "
    if not isinstance(switcher, str):
        raise TypeError(f"switcher must be a str, not {type(switcher).__name__}")
    available = switchers()
    if switcher not in available:
        raise ValueError(f"{where}unknown switcher {switcher!r} "
                         f"(available: {', '.join(available)})")
    return switcher


def _check_devices(devices: Any) -> tuple[Any, ...]:
    if isinstance(devices, str | bytes) or hasattr(devices, "handle"):
        raise TypeError(f"devices must be a sequence of devices, not {type(devices).__name__}"
                        + (" (write devices=[device])" if hasattr(devices, "handle") else ""))
    try:
        found = tuple(devices)
    except TypeError:
        raise TypeError(f"devices must be a sequence of devices, not {type(devices).__name__}"
                        ) from None
    for index, device in enumerate(found):
        name = getattr(device, "name", None)
        if not callable(getattr(device, "handle", None)):
            raise TypeError(f"devices[{index}] must be a device with a handle(bus, request) "
                            f"method, not {type(device).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"devices[{index}].name must be a str, not {type(name).__name__}")
        try:
            name.encode()               # it goes into kill reasons
        except UnicodeEncodeError:
            raise ValueError(f"devices[{index}].name must be valid text, not {name!r}") from None
    return found


def _check_clock(clock: Any) -> str:
    if not isinstance(clock, str):
        raise TypeError(f"clock must be a str, not {type(clock).__name__}")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(map(repr, CLOCKS))}, not {clock!r}")
    return clock


def _open_chardev(name: str, path: str) -> io.BufferedWriter:
    try:
        return open(path, "wb", buffering=0)
    except OSError as exc:
        raise HvError(f"{name} file {path}: {exc.strerror or exc}") from None


def _check_modules(modules: Any) -> tuple[tuple[str, bytes], ...]:
    if isinstance(modules, str | bytes | os.PathLike):
        raise TypeError("modules must be a list of paths or (path, cmdline) pairs "
                        f"(write modules=[{modules!r}])")
    checked = []
    for k, item in enumerate(modules):
        path, cmdline = (item if isinstance(item, tuple) else (item, ""))
        path = _check_path(path)
        if isinstance(cmdline, str):
            cmdline = cmdline.encode()
        if not isinstance(cmdline, bytes) or b"\0" in cmdline:
            raise ValueError(f"modules[{k}]: the cmdline must be str or bytes without NUL")
        _read_module(path, check_only=True)
        text = os.fsencode(path) + (b" " + cmdline if cmdline else b"")
        checked.append((path, text))
    if len(checked) > multiboot.MODULES_MAX:
        raise ValueError(f"at most {multiboot.MODULES_MAX} modules, not {len(checked)}")
    return tuple(checked)


def _read_module(path: str, check_only: bool = False) -> bytes:
    """A module's bytes (ImageError naming it if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            if not os.path.isfile(path):
                raise ImageError(f"module {path}: not a regular file")
            return b"" if check_only else f.read()
    except OSError as exc:
        raise ImageError(f"module {path}: cannot open: {exc.strerror or exc}") from None


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    return float(timeout)


def _check_max_instructions(value: Any) -> int | None:
    if value is None:
        return None
    return _check_int("max_instructions", value, 1, _U64_MAX)


def _console_sink(console: Any) -> ConsoleSink:
    """Turn Guest.run's `console` argument into what Machine.run takes."""
    if console is None:
        return None
    if isinstance(console, int) and not isinstance(console, bool):
        if console < 0:
            raise ValueError(f"console file descriptor must be >= 0, not {console}")
        return console
    fd = _real_fileno(console)
    if fd is not None:
        # Bytes the object buffered must come out before the host's own writes.
        console.flush()
        return fd
    if isinstance(console, io.TextIOBase):
        return _text_writer(console)
    write = getattr(console, "write", None)
    if callable(write):
        return write
    if callable(console):
        return console
    raise TypeError("console must be None, a file descriptor, a file object, an object with "
                    f"write(bytes) or a callable, not {type(console).__name__}")


def _real_fileno(obj: Any) -> int | None:
    """obj.fileno() if obj is a file with a real descriptor (not io.BytesIO or a capture)."""
    fileno = getattr(obj, "fileno", None)
    if not callable(fileno) or not callable(getattr(obj, "flush", None)):
        return None
    try:
        fd = fileno()
    except (OSError, ValueError):       # io.UnsupportedOperation is both
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _text_writer(stream: io.TextIOBase) -> Callable[[bytes], None]:
    """A callable that decodes console bytes (UTF-8, split sequences kept) onto a text stream."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def write(data: bytes) -> None:
        stream.write(decoder.decode(data))

    return write

