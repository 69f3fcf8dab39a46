"""exechost's metrics: each executor's figures, kept event by event, and the collector that turns
them into metric families when the endpoint is scraped."""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

from exechost import UNLIMITED, TaskInfo, TaskKey, TaskState
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

DURATION_BUCKETS = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    7200.0, 14400.0, 43200.0, 86400.0,
)  # fmt: skip
"""The default upper bounds (seconds) of the task duration histogram: a tenth of a second to a
day (a histogram also counts what is above its last bound)."""

_ENDS = (TaskState.SUCCESS, TaskState.FAILED, TaskState.UP_FOR_RETRY)
_FINAL = (TaskState.SUCCESS, TaskState.FAILED)
_QUEUED, _RUNNING, _UP_FOR_RETRY = TaskState.QUEUED, TaskState.RUNNING, TaskState.UP_FOR_RETRY
"""Read once: an enum's member is slow to read, and each task's events read a few."""
_le: Callable[[float], str] = floatToGoString  # a bucket's bound as the client writes it


class Families(NamedTuple):
    """The metric families of one scrape, each with a sample per executor (and state)."""

    queued: CounterMetricFamily
    tasks: GaugeMetricFamily
    finished: CounterMetricFamily
    retries: CounterMetricFamily
    duration: HistogramMetricFamily
    open_slots: GaugeMetricFamily
    executors_finished: CounterMetricFamily


class ExecutorSeries:
    """One executor's figures, and where each of its tasks in flight is (in exechost's queue, or
    handed to the backend): each event changes them by one, under a lock, with no walk over the
    tasks and no I/O.

    Thread-safe: a backend may report from its own threads.
    """

    def __init__(self, executor: str, buckets: tuple[float, ...]) -> None:
        self.executor = executor
        self._lock = threading.Lock()
        self._buckets = buckets
        self._where: dict[TaskKey, TaskState] = {}
        self._queued = 0
        self._waiting = 0
        self._running = 0
        self._finished = dict.fromkeys(_FINAL, 0)
        self._retries = 0
        self._counts = {state: [0] * (len(buckets) + 1) for state in _ENDS}
        self._sums = dict.fromkeys(_ENDS, 0.0)
        self._open_slots = 0.0
        self._outcomes: dict[str, int] = {}

    def queued(self, key: TaskKey) -> None:
        """The task ``key`` was queued."""
        with self._lock:
            if self._where.get(key) is not _QUEUED:
                self._where[key] = _QUEUED
                self._waiting += 1
            self._queued += 1

    def changed(self, key: TaskKey, state: TaskState, info: TaskInfo) -> None:
        """The task ``key`` is now in ``state``."""
        with self._lock:
            was = self._where.get(key)
            if state is _RUNNING:
                if was is _RUNNING:
                    return
                self._where[key] = _RUNNING
                self._running += 1
            elif state is _UP_FOR_RETRY:  # it waits for its next attempt
                self._where[key] = _QUEUED
                self._waiting += 1
                self._retries += 1
            elif state in self._finished:
                self._where.pop(key, None)
                self._finished[state] += 1
            else:  # the backend's own word on a task it holds: still handed to it
                return
            if was is _RUNNING:
                self._running -= 1
            elif was is _QUEUED:
                self._waiting -= 1
            started_at = info.started_at
            if state is not _RUNNING and started_at is not None:
                duration = (info.ended_at or started_at) - started_at
                self._counts[state][bisect.bisect_left(self._buckets, duration)] += 1
                self._sums[state] += duration

    def heartbeat(self, open_slots: int) -> None:
        """The executor heartbeated: it could start ``open_slots`` more tasks."""
        self._open_slots = math.inf if open_slots >= UNLIMITED else float(open_slots)

    def finished(self, outcome: str) -> None:
        """The executor finished (``outcome``): nothing of it is queued or running any more."""
        with self._lock:
            self._where.clear()
            self._waiting = self._running = 0
            self._open_slots = 0.0
            self._outcomes[outcome] = self._outcomes.get(outcome, 0) + 1

    def add_to(self, families: Families) -> None:
        """Add this executor's samples to ``families``."""
        name = self.executor
        bounds = [*(_le(bound) for bound in self._buckets), "+Inf"]
        with self._lock:
            families.queued.add_metric([name], self._queued)
            families.tasks.add_metric([name, TaskState.QUEUED.value], self._waiting)
            families.tasks.add_metric([name, TaskState.RUNNING.value], self._running)
            for state, count in self._finished.items():
                families.finished.add_metric([name, state.value], count)
            families.retries.add_metric([name], self._retries)
            for state, counts in self._counts.items():
                cumulative = zip(bounds, itertools.accumulate(counts), strict=True)
                families.duration.add_metric(
                    [name, state.value], list(cumulative), self._sums[state]
                )
            families.open_slots.add_metric([name], self._open_slots)
            for outcome, count in self._outcomes.items():
                families.executors_finished.add_metric([name, outcome], count)


class Metrics(Collector):
    """The collector of every executor's figures, in a registry of its own (with the process's
    metrics); the families are made at each scrape, from what the series hold then."""

    def __init__(self, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.buckets = buckets
        self._lock = threading.Lock()
        self._series: dict[str, ExecutorSeries] = {}
        self.registry = CollectorRegistry()
        """What the endpoint serves."""
        self.registry.register(self)
        ProcessCollector(registry=self.registry)

    def series(self, executor: str) -> ExecutorSeries:
        """The series of the executor named ``executor``, made on first use."""
        try:
            return self._series[executor]
        except KeyError:
            with self._lock:
                return self._series.setdefault(executor, ExecutorSeries(executor, self.buckets))

    def collect(self) -> Iterator[Metric]:
        """The metric families, with a sample per executor (and state, or outcome)."""
        executor, state = ["executor"], ["executor", "state"]
        families = Families(
            CounterMetricFamily(
                "exechost_tasks_queued",
                "Tasks queued on the executor (queue_command).",
                labels=executor,
            ),
            GaugeMetricFamily(
                "exechost_tasks",
                "Tasks of the executor now: state=queued waiting for a slot (or for their "
                "retry), state=running handed to its backend.",
                labels=state,
            ),
            CounterMetricFamily(
                "exechost_tasks_finished",
                "Tasks that reached their final state: success or failed.",
                labels=state,
            ),
            CounterMetricFamily(
                "exechost_task_retries",
                "Attempts that failed and were followed by another (state up_for_retry).",
                labels=executor,
            ),
            HistogramMetricFamily(
                "exechost_task_duration_seconds",
                "Attempts' run times, from the start to the end, by how they ended: success, "
                "failed or up_for_retry.",
                labels=state,
            ),
            GaugeMetricFamily(
                "exechost_open_slots",
                "How many more tasks the executor could start, after its last heartbeat "
                "(+Inf: no limit; 0 once it has finished).",
                labels=executor,
            ),
            CounterMetricFamily(
                "exechost_executors_finished",
                "Executors that finished, by outcome: ended, terminated or not started.",
                labels=["executor", "outcome"],
            ),
        )
        with self._lock:
            every = list(self._series.values())
        for series in every:
            series.add_to(families)
        yield from families
