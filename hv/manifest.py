"""Record and replay: a run's manifest, and running it again from one.

A manifest (docs/debugging.md, "Record and replay") is a JSON object that
says what a run was given (the image, its RAM, command line, modules,
disks, serial input, clock, limits and options, each input file with its
sha256) and what came out (status, kill reason, instruction count, console
sha256).  Under the virtual clock the same inputs give the same run, so a
manifest is enough to rerun a failure on another machine and check that it
is the same failure.

- `inputs(guest)` is taken before a run (a disk changes while it runs),
  `record()` adds the limits and output files at its end, and `build()` the
  results.  hv.guest does the first two for every run; `hv.Exit.manifest`
  calls build().
- `load()` reads a manifest file, `prepare()` checks its inputs against
  their hashes and turns it into hv.run() keyword arguments, and
  `differences()` compares the rerun with the recording.  `hv replay`
  (hv.cli) is those three; a debugger front end can reuse `prepare()`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hv.errors import HvError

if TYPE_CHECKING:
    from pathlib import Path

# Every run records (inputs(), record()); few write, load or replay a
# manifest.  So json, pathlib, shutil and tempfile are imported by the
# functions that use them: a one-shot `hv run` would spend a few ms of its
# start-up on them (bench/README.md, "one-shot hv run").

__all__ = ["FORMAT", "VERSION", "Replay", "ReplayError", "build", "differences", "inputs",
           "load", "outcome", "prepare", "record", "write"]

FORMAT = "hv-manifest"
VERSION = 1
#: Serial input up to this size is kept in the manifest itself (base64).
SERIAL_INLINE_MAX = 16 << 10
#: Disks bigger than this (and host block devices) are not hashed: too slow per run.
DISK_HASH_MAX = 1 << 30
#: A replay's wall-clock limit is the recorded one times this: it only stops a
#: replay that never ends, and the replay may run on a slower or busier machine.
TIMEOUT_SLACK = 10
_SHOWN_HASH = 12                    # hex digits of a sha256 in messages


class ReplayError(HvError):
    """A manifest cannot be replayed: an input is missing or changed, or it is unreadable.

    The message names the input, e.g. ``image guest.elf changed since the
    recording (sha256 3f2a..., recorded 9c41...)``.
    """


# ---- hashing, cached per file identity ----

_digests: dict[str, tuple[tuple[int, ...], str]] = {}


def file_sha256(path: str, limit: int | None = None) -> str | None:
    """The file's sha256 (hex), or None if it cannot be read or is over `limit` bytes.

    Cached per path and (device, inode, size, mtime), so hashing an image
    costs one stat() per run after the first.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or (limit is not None and st.st_size > limit):
        return None
    stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _digests.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    _digests[path] = (stamp, digest.hexdigest())
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- recording ----

def inputs(guest: Any) -> dict[str, Any]:
    """Before `guest` runs: its input files' paths and hashes.

    Only what may change during the run is looked at now; the rest of the
    Guest (immutable) is described by build(), when a manifest is asked for.
    """
    image_path = os.path.abspath(guest.image.path)
    return {"guest": guest, "image": {"path": image_path, "sha256": file_sha256(image_path)},
            "modules": [_module(path, text) for path, text in guest.modules],
            "devices": [_device(index, device) for index, device in enumerate(guest.devices)]}


def _serial_input_entry(data: bytes) -> dict[str, Any]:
    entry = {"length": len(data), "sha256": _sha256(data), "path": None}
    if len(data) <= SERIAL_INLINE_MAX:
        entry["base64"] = base64.b64encode(data).decode()
    return entry


def _text(key: str, data: bytes) -> dict[str, str]:
    """`key`: the bytes as text if they are UTF-8, else `key`_base64."""
    try:
        return {key: data.decode()}
    except UnicodeDecodeError:
        return {f"{key}_base64": base64.b64encode(data).decode()}


def _bytes(entry: dict[str, Any], key: str) -> bytes:
    if f"{key}_base64" in entry:
        return base64.b64decode(entry[f"{key}_base64"])
    return str(entry.get(key, "")).encode()


def _module(path: str, text: bytes) -> dict[str, Any]:
    # The kernel sees "PATH CMDLINE"; the manifest keeps the two apart.
    cmdline = text[len(os.fsencode(path)) + 1:]
    return {"path": os.path.abspath(path), "given": path, **_text("cmdline", cmdline),
            "sha256": file_sha256(os.path.abspath(path))}


