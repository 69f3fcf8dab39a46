"""Task states, what is known about a task, and the events that report both."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple


class TaskState(str, enum.Enum):
    """A task's state; each member equals its string value (``TaskState.SUCCESS == "success"``)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    """An attempt failed and the task is queued again for another (its ``retries`` allow it)."""

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """Whether the state is terminal (success or failed)."""
        return self in _FINISHED


_FINISHED = frozenset({TaskState.SUCCESS, TaskState.FAILED})


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What is known about one task. Every field is optional; backends fill what they know.

    Times are Unix timestamps (``time.time()``).
    """

    returncode: int | None = None
    """The command's exit status, or ``None`` if it did not run to an exit (or is still running)."""
    error: str | None = None
    """Why the task failed (``"timeout"``, an OS error, a lost worker), or ``None``."""
    log: str | None = None
    """Where the task's output is: a file path or a URL."""
    external_id: str | None = None
    """The backend's id for the task (a PID, a Celery task id), as returned by the backend."""
    started_at: float | None = None
    """When the host handed the task to its backend."""
    ended_at: float | None = None
    """When the host learnt that the task had finished."""
    attempt_id: str | None = None
    """The id of the attempt this info is about (see :class:`exechost.Attempt`); set by the host."""
    attempt: int | None = None
    """The attempt's number: 1 for the first, 2 for the first retry...; set by the host."""

    @property
    def duration(self) -> float | None:
        """Seconds from ``started_at`` to ``ended_at``, when both are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class Event(NamedTuple):
    """One state change of a task, as kept in the event buffer."""

    state: TaskState
    info: TaskInfo
