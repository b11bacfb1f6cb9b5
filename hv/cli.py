"""The `hv` command: run and inspect guest images, and compile guests.

    hv run IMAGE [--memory MiB] [--timeout S] [--max-instructions N]
                 [--cmdline STR] [--switcher NAME] [--qemu-exit] [--serial FILE]
                 [--debugcon FILE] [--serial-in FILE]
                 [--module FILE[,CMDLINE]]...
                 [--disk FILE]... [--disk-readonly] [--clock virtual|host]
                 [--disk FILE]... [--disk-readonly] [--clock virtual|host]
                 [--record MANIFEST] [--gdb [HOST:]PORT] [--coverage DIR]
    hv replay MANIFEST [--image PATH] [--stop-at N] [--timeout S] [--switcher NAME]
                       [--gdb [HOST:]PORT]
    hv info IMAGE [--memory MiB]
    hv selftest [--verbose]  (hv.selftest: run a built-in guest, say ok or FAILED)
    hv cc ARGS...            (hv.cc.main: gcc with the guest SDK)

Every user mistake is reported as one line, `hv: error: ...`, with exit
status 2 and no traceback.  `python -m hv` is the same command.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from hv.errors import HvError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_KILLED", "EXIT_USAGE", "add_replay_options",
           "main", "replay"]

EXIT_FAILED = 1                 # hv selftest found a problem; hv replay differs
EXIT_USAGE = 2
EXIT_KILLED = 125
EXIT_INTERRUPTED = 130

RUN_EPILOG = """\
exit status:
  0-255  the guest's own exit status
  125    the guest was killed; "hv: guest killed: <reason>" is printed on stderr
  2      usage error, or the image was refused ("hv: error: <message>")
  130    interrupted by Ctrl-C

A guest may itself exit with 2, 125 or 130; those statuses are ambiguous with
hv's own. Read stderr (or use the Python API, hv.run) to tell them apart.
"""

REPLAY_EPILOG = """\
Recorded paths that do not exist are looked for in the manifest's directory.
Under the host clock only the exit status and kill reason are compared.

exit status:
  0  the run did the same as the recording: "hv replay: same as the recording (...)"
  1  an input changed or is missing, or the run differs: "hv replay: <what>" on stderr
  2  usage error, or MANIFEST is not a manifest ("hv: error: <message>")
"""

SELFTEST_EPILOG = """\
output and exit status:
  0  "hv selftest: ok (hv VERSION, python VERSION MACHINE, switcher NAME,
     N instructions in T ms)" on stdout
  1  "hv selftest: FAILED: <reason>" on stderr
"""

MAIN_EPILOG = """\
Run 'hv COMMAND --help' for a command's options; 'hv run --help' lists exit statuses.
"""


class _VersionAction(argparse.Action):
    """--version: looks the version up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> NoReturn:
        print(f"hv {_version()}")
        parser.exit()


