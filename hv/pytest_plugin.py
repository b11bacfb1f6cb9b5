"""pytest plugin: guest test cases collected from suite images, each run in a fresh guest.

    pytest images/build/suite_demo.elf -n auto -m "not slow"

What is collected (see docs/pytest.md):
- a `.elf` file named on the command line: a suite, or a collection error;
- in a directory named on the command line, every `.elf` that is a suite
  (an ELF image with a `.hv_tests` section);
- every suite matching the `hv_images` ini globs (relative to rootdir), also
  when no paths are given on the command line, like `testpaths`.

Each table entry becomes an `HvItem` with node id `path/suite.elf::name`;
its markers become pytest markers.  Running it boots the image with
`hv.test=NAME` on the command line and judges the run (hv.suite.judge).
Items hold only strings and small tuples, and every worker reads the same
tables in the same order, so pytest-xdist sees identical collections.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import socket
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hv import coverage, elf, guest, manifest, suite
from hv.errors import HvError, ImageError

# pytest's own failure representation (see _failure_repr).  It is not public
# API, and an autoloaded plugin that fails to import breaks every pytest run,
# so failures fall back to plain text if it ever moves.
try:
    from _pytest._code.code import ReprExceptionInfo, ReprFileLocation, ReprTracebackNative
except ImportError:     # pragma: no cover
    ReprExceptionInfo = None

__all__ = ["NODE_ENV", "GuestFailure", "HvItem", "Settings", "SuiteFile", "annotate_report",
           "manifest_name", "node_name"]

#: Environment variable naming the machine that runs the guests (JUnit property "node").
NODE_ENV = "HV_NODE"
CONSOLE_TAIL = 20                  # console lines shown under a failure

# Markers whose value is a reason, not a condition: pytest would eval() a
# string condition, and a table in a binary must never run Python code.
_REASON_MARKERS = frozenset({"skip", "skipif", "xfail"})

_SETTINGS = pytest.StashKey["Settings"]()
_KNOWN_MARKERS = pytest.StashKey[set]()
_MATCHES = pytest.StashKey[frozenset]()
_COV_DIR = pytest.StashKey[Path]()
_COV_BARE = pytest.StashKey[list]()     # images in the report without a line table
_COV_PARTS = ".hvcov-*.json"        # one per process (xdist worker, controller)


@dataclass(frozen=True)
class Settings:
    """How every guest of the session runs (command line over ini, over defaults)."""

    timeout: float
    switcher: str
    memory_mib: int
    cmdline: str                   # added after hv.test=NAME
    clock: str = "virtual"         # "virtual" (reproducible) or "host"
    manifests: str = ""            # --hv-manifests; "" for the default (see _manifest_dir)


# ---- options ----

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hv", "hv guest test suites")
    group.addoption("--hv-timeout", metavar="SECONDS", default=None,
                    help="wall-clock limit for each guest test (ini: hv_timeout; default 60)")
    group.addoption("--hv-switcher", metavar="NAME", default=None,
                    help="switcher that runs the guests (ini: hv_switcher; default $HV_SWITCHER, "
                    "else bt on x86-64 hosts and emu elsewhere)")
    group.addoption("--hv-memory", metavar="MIB", default=None,
                    help="guest RAM in MiB (ini: hv_memory; default 64)")
    group.addoption("--hv-cmdline", metavar="TEXT", default=None,
                    help="more guest command line after hv.test=NAME (ini: hv_cmdline)")
    group.addoption("--hv-clock", metavar="CLOCK", default=None,
                    help="guest clock: virtual (one instruction is one ns; reproducible) or "
                    "host (CLOCK_MONOTONIC; not reproducible) (ini: hv_clock; default virtual)")
    group.addoption("--hv-manifests", metavar="DIR", default=None,
                    help="where each failed guest test's manifest goes, for `hv replay` "
                    "(ini: hv_manifests; default: hv-manifests/ beside --junitxml, else "
                    "under pytest's basetemp)")
    group.addoption("--hv-gdb", metavar="[HOST:]PORT", default=None,
                    help="run each selected guest test under gdb: wait for it on HOST:PORT "
                    "(docs/debugging.md, 'gdb'); select one test (-k), and no -n")
    group.addoption("--hv-cov", metavar="DIR", nargs="?", const="hv-coverage", default=None,
                    help="count which guest code every guest test runs and write DIR/"
                    "coverage.info (lcov) and DIR/index.html, merged over all tests and "
                    "xdist workers (default DIR: hv-coverage; docs/debugging.md)")
    parser.addini("hv_images", type="args", default=[],
                  help="glob patterns (relative to rootdir) of guest suite images to collect")
    parser.addini("hv_timeout", default="60", help="default of --hv-timeout")
    parser.addini("hv_switcher", default=guest.default_switcher(),
                  help="default of --hv-switcher")
    parser.addini("hv_memory", default="64", help="default of --hv-memory")
    parser.addini("hv_cmdline", default="", help="default of --hv-cmdline")
    parser.addini("hv_clock", default="virtual", help="default of --hv-clock")
    parser.addini("hv_manifests", default="", help="default of --hv-manifests")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(name)
    return str(config.getini(name) if value is None else value).strip()


def _settings(config: pytest.Config) -> Settings:
    timeout = _number(config, "hv_timeout", float)
    memory = _number(config, "hv_memory", int)
    if not timeout > 0:
        raise pytest.UsageError(f"--hv-timeout must be a positive number of seconds, "
                                f"not {timeout}")
    if not guest.MEMORY_MIB_MIN <= memory <= guest.MEMORY_MIB_MAX:
        raise pytest.UsageError(f"--hv-memory must be between {guest.MEMORY_MIB_MIN} and "
                                f"{guest.MEMORY_MIB_MAX} MiB, not {memory}")
    switcher = _setting(config, "hv_switcher")
    # "emu" and the host's default always exist; checking another name needs
    # the extension, which a session without guests (or before the build)
    # must not require.
    if switcher not in ("emu", guest.DEFAULT_SWITCHER):
        try:
            available = guest.switchers()
        except ImportError as exc:
            raise pytest.UsageError(f"--hv-switcher {switcher}: {exc}") from None
        if switcher not in available:
            raise pytest.UsageError(f"--hv-switcher: unknown switcher {switcher!r} "
                                    f"(available: {', '.join(available)})")
    clock = _setting(config, "hv_clock")
    if clock not in guest.CLOCKS:
        raise pytest.UsageError(f"--hv-clock (ini hv_clock) must be "
                                f"{' or '.join(guest.CLOCKS)}, not {clock!r}")
    return Settings(timeout, switcher, memory, _setting(config, "hv_cmdline"), clock,
                    _setting(config, "hv_manifests"))


def _number(config: pytest.Config, name: str, kind: type) -> Any:
    text = _setting(config, name)
    try:
        return kind(text)
    except ValueError:
        flag = "--" + name.replace("_", "-")
        raise pytest.UsageError(f"{flag} (ini {name}): not a number: {text!r}") from None


# ---- configuration ----

def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SETTINGS] = _settings(config)
    config.stash[_KNOWN_MARKERS] = set()
    config.addinivalue_line("markers", "hv_timeout(seconds): guest timeout of one hv test")
    matches = _glob_images(config)
    config.stash[_MATCHES] = frozenset(matches)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # No paths on the command line: hv_images adds to testpaths (pytest
        # drops the ones that lie under another argument).
        config.args.extend(str(path) for path in matches if suite.is_suite(path))
    config.pluginmanager.register(_JunitConsole(config), "hv-junit-console")
    _coverage_configure(config)


def _glob_images(config: pytest.Config) -> list[Path]:
    found: dict[Path, None] = {}          # ordered and unique
    for pattern in config.getini("hv_images"):
        for path in sorted(config.rootpath.glob(pattern)):
            if path.is_file():
                found[path.resolve()] = None
    return list(found)


# ---- coverage (--hv-cov) ----
#
# Every process that runs guests (each xdist worker, or the one pytest)
# counts into hv.coverage's collector and saves its blocks in DIR at the end
# of its session; the controller, which ends last, merges those files into
# the report.

def _coverage_configure(config: pytest.Config) -> None:
    value = config.getoption("hv_cov")
    if value is None:
        return
    directory = Path(value).resolve()
    config.stash[_COV_DIR] = directory
    if not hasattr(config, "workerinput"):      # the controller: before any worker starts
        for stale in directory.glob(_COV_PARTS):
            stale.unlink()
    coverage.start()


def _worker_id(config: pytest.Config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    directory = config.stash.get(_COV_DIR, None)
    if directory is None:
        return
    data = coverage.stop()
    directory.mkdir(parents=True, exist_ok=True)
    if data is not None and data.images:
        data.save(directory / f".hvcov-{_worker_id(config)}.json")
    if hasattr(config, "workerinput"):
        return
    parts = sorted(directory.glob(_COV_PARTS))
    merged = coverage.Data.load_all(parts)
    coverage.write_report(merged, directory)
    config.stash[_COV_BARE] = coverage.without_lines(merged)
    for part in parts:
        part.unlink()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    directory = config.stash.get(_COV_DIR, None)
    if directory is not None and not hasattr(config, "workerinput"):
        terminalreporter.write_line(f"hv coverage: {directory / 'coverage.info'}, "
                                    f"{directory / 'index.html'}")
        for image in config.stash.get(_COV_BARE, []):
            terminalreporter.write_line(f"hv coverage: {image} has no DWARF line table "
                                        "(build it with 'hv cc -g')")


# ---- collection ----

def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    if file_path.suffix != ".elf":
        return None
    session, config = parent.session, parent.config
    if not session.isinitpath(file_path):
        wanted = (config.args_source == pytest.Config.ArgsSource.ARGS
                  or file_path.resolve() in config.stash[_MATCHES])
        # Other images (plain guests) may share the directory; only suites count.
        if not wanted or not suite.is_suite(file_path):
            return None
    return SuiteFile.from_parent(parent, path=file_path)


class SuiteFile(pytest.File):
    """A suite image; collecting it reads its table (no guest runs)."""

    def collect(self):
        memory = self.config.stash[_SETTINGS].memory_mib
        try:
            # The loader's own check first: an image hv would refuse to run
            # is reported now, once, rather than as a failure of every test.
            elf.load_image(self.path, memory << 20)
            cases = suite.read_suite(self.path)
        except ImageError as exc:
            raise self.CollectError(self._named(exc)) from None
        for case in cases:
            yield HvItem.from_parent(self, name=case.name, case=case)

    def _named(self, exc: ImageError) -> str:
        """The error with the file named as pytest shows it, not as an absolute path."""
        message, prefix = str(exc), f"{self.path}: "
        shown = self.nodeid or str(self.path)
        return f"{shown}: {message[len(prefix):]}" if message.startswith(prefix) else message


class GuestFailure(Exception):
    """A guest test failed; repr_failure shows the verdict, the replay command and the console."""

    def __init__(self, verdict: suite.Verdict, console: str, replay: str = "") -> None:
        super().__init__(verdict.summary)
        self.verdict, self.console, self.replay = verdict, console, replay

    @classmethod
    def because(cls, problem: str) -> GuestFailure:
        """A failure of the plugin's own making (no guest ran)."""
        return cls(suite.Verdict("failed", problem, (problem,)), "")


