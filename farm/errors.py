"""The base of farm's own errors: one line for the user, never a traceback."""

from __future__ import annotations

from hv.errors import HvError

__all__ = ["FarmError"]


class FarmError(HvError):
    """A farm problem the user can fix; the message is one line that says what and where."""
