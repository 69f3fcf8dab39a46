"""Task keys and commands: what a task is, and the checks made when one is queued."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from exechost.errors import InvalidTaskError

TaskKey: TypeAlias = "str | tuple[str | int, ...]"
"""A task's key: a string, or a tuple of strings and ints (e.g. ``("dag", "task", 3)``)."""

_EMPTY_CONFIG: Mapping[str, Any] = {}


def check_key(key: object) -> None:
    """Raise :class:`InvalidTaskError` unless ``key`` is a valid :data:`TaskKey`."""
    if type(key) is str:
        return
    if type(key) is tuple and key and all(type(part) in (str, int) for part in key):
        return
    raise InvalidTaskError(
        f"task key {key!r} is not valid: a key is a string, or a non-empty tuple of strings and "
        "ints (booleans, floats and nested tuples are not allowed)"
    )


def check_command(key: TaskKey, command: object) -> None:
    """Raise :class:`InvalidTaskError` unless ``command`` is a non-empty argv of strings."""
    if isinstance(command, str | bytes):
        raise InvalidTaskError(
            f"task {key!r}: command must be a list of strings (argv), not a "
            f"{type(command).__name__}; it is never run through a shell. "
            f"Write ['sh', '-c', {command!r}] for shell syntax."
        )
    if (
        not isinstance(command, Sequence)
        or not command
        or not all(type(arg) is str for arg in command)
    ):
        raise InvalidTaskError(
            f"task {key!r}: command must be a non-empty list of strings (argv), got {command!r}"
        )


def check_executor_config(key: TaskKey, executor_config: object) -> Mapping[str, Any]:
    """Return the task's options, an empty mapping for ``None``; refuse what is not a mapping."""
    if executor_config is None:
        return _EMPTY_CONFIG
    if not isinstance(executor_config, Mapping) or not all(
        type(name) is str for name in executor_config
    ):
        raise InvalidTaskError(
            f"task {key!r}: executor_config must be a mapping with string keys, "
            f"got {executor_config!r}"
        )
    return executor_config


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """A task waiting in an executor's queue."""

    key: TaskKey
    command: Sequence[str]
    priority: int
    queue: str | None
    executor_config: Mapping[str, Any]
    retries: int = 0
    """How many more attempts the task may have after a failed one."""
    retry_delay: float = 0.0
    """Seconds between a failed attempt and the next."""
    attempt: int = 1
    """The number of the attempt this queued task will be: 1, then 2 for the first retry..."""
    options: Any = None
    """``executor_config`` parsed into the backend's
    :attr:`Capabilities.executor_config <exechost.hookspecs.Capabilities.executor_config>`
    dataclass when the task was queued (the backend gets it as ``options``), or ``None`` when the
    backend declares none (API 1.1)."""
