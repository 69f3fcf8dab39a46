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
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76  # version 7
        | (random >> 68) << 64  # 12 random bits
        | 0b10 << 62  # the RFC 9562 variant
        | random & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
    )
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