class _UsageError(Exception):
    """A command-line mistake, reported as one line."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and then the error; one line is enough.
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hv` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["cc"]:
            # hv cc owns its whole command line: gcc flags must not meet argparse.
            from hv import cc

            return cc.main(argv[1:])
        args = _parser().parse_args(argv)
        return args.func(args)
    except SystemExit as exc:                   # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        _flush_stdout()
        print("hv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (_UsageError, HvError, ImportError, OSError, ValueError, TypeError) as exc:
        _flush_stdout()
        print(f"hv: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE


# ---- commands ----

def _cmd_run(args: argparse.Namespace) -> int:
    import hv

    if args.disk_readonly and not args.disk:
        raise _UsageError("argument --disk-readonly: no --disk given (see 'hv run --help')")
    with contextlib.ExitStack() as stack:
        # Devices 0, 1, ... in the order the disks were given.
        disks = [stack.enter_context(hv.BlockDevice(path, readonly=args.disk_readonly))
                 for path in args.disk]
        modules = [tuple(spec.split(",", 1)) if "," in spec else spec for spec in args.module]
        guest = hv.Guest(args.image, memory_mib=args.memory, cmdline=args.cmdline,
                         switcher=args.switcher, devices=disks, clock=args.clock,
                         modules=modules, qemu_exit=args.qemu_exit,
                         serial_input=_read_serial_in(args.serial_in), serial=args.serial,
                         debugcon=args.debugcon)
        if args.coverage:
            from hv import coverage
            stack.callback(_write_coverage, coverage.start(), args.coverage)
            stack.callback(coverage.stop)
        # sys.stdout is None when fd 1 is closed: then the console is only captured.
        ex = guest.run(timeout=args.timeout, max_instructions=args.max_instructions,
                       console=sys.stdout, gdb=args.gdb)
    if args.record:
        _record(ex, args)
    if ex.killed:
        _flush_stdout()
        print(f"hv: guest killed: {ex.reason}", file=sys.stderr)
        return EXIT_KILLED
    return ex.status


def _write_coverage(data, directory: str) -> None:
    """hv run --coverage: the lcov file and HTML report of the run (docs/debugging.md)."""
    from hv import coverage

    coverage.write_report(data, directory)
    _flush_stdout()
    for image in coverage.without_lines(data):
        print(f"hv: coverage: {image} has no DWARF line table (build it with 'hv cc -g')",
              file=sys.stderr)
    print(f"hv: coverage: {os.path.join(directory, 'index.html')}", file=sys.stderr)


def _record(ex, args: argparse.Namespace) -> None:
    from hv import manifest

    record = ex.manifest
    if args.serial_in is not None:
        record["serial_input"]["path"] = os.path.abspath(args.serial_in)
    try:
        manifest.write(record, args.record)
    except OSError as exc:
        raise HvError(f"--record {args.record}: {exc.strerror or exc}") from None


def _cmd_replay(args: argparse.Namespace) -> int:
    return replay(args.manifest, image=args.image, stop_at=args.stop_at, timeout=args.timeout,
                  switcher=args.switcher, gdb=args.gdb)


def replay(path: str, *, image: str | None = None, stop_at: int | None = None,
           timeout: float | None = None, switcher: str | None = None, gdb: str | None = None,
           who: str = "hv replay") -> int:
    """`hv replay`: rerun the manifest at `path`, say on stderr how it compares; the exit status.

    0 when the run did the same as the recording (or stopped early, or ran
    under gdb), EXIT_FAILED when an input is missing or changed or the run
    differs.  A file that is not a manifest raises manifest.ReplayError.
    `who` starts every line (`farm replay` reuses this).
    """
    import hv
    from hv import manifest

    recorded = manifest.load(path)
    base = os.path.dirname(os.path.abspath(path))
    try:
        with manifest.prepare(recorded, base, image=image, stop_at=stop_at,
                              timeout=timeout, switcher=switcher) as prepared:
            for note in prepared.notes:
                print(f"{who}: note: {note}", file=sys.stderr)
            for warning in prepared.warnings:
                print(f"{who}: warning: {warning}", file=sys.stderr)
            if gdb is not None:
                return _replay_under_gdb(gdb, stop_at, recorded, prepared.kwargs, who)
            ex = hv.run(**prepared.kwargs, console=sys.stdout)
            found = manifest.differences(recorded, prepared, ex)
    except manifest.ReplayError as exc:
        _flush_stdout()
        print(f"{who}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    _flush_stdout()
    if prepared.stopped_early:
        print(f"{who}: stopped at instruction {ex.instructions} (the recording ran "
              f"{recorded['result']['instructions']}); nothing compared", file=sys.stderr)
        return 0
    if found:
        print(f"{who}: differs from the recording: {'; '.join(found)}", file=sys.stderr)
        return EXIT_FAILED
    what = manifest.outcome(ex.status, ex.reason)
    what += (f", {ex.instructions} instructions, console {len(ex.console)} bytes"
             if prepared.exact else "; only that is compared")
    print(f"{who}: same as the recording ({what})", file=sys.stderr)
    return 0


def _replay_under_gdb(address: str, stop_at: int | None, recorded: dict, kwargs: dict,
                      who: str) -> int:
    """hv replay --gdb: the same run under gdb, paused at --stop-at N if given."""
    import hv
    from hv import gdbstub

    # gdb decides when the run ends: the recorded budget, not --stop-at's.
    kwargs = dict(kwargs, max_instructions=recorded.get("max_instructions"))
    with gdbstub.GdbServer(address, stop_at=stop_at) as server:
        ex = hv.run(**kwargs, console=sys.stdout, gdb=server)
    _flush_stdout()
    end = f"exit status {ex.status}" if ex.reason is None else f"killed: {ex.reason}"
    print(f"{who}: ran under gdb ({end}, {ex.instructions} instructions); nothing "
          "compared", file=sys.stderr)
    return 0


def _read_serial_in(path: str | None) -> bytes:
    if path is None:
        return b""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise HvError(f"--serial-in {path}: {exc.strerror or exc}") from None


def _cmd_info(args: argparse.Namespace) -> int:
    import hv

    image = hv.load_image(args.image, args.memory << 20)
    print(f"image:    {image.path}")
    print(f"entry:    {image.entry:#010x}, from the {image.entry_source}")
    mb = image.multiboot
    if mb is None:
        print("multiboot: no header in the first 8 KiB: loaded by its ELF program headers")
    elif mb.has_addresses:
        print(f"multiboot: header at file offset {mb.offset:#x}, flags {mb.flags:#010x}: bit 16 "
              "is set, so its address fields place the image (as QEMU -kernel does)")
    else:
        print(f"multiboot: header at file offset {mb.offset:#x}, flags {mb.flags:#010x}: bit 16 "
              "is clear, so the ELF program headers place the image")
    print(f"memory:   {args.memory} MiB (image checked against this RAM size)")
    if image.entry_source == "ELF header e_entry":
        print(f"segments: {len(image.segments)} PT_LOAD")
    else:
        print("segments: 1, from the multiboot header (header_addr, load_addr, load_end_addr, "
              "bss_end_addr)")
    print()
    header = ("#", "paddr", "vaddr", "filesz", "memsz", "end", "flags", "offset")
    rows = [header] + [
        (str(s.index), f"{s.paddr:#010x}", f"{s.vaddr:#010x}", f"{s.filesz:#x}",
         f"{s.memsz:#x}", f"{s.end:#010x}", s.flags_str, f"{s.offset:#x}")
        for s in image.segments
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    return 0


def _cmd_selftest(args: argparse.Namespace) -> int:
    from hv.selftest import selftest

    result = selftest()
    if args.verbose:
        for line in result.details:
            print(f"  {line}")
    if not result.ok:
        _flush_stdout()
        print(result.summary(), file=sys.stderr)
        return EXIT_FAILED
    print(result.summary())
    return 0


# ---- the parser ----

def _parser() -> _Parser:
    parser = _Parser(prog="hv", description="Run 32-bit x86 ELF guests in hv's own hypervisor.",
                     epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run a guest image, streaming its console to stdout",
                         description="Run a guest image. Its console goes to stdout as it "
                         "runs;\nhv exits with the guest's exit status.",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("image", metavar="IMAGE", help="ELF32 i386 image (Guest ABI v1)")
    _add_memory(run)
    run.add_argument("--timeout", type=_seconds, metavar="S",
                     help="kill the guest with 'timeout' after S wall-clock seconds")
    run.add_argument("--max-instructions", type=_count, metavar="N",
                     help="kill the guest with 'timeout' after N instructions")
    run.add_argument("--cmdline", type=os.fsencode, default=b"", metavar="STR",
                     help="multiboot command line handed to the guest (default: empty)")
    run.add_argument("--switcher", default=None, metavar="NAME",
                     help="what runs the guest: emu (the interpreter) or bt (the binary "
                     "translator, x86-64 hosts); default: $HV_SWITCHER, else bt on x86-64 "
                     "hosts and emu elsewhere")
    run.add_argument("--serial", metavar="FILE",
                     help="what COM1 transmits goes to FILE instead of the console "
                     "(like QEMU's -serial file:FILE)")
    run.add_argument("--debugcon", metavar="FILE",
                     help="what port 0xE9 gets goes to FILE instead of the console "
                     "(like QEMU's -debugcon file:FILE)")
    run.add_argument("--serial-in", metavar="FILE",
                     help="bytes the guest's COM1 (16550 UART at 0x3F8) receives")
    run.add_argument("--qemu-exit", action="store_true",
                     help="exit statuses as QEMU's isa-debug-exit gives them: an out of v to "
                     "port 0xF4 exits with (v << 1) | 1 (hv's own ABI: v)")
    run.add_argument("--module", action="append", default=[], metavar="FILE[,CMDLINE]",
                     help="a multiboot boot module, loaded after the kernel as QEMU's "
                     "-initrd does; its string is FILE, then a space and CMDLINE if given; "
                     "repeatable")
    run.add_argument("--disk", action="append", default=[], metavar="FILE",
                     help="a disk image the guest reaches as a block device through NOTIFY; "
                     "repeat for more (devices 0, 1, ... in order)")
    run.add_argument("--disk-readonly", action="store_true",
                     help="open every --disk read-only (guest writes fail with -30, EROFS)")
    run.add_argument("--clock", choices=("virtual", "host"), default="virtual",
                     help="the guest clock: virtual (default; one instruction is one ns, "
                     "halts skip ahead, runs are reproducible) or host (CLOCK_MONOTONIC, "
                     "halts really sleep; NOT reproducible)")
    run.add_argument("--record", metavar="MANIFEST",
                     help="write the run's manifest (inputs with their sha256, options and "
                     "results) to MANIFEST, for 'hv replay' (docs/debugging.md)")
    run.add_argument("--gdb", metavar="[HOST:]PORT",
                     help="wait for gdb on HOST:PORT (HOST 127.0.0.1 by default; PORT 0 picks "
                     "a free one, printed on stderr) and run under its control "
                     "(docs/debugging.md); --timeout does not apply then")
    run.add_argument("--coverage", metavar="DIR",
                     help="count which guest code runs and write DIR/coverage.info (lcov) and "
                     "DIR/index.html, by source line through the image's DWARF line table "
                     "(build it with 'hv cc -g'; docs/debugging.md)")
    run.set_defaults(func=_cmd_run)

    replay = sub.add_parser(
        "replay", help="rerun a recorded run and check it does the same",
        description="Rerun the run a manifest ('hv run --record', a failed pytest test) "
        "records: check its\ninputs' sha256, run it with the same options, and compare the "
        "instruction count\nand console with the recording.",
        epilog=REPLAY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("manifest", metavar="MANIFEST", help="the manifest (JSON) to replay")
    add_replay_options(replay)
    replay.set_defaults(func=_cmd_replay)

    info = sub.add_parser("info", help="show an image's entry point and segments",
                          description="Check an image as 'hv run' would, then show its entry "
                          "point and PT_LOAD segments.")
    info.add_argument("image", metavar="IMAGE", help="ELF32 i386 image (Guest ABI v1)")
    _add_memory(info)
    info.set_defaults(func=_cmd_info)

    selftest = sub.add_parser(
        "selftest", help="check that hv works here: run a built-in guest",
        description="Check this installation: load the C extension, then run a small guest "
        "built in memory\n(no compiler or image files needed) under each switcher and check "
        "its exit status,\nconsole and instruction count.",
        epilog=SELFTEST_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    selftest.add_argument("-v", "--verbose", action="store_true",
                          help="also show each step (versions, paths, what the guest did)")
    selftest.set_defaults(func=_cmd_selftest)

    # Listed for --help only; main() hands `hv cc ...` to hv.cc before argparse.
    sub.add_parser("cc", help="compile and link a guest with the hv SDK (see 'hv cc --help')",
                   add_help=False)
    return parser


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """The options of a replay: `hv replay` and `farm replay` take the same ones."""
    parser.add_argument("--image", metavar="PATH",
                        help="run this image instead of the recorded path (same sha256)")
    parser.add_argument("--stop-at", type=_count, metavar="N",
                        help="stop at instruction N (nothing is compared if that is before "
                        "the recorded end)")
    parser.add_argument("--timeout", type=_seconds, metavar="S",
                        help="wall-clock limit (default: the recorded one times 10)")
    parser.add_argument("--switcher", metavar="NAME",
                        help="run under this switcher instead of the recorded one")
    parser.add_argument("--gdb", metavar="[HOST:]PORT",
                        help="replay under gdb, waiting for it on HOST:PORT as 'hv run --gdb' "
                        "does, paused at --stop-at N if given; nothing is compared")


def _add_memory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory", type=_mib, default=64, metavar="MiB",
                        help="guest RAM in MiB, 2..3072 (default: 64)")


def _mib(text: str) -> int:
    value = _parse(int, text, "an integer number of MiB")
    if not 2 <= value <= 3072:
        raise argparse.ArgumentTypeError(f"must be between 2 and 3072 MiB, not {value}")
    return value


def _seconds(text: str) -> float:
    value = _parse(float, text, "a number of seconds")
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _count(text: str) -> int:
    value = _parse(int, text, "a positive integer")
    if not 1 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"must be a positive integer below 2**64, not {text}")
    return value


def _parse(kind: type, text: str, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None


# ---- helpers ----

def _version() -> str:
    import hv

    return hv.__version__


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _flush_stdout() -> None:
    # Keep what was printed ahead of the error line; a closed pipe is not our problem here.
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError):
        pass
