"""A flag that reporting threads raise and the host's thread waits for."""

from __future__ import annotations

import contextlib
import threading


class Wakeup:
    """What :class:`threading.Event` does here, on one lock instead of a Condition.

    Waiting consumes the flag, so a loop of "work, then wait" never misses a raise that came during
    the work. Every operation is a single C call, which matters once per finished task.
    """

    __slots__ = ("_lowered",)

    def __init__(self) -> None:
        self._lowered = threading.Lock()
        self._lowered.acquire()  # held while the flag is down

    def set(self) -> None:
        """Raise the flag (from any thread); raising a raised flag does nothing."""
        with contextlib.suppress(RuntimeError):  # released already: the flag is up
            self._lowered.release()

    def clear(self) -> None:
        """Lower the flag."""
        self._lowered.acquire(False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is raised or ``timeout`` seconds pass; lower it; return whether it
        was raised."""
        return self._lowered.acquire(True, -1 if timeout is None else timeout)
