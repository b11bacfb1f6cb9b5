"""hv: run 32-bit x86 ELF guests in a hypervisor of its own.

    import hv
    ex = hv.run("images/build/hello.elf", timeout=5)
    print(ex.status, ex.console)

    with hv.BlockDevice("disk.img") as disk:        # devices: see hv.devices
        ex = hv.run("images/build/disk_copy.elf", devices=[disk], timeout=5)

The C extension (hv._native) is imported on the first run, so this package
and `hv cc` work before it is built.
"""

from __future__ import annotations

from hv.devices import BlockDevice, Device
from hv.elf import Image, Segment, load_image
from hv.errors import DeviceError, GuestMemoryError, HvError, ImageError
from hv.guest import Exit, Guest, TestResult, run

__all__ = [
    "BlockDevice",
    "Device",
    "DeviceError",
    "Exit",
    "Guest",
    "GuestMemoryError",
    "HvError",
    "Image",
    "ImageError",
    "Segment",
    "TestResult",
    "__version__",
    "load_image",
    "run",
]


def __getattr__(name: str) -> str:
    # Looked up lazily: importlib.metadata is slow to import and rarely needed.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("hv")
        except PackageNotFoundError:
            value = "0.0.0"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module 'hv' has no attribute {name!r}")