_image_cache: dict[tuple[str, int], Any] = {}


def _checked_image(path: os.PathLike[str], memory_mib: int) -> Any:
    """The image checked once per suite and RAM size; hv re-checks it if the file changes."""
    key = (os.fspath(path), memory_mib)
    image = _image_cache.get(key)
    if image is None:
        image = _image_cache[key] = elf.load_image(key[0], memory_mib << 20)
    return image


class _TerminalLine:
    """A file for print() that writes on pytest's terminal, past its capture."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def write(self, text: str) -> None:
        capture = self.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            terminal = self.config.get_terminal_writer()
            terminal.write(text)
            terminal.flush()

    def flush(self) -> None:
        pass


class HvItem(pytest.Item):
    """One test case of a suite image, run in a fresh guest."""

    def __init__(self, *, case: suite.TestCase, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.hv_manifest: dict[str, Any] | None = None     # a failed run's, see _keep_manifest
        # Added here, in the process that will run the test (an xdist worker
        # collects its own items), so that tests skipped by a marker carry it too.
        self.user_properties.append(("node", node_name()))
        for marker in case.markers:
            self.add_marker(_mark(self.config, marker))

    def reportinfo(self) -> tuple[str | os.PathLike[str], int | None, str]:
        # The test's C source and line: where skips point, and JUnit's file/line.
        if not self.case.file:
            return self.path, None, self.name
        return self.case.file, self.case.line - 1 if self.case.line else None, self.name

    def runtest(self) -> None:
        self.hv_manifest = None
        settings = self.config.stash[_SETTINGS]
        cmdline = " ".join(filter(None, [f"hv.test={self.name}", settings.cmdline]))
        try:
            machine = guest.Guest(_checked_image(self.path, settings.memory_mib),
                                  memory_mib=settings.memory_mib, cmdline=cmdline,
                                  switcher=settings.switcher, clock=settings.clock)
        except (HvError, ImportError, ValueError) as exc:
            raise GuestFailure.because(f"cannot run the guest: {exc}") from None
        with self._gdb() as gdb:
            result = machine.run(timeout=self._timeout(settings), gdb=gdb)
        console = result.console.decode("utf-8", "replace")
        if console:
            self.add_report_section("call", "stdout", console)
        verdict = suite.judge(self._shortened(result))
        if verdict.outcome == "failed":
            raise GuestFailure(verdict, console, self._keep_manifest(result))
        if verdict.outcome == "skipped":
            raise pytest.skip.Exception(verdict.summary, _use_item_location=True)

    def _keep_manifest(self, result: guest.Exit) -> str:
        """Write the failed run's manifest; its JUnit properties; the command that replays it."""
        record = result.manifest
        if record is None:              # an Exit made by hand (a stand-in for Guest.run)
            return ""
        # rootdir: where the paths in it lie relative to the run's files, so that a
        # controller (farm run) can move them onto its own copy of those files.
        record["origin"] = {"tool": "pytest", "nodeid": self.nodeid, "node": node_name(),
                            "rootdir": str(self.config.rootpath)}
        path = _manifest_dir(self.config) / manifest_name(self.nodeid)
        # The record also travels with the test's report (see pytest_runtest_makereport),
        # so a controller that cannot reach this machine's files still gets it.
        self.hv_manifest = {"manifest": record, "path": "", "shown": ""}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            manifest.write(record, path)
        except OSError as exc:
            return f"(the manifest could not be written: {path}: {exc.strerror or exc})"
        shown = _relative_to(path, self.config.invocation_params.dir)
        self.hv_manifest.update(path=str(path), shown=shown)
        self.user_properties.append(("hv_manifest", str(path)))
        self.user_properties.append(("hv_replay", f"hv replay {path}"))
        return f"hv replay {shown}"

    def _shortened(self, result: guest.Exit) -> guest.Exit:
        """The run with source paths under rootdir made relative, as pytest shows paths.

        The SDK builds with absolute paths, and __FILE__ keeps them.
        """
        results = tuple(dataclasses.replace(r, file=_relative(self.config, r.file))
                        for r in result.results)
        return dataclasses.replace(result, results=results)

    def _gdb(self) -> Any:
        """--hv-gdb: a server that says on the terminal (not captured) where it waits."""
        address = self.config.getoption("hv_gdb")
        if address is None:
            return contextlib.nullcontext()
        from hv import gdbstub

        return gdbstub.GdbServer(address, announce=_TerminalLine(self.config))

    def _timeout(self, settings: Settings) -> float:
        marker = self.get_closest_marker("hv_timeout")
        if marker is None or not marker.args:
            return settings.timeout
        try:
            return float(marker.args[0])
        except ValueError:
            raise GuestFailure.because(
                f"hv_timeout marker: not a number: {marker.args[0]!r}") from None

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None):
        if not isinstance(excinfo.value, GuestFailure):
            return super().repr_failure(excinfo, style)
        return _failure_repr(self, excinfo.value)


