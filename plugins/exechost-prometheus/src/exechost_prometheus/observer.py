"""The observer: the hooks that keep the metrics, and the endpoint's life."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from exechost import hookimpl

from exechost_prometheus.endpoint import Endpoint
from exechost_prometheus.metrics import DURATION_BUCKETS, ExecutorSeries, Metrics

if TYPE_CHECKING:
    from exechost import Executor, TaskInfo, TaskKey, TaskState

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PrometheusSettings:
    """The ``[plugins.prometheus]`` settings (``EXECHOST_PLUGINS__PROMETHEUS__PORT``...)."""

    address: str = "127.0.0.1"
    """The address the endpoint listens on: loopback only by default. ``0.0.0.0`` lets other
    machines scrape it (and read the executors' names and counts)."""
    port: int = 9464
    """The endpoint's port; 0 picks a free one, logged (``WARNING``) when it starts."""
    buckets: tuple[float, ...] = DURATION_BUCKETS
    """The upper bounds, in seconds, of the task duration histogram's buckets, ascending."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be from 0 to 65535, got {self.port}")
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"buckets must be ascending, without repeats, got {self.buckets}")


class PrometheusObserver:
    """Keeps each executor's tasks, durations and open slots as Prometheus metrics, and serves
    them on :attr:`url` from the start of the first executor it watches to the end of the last.

    One observer serves every executor it is registered with, each under its own ``executor``
    label (its name). Per task, a few counter and gauge steps under a lock, no I/O.
    """

    Settings = PrometheusSettings

    def __init__(self, settings: PrometheusSettings | None = None) -> None:
        self.settings = settings or PrometheusSettings()
        self.metrics = Metrics(self.settings.buckets)
        """Every executor's figures; ``metrics.registry`` is what the endpoint serves."""
        self._lock = threading.Lock()
        self._watching: set[int] = set()
        self._endpoint: Endpoint | None = None

    @property
    def url(self) -> str | None:
        """Where the metrics are served now (``http://127.0.0.1:9464/metrics``), or ``None``
        when no executor it watches is running."""
        endpoint = self._endpoint
        return None if endpoint is None else endpoint.url

    def _series(self, executor: Executor) -> ExecutorSeries:
        return self.metrics.series(executor.name)

    @hookimpl(wrapper=True)
    def executor_start(self, executor: Executor) -> Generator[None, Any, Any]:
        """Serve the metrics from the start of the first executor."""
        self._series(executor)  # its series exist, at 0, from its start
        with self._lock:
            self._watching.add(id(executor))
            if self._endpoint is None and len(self._watching) == 1:
                self._endpoint = self._serve()
        return (yield)

    @hookimpl
    def executor_task_queued(self, executor: Executor, key: TaskKey) -> None:
        self._series(executor).queued(key)

    @hookimpl
    def executor_task_state_changed(
        self, executor: Executor, key: TaskKey, state: TaskState, info: TaskInfo
    ) -> None:
        self._series(executor).changed(key, state, info)

    @hookimpl
    def executor_heartbeat(self, executor: Executor, open_slots: int) -> None:
        self._series(executor).heartbeat(open_slots)

    @hookimpl
    def executor_finished(self, executor: Executor, outcome: str) -> None:
        """Set the executor's final figures; stop serving after the last executor."""
        self._series(executor).finished(outcome)
        with self._lock:
            self._watching.discard(id(executor))
            endpoint = None
            if not self._watching:
                endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            endpoint.stop()

    def _serve(self) -> Endpoint | None:
        """The endpoint, listening; ``None`` (said once, in one line) when it cannot listen, as
        when another run has the port: the run goes on without it."""
        address, port = self.settings.address, self.settings.port
        try:
            endpoint = Endpoint(self.metrics.registry, address, port)
        except OSError as exc:
            logger.error(
                "exechost-prometheus: cannot serve metrics on %s:%s: %s; another process may "
                "use the port: give this run another ([plugins.prometheus] port, or "
                "EXECHOST_PLUGINS__PROMETHEUS__PORT; 0 picks a free one). No metrics are served.",
                address,
                port,
                exc.strerror or exc,
            )
            return None
        level = logging.WARNING if port == 0 else logging.INFO
        logger.log(level, "exechost-prometheus: serving metrics on %s", endpoint.url)
        return endpoint
