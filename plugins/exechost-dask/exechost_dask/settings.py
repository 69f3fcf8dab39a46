"""The settings of the ``dask`` executor and the per-task options it accepts."""

from __future__ import annotations

from dataclasses import dataclass

from exechost.process import ProcessOptions

_CLUSTER_SETTINGS = ("n_workers", "threads_per_worker", "worker_resources", "allowed_failures")


@dataclass(frozen=True)
class DaskSettings:
    """Settings of the ``dask`` executor.

    Without ``scheduler_address`` the executor starts an embedded ``LocalCluster`` on 127.0.0.1
    (no dashboard) when it starts, and closes it when it ends or terminates; the ``cluster``
    settings below shape it. With ``scheduler_address`` it connects to a running scheduler, and
    the cluster settings are refused: they belong to whoever started that cluster.
    """

    scheduler_address: str | None = None
    """A running scheduler, e.g. ``"tcp://127.0.0.1:8786"``; ``None`` for an embedded cluster."""
    n_workers: int | None = None
    """Embedded cluster: how many workers; ``None`` for Dask's choice (from the CPU count)."""
    threads_per_worker: int | None = None
    """Embedded cluster: how many tasks each worker runs at once; ``None`` for Dask's choice."""
    processes: bool = True
    """Embedded cluster: workers are processes (under a nanny that restarts them) or threads."""
    worker_resources: dict[str, float] | None = None
    """Embedded cluster: the abstract resources each worker offers, e.g. ``{"GPU": 1}``, which
    tasks claim through their ``resources`` option."""
    allowed_failures: int | None = None
    """Embedded cluster: how many workers may die while running a task before it fails with
    ``KilledWorker``; ``None`` for Dask's default (``distributed.scheduler.allowed-failures``, 3).
    For a running scheduler, configure that key where the scheduler starts."""
    log_dir: str | None = None
    """The directory of the tasks' log files, written by the workers; a new temporary directory
    when ``None``. Workers on other machines need it on a shared file system for the host to read
    the logs."""
    connect_timeout: float = 30.0
    """Seconds to wait for the scheduler when the executor starts."""

    def __post_init__(self) -> None:
        for name in ("n_workers", "threads_per_worker"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.allowed_failures is not None and self.allowed_failures < 0:
            raise ValueError(f"allowed_failures must be at least 0, got {self.allowed_failures}")
        if self.connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be positive, got {self.connect_timeout}")
        if self.scheduler_address is not None:
            cluster_settings = [
                name
                for name in (
                    "n_workers",
                    "threads_per_worker",
                    "worker_resources",
                    "allowed_failures",
                )
                if getattr(self, name) is not None
            ]
            if not self.processes:
                cluster_settings.append("processes")
            if cluster_settings:
                raise ValueError(
                    f"{', '.join(cluster_settings)} shape the embedded cluster and cannot be "
                    f"combined with scheduler_address {self.scheduler_address!r}: configure the "
                    "cluster where it is started"
                )


@dataclass(frozen=True)
class DaskTaskOptions(ProcessOptions):
    """A task's ``executor_config`` on the ``dask`` executor: ``env``, ``cwd`` and ``timeout`` as
    on every process-running executor, and the Dask resources the task claims."""

    resources: dict[str, float] | None = None
    """Abstract resources the task holds while it runs, e.g. ``{"GPU": 1}``: Dask runs it only
    on a worker that offers them, and no more such tasks at once than the worker offers."""
