#!/usr/bin/env python3
"""Build every guest image into images/build/, incrementally and in parallel.

    python images/build.py [--clean] [-j N] [-v] [PATTERN...]

Rules (source -> outputs in images/build/):
    guests/<stem>.c       -> <stem>.elf
    conformance/<stem>.c  -> conf_<stem>.elf   and conf_<stem>.linux
    bench/<stem>.c        -> bench_<stem>.elf  and bench_<stem>.linux
    numeric/<stem>.c      -> num_<stem>.elf    and num_<stem>.linux
                             (floating-point programs; see numeric/numeric.h)
    traps/<stem>.c        -> trap_<stem>.elf
    host/<stem>.c         -> host_<stem>.elf   (the full-host ABI test guests)
    suites/<name>/*.c     -> suite_<name>.elf  and suite_<name>.linux
                             (every .c file of the directory linked into one
                             test-suite image; see docs/sdk.md "Writing tests")

The `.linux` twin is the same source linked as a static i386 Linux program:
the real-CPU reference.  Directives on the first lines of a source:
    /* hv-variants: O0 O2 Os */   one build per level, named e.g. conf_mix-O0.elf
    /* hv-cflags: -DFOO -funroll-loops */   extra gcc flags
Without hv-variants a source is built once, at -O2.  In a suite the
directives of all its files count together (hv-variants must agree).

An output is rebuilt when it is missing or older than its sources, a header
next to them, any SDK file, or hv/cc.py.  Importable: tests and the
bench script call build_all().
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parent
REPO_DIR = IMAGES_DIR.parent
BUILD_DIR = IMAGES_DIR / "build"

# Let `python images/build.py` find hv.cc in a source tree that is not installed.
if str(REPO_DIR) not in sys.path and (REPO_DIR / "hv" / "cc.py").is_file():
    sys.path.insert(0, str(REPO_DIR))

from hv import cc  # noqa: E402


@dataclass(frozen=True)
class Rule:
    """How the sources of one directory become images.

    Normally each `<stem>.c` is one image.  With `per_directory`, each
    subdirectory is one image made from all of its .c files.
    """

    directory: str
    prefix: str
    targets: tuple[str, ...]
    per_directory: bool = False


RULES = (
    Rule("guests", "", ("hv",)),
    Rule("conformance", "conf_", ("hv", "linux")),
    Rule("bench", "bench_", ("hv", "linux")),
    Rule("numeric", "num_", ("hv", "linux")),
    Rule("traps", "trap_", ("hv",)),
    Rule("host", "host_", ("hv",)),
    Rule("suites", "suite_", ("hv", "linux"), per_directory=True),
)

OPT_LEVELS = ("O0", "O1", "O2", "O3", "Os")
DEFAULT_OPT = "O2"
SUFFIX = {"hv": ".elf", "linux": ".linux"}

_DIRECTIVE = re.compile(r"^\s*/\*\s*hv-(variants|cflags):(.*?)\*/\s*$")


class BuildError(Exception):
    """A build could not be planned or did not succeed."""


@dataclass(frozen=True)
class Job:
    """One image to build: a source compiled for one target at one level.

    For a suite, `source` is its directory and `sources` the .c files in it.
    """

    source: Path
    output: Path
    target: str
    opt: str
    cflags: tuple[str, ...] = ()
    sources: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        return self.output.name

    @property
    def inputs(self) -> tuple[Path, ...]:
        """The files handed to the compiler."""
        return self.sources or (self.source,)


@dataclass
class BuildReport:
    """What build_all did; `ok` is false if anything failed."""

    built: list[Job] = field(default_factory=list)
    up_to_date: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def parse_directives(source: Path) -> tuple[list[str] | None, list[str]]:
    """Read the hv-variants and hv-cflags directives from a source's first lines.

    Returns (levels or None when there is no hv-variants line, extra cflags).
    Directives count only as an unbroken run of lines at the top of the file.
    """
    levels: list[str] | None = None
    cflags: list[str] = []
    with open(source, encoding="utf-8", errors="replace") as f:
        for line in f:
            match = _DIRECTIVE.match(line)
            if not match:
                break
            kind, value = match.group(1), match.group(2)
            if kind == "cflags":
                cflags += shlex.split(value)
                continue
            levels = [level.lstrip("-") for level in value.split()]
            bad = [level for level in levels if level not in OPT_LEVELS]
            if bad or not levels:
                raise BuildError(
                    f"{source}: hv-variants wants levels from {' '.join(OPT_LEVELS)}, "
                    f"got {value.strip()!r}"
                )
    return levels, cflags


def _jobs(source: Path, stem: str, sources: tuple[Path, ...], levels: list[str] | None,
          cflags: list[str], rule: Rule, build_dir: Path) -> list[Job]:
    variants = [(level, f"-{level}") for level in levels] if levels else [(DEFAULT_OPT, "")]
    return [
        Job(
            source=source,
            output=build_dir / f"{rule.prefix}{stem}{tag}{SUFFIX[target]}",
            target=target,
            opt=level,
            cflags=tuple(cflags),
            sources=sources,
        )
        for level, tag in variants
        for target in rule.targets
    ]


def jobs_for_source(source: Path, rule: Rule, build_dir: Path) -> list[Job]:
    """The images one source produces under its directory's rule."""
    levels, cflags = parse_directives(source)
    return _jobs(source, source.stem, (), levels, cflags, rule, build_dir)


