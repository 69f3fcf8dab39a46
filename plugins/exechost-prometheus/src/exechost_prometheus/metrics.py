"""The metric families, and each executor's series of them, kept up to date event by event."""

from __future__ import annotations

import math
import threading

from exechost import UNLIMITED, TaskInfo, TaskKey, TaskState
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

DURATION_BUCKETS = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    7200.0, 14400.0, 43200.0, 86400.0,
)  # fmt: skip
"""The default upper bounds (seconds) of the task duration histogram: a tenth of a second to a
day (a histogram also counts what is above its last bound)."""

_ENDS = (TaskState.SUCCESS, TaskState.FAILED, TaskState.UP_FOR_RETRY)


class Metrics:
    """exechost's metric families, in a registry of their own (with the process's metrics)."""

    def __init__(self, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.queued = Counter(
            "exechost_tasks_queued",
            "Tasks queued on the executor (queue_command).",
            ["executor"],
            registry=registry,
        )
        self.tasks = Gauge(
            "exechost_tasks",
            "Tasks of the executor now: state=queued waiting for a slot (or for their retry), "
            "state=running handed to its backend.",
            ["executor", "state"],
            registry=registry,
        )
        self.finished = Counter(
            "exechost_tasks_finished",
            "Tasks that reached their final state: success or failed.",
            ["executor", "state"],
            registry=registry,
        )
        self.retries = Counter(
            "exechost_task_retries",
            "Attempts that failed and were followed by another (state up_for_retry).",
            ["executor"],
            registry=registry,
        )
        self.duration = Histogram(
            "exechost_task_duration_seconds",
            "Attempts' run times, from the start to the end, by how they ended: success, "
            "failed or up_for_retry.",
            ["executor", "state"],
            buckets=buckets,
            registry=registry,
        )
        self.open_slots = Gauge(
            "exechost_open_slots",
            "How many more tasks the executor could start, after its last heartbeat "
            "(+Inf: no limit; 0 once it has finished).",
            ["executor"],
            registry=registry,
        )
        self.executors_finished = Counter(
            "exechost_executors_finished",
            "Executors that finished, by outcome: ended, terminated or not started.",
            ["executor", "outcome"],
            registry=registry,
        )
        ProcessCollector(registry=registry)


class ExecutorSeries:
    """One executor's series, and where each of its tasks in flight is (in exechost's queue, or
    handed to the backend): counts change by one per event, never by a walk over the tasks.

    Thread-safe: a backend may report from its own threads.
    """

    def __init__(self, metrics: Metrics, executor: str) -> None:
        self._lock = threading.Lock()
        self._where: dict[TaskKey, TaskState] = {}
        self._metrics = metrics
        self._executor = executor
        self._queued = metrics.queued.labels(executor)
        self._waiting = metrics.tasks.labels(executor, TaskState.QUEUED.value)
        self._running = metrics.tasks.labels(executor, TaskState.RUNNING.value)
        self._finished = {
            state: metrics.finished.labels(executor, state.value)
            for state in (TaskState.SUCCESS, TaskState.FAILED)
        }
        self._retries = metrics.retries.labels(executor)
        self._durations = {state: metrics.duration.labels(executor, state.value) for state in _ENDS}
        self._open_slots = metrics.open_slots.labels(executor)

    def queued(self, key: TaskKey) -> None:
        """The task ``key`` was queued."""
        with self._lock:
            if self._where.get(key) is not TaskState.QUEUED:
                self._where[key] = TaskState.QUEUED
                self._waiting.inc()
            self._queued.inc()

    def changed(self, key: TaskKey, state: TaskState, info: TaskInfo) -> None:
        """The task ``key`` is now in ``state``."""
        with self._lock:
            was = self._where.get(key)
            if state is TaskState.RUNNING:
                if was is TaskState.RUNNING:
                    return
                self._where[key] = TaskState.RUNNING
                self._running.inc()
            elif state is TaskState.UP_FOR_RETRY:  # it waits for its next attempt
                self._where[key] = TaskState.QUEUED
                self._waiting.inc()
                self._retries.inc()
            elif state.finished:
                self._where.pop(key, None)
                self._finished[state].inc()
            else:  # the backend's own word on a task it holds: still handed to it
                return
            if was is TaskState.RUNNING:
                self._running.dec()
            elif was is TaskState.QUEUED:
                self._waiting.dec()
        duration = info.duration
        if duration is not None and state is not TaskState.RUNNING:
            self._durations[state].observe(duration)

    def heartbeat(self, open_slots: int) -> None:
        """The executor heartbeated: it could start ``open_slots`` more tasks."""
        self._open_slots.set(math.inf if open_slots >= UNLIMITED else open_slots)

    def finished(self, outcome: str) -> None:
        """The executor finished (``outcome``): nothing of it is queued or running any more."""
        with self._lock:
            self._where.clear()
            self._waiting.set(0)
            self._running.set(0)
        self._open_slots.set(0)
        self._metrics.executors_finished.labels(self._executor, outcome).inc()
