"""The exceptions hv raises for problems the user can fix.

Guest misbehaviour is not an exception: a killed guest is a normal result
(`Exit.reason`).  Host failures inside the extension surface as ordinary
Python exceptions (MemoryError, OSError, ...).
"""

from __future__ import annotations

__all__ = ["DeviceError", "GuestMemoryError", "HvError", "ImageError"]


class HvError(Exception):
    """Base class of hv's own errors."""


class ImageError(HvError):
    """An image was refused before it ran.

    The message names the file and the problem, e.g.
    ``images/build/x.elf: segment 1 at 0x00080000 lies below 1 MiB``.
    """


class DeviceError(HvError):
    """A device could not be set up, e.g. a disk image that cannot be opened.

    The message names the file and the problem, e.g.
    ``disk.img: cannot open: No such file or directory``.
    """


class GuestMemoryError(HvError, ValueError):
    """A device touched guest-physical memory outside the guest's RAM.

    Raised by `bus.read()` / `bus.write()` inside a device's `handle()`.  The
    guest has already been killed (``bad read address 0x... len N`` or
    ``bad write address ...``) when it is raised; let it propagate so the
    device unwinds.  Catching it does not save the guest: the first kill
    reason stays.
    """
