"""The attempts a report draws, as :class:`Span`: from a running host's observer, or a journal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from exechost.hookspecs import hookimpl
from exechost.states import TaskInfo, TaskState
from exechost.tasks import TaskKey

if TYPE_CHECKING:
    from exechost.executor import Executor
    from exechost.journal import Journal

_ENDS = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.UP_FOR_RETRY})


@dataclass(frozen=True, slots=True)
class Span:
    """One attempt at a task: from when it was queued, through its start, to its end."""

    key: TaskKey
    executor: str
    state: TaskState
    """How the attempt ended (``up_for_retry`` when another attempt followed), or ``running``,
    or ``queued`` for a task that never started."""
    info: TaskInfo
    """Its times (``started_at``, ``ended_at``), attempt number, exit status, error and log."""
    queued_at: float | None = None
    """When the attempt began to wait for a slot: the task's queueing, or the end of the attempt
    before it; ``None`` when not known (an attempt adopted from an earlier run)."""

    @property
    def waited(self) -> float | None:
        """Seconds from ``queued_at`` to its start (or, never started, to its end)."""
        start = self.info.started_at if self.info.started_at is not None else self.info.ended_at
        if self.queued_at is None or start is None:
            return None
        return max(start - self.queued_at, 0.0)


class Recorder:
    """An observer plugin that keeps every attempt of the executors it is registered on.

    Register it on each executor (``load_executor(..., plugins=[recorder])``, or
    ``executor.hooks.register_observer(recorder)``) before queueing, then pass
    :meth:`spans` to :func:`exechost.report.write_report`. Thread-safe; its cost is a dict
    operation per state change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[tuple[str, TaskKey], float] = {}
        self._started: dict[tuple[str, TaskKey], tuple[float | None, TaskInfo]] = {}
        self._ended: list[Span] = []

    @hookimpl
    def executor_task_queued(self, executor: Executor, key: TaskKey) -> None:
        with self._lock:
            self._queued[(executor.name, key)] = time.time()

    @hookimpl
    def executor_task_state_changed(
        self, executor: Executor, key: TaskKey, state: TaskState, info: TaskInfo
    ) -> None:
        task = (executor.name, key)
        with self._lock:
            if state is TaskState.RUNNING:
                started = self._started.get(task)
                queued_at = self._queued.pop(task, None) if started is None else started[0]
                self._started[task] = (queued_at, info)
            elif state in _ENDS:
                started = self._started.pop(task, None)
                queued_at = self._queued.pop(task, None) if started is None else started[0]
                self._ended.append(Span(key, executor.name, state, info, queued_at))
                if state is TaskState.UP_FOR_RETRY:  # the next attempt waits from now on
                    self._queued[task] = info.ended_at or time.time()

    def spans(self) -> list[Span]:
        """Every attempt so far: those that ended, in the order they did, then those running,
        then the tasks still waiting for their first slot."""
        with self._lock:
            found = list(self._ended)
            for (executor, key), (queued_at, info) in self._started.items():
                found.append(Span(key, executor, TaskState.RUNNING, info, queued_at))
            for (executor, key), queued_at in self._queued.items():
                found.append(Span(key, executor, TaskState.QUEUED, TaskInfo(), queued_at))
        return found


def journal_spans(journal: Journal, run_id: int) -> list[Span]:
    """Every attempt of a journaled run (see :meth:`exechost.journal.Journal.attempts`).

    The journal does not keep when a task was queued: a first attempt is taken to have waited
    from the run's start, a later one from the end of the attempt before it, and an attempt
    adopted from an earlier run (started before this run) from an unknown time.
    """
    run = journal.run(run_id)
    if run is None:
        return []
    spans: list[Span] = []
    previous: tuple[str, TaskKey] | None = None
    for key, executor, state, info in journal.attempts(run_id):
        task = (executor, key)
        queued_at: float | None = run.started_at
        if task == previous:  # a retry: the journal keeps the attempt before it as failed
            before = spans[-1]
            queued_at = before.info.ended_at
            if before.state is TaskState.FAILED:
                spans[-1] = replace(before, state=TaskState.UP_FOR_RETRY)
        elif info.started_at is not None and info.started_at < run.started_at:
            queued_at = None
        spans.append(Span(key, executor, state, info, queued_at))
        previous = task
    return spans
