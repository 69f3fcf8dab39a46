"""Calling a backend's hook with a deadline, so that a backend that never returns cannot hang the
host: the hook runs on another thread, and the host stops waiting for it at the deadline.

A hook that missed its deadline is abandoned, not stopped (Python cannot stop a thread): its thread
is a daemon, which does not keep the process alive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

Call = Callable[[], object]


class HookThread:
    """A thread that runs one call at a time for its caller, who waits for each up to a deadline.

    For a hook called at every heartbeat: the thread is started once and reused, so a call costs
    two thread switches, not a thread's creation.
    """

    def __init__(self, name: str) -> None:
        """:param name: the thread's name, for debuggers and thread dumps."""
        self._requests: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
        self._done = threading.Semaphore(0)
        self._error: BaseException | None = None
        self._in_flight = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, function: Call, timeout: float) -> bool:
        """Run ``function`` on the thread; wait up to ``timeout`` seconds for it to return.

        :returns: whether it returned in time; if not, it is still running (see :meth:`settle`).
        :raises: what ``function`` raised.
        """
        self._in_flight = True
        self._requests.put(function)
        return self._collect(timeout)

    def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a call still running (one whose caller was
        interrupted, or stopped waiting); return whether none is running any more.

        What the call raised is dropped: its caller has gone.
        """
        if not self._in_flight:
            return True
        try:
            return self._collect(timeout)
        except Exception:
            return True

    def stop(self) -> None:
        """Let the thread end once it has finished the call it may be running."""
        self._requests.put(None)

    def _collect(self, timeout: float) -> bool:
        if not self._done.acquire(timeout=timeout):
            return False
        self._in_flight = False
        error, self._error = self._error, None
        if error is not None:
            raise error
        return True

    def _serve(self) -> None:
        while (function := self._requests.get()) is not None:
            try:
                function()
            except BaseException as exc:  # handed to the caller, whatever it is
                self._error = exc
            self._done.release()


def call_once(function: Call, timeout: float, name: str) -> bool:
    """Run ``function`` on a new thread named ``name``; wait up to ``timeout`` seconds for it.

    :returns: whether it returned in time; if not, it is abandoned, still running.
    :raises: what ``function`` raised.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:  # handed to the caller, whatever it is
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return False
    if errors:
        raise errors[0]
    return True