def _failure_repr(item: HvItem, failure: GuestFailure) -> Any:
    """The verdict's lines, then the console's tail in a section.

    A ReprExceptionInfo rather than a plain string: its reprcrash puts the
    summary in the short test summary and `--tb=line`, and pytest-xdist
    carries it from the workers intact.
    """
    verdict = failure.verdict
    if item.config.getoption("tbstyle") == "line":
        return _crash_line_only(item, verdict)
    text = "".join(f"{line}\n" for line in verdict.lines)
    if failure.replay:
        text += f"replay: {failure.replay}\n"
        if failure.replay.startswith("hv replay "):     # and the same under the debugger
            text += f"gdb: hv replay --gdb 127.0.0.1:1234 {failure.replay[len('hv replay '):]}\n"
    lines = failure.console.splitlines()
    shown = lines[-CONSOLE_TAIL:]
    title = "guest console" + (f" (last {len(shown)} of {len(lines)} lines)"
                               if len(shown) < len(lines) else "")
    tail = "\n".join(shown) if shown else "(no output)"
    if ReprExceptionInfo is None:     # pragma: no cover
        return f"{text}{f' {title} '.center(80, '-')}\n{tail}"
    info = _repr(item, verdict, text)
    info.addsection(title, tail)
    return info


def _crash_line_only(item: HvItem, verdict: suite.Verdict) -> Any:
    """For --tb=line: pytest prints the repr, then `path:line: summary`; the repr stays empty."""
    if ReprExceptionInfo is None:     # pragma: no cover
        return verdict.summary
    return _repr(item, verdict, "")