def _device(index: int, device: Any) -> dict[str, Any]:
    from hv.devices import BlockDevice

    if isinstance(device, BlockDevice):
        path = os.path.abspath(device.path)
        return {"index": index, "kind": "block", "name": device.name, "path": path,
                "readonly": device.readonly, "sectors": device.sectors,
                "sha256": file_sha256(path, DISK_HASH_MAX)}
    kind = type(device)
    return {"index": index, "kind": "python", "name": device.name,
            "class": f"{kind.__module__}.{kind.__qualname__}"}


def record(taken: dict[str, Any], *, timeout: float | None, max_instructions: int | None,
           serial: str | None, debugcon: str | None) -> dict[str, Any]:
    """At the end of a run: `taken` (from inputs()) with the limits and the output files.

    Returns build()'s keyword arguments other than the results.
    """
    devices = []
    for device in taken["devices"]:
        if device["kind"] == "block" and not device["readonly"]:
            # What the run left on the disk: tells "the run wrote it" from "it was changed".
            device = {**device, "sha256_after": file_sha256(device["path"], DISK_HASH_MAX)}
        devices.append(device)
    return {"recorded": {**taken, "devices": devices,
                         "serial": None if serial is None else _output(serial),
                         "debugcon": None if debugcon is None else _output(debugcon),
                         "timeout": timeout, "max_instructions": max_instructions}}


def build(recorded: dict[str, Any], *, status: int | None, reason: str | None,
          console: bytes, instructions: int, results: tuple[Any, ...],
          version: str) -> dict[str, Any]:
    """The whole manifest: what record() kept, and the results."""
    import json

    guest = recorded["guest"]
    kept = json.loads(json.dumps({k: v for k, v in recorded.items() if k != "guest"}))
    return {
        "format": FORMAT,
        "version": VERSION,
        "hv": version,
        "image": kept["image"],
        "memory_mib": guest.memory_mib,
        **_text("cmdline", guest.cmdline),
        "switcher": guest.switcher,
        "clock": guest.clock,
        "modules": kept["modules"],
        "devices": kept["devices"],
        "serial_input": _serial_input_entry(guest.serial_input),
        "qemu_exit": guest.qemu_exit,
        **{key: kept[key] for key in ("serial", "debugcon", "timeout", "max_instructions")},
        "result": {
            "status": status,
            "reason": reason,
            "instructions": instructions,
            "console_sha256": _sha256(console),
            "console_length": len(console),
            "test_results": [r.outcome for r in results],
        },
    }


