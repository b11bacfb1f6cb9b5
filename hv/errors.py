"""The exceptions hv raises for problems the user can fix.

Guest misbehaviour is not an exception: a killed guest is a normal result
(`Exit.reason`).  Host failures inside the extension surface as ordinary
Python exceptions (MemoryError, OSError, ...).
"""

from __future__ import annotations

__all__ = ["HvError", "ImageError"]


class HvError(Exception):
    """Base class of hv's own errors."""


class ImageError(HvError):
    """An image was refused before it ran.

    The message names the file and the problem, e.g.
    ``images/build/x.elf: segment 1 at 0x00080000 lies below 1 MiB``.
    """
