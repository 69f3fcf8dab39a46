"""The ``with`` protocol shared by everything that starts, ends and terminates, and the wait for
everything queued to finish that ending begins with."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, TypeVar

_Self = TypeVar("_Self", bound="LifecycleContext")


class LifecycleContext(abc.ABC):
    """Starts on entering a ``with`` block, ends after it, and terminates when it raises."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def end(self) -> None: ...

    @abc.abstractmethod
    def terminate(self) -> None: ...

    def __enter__(self: _Self) -> _Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end()
        else:
            self.terminate()


class _Heartbeating(Protocol):
    heartbeat_interval: float

    @property
    def idle(self) -> bool: ...

    def heartbeat(self) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def terminate(self) -> None: ...


def heartbeat_until_idle(target: _Heartbeating, clear: Callable[[], None]) -> None:
    """Heartbeat ``target`` until nothing is queued or running, waiting between heartbeats for a
    report or ``heartbeat_interval`` seconds (``target.wait``, whose flag ``clear`` lowers).

    If the wait is interrupted (``KeyboardInterrupt``, ``SystemExit`` from SIGTERM), ``target`` is
    terminated before the exception propagates: nothing may outlive the host.
    """
    try:
        while True:
            clear()
            target.heartbeat()
            if target.idle:
                return
            target.wait(target.heartbeat_interval)
    except BaseException:
        target.terminate()
        raise
