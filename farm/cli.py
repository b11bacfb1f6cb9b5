"""The `farm` command: node lifecycle and test runs.

    farm up [-n N]             boot the inventory's nodes, wait for SSH, health-check them
    farm status [--check]      a table of the nodes
    farm exec CMD...           run CMD on every ready node, one result per node
    farm run [PYTEST ARGS...]  run guest test suites across the nodes (or --local)
    farm replay [REPORT] TEST  rerun here a guest test that failed in a farm run
    farm down [NODE...]        stop the nodes
    farm image [--rebuild]     build (or show) the node image

Exit statuses: 0 success, 1 a node or command failed, 2 a usage or
configuration mistake (one line on stderr), 130 interrupted; `farm run`
returns pytest's own exit status, and `farm replay` hv replay's (0 the same
run as on the node, 1 an input missing or changed, or a different run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from farm.errors import FarmError
from farm.inventory import Inventory, load_inventory
from farm.state import READY, NodeState, RunDir
from hv.cli import add_replay_options
from hv.errors import HvError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

REPLAY_EPILOG = """\
The manifest is the one the run kept in RUN_DIR/manifests/ (the test's JUnit
property hv_manifest). The image is looked for at its recorded path (the
controller's copy of what the nodes ran), then beside the manifest; --image
names it on another machine. Its sha256 must be the recorded one.

exit status:
  0  the run did the same as on the node: "farm replay: same as the recording (...)"
  1  an input changed or is missing, or the run differs: "farm replay: <what>"
  2  REPORT or TEST is wrong, or the manifest unreadable ("farm: error: <message>")
"""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        parser = _parser()
        if argv[:1] == ["run"]:
            # pytest owns the rest of the command line: farm's options are parsed,
            # everything else goes to pytest as it is.
            args, rest = parser.parse_known_args(argv)
            args.pytest_args = rest
        else:
            args = parser.parse_args(argv)
        return args.func(args, err)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        err.print("farm: interrupted")
        return EXIT_INTERRUPTED
    except (_UsageError, HvError, OSError, ValueError) as exc:
        err.print(f"farm: error: {' '.join(str(exc).split())}", markup=False)
        return EXIT_USAGE


def _inventory(args: argparse.Namespace) -> Inventory:
    if args.inventory is not None:
        return load_inventory(args.inventory)
    if Path("farm.toml").exists():
        return load_inventory("farm.toml")
    return load_inventory(None)


def _cmd_up(args: argparse.Namespace, err: Console) -> int:
    from farm import nodes
    run = RunDir(args.run_dir)
    result = nodes.up(run, _inventory(args), args.n, err, args.boot_timeout)
    _print_table(result, Console(highlight=False))
    bad = [n for n in result if n.state != READY]
    if bad:
        err.print(f"farm: {len(bad)} of {len(result)} nodes are bad: "
                  + "; ".join(f"{n.name}: {n.reason}" for n in bad), markup=False)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_status(args: argparse.Namespace, err: Console) -> int:
    from farm import nodes
    run = RunDir(args.run_dir)
    gone = nodes.refresh(run) if run.state_file.exists() else []
    for name in gone:
        err.print(f"farm: {name}: its QEMU process is gone; marked bad")
    if args.check:
        nodes.health_check(run)
    found = list(run.load().values())
    if args.json:
        print(json.dumps([n.__dict__ for n in found], indent=1))
        return EXIT_OK
    if not found:
        err.print(f"farm: no nodes in {run.path} (start some with 'farm up')")
        return EXIT_OK
    _print_table(found, Console(highlight=False))
    return EXIT_OK


def _ago(t: float | None) -> str:
    if t is None:
        return "-"
    s = max(0, int(time.time() - t))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _print_table(found: list[NodeState], console: Console) -> None:
    table = Table(title="farm nodes")
    for col in ("node", "kind", "address", "state", "accel", "uptime", "last health check"):
        table.add_column(col)
    colour = {"ready": "green", "bad": "red", "booting": "yellow"}
    for n in sorted(found, key=lambda n: n.name):
        state = f"[{colour.get(n.state, 'white')}]{n.state}[/]"
        if n.state == "bad" and n.reason:
            state += f": {n.reason}"
        # "hv selftest: ok (hv 0.1.0, ...)" -> "ok"; the full line is in --json
        health = n.health.removeprefix("hv selftest: ").split(" (", 1)[0] or "failed"
        check = f"{health}, {_ago(n.health_at)} ago" if n.health_at else "-"
        # QEMU nodes: kvm or tcg, and "snapshot" when started from a saved node
        accel = n.extra.get("accel", "-") if n.kind == "qemu" else "-"
        if "snapshot" in n.extra:
            accel += ", snapshot"
        table.add_row(n.name, n.kind, n.address, state, accel, _ago(n.started), check)
    console.print(table)


def _cmd_exec(args: argparse.Namespace, err: Console) -> int:
    from farm import nodes, remote
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        raise _UsageError("farm exec needs a command, e.g. farm exec uname -a")
    run = RunDir(args.run_dir)
    ready = nodes.ready_nodes(run)
    if not ready:
        raise FarmError(f"no ready nodes in {run.path} (start them with 'farm up')")
    command = " ".join(args.command)
    conns = {n.name: remote.connect(run, n) for n in ready}
    try:
        results = remote.exec_all(conns, command, timeout=args.timeout)
    finally:
        for c in conns.values():
            c.close()
    out = Console(highlight=False)
    for r in results:
        status = f"exit {r.exited}" if r.exited is not None else "did not run"
        out.rule(f"{r.node}: {status}", style="green" if r.ok else "red")
        if r.stdout:
            out.out(r.stdout.rstrip("\n"))
        if r.stderr:
            err.out(r.stderr.rstrip("\n"), style="red")
    failed = [r.node for r in results if not r.ok]
    if failed:
        err.print(f"farm: failed on {len(failed)} of {len(results)} nodes: {', '.join(failed)}")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_down(args: argparse.Namespace, err: Console) -> int:
    from farm import nodes
    run = RunDir(args.run_dir)
    if not run.state_file.exists():
        err.print(f"farm: no nodes in {run.path}")
        return EXIT_OK
    for name, how in nodes.down(run, args.nodes or None):
        err.print(f"farm: {name}: {how}")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, err: Console) -> int:
    from farm import nodes
    from farm.run import farm_run
    run = RunDir(args.run_dir)
    inventory = None if args.local else _inventory(args)
    try:
        return farm_run(run, inventory, args.pytest_args, local=args.local, count=args.n,
                        console=err, boot_timeout=args.boot_timeout, batch=not args.no_batch)
    finally:
        if args.down and not args.local:
            for name, how in nodes.down(run):
                err.print(f"farm: {name}: {how}")


def _cmd_replay(args: argparse.Namespace, err: Console) -> int:
    from farm.replay import farm_replay
    report = args.report if args.report is not None else RunDir(args.run_dir).path
    return farm_replay(report, args.test, image=args.image, stop_at=args.stop_at,
                       timeout=args.timeout, switcher=args.switcher, gdb=args.gdb)


def _cmd_image(args: argparse.Namespace, err: Console) -> int:
    from farm.image import ensure_image
    t0 = time.monotonic()
    image = ensure_image(err, rebuild=args.rebuild)
    err.print(f"farm: node image ready in {time.monotonic() - t0:.1f} s")
    out = Console(highlight=False)
    for field in ("kernel", "initrd", "disk", "key", "hv_version", "key_hash"):
        out.print(f"{field:<11} {getattr(image, field)}", markup=False)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--run-dir", metavar="DIR", default=None,
                        help="where node state lives (default: $FARM_RUN_DIR or .farm)")
    common.add_argument("-i", "--inventory", metavar="FILE", default=None,
                        help="the inventory (default: ./farm.toml if it exists, else two "
                             "local QEMU nodes)")
    p = _Parser(prog="farm", description="Provision 32-bit x86 QEMU nodes and run guest test "
                "suites across them.", formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Run 'farm COMMAND --help' for a command's options.")
    from hv import __version__
    p.add_argument("--version", action="version", version=f"farm (hv {__version__})")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_Parser)

    up = sub.add_parser("up", parents=[common], help="boot the nodes and health-check them")
    up.add_argument("-n", type=int, default=None, metavar="N",
                    help="how many nodes (default: all in the inventory)")
    up.add_argument("--boot-timeout", type=float, default=120.0, metavar="S",
                    help="seconds to wait for a node's sshd (default: 120)")
    up.set_defaults(func=_cmd_up)

    st = sub.add_parser("status", parents=[common], help="show the nodes")
    st.add_argument("--check", action="store_true", help="run the health check again first")
    st.add_argument("--json", action="store_true", help="print the state as JSON")
    st.set_defaults(func=_cmd_status)

    ex = sub.add_parser("exec", parents=[common], help="run a shell command on every ready node")
    ex.add_argument("--timeout", type=float, default=None, metavar="S",
                    help="give up on a node after S seconds")
    ex.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD",
                    help="the command (quote it, or put it after --)")
    ex.set_defaults(func=_cmd_exec)

    rn = sub.add_parser("run", parents=[common], help="run pytest across the nodes; other "
                        "options and paths go to pytest")
    rn.add_argument("--local", action="store_true",
                    help="no nodes: local xdist workers (-n auto)")
    rn.add_argument("-n", type=int, default=None, metavar="N",
                    help="how many nodes to use (default: every ready node, or all)")
    rn.add_argument("--down", action="store_true", help="stop the nodes afterwards")
    rn.add_argument("--no-batch", action="store_true",
                    help="run every guest test through xdist's per-test protocol, not "
                    "batched (docs/farm.md, 'Batched dispatch')")
    rn.add_argument("--boot-timeout", type=float, default=120.0, metavar="S",
                    help="seconds to wait for a node's sshd (default: 120)")
    rn.set_defaults(func=_cmd_run)

    rp = sub.add_parser("replay", parents=[common],
                        help="rerun here a guest test that failed in a farm run",
                        description="Rerun a failed guest test of a farm run from the manifest "
                        "the run kept, and check that\nit does the same as on the node (the "
                        "instruction count and the console), as\n'hv replay' does.",
                        epilog=REPLAY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rp.add_argument("report", metavar="REPORT", nargs="?", default=None,
                    help="the run's junit.xml, its report.html, or its run directory "
                    "(default: the run directory, --run-dir)")
    rp.add_argument("test", metavar="TEST",
                    help="the test's node id, or a part of it that only one test has")
    add_replay_options(rp)
    rp.set_defaults(func=_cmd_replay)

    dn = sub.add_parser("down", parents=[common], help="stop the nodes")
    dn.add_argument("nodes", nargs="*", metavar="NODE", help="only these (default: all)")
    dn.set_defaults(func=_cmd_down)

    im = sub.add_parser("image", parents=[common], help="build the node image (cached)")
    im.add_argument("--rebuild", action="store_true", help="build it even if cached")
    im.set_defaults(func=_cmd_image)
    return p