def _output(path: str) -> dict[str, Any]:
    path = os.path.abspath(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    return {"path": path, "sha256": file_sha256(path), "length": size}


def write(manifest: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write `manifest` as indented JSON (the directory must exist)."""
    import json

    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


# ---- replaying ----

def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a manifest file; ReplayError if it is not one this hv understands."""
    import json

    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except OSError as exc:
        raise ReplayError(f"{os.fspath(path)}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReplayError(f"{os.fspath(path)}: not a manifest (bad JSON: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReplayError(f"{os.fspath(path)}: not an hv manifest (no \"format\": \"{FORMAT}\")")
    if manifest.get("version") != VERSION:
        raise ReplayError(f"{os.fspath(path)}: manifest version {manifest.get('version')!r}; "
                          f"this hv reads version {VERSION}")
    missing = [key for key in _REQUIRED if key not in manifest]
    missing += [f"result.{key}" for key in _REQUIRED_RESULT
                if key not in (manifest.get("result") or {})]
    if missing:
        raise ReplayError(f"{os.fspath(path)}: incomplete manifest: no {', '.join(missing)}")
    return manifest


# What prepare() and differences() read; anything else is optional.
_REQUIRED = ("image", "memory_mib", "switcher", "clock", "modules", "devices", "serial_input",
             "qemu_exit", "timeout", "max_instructions", "result")
_REQUIRED_RESULT = ("status", "reason", "instructions", "console_sha256", "console_length")


@dataclass
class Replay:
    """A manifest made ready to run: `hv.run(**replay.kwargs)`.

    kwargs: hv.run() keyword arguments, the image included (its disks open).
    warnings: what will not be the same as in the recording, one line each.
    notes: how the replay differs from a plain rerun, one line each.
    outputs: where this run's serial/debugcon files go (temporary files).
    exact: False under the host clock: only status and reason can be compared.
    stopped_early: stop_at ends the run before the recording ended.
    """

    kwargs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    exact: bool = True
    stopped_early: bool = False


@contextlib.contextmanager
def prepare(manifest: dict[str, Any], base: str | os.PathLike[str], *,
            image: str | None = None, stop_at: int | None = None,
            timeout: float | None = None, switcher: str | None = None) -> Iterator[Replay]:
    """Check the manifest's inputs and yield the Replay that reruns it.

    base: the manifest's directory; a recorded path that does not exist is
        looked for there (as recorded if relative, then by its file name).
    image: run this image instead of the recorded path (its sha256 must match).
    stop_at: stop at this instruction count (the run is killed with "timeout").
    timeout: the wall-clock limit (default: the recorded one, times TIMEOUT_SLACK).
    switcher: run under this switcher instead (every switcher gives the same
        results, docs/abi.md; a note says so).
    Raises ReplayError naming the first input that is missing or changed.
    Writable disks are replayed on temporary copies, so a replay leaves them
    as they are and can be repeated.
    """
    import tempfile
    from pathlib import Path

    base = Path(base)
    with tempfile.TemporaryDirectory(prefix="hv-replay-") as scratch, \
            contextlib.ExitStack() as stack:
        replay = Replay({})
        kw = replay.kwargs
        kw["image"] = _checked("image", manifest["image"], base, image)
        kw["memory_mib"] = manifest["memory_mib"]
        kw["cmdline"] = _bytes(manifest, "cmdline")
        kw["switcher"] = switcher or manifest["switcher"]
        if kw["switcher"] != manifest["switcher"]:
            replay.notes.append(f"replaying under switcher {kw['switcher']} (recorded under "
                                f"{manifest['switcher']})")
        kw["clock"] = manifest["clock"]
        kw["qemu_exit"] = manifest["qemu_exit"]
        kw["modules"] = [_replay_module(m, base, replay) for m in manifest["modules"]]
        kw["serial_input"] = _serial_input(manifest["serial_input"], base)
        kw["devices"] = [_replay_device(d, base, Path(scratch), stack)
                         for d in manifest["devices"]]
        for name in ("serial", "debugcon"):
            if manifest.get(name):
                kw[name] = replay.outputs[name] = os.path.join(scratch, name)
        _limits(manifest, replay, stop_at, timeout)
        yield replay


def _resolve(recorded: str, base: Path) -> str | None:
    """The recorded path if it exists, else the same under `base`, else its name in `base`."""
    from pathlib import Path

    for candidate in (Path(recorded), base / recorded, base / Path(recorded).name):
        if candidate.exists():
            return str(candidate)
    return None


def _shown(path: str) -> str:
    """A path as messages show it: relative to the working directory if under it."""
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(path)
        if not relative.startswith(os.pardir):
            return relative
    return path


def _checked(what: str, entry: dict[str, Any], base: Path, override: str | None = None) -> str:
    """The input file's path, once its sha256 is the recorded one."""
    recorded = entry["path"]
    if override is not None and not os.path.exists(override):
        raise ReplayError(f"{what} {override} not found (given instead of the recorded "
                          f"{recorded})")
    path = override if override is not None else _resolve(recorded, base)
    if path is None or not os.path.exists(path):
        hint = " (give its path with --image)" if what == "image" else ""
        raise ReplayError(f"{what} {recorded} not found (also looked in {_shown(str(base))})"
                          f"{hint}")
    want = entry.get("sha256")
    if want is None:
        return path
    have = file_sha256(path)
    if have != want:
        raise ReplayError(f"{what} {_shown(path)} changed since the recording "
                          f"(sha256 {_short(have)}, recorded {_short(want)})")
    return path


def _short(digest: str | None) -> str:
    return "unreadable" if digest is None else digest[:_SHOWN_HASH] + "..."


def _replay_module(entry: dict[str, Any], base: Path, replay: Replay) -> tuple[str, bytes]:
    path = _checked("module", entry, base)
    given = entry.get("given", entry["path"])
    # The kernel sees the path as it was given, in the module's string.
    with contextlib.suppress(OSError):
        if os.path.samefile(given, path):
            return given, _bytes(entry, "cmdline")
    replay.warnings.append(f"module {given} is replayed from {_shown(path)}: the kernel sees "
                           "the new path in the module's string, so the run may differ")
    return path, _bytes(entry, "cmdline")


def _serial_input(entry: dict[str, Any], base: Path) -> bytes:
    path = entry.get("path")
    found = _resolve(path, base) if path else None
    if found is not None:
        with open(found, "rb") as f:
            data = f.read()
        where = f"serial input {_shown(found)}"
    elif "base64" in entry:
        data = base64.b64decode(entry["base64"])
        where = "serial input (kept in the manifest)"
    else:
        what = f"serial input {path}" if path else "serial input"
        raise ReplayError(f"{what} not found, and its {entry['length']} bytes are not kept "
                          "in the manifest")
    if _sha256(data) != entry["sha256"]:
        raise ReplayError(f"{where} changed since the recording (sha256 "
                          f"{_short(_sha256(data))}, recorded {_short(entry['sha256'])})")
    return data


def _replay_device(entry: dict[str, Any], base: Path, scratch: Path,
                   stack: contextlib.ExitStack) -> Any:
    from hv.devices import BlockDevice

    if entry["kind"] != "block":
        raise ReplayError(f"device {entry['index']} ({entry['name']}, {entry.get('class')}) is "
                          "a Python device: hv replay recreates block devices only")
    path = _resolve(entry["path"], base)
    if path is not None and entry.get("sha256") and file_sha256(path) == entry.get(
            "sha256_after") != entry["sha256"]:
        raise ReplayError(f"disk {_shown(path)} holds what the recorded run wrote to it; "
                          f"restore its contents from before the run (sha256 "
                          f"{_short(entry['sha256'])}) to replay")
    path = _checked("disk", entry, base)
    if entry.get("sha256") is None:
        raise ReplayError(f"disk {_shown(path)} was not hashed when recorded (a block device "
                          f"or over {DISK_HASH_MAX >> 20} MiB): hv replay cannot check it")
    if not entry["readonly"]:
        import shutil

        copy = scratch / f"disk{entry['index']}"
        shutil.copyfile(path, copy)
        path = str(copy)
    return stack.enter_context(BlockDevice(path, readonly=entry["readonly"]))


def _limits(manifest: dict[str, Any], replay: Replay, stop_at: int | None,
            timeout: float | None) -> None:
    """The replay's timeout and instruction budget (see docs/debugging.md)."""
    result = manifest["result"]
    budget = manifest.get("max_instructions")
    recorded_timeout = manifest.get("timeout")
    wall_clock_kill = (result["reason"] == "timeout" and recorded_timeout is not None
                       and (budget is None or result["instructions"] < budget))
    if manifest["clock"] == "host":
        replay.exact = False
        replay.warnings.append("recorded with the host clock, which no run can repeat: "
                               "comparing the exit status and kill reason only")
    elif wall_clock_kill:
        # The wall clock killed it at some instruction; the replay stops at the same one.
        budget = result["instructions"]
        recorded_timeout = None
        replay.notes.append(f"the recording's {manifest['timeout']} s timeout stopped it at "
                            f"instruction {budget}: replaying to that instruction")
    if stop_at is not None and (budget is None or stop_at < budget):
        budget = stop_at
        replay.stopped_early = stop_at < result["instructions"] or not replay.exact
    if timeout is None and recorded_timeout is not None:
        timeout = recorded_timeout * TIMEOUT_SLACK
    replay.kwargs["timeout"] = timeout
    replay.kwargs["max_instructions"] = budget


def differences(manifest: dict[str, Any], replay: Replay, ex: Any) -> list[str]:
    """What the rerun `ex` (an hv.Exit) did differently from the recording, one item each."""
    want = manifest["result"]
    found = []
    if ex.status != want["status"] or ex.reason != want["reason"]:
        found.append(f"{outcome(ex.status, ex.reason)} "
                     f"(recorded {outcome(want['status'], want['reason'])})")
    if not replay.exact:
        return found
    if ex.instructions != want["instructions"]:
        found.append(f"instructions {ex.instructions} (recorded {want['instructions']})")
    console = _sha256(ex.console)
    if console != want["console_sha256"]:
        found.append(f"console {len(ex.console)} bytes sha256 {_short(console)} "
                     f"(recorded {want['console_length']} bytes {_short(want['console_sha256'])})")
    for name, path in replay.outputs.items():
        have, recorded = file_sha256(path), manifest[name]["sha256"]
        if have != recorded:
            found.append(f"{name} output sha256 {_short(have)} (recorded {_short(recorded)})")
    return found


def outcome(status: int | None, reason: str | None) -> str:
    """A run's end in words: "exit status 3" or "killed: timeout"."""
    return f"killed: {reason}" if status is None else f"exit status {status}"
