"""The farm inventory: which nodes exist, read from `farm.toml`.

A farm has QEMU nodes that it boots itself from the node image, and/or
existing SSH hosts.  With no file at all the embedded default applies: two
local QEMU nodes.  Every mistake in the file is one line naming the file,
the table and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hv.errors import HvError

__all__ = ["DEFAULT", "Inventory", "InventoryError", "QemuNode", "SshHost", "load_inventory",
           "parse_inventory"]

DEFAULT = """\
# The embedded default: two local i386 QEMU nodes.
[[qemu]]
name = "node"
count = 2
memory_mib = 512
"""


class InventoryError(HvError):
    """A problem with farm.toml; the message names the file and the key."""


@dataclass(frozen=True)
class QemuNode:
    """A node the farm boots itself under qemu-system-i386."""

    name: str
    memory_mib: int = 512
    image: str = "default"
    kind: str = "qemu"


@dataclass(frozen=True)
class SshHost:
    """An existing machine reached over SSH."""

    name: str
    host: str
    port: int = 22
    user: str = "root"
    key: str | None = None
    python: str = "python3"
    known_hosts: str | None = None    # default: the user's ~/.ssh/known_hosts
    kind: str = "ssh"


@dataclass(frozen=True)
class Inventory:
    source: str
    nodes: tuple[QemuNode | SshHost, ...]

    @property
    def qemu_nodes(self) -> tuple[QemuNode, ...]:
        return tuple(n for n in self.nodes if isinstance(n, QemuNode))

    @property
    def ssh_hosts(self) -> tuple[SshHost, ...]:
        return tuple(n for n in self.nodes if isinstance(n, SshHost))


# Each table's keys: name -> (type, required).
_QEMU_KEYS = {"name": (str, False), "count": (int, False), "memory_mib": (int, False),
              "image": (str, False)}
_SSH_KEYS = {"name": (str, True), "host": (str, True), "port": (int, False),
             "user": (str, False), "key": (str, False), "python": (str, False),
             "known_hosts": (str, False)}
_MEMORY_RANGE = (128, 4096)         # what a 32-bit PC guest can use sensibly


def load_inventory(path: str | Path | None = None) -> Inventory:
    """Read `path` (farm.toml); with None, the embedded default."""
    if path is None:
        return parse_inventory(DEFAULT, "<embedded default>")
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_inventory(text, str(path))


def parse_inventory(text: str, source: str) -> Inventory:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"qemu", "ssh"})
    if unknown:
        raise InventoryError(f"{source}: unknown table {unknown[0]!r} "
                             "(known: [[qemu]], [[ssh]])")
    nodes: list[QemuNode | SshHost] = []
    for n, table in enumerate(_tables(doc, "qemu", source), 1):
        nodes += _qemu_nodes(table, f"{source}: [[qemu]] #{n}")
    for n, table in enumerate(_tables(doc, "ssh", source), 1):
        nodes.append(_ssh_host(table, f"{source}: [[ssh]] #{n}"))
    if not nodes:
        raise InventoryError(f"{source}: no nodes (add a [[qemu]] or [[ssh]] table)")
    names = [node.name for node in nodes]
    dupes = sorted({name for name in names if names.count(name) > 1})
    if dupes:
        raise InventoryError(f"{source}: node name {dupes[0]!r} is used more than once")
    seen: dict[tuple[str, int, str], str] = {}
    for host in (n for n in nodes if isinstance(n, SshHost)):
        other = seen.setdefault((host.host, host.port, host.user), host.name)
        if other != host.name:
            raise InventoryError(f"{source}: [[ssh]] {host.name!r} is the same "
                                 f"{host.user}@{host.host}:{host.port} as {other!r}")
    return Inventory(source, tuple(nodes))


def _tables(doc: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    tables = doc.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InventoryError(f"{source}: {key!r} must be an array of tables ([[{key}]])")
    return tables


def _checked(table: dict[str, Any], keys: dict[str, tuple[type, bool]], where: str) -> None:
    for key, value in table.items():
        if key not in keys:
            raise InventoryError(f"{where}: unknown key {key!r} "
                                 f"(known: {', '.join(sorted(keys))})")
        want = keys[key][0]
        if not isinstance(value, want) or isinstance(value, bool):
            raise InventoryError(f"{where}: {key} must be {want.__name__}, "
                                 f"not {type(value).__name__}")
    for key, (_, required) in keys.items():
        if required and key not in table:
            raise InventoryError(f"{where}: missing key {key!r}")


def _qemu_nodes(table: dict[str, Any], where: str) -> list[QemuNode]:
    _checked(table, _QEMU_KEYS, where)
    count = table.get("count", 1)
    if not 1 <= count <= 64:
        raise InventoryError(f"{where}: count must be between 1 and 64, not {count}")
    memory = table.get("memory_mib", 512)
    if not _MEMORY_RANGE[0] <= memory <= _MEMORY_RANGE[1]:
        raise InventoryError(f"{where}: memory_mib must be between {_MEMORY_RANGE[0]} and "
                             f"{_MEMORY_RANGE[1]}, not {memory}")
    prefix = table.get("name", "node")
    image = table.get("image", "default")
    return [QemuNode(f"{prefix}-{k}", memory, image) for k in range(1, count + 1)]


def _ssh_host(table: dict[str, Any], where: str) -> SshHost:
    _checked(table, _SSH_KEYS, where)
    port = table.get("port", 22)
    if not 1 <= port <= 65535:
        raise InventoryError(f"{where}: port must be between 1 and 65535, not {port}")
    return SshHost(table["name"], table["host"], port, table.get("user", "root"),
                   table.get("key"), table.get("python", "python3"), table.get("known_hosts"))