def _repr(item: HvItem, verdict: suite.Verdict, text: str) -> Any:
    path, lineno = verdict.file, verdict.line
    if not path:
        path, index = item.location[:2]
        lineno = index + 1 if index is not None else 0
    return ReprExceptionInfo(reprtraceback=ReprTracebackNative([text]),
                             reprcrash=ReprFileLocation(path, lineno, verdict.summary))


def _mark(config: pytest.Config, marker: str) -> pytest.MarkDecorator:
    """A table marker ("name" or "name=value") as a registered pytest marker."""
    name, has_value, value = marker.partition("=")
    known = config.stash[_KNOWN_MARKERS]
    if name not in known:
        registered = {line.split(":")[0].split("(")[0].strip()
                      for line in config.getini("markers")}
        if name not in registered:
            # Unknown names come from images; register them so that neither
            # the unknown-marker warning nor --strict-markers trips on them.
            config.addinivalue_line("markers", f"{name}: marker from a guest suite table")
        known.add(name)
    decorator = getattr(pytest.mark, name)
    if not has_value:
        return decorator
    return decorator(reason=value) if name in _REASON_MARKERS else decorator(value)


def _manifest_dir(config: pytest.Config) -> Path:
    """--hv-manifests; else hv-manifests/ beside the JUnit file; else under basetemp."""
    chosen = config.stash[_SETTINGS].manifests
    if chosen:
        return config.invocation_params.dir / chosen
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        return (config.invocation_params.dir / xmlpath).parent / "hv-manifests"
    factory = getattr(config, "_tmp_path_factory", None)    # pytest's tmp_path plugin
    if factory is not None:
        return factory.getbasetemp() / "hv-manifests"
    return Path(tempfile.gettempdir()) / "hv-manifests"


