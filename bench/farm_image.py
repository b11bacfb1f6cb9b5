"""How long the farm node image takes to build, cold and cached, and to boot.

    sudo python bench/farm_image.py [--dir DIR] [--keep] [--no-boot] [--json OUT]

Cold: `farm.image.ensure_image()` with FARM_CACHE pointing at a new, empty
directory (under --dir, default the system temp dir), so everything is done:
ssh-keygen, the i686 wheel download, debootstrap and apt (their downloads
included), the builder chroot, hv's wheel, the venv, the initrd, mkfs.
Cached: a second `ensure_image()` in the same cache (the key is computed and
image.json read).  Boot: unless --no-boot, the image is booted once under
qemu-system-i386 (TCG, -cpu max, -snapshot) and timed to the SSH banner and
to the end of a first `ssh ... true`.  The temporary cache is removed unless
--keep.  Needs root, like building the image.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from farm import image as farm_image  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot_to_ssh(img: farm_image.NodeImage, run_dir: Path, timeout: float = 120.0) -> dict:
    """Boot one node; seconds from qemu start to the SSH banner and to a finished `ssh true`."""
    port = free_port()
    known_hosts = run_dir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {img.host_key}\n")
    argv = ["qemu-system-i386", "-M", "pc", "-m", "512", "-cpu", "max", "-accel", "tcg",
            "-nodefaults", "-display", "none", "-snapshot",
            "-kernel", str(img.kernel), "-initrd", str(img.initrd),
            "-append", f"{img.append} farm.name=bench-1",
            "-drive", f"file={img.disk},if=virtio,format=raw",
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
            "-device", "virtio-net-pci,netdev=n0,romfile=",
            "-serial", f"file:{run_dir / 'console.log'}"]
    ssh = ["ssh", "-i", str(img.key), "-p", str(port), "-o", "BatchMode=yes",
           "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
           "-o", "KexAlgorithms=curve25519-sha256", "-o", "ConnectTimeout=10", "root@127.0.0.1"]
    start = time.monotonic()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        # The forwarded port accepts at once; only the banner says sshd is there.
        while True:
            if qemu.poll() is not None:
                raise RuntimeError(f"qemu exited with status {qemu.returncode}")
            if time.monotonic() - start > timeout:
                raise RuntimeError(f"no SSH banner after {timeout:.0f} s")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.settimeout(1)
                    if s.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        banner = time.monotonic() - start
        out = subprocess.run([*ssh, "hostname"], capture_output=True, text=True)
        first = time.monotonic() - start
        if out.returncode != 0 or out.stdout.strip() != "bench-1":
            raise RuntimeError(f"ssh failed: {out.stderr.strip() or out.stdout.strip()}")
        t0 = time.monotonic()
        subprocess.run([*ssh, "true"], check=True)
        warm = time.monotonic() - t0
    finally:
        qemu.kill()
        qemu.wait()
    return {"banner": banner, "first_ssh": first, "warm_ssh": warm}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the temporary cache goes (default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cache")
    parser.add_argument("--no-boot", action="store_true", help="do not boot the image")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    console = Console()

    cache = Path(tempfile.mkdtemp(prefix="farm-image-bench-", dir=args.dir))
    os.environ["FARM_CACHE"] = str(cache)
    figures: dict = {"cache": str(cache)}
    try:
        t0 = time.monotonic()
        img = farm_image.ensure_image(console)
        figures["cold"] = time.monotonic() - t0
        t0 = time.monotonic()
        again = farm_image.ensure_image(console)
        figures["cached"] = time.monotonic() - t0
        assert again == img
        meta = json.loads((img.disk.parent / "image.json").read_text())
        figures["steps"] = meta["steps"]
        figures["disk_allocated_mib"] = meta["disk_allocated_bytes"] / 2**20
        figures["initrd_mib"] = img.initrd.stat().st_size / 2**20
        figures["wheel_sha256"] = img.wheel_sha256
        if not args.no_boot:
            figures["boot"] = boot_to_ssh(img, cache)
    finally:
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)

    table = Table(title="farm node image")
    table.add_column("what")
    table.add_column("time", justify="right")
    for title, seconds in figures["steps"]:
        table.add_row(f"  {title}", "cached" if seconds is None else f"{seconds:.1f} s")
    table.add_row("[bold]cold build (empty FARM_CACHE)", f"[bold]{figures['cold']:.1f} s")
    table.add_row("[bold]cached ensure_image()", f"[bold]{figures['cached'] * 1000:.1f} ms")
    if "boot" in figures:
        boot = figures["boot"]
        table.add_row("boot to SSH banner", f"{boot['banner']:.1f} s")
        table.add_row("boot to first `ssh hostname` done", f"{boot['first_ssh']:.1f} s")
        table.add_row("one warm `ssh true`", f"{boot['warm_ssh']:.1f} s")
    console.print(table)
    console.print(f"disk allocated {figures['disk_allocated_mib']:.0f} MiB (2 GiB sparse), "
                  f"initrd {figures['initrd_mib']:.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
