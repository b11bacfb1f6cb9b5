"""Turning the inventory into files with the jinja2 templates in farm/templates/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2

from farm.inventory import Inventory, QemuNode

__all__ = ["NodeImage", "SshEntry", "qemu_args", "ssh_config"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                          autoescape=False)


@dataclass(frozen=True)
class NodeImage:
    """The node image's three files."""

    kernel: Path
    initrd: Path
    disk: Path


@dataclass(frozen=True)
class SshEntry:
    """One Host block of the generated ssh_config."""

    name: str
    host: str
    port: int
    user: str
    key: str | None
    disposable: bool


KERNEL_ARGS = "root=/dev/vda rw console=ttyS0 quiet"


def qemu_args(node: QemuNode, image: NodeImage, port: int, run_dir: Path,
              qemu: str = "qemu-system-i386", append: str = KERNEL_ARGS) -> list[str]:
    """The argv that boots `node`, with sshd reachable on 127.0.0.1:`port`."""
    text = _env.get_template("qemu.args.j2").render(node=node, image=image, port=port,
                                                    run_dir=run_dir, qemu=qemu, append=append)
    return [line for line in text.splitlines() if line]


def ssh_config(inventory: Inventory, entries: list[SshEntry]) -> str:
    return _env.get_template("ssh_config.j2").render(inventory=inventory, entries=entries)