def manifest_name(nodeid: str) -> str:
    """The file name of a test's manifest: its node id with path-unsafe runs as "_"."""
    return re.sub(r"[^\w.-]+", "_", nodeid) + ".json"


def _relative_to(path: Path, base: Path) -> str:
    """`path` relative to `base` if it lies under it, else as it is."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def _relative(config: pytest.Config, file: str | None) -> str | None:
    if file and os.path.isabs(file):
        return _under_root(config.rootpath, file)
    return file


@functools.lru_cache(maxsize=1024)
def _under_root(root: Path, file: str) -> str:
    """`file` relative to `root` if it lies under it (a suite's results name few files)."""
    try:
        return str(Path(file).relative_to(root))
    except ValueError:
        return file


def node_name() -> str:
    """The machine that runs the guests: $HV_NODE, else this host's name."""
    return os.environ.get(NODE_ENV) or socket.gethostname()


# ---- reports ----

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if isinstance(item, HvItem):
        annotate_report(item, report)
    return report


def annotate_report(item: HvItem, report: pytest.TestReport) -> None:
    """What a guest test's report carries beyond pytest's: `hv_guest`, and a failed
    call's `hv_manifest` (also used by farm's batched dispatch, farm/batch.py)."""
    # Plain data, so it survives pytest-xdist's report serialisation.
    report.hv_guest = True
    kept = getattr(item, "hv_manifest", None)
    if report.when == "call" and kept is not None:
        # {"manifest": the record, "path": where this process wrote it ("" if it
        # could not), "shown": that path as the failure text shows it}
        report.hv_manifest = kept


# XML 1.0 cannot hold most control characters, which a guest console may have.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _JunitConsole:
    """Puts each guest's console in its JUnit <system-out>.

    pytest writes captured output there only with junit_logging=system-out
    (or out-err, all); the default is "no".  For hv items the console is the
    main evidence, so it goes in anyway, without changing what pytest writes
    for ordinary tests.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)      # after junitxml added the <failure> or pass
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or not getattr(report, "hv_guest", False):
            return
        logxml = self._logxml()
        if logxml is None or getattr(logxml, "logging", "no") in ("system-out", "out-err", "all"):
            return                      # pytest writes it itself
        if report.passed and not getattr(logxml, "log_passing_tests", True):
            return
        console = report.capstdout
        if console:
            node = ET.Element("system-out")
            node.text = _XML_INVALID.sub(lambda m: f"#x{ord(m.group()):02X}", console)
            logxml.node_reporter(report).append(node)

    def _logxml(self) -> Any:
        """pytest's JUnit writer, if --junitxml is on (never on an xdist worker)."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:             # pragma: no cover - leave JUnit output alone
            return None
        return self.config.stash.get(xml_key, None)
