"""What the CLI knows of a batch of tasks while it runs, kept from events at a cost per event.

Nothing here walks the tasks of the batch: the counts, the failed tasks and the slowest ones are
updated as each task finishes, so a run of 100,000 tasks costs per task what one of 100 does.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from exechost.events import EventBatch
from exechost.states import TaskInfo, TaskState
from exechost.tasks import TaskKey
from exechost.text import key_json


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one task of the batch ended."""

    key: TaskKey
    executor: str
    state: TaskState
    info: TaskInfo


@dataclass(frozen=True)
class Counts:
    """How many tasks of the batch are in each state."""

    total: int
    queued: int
    """Waiting for a slot, including tasks waiting to be retried."""
    running: int
    succeeded: int
    failed: int

    @property
    def finished(self) -> int:
        """Tasks that succeeded or failed."""
        return self.succeeded + self.failed


class Batch:
    """The tasks of one ``exechost run``, updated from the executors' event buffers.

    :param keep_outcomes: keep every task's outcome (for ``--json``); otherwise only the failed
        and the slowest tasks are kept.
    :param slowest: how many of the slowest tasks to keep.
    """

    def __init__(self, *, keep_outcomes: bool = False, slowest: int = 5) -> None:
        self.total = 0
        self.succeeded = 0
        self.failures: list[Outcome] = []
        self.outcomes: list[Outcome] | None = [] if keep_outcomes else None
        self._queued_order: dict[TaskKey, int] | None = {} if keep_outcomes else None
        self._slowest: list[tuple[float, int, Outcome]] = []  # a min-heap of the slowest
        self._keep_slowest = slowest
        self._order = itertools.count()

    def add(self, key: TaskKey) -> None:
        """Count one more task, queued."""
        if self._queued_order is not None:
            self._queued_order.setdefault(key, self.total)
        self.total += 1

    def apply(self, executor: str, events: EventBatch) -> list[Outcome]:
        """Take in the events of ``executor``; return the tasks that finished, in order."""
        finished = []
        for key, (state, info) in events.transitions:
            if state.finished:  # running, or up for retry: counted from the executors
                finished.append(self.finish(Outcome(key, executor, state, info)))
        return finished

    def finish(self, outcome: Outcome) -> Outcome:
        """Count a task as finished (from an event, or decided without running it)."""
        if outcome.state is TaskState.SUCCESS:
            self.succeeded += 1
        else:
            self.failures.append(outcome)
        if self.outcomes is not None:
            self.outcomes.append(outcome)
        duration = outcome.info.duration
        if duration is not None and self._keep_slowest:
            entry = (duration, next(self._order), outcome)
            if len(self._slowest) < self._keep_slowest:
                heapq.heappush(self._slowest, entry)
            elif duration > self._slowest[0][0]:
                heapq.heapreplace(self._slowest, entry)
        return outcome

    def counts(self, running: int = 0) -> Counts:
        """The number of tasks in each state now.

        :param running: how many tasks the executors hold as running now (the events say when
            an attempt started, not how many of them are still running).
        """
        failed = len(self.failures)
        return Counts(
            total=self.total,
            queued=max(self.total - self.succeeded - failed - running, 0),
            running=running,
            succeeded=self.succeeded,
            failed=failed,
        )

    def slowest(self) -> list[Outcome]:
        """The finished tasks that took longest, slowest first."""
        return [outcome for _, _, outcome in sorted(self._slowest, reverse=True)]

    def as_json(self) -> list[dict[str, object]]:
        """Every finished task's outcome, in the order they were queued, for ``--json``."""
        order = self._queued_order or {}
        outcomes = sorted(self.outcomes or (), key=lambda o: order.get(o.key, len(order)))
        return [
            {
                "key": key_json(o.key),
                "executor": o.executor,
                "state": o.state.value,
                "returncode": o.info.returncode,
                "error": o.info.error,
                "log": o.info.log,
                "external_id": o.info.external_id,
                "started_at": o.info.started_at,
                "ended_at": o.info.ended_at,
                "duration": o.info.duration,
            }
            for o in outcomes
        ]
