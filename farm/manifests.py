"""Failed guest tests' manifests, brought back from the nodes into the run directory.

On a node, hv's pytest plugin writes a failed guest test's manifest
(hv/manifest.py) where the node can reach it, and also hangs the record on
the test's call report (`report.hv_manifest`, plain data), which
pytest-xdist carries back to the controller with the rest of the report.
`ManifestKeeper`, a controller-side plugin of `farm run`, writes each one to
`RUN_DIR/manifests/<test>.json` the moment its report arrives, so results
already in survive a node that dies later, and points the test's JUnit
properties (`hv_manifest`, `hv_replay`) and its failure text at that file.

The node ran the same files at the same paths relative to its work
directory (farm mirrors them there, farm/run.py), so `relocate` moves the
manifest's input paths from the node's rootdir onto the controller's: the
controller-side manifest names the controller's copy of the image, whose
sha256 the replay checks.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from hv import manifest as hv_manifest
from hv.pytest_plugin import manifest_name

__all__ = ["DIRECTORY", "ManifestKeeper", "relocate"]

#: The run directory's subdirectory that holds the manifests of a farm run.
DIRECTORY = "manifests"
SUMMARY_MAX = 10            # replay commands listed in the terminal summary


def relocate(record: dict[str, Any], here: str | os.PathLike[str]) -> dict[str, Any]:
    """A copy of `record` whose input paths under its origin's rootdir lie under `here`.

    The origin (written by hv's pytest plugin) says where the run's files
    were: `origin.rootdir`.  Paths outside it stay as they are.  The copy's
    origin keeps the old rootdir as `moved_from`.
    """
    record = copy.deepcopy(record)
    origin = record.get("origin") or {}
    there, here = origin.get("rootdir"), str(here)
    if not there or there == here:
        return record

    def moved(path: str | None) -> str | None:
        if not path:
            return path
        try:
            rest = PurePosixPath(path).relative_to(there)
        except ValueError:
            return path
        return str(Path(here, rest))

    record["image"]["path"] = moved(record["image"]["path"])
    for entry in [*record.get("modules", []), *record.get("devices", [])]:
        if "path" in entry:
            entry["path"] = moved(entry["path"])
    for key in ("serial_input", "serial", "debugcon"):
        if record.get(key):
            record[key]["path"] = moved(record[key].get("path"))
    record["origin"] = {**origin, "rootdir": here, "moved_from": there}
    return record


class ManifestKeeper:
    """Controller-side pytest plugin: each failed guest test's manifest, kept as it arrives."""

    def __init__(self, directory: Path, rootdir: Path, junit: Path | None = None) -> None:
        self.directory = Path(directory)
        self.rootdir = Path(rootdir)
        self.junit = junit                    # for the `farm replay` lines of the summary
        self.kept: dict[str, Path] = {}       # node id -> its manifest here
        self.failed: set[str] = set()         # of those, the real failures (not xfails)
        self.problems: list[str] = []

    @pytest.hookimpl(tryfirst=True)           # before junitxml reads the properties
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        carried = getattr(report, "hv_manifest", None)
        if isinstance(carried, dict) and isinstance(carried.get("manifest"), dict):
            path = self.keep(report.nodeid, carried["manifest"])
            if report.failed:
                self.failed.add(report.nodeid)
            if path is not None:
                _retarget_text(report, carried.get("shown", ""), str(path))
                _retarget_properties(report, path)
        elif report.when == "teardown" and report.nodeid in self.kept:
            # junitxml takes a test's properties from its teardown report.
            _retarget_properties(report, self.kept[report.nodeid])

    def keep(self, nodeid: str, record: dict[str, Any]) -> Path | None:
        """Write `record` (relocated) as this test's manifest; its path, None if it failed."""
        path = self.directory / manifest_name(nodeid)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            hv_manifest.write(relocate(record, self.rootdir), path)
        except OSError as exc:
            self.problems.append(f"{nodeid}: the manifest could not be written: {path}: "
                                 f"{exc.strerror or exc}")
            return None
        self.kept[nodeid] = path
        return path

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # An xfail's manifest is kept too (as a local run keeps it), but not listed.
        failed = sorted(nodeid for nodeid in self.kept if nodeid in self.failed)
        if not failed and not self.problems:
            return
        terminalreporter.write_sep("-", "farm replay")
        where = self.junit if self.junit is not None else self.directory.parent
        for nodeid in failed[:SUMMARY_MAX]:
            terminalreporter.write_line(replay_command(where, nodeid))
        if len(failed) > SUMMARY_MAX:
            terminalreporter.write_line(f"... and {len(failed) - SUMMARY_MAX} more, in "
                                        f"{self.directory}")
        for problem in self.problems:
            terminalreporter.write_line(problem, red=True)


def replay_command(report: str | os.PathLike[str], nodeid: str) -> str:
    """The command that replays test `nodeid` of the farm run whose report is `report`."""
    import shlex

    return f"farm replay {shlex.quote(os.fspath(report))} {shlex.quote(nodeid)}"


def _retarget_properties(report: pytest.TestReport, path: Path) -> None:
    """The test's hv_manifest/hv_replay properties name the controller's file."""
    kept = [(name, value) for name, value in report.user_properties
            if name not in ("hv_manifest", "hv_replay")]
    report.user_properties = [*kept, ("hv_manifest", str(path)),
                              ("hv_replay", f"hv replay {path}")]


def _retarget_text(report: pytest.TestReport, shown: str, path: str) -> None:
    """The failure text's `replay:` and `gdb:` lines name the controller's file.

    The text was made on the node, with the node's path; pytest-xdist brings
    it back as a traceback whose entries hold lines of text.
    """
    if shown == path:
        return
    entries = getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", [])
    for entry in entries:
        lines = getattr(entry, "lines", None)
        if isinstance(lines, list):
            entry.lines = [_retargeted(line, shown, path) if isinstance(line, str) else line
                           for line in lines]


# The failure text's line when the node could not write its copy (hv.pytest_plugin).
_NOT_WRITTEN = re.compile(r"^replay: \(the manifest could not be written: .*\)$", re.M)


def _retargeted(text: str, shown: str, path: str) -> str:
    if not shown:
        return _NOT_WRITTEN.sub(lambda _: f"replay: hv replay {path}", text)
    return text.replace(f" {shown}\n", f" {path}\n")
