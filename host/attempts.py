"""Attempts: each hand-over of a task to a backend, under an id fixed before the backend sees it."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exechost.tasks import TaskKey


def new_attempt_id() -> str:
    """A new attempt id, unique across hosts and runs: a UUID version 7 as text.

    Its first 48 bits are the time in milliseconds, so ids made later sort later: the journal's
    attempts (keyed by id) then grow at their end instead of being inserted all over the file.
    The other 74 bits are random.
    """
    return _text(_uuid7(int.from_bytes(os.urandom(10), "big")))


class NumberedAttemptIds:
    """Attempt ids for numbered tasks, made once for many: a :func:`new_attempt_id` whose last
    40 random bits are replaced by the task's number (as unique: the rest is random and the time
    of this object's making; ordered like the numbers).

    The journal gives each task's first attempt such an id when it records the task, so that
    handing the attempt over later needs no second write to the task.
    """

    __slots__ = ("_base",)

    _NUMBER_BITS = 40

    def __init__(self) -> None:
        random = int.from_bytes(os.urandom(10), "big")
        self._base = _uuid7(random) >> self._NUMBER_BITS << self._NUMBER_BITS

    def __call__(self, number: int) -> str:
        """The id for the task numbered ``number`` (its low 40 bits count)."""
        return _text(self._base | number & ((1 << self._NUMBER_BITS) - 1))


def _uuid7(random: int) -> int:
    """A UUID version 7 of the time now and 74 of the bits of ``random``."""
    return (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version 7
        | (random >> 68) << 64  # 12 random bits
        | 0b10 << 62  # the RFC 9562 variant
        | random & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
    )


def _text(value: int) -> str:
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt at a task, as the journal keeps it and :func:`executor_adopt` receives it."""

    key: TaskKey
    attempt_id: str
    """The id given to ``executor_execute_async`` for this attempt."""
    number: int
    """1 for the task's first attempt, 2 for its first retry..."""
    command: tuple[str, ...]
    queue: str | None
    executor_config: Mapping[str, Any]
    external_id: str | None = None
    """What ``executor_execute_async`` returned, if the host recorded it before it stopped."""
    started_at: float | None = None
    """When the host handed the attempt to its backend (``time.time()``)."""
