"""The ``with`` protocol shared by everything that starts, ends and terminates."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TypeVar

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
