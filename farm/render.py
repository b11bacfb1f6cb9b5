"""Turning nodes into files with the jinja2 templates in farm/templates/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import jinja2

from farm.inventory import QemuNode

__all__ = ["Disk", "SshEntry", "qemu_args", "ssh_config"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                          autoescape=False)


class BootImage(Protocol):
    """What the QEMU template needs of a node image (farm.image.NodeImage)."""

    kernel: Path
    initrd: Path
    disk: Path
    append: str


@dataclass(frozen=True)
class SshEntry:
    """One Host block of the generated ssh_config."""

    name: str
    host: str
    port: int
    user: str
    key: str | None
    known_hosts: str | None      # the file that checks its host key (None: ssh's default)
    farm_owned: bool = False     # a QEMU node, with the farm's own host key


@dataclass(frozen=True)
class Disk:
    """The node's disk: a file, its format, and whether writes are thrown away."""

    path: Path
    format: str = "raw"
    snapshot: bool = True


def qemu_args(node: QemuNode, image: BootImage, port: int, run_dir: Path,
              qemu: str = "qemu-system-i386", *, accel: str = "tcg", disk: Disk | None = None,
              boot_name: str | None = None, incoming: str | None = None) -> list[str]:
    """The argv that boots `node`, with sshd reachable on 127.0.0.1:`port`.

    By default it boots the image's own disk, thrown away at exit, under TCG.
    A node snapshot (farm.snapshot) passes its own disk, the name the saved
    machine booted with, and the migration stream to load (`incoming`).
    """
    text = _env.get_template("qemu.args.j2").render(
        node=node, image=image, port=port, run_dir=run_dir, qemu=qemu, accel=accel,
        disk=disk or Disk(image.disk), boot_name=boot_name or node.name, incoming=incoming)
    return [line for line in text.splitlines() if line]


def ssh_config(entries: list[SshEntry], path: Path | str = "ssh_config",
               control_path: str | None = None) -> str:
    return _env.get_template("ssh_config.j2").render(entries=entries, path=path,
                                                     control_path=control_path)
