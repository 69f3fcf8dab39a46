"""The ``celery`` executor's settings, as the host validates them."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_QUEUE = "exechost"


@dataclass(frozen=True)
class CelerySettings:
    """Settings of the ``celery`` executor; its workers are given the same URLs and queues."""

    broker_url: str = DEFAULT_REDIS_URL
    """Where tasks are published: ``redis://host:port/db`` or ``amqp://user:password@host:port/vhost``."""
    result_backend: str = DEFAULT_REDIS_URL
    """Where workers store results: a Redis URL (``redis://``, ``rediss://``, ``sentinel://``), from
    which the host reads the results of all running tasks in one request."""
    queue: str = DEFAULT_QUEUE
    """The Celery queue of a task queued without one; a task queued with ``queue="q"`` goes to
    the Celery queue ``q``. Workers must consume the queues used (``-Q``)."""
    operation_timeout: float = 10.0
    """Seconds a broker or result backend may stay unreachable: connecting at start, publishing and
    fetching states are retried this long, then the affected tasks fail with the reason."""
    sync_interval: float = 0.1
    """The fewest seconds between two fetches of the running tasks' states."""
    task_heartbeat_interval: float = 5.0
    """How often a worker re-stamps a running task's ``STARTED`` state, proving it is alive."""
    worker_lost_timeout: float = 60.0
    """Seconds without such a stamp after which a started task is failed as lost with its worker
    (a worker killed outright, or its machine gone)."""
    max_output_bytes: int = 1 << 20
    """How much of a task's output (its tail) a worker returns with the result."""
    log_dir: str | None = None
    """The host's directory for the output workers return; a new temporary one when ``None``."""

    def __post_init__(self) -> None:
        for name in ("operation_timeout", "task_heartbeat_interval", "worker_lost_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.sync_interval < 0:
            raise ValueError("sync_interval must be 0 or more seconds")
        if self.worker_lost_timeout <= 2 * self.task_heartbeat_interval:
            raise ValueError(
                "worker_lost_timeout must be more than twice task_heartbeat_interval, "
                f"got {self.worker_lost_timeout} and {self.task_heartbeat_interval}"
            )
        if self.max_output_bytes < 0:
            raise ValueError("max_output_bytes must be 0 or more")
