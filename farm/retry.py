"""Poll until something is ready, or give up at a deadline: farm's one waiting loop.

    def banner():
        ...
        raise NotYet("no SSH banner")          # not ready: try again after `interval`

    retry(banner, timeout=120, interval=0.25, what="127.0.0.1:2222: sshd did not answer")
    # gives up with RetryTimeout("127.0.0.1:2222: sshd did not answer within 120 s
    # (no SSH banner)"): `what`, the time allowed and the last try's reason

`fn` is always tried at least once, and once more at the deadline, so a
timeout of 0 means exactly one try.  Any other exception `fn` raises (QEMU
exited, the snapshot failed to load) ends the wait at once, unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from farm.errors import FarmError

__all__ = ["NotYet", "RetryTimeout", "retry"]

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a retried function: not ready yet; its text says why (kept for the timeout)."""


class RetryTimeout(FarmError):
    """retry() gave up: `what` was still not ready after `timeout` seconds; `last` says why."""

    def __init__(self, what: str, timeout: float, last: str) -> None:
        super().__init__(f"{what} within {timeout:g} s ({last})")
        self.what, self.timeout, self.last = what, timeout, last


# What retry() waits with unless told; tests put a fake clock here.
_clock: Callable[[], float] = time.monotonic
_sleep: Callable[[float], object] = time.sleep


def retry(fn: Callable[[], T], *, timeout: float, interval: float, what: str,
          clock: Callable[[], float] | None = None,
          sleep: Callable[[float], object] | None = None) -> T:
    """fn()'s result once it stops raising NotYet; RetryTimeout after `timeout` seconds."""
    clock = clock or _clock
    sleep = sleep or _sleep
    deadline = clock() + timeout
    while True:
        try:
            return fn()
        except NotYet as exc:
            last = str(exc) or "not ready"
        left = deadline - clock()
        if left <= 0:
            raise RetryTimeout(what, timeout, last)
        sleep(min(interval, left))