def jobs_for_suite(directory: Path, rule: Rule, build_dir: Path) -> list[Job]:
    """The images a suite directory produces: all its .c files linked together
    (none if it has no .c file).  Directives of all the files count."""
    sources = tuple(sorted(directory.glob("*.c")))
    levels: list[str] | None = None
    cflags: list[str] = []
    for source in sources:
        file_levels, file_cflags = parse_directives(source)
        cflags += file_cflags
        if file_levels is not None:
            if levels is not None and file_levels != levels:
                raise BuildError(f"{directory}: the files of a suite disagree on hv-variants "
                                 f"({' '.join(levels)} vs {' '.join(file_levels)})")
            levels = file_levels
    if not sources:
        return []
    return _jobs(directory, directory.name, sources, levels, cflags, rule, build_dir)


def plan(
    images_dir: Path = IMAGES_DIR,
    build_dir: Path | None = None,
    kinds: Iterable[str] | None = None,
    patterns: Sequence[str] = (),
) -> list[Job]:
    """Every job the rules give for the sources present, in a stable order.

    `kinds` limits the directories (e.g. ["bench"]); `patterns` are fnmatch
    patterns on the output name (e.g. "conf_*.linux").
    """
    build_dir = build_dir or images_dir / "build"
    wanted = set(kinds) if kinds is not None else None
    jobs: list[Job] = []
    for rule in RULES:
        if wanted is not None and rule.directory not in wanted:
            continue
        base = images_dir / rule.directory
        if rule.per_directory:
            for directory in sorted(path for path in base.glob("*") if path.is_dir()):
                jobs += jobs_for_suite(directory, rule, build_dir)
            continue
        for source in sorted(base.glob("*.c")):
            jobs += jobs_for_source(source, rule, build_dir)
    if patterns:
        jobs = [job for job in jobs if any(fnmatch.fnmatch(job.name, p) for p in patterns)]
    return jobs


def _newest_mtime(paths: Iterable[Path]) -> float:
    return max((path.stat().st_mtime for path in paths), default=0.0)


def _toolchain_mtime() -> float:
    """Newest change to anything every image depends on: the SDK and hv cc."""
    sdk = cc.sdk_dir()
    files = [path for path in sdk.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    return max(_newest_mtime(files), Path(cc.__file__).stat().st_mtime)


def is_stale(job: Job, toolchain_mtime: float) -> bool:
    """True if the output is missing or older than anything it is made from."""
    try:
        built = job.output.stat().st_mtime
    except FileNotFoundError:
        return True
    # Headers beside the source (e.g. conformance/conf.h) are shared by all.
    folder = job.inputs[0].parent
    inputs = [*job.inputs, *folder.glob("*.h")]
    if job.sources:
        inputs.append(folder)    # a suite's directory changes when a file comes or goes
    return built < max(_newest_mtime(inputs), toolchain_mtime)


def run_job(job: Job) -> str | None:
    """Build one image; returns None on success, else gcc's diagnostics."""
    try:
        # The project's own guests must be warning-free, like the host's C.
        flags = [f"-{job.opt}", "-Wall", "-Wextra", "-Werror", *job.cflags]
        cc.compile_guest(list(job.inputs), job.output, flags,
                         job.target, capture=True)
    except cc.CcError as exc:
        return f"{exc}\n{exc.diagnostics}".rstrip()
    except OSError as exc:    # one broken job must not stop the others
        return f"cannot build {job.name}: {exc}"
    return None


def build_all(
    images_dir: Path = IMAGES_DIR,
    build_dir: Path | None = None,
    *,
    jobs: int | None = None,
    clean: bool = False,
    kinds: Iterable[str] | None = None,
    patterns: Sequence[str] = (),
    check: bool = False,
    progress=None,
) -> BuildReport:
    """Build every stale image and return a BuildReport.

    jobs: parallel compilers (default: CPU count).  clean: delete build_dir
    first.  kinds/patterns: see plan().  check: raise BuildError if anything
    failed.  progress: optional callable(job, error_or_None) called as each
    build finishes.
    """
    build_dir = build_dir or images_dir / "build"
    if clean and build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    report = BuildReport()
    toolchain = _toolchain_mtime()
    todo = []
    for job in plan(images_dir, build_dir, kinds, patterns):
        (todo if is_stale(job, toolchain) else report.up_to_date).append(job)
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        for job, error in zip(todo, pool.map(run_job, todo), strict=True):
            (report.built.append(job) if error is None else report.failed.append((job, error)))
            if progress is not None:
                progress(job, error)
    if check and not report.ok:
        names = ", ".join(job.name for job, _ in report.failed)
        raise BuildError(f"{len(report.failed)} image(s) failed to build: {names}")
    return report


def _print_summary(console, report: BuildReport, build_dir: Path) -> None:
    for job, error in report.failed:
        console.print(f"[bold red]FAILED[/] {job.name} ({job.source.name})")
        console.print(error, markup=False, highlight=False)
    style = "red" if report.failed else "green"
    console.print(
        f"[{style}]{len(report.built)} built, {len(report.up_to_date)} up to date, "
        f"{len(report.failed)} failed[/] -> {build_dir}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the hv guest images.")
    parser.add_argument("--clean", action="store_true", help="delete images/build first")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="parallel builds")
    parser.add_argument("-v", "--verbose", action="store_true", help="list each image built")
    parser.add_argument("patterns", nargs="*", help="only outputs matching these globs")
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console(stderr=True)

    def progress(job: Job, error: str | None) -> None:
        if args.verbose and error is None:
            console.print(f"built {job.name}", highlight=False)

    try:
        report = build_all(jobs=args.jobs, clean=args.clean, patterns=args.patterns,
                           progress=progress)
    except (BuildError, cc.CcError) as exc:
        console.print(f"build.py: error: {exc}", markup=False, highlight=False)
        return 1
    _print_summary(console, report, BUILD_DIR)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
