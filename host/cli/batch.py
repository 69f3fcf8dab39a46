"""What the CLI knows of a batch of tasks while it runs: each task's executor, state and info."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from exechost.cli.taskfile import TaskSpec
from exechost.events import EventBatch
from exechost.states import TaskInfo, TaskState
from exechost.tasks import TaskKey


@dataclass
class TaskRecord:
    """One task of the batch."""

    spec: TaskSpec
    executor: str
    state: TaskState = TaskState.QUEUED
    info: TaskInfo = field(default_factory=TaskInfo)


@dataclass(frozen=True)
class Counts:
    """How many tasks of the batch are in each state."""

    total: int
    queued: int
    running: int
    succeeded: int
    failed: int

    @property
    def finished(self) -> int:
        """Tasks that succeeded or failed."""
        return self.succeeded + self.failed


class Batch:
    """The tasks of one ``exechost run``, updated from the executors' event buffers."""

    def __init__(self) -> None:
        self.records: dict[TaskKey, TaskRecord] = {}

    def add(self, spec: TaskSpec, executor: str) -> None:
        """Record a task queued on ``executor``."""
        self.records[spec.key] = TaskRecord(spec, executor)

    def apply(self, events: EventBatch) -> list[TaskRecord]:
        """Take in the events; return the tasks that finished, in the order they did."""
        finished = []
        for key, (state, info) in events.transitions:
            record = self.records[key]
            record.state, record.info = state, info
            if state.finished:
                finished.append(record)
        return finished

    def counts(self, running: Collection[TaskKey] = ()) -> Counts:
        """The number of tasks in each state now.

        :param running: the keys the executors count as running, for the tasks whose backend
            reported no ``running`` state (the host does not put that one in the event buffer).
        """
        by_state = {state: 0 for state in TaskState}
        for record in self.records.values():
            state = record.state
            if state is TaskState.QUEUED and record.spec.key in running:
                state = TaskState.RUNNING
            by_state[state] += 1
        return Counts(
            total=len(self.records),
            queued=by_state[TaskState.QUEUED],
            running=by_state[TaskState.RUNNING],
            succeeded=by_state[TaskState.SUCCESS],
            failed=by_state[TaskState.FAILED],
        )

    def failed(self) -> list[TaskRecord]:
        """The failed tasks, in the order they were queued."""
        return [r for r in self.records.values() if r.state is TaskState.FAILED]

    def slowest(self, count: int) -> list[TaskRecord]:
        """The ``count`` finished tasks that took longest, slowest first."""
        timed = [r for r in self.records.values() if r.info.duration is not None]
        return sorted(timed, key=lambda r: r.info.duration or 0.0, reverse=True)[:count]

    def as_json(self) -> list[dict[str, object]]:
        """Every task's outcome, for ``--json``."""
        return [
            {
                "key": list(r.spec.key) if isinstance(r.spec.key, tuple) else r.spec.key,
                "executor": r.executor,
                "state": r.state.value,
                "returncode": r.info.returncode,
                "error": r.info.error,
                "log": r.info.log,
                "external_id": r.info.external_id,
                "started_at": r.info.started_at,
                "ended_at": r.info.ended_at,
                "duration": r.info.duration,
            }
            for r in self.records.values()
        ]
