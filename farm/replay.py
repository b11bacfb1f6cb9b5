"""`farm replay REPORT TEST`: rerun here a guest test that failed in a farm run.

REPORT is what `farm run` wrote: its JUnit XML (`RUN_DIR/junit.xml`), its
HTML report (which names the JUnit file it was made from) or the run
directory itself.  TEST is the test's node id, or any part of it that only
one test of the report has.  The test's JUnit record names its manifest
(property `hv_manifest`, written by farm/manifests.py); a report moved with
its `manifests/` directory still finds it there.  The replay itself is
`hv replay`'s (hv.cli.replay): the same input checks, the same run, the
same comparison and exit status.
"""

from __future__ import annotations

import re
from pathlib import Path

from farm.errors import FarmError
from farm.manifests import DIRECTORY
from farm.report import Case, read_junit
from hv.pytest_plugin import manifest_name

__all__ = ["find_case", "find_junit", "find_manifest", "farm_replay"]

JUNIT_NAME = "junit.xml"
SHOWN_MAX = 15              # candidates listed in an error
# The HTML report names its JUnit file in <meta name="farm-junit" content="...">.
_META = re.compile(r'<meta name="farm-junit" content="([^"]*)"')


def find_junit(report: str | Path) -> Path:
    """The JUnit file of REPORT: the file itself, the one an HTML report names, or DIR/junit.xml."""
    path = Path(report)
    if path.is_dir():
        junit = path / JUNIT_NAME
        if not junit.is_file():
            raise FarmError(f"{path}: no {JUNIT_NAME} in this directory (is it the run "
                            "directory of a farm run?)")
        return junit
    if not path.exists():
        raise FarmError(f"{path}: no such file or directory (give the run's junit.xml, "
                        "report.html or run directory)")
    if path.suffix.lower() in (".html", ".htm"):
        return _junit_of_html(path)
    return path


def _junit_of_html(path: Path) -> Path:
    import html

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FarmError(f"{path}: cannot read the report: {exc.strerror or exc}") from None
    found = _META.search(text)
    named = Path(html.unescape(found.group(1))) if found else None
    for candidate in (named, path.parent / JUNIT_NAME):
        if candidate is not None and candidate.is_file():
            return candidate
    where = f"{named} (which it names) nor " if named else ""
    raise FarmError(f"{path}: cannot find the JUnit file of this report: neither {where}"
                    f"{path.parent / JUNIT_NAME} exists")


def find_case(cases: list[Case], test: str, junit: Path) -> Case:
    """The one case whose node id is `test`, or the only one that contains it."""
    exact = [case for case in cases if case.nodeid == test]
    if exact:
        return exact[0]
    matches = [case for case in cases if test in case.nodeid]
    if len(matches) > 1:      # the ones that can be replayed are what was meant
        matches = [case for case in matches if case.manifest] or matches
    if len(matches) == 1:
        return matches[0]
    replayable = [case.nodeid for case in cases if case.manifest]
    if not matches:
        listed = _listed(replayable) if replayable else " none (no failed guest test)"
        raise FarmError(f"{junit}: no test matches {test!r}; the tests it can replay:{listed}")
    raise FarmError(f"{junit}: {test!r} matches {len(matches)} tests; give more of the node "
                    f"id:{_listed([case.nodeid for case in matches])}")


def _listed(nodeids: list[str]) -> str:
    shown = " ".join(nodeids[:SHOWN_MAX])
    more = f" (and {len(nodeids) - SHOWN_MAX} more)" if len(nodeids) > SHOWN_MAX else ""
    return f" {shown}{more}"


def find_manifest(case: Case, junit: Path) -> Path:
    """The manifest of `case`: in manifests/ beside the report, else where its record says.

    The one beside the report first: a run directory copied elsewhere keeps
    its own manifests, whatever the original run directory now holds.
    """
    if not case.manifest:
        why = ("it did not fail" if case.outcome in ("passed", "skipped")
               else "only a failed guest test has one")
        raise FarmError(f"{junit}: {case.nodeid} ({case.outcome}) has no manifest to replay "
                        f"({why})")
    recorded = Path(case.manifest)
    for candidate in (junit.parent / DIRECTORY / manifest_name(case.nodeid),
                      junit.parent / DIRECTORY / recorded.name, recorded):
        if candidate.is_file():
            return candidate
    raise FarmError(f"{junit}: the manifest of {case.nodeid} is missing: not at {recorded}, "
                    f"nor in {junit.parent / DIRECTORY}")


def farm_replay(report: str | Path, test: str, *, image: str | None = None,
                stop_at: int | None = None, timeout: float | None = None,
                switcher: str | None = None, gdb: str | None = None) -> int:
    """Replay TEST of REPORT here as `hv replay` does; its exit status (0: the same run)."""
    import sys

    from hv.cli import replay

    junit = find_junit(report)
    case = find_case(read_junit(junit), test, junit)
    path = find_manifest(case, junit)
    where = f" (it failed on {case.node})" if case.node else ""
    print(f"farm replay: {case.nodeid}{where}: {path}", file=sys.stderr)
    return replay(str(path), image=image, stop_at=stop_at, timeout=timeout, switcher=switcher,
                  gdb=gdb, who="farm replay")
