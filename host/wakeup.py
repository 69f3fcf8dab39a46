"""A flag that reporting threads raise and the host's thread waits for, and the file descriptors
that thread may wait on as well."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple


class WaitSource(NamedTuple):
    """A file descriptor that becomes readable when a backend has news, and what collects it."""

    fd: int
    pump: Callable[[], object]
    """Collects the news and reports it to the executor; never blocks."""


class Wakeup:
    """What :class:`threading.Event` does here, on one lock instead of a Condition.

    Waiting consumes the flag, so a loop of "work, then wait" never misses a raise that came during
    the work. Every operation is a single C call, which matters once per finished task.

    A wait may also watch :class:`WaitSource` descriptors: when one is readable, the waiting
    thread calls its ``pump``, whose reports raise the flag. A pipe then carries the raises of
    other threads into that wait.
    """

    __slots__ = ("_lowered", "_pipe")

    def __init__(self) -> None:
        self._lowered = threading.Lock()
        self._lowered.acquire()  # held while the flag is down
        self._pipe: tuple[int, int] | None = None  # made by the first wait on sources

    def set(self) -> None:
        """Raise the flag (from any thread); raising a raised flag does nothing."""
        try:
            self._lowered.release()
        except RuntimeError:  # released already: the flag is up
            return
        pipe = self._pipe
        if pipe is not None:
            with contextlib.suppress(BlockingIOError):  # full of wake-ups already
                os.write(pipe[1], b"x")

    def clear(self) -> None:
        """Lower the flag."""
        self._lowered.acquire(False)

    def wait(self, timeout: float | None = None, sources: Sequence[WaitSource] = ()) -> bool:
        """Wait until the flag is raised or ``timeout`` seconds pass; lower it; return whether it
        was raised.

        :param sources: descriptors to watch meanwhile; each one readable has its ``pump``
            called, in this thread.
        """
        if not sources:
            return self._lowered.acquire(True, -1 if timeout is None else timeout)
        pipe = self._pipe
        if pipe is None:  # before the flag is read: a raise after that read writes to it
            pipe = self._pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        poll = select.poll()
        poll.register(pipe[0], select.POLLIN)
        pumps = {}
        for source in sources:
            poll.register(source.fd, select.POLLIN)
            pumps[source.fd] = source.pump
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._lowered.acquire(False):
            if deadline is None:
                ready = poll.poll()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                ready = poll.poll(remaining * 1000)
            for fd, _ in ready:
                if fd == pipe[0]:
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 4096)
                else:
                    pumps[fd]()
        return True

    def __del__(self) -> None:
        # not sooner: a late report from a backend's thread may still write to it
        pipe = self._pipe
        if pipe is not None:
            os.close(pipe[0])
            os.close(pipe[1])
