"""Attempts: each hand-over of a task to a backend, under an id fixed before the backend sees it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exechost.tasks import TaskKey


def new_attempt_id() -> str:
    """A new attempt id: a random UUID as text, unique across hosts and runs."""
    return str(uuid.uuid4())


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
