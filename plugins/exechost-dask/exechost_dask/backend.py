"""The ``dask`` executor backend: each task's command runs on a Dask distributed worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, Future, LocalCluster
from exechost import Executor, TaskInfo, TaskKey
from exechost.hookspecs import Capabilities, hookimpl
from exechost.process import log_path_for, make_log_dir, read_log

from exechost_dask.collector import Collector, Watched
from exechost_dask.settings import DaskSettings, DaskTaskOptions
from exechost_dask.worker import TaskReaper, kill_tasks, read_task_log, run_task

logger = logging.getLogger("exechost_dask")


@dataclass(frozen=True)
class _Submission:
    key: TaskKey
    task_id: str
    command: list[str]
    log_path: str
    options: DaskTaskOptions


class DaskBackend:
    """Submits each task to Dask as a call of :func:`exechost_dask.worker.run_task`.

    ``executor_execute_async`` prepares a task and names its Dask key, ``exechost-`` and the
    attempt id (the task's external id);
    ``executor_sync``, which ends the same heartbeat, submits every task prepared since the last
    one with a single ``Client.map`` per set of resources: one graph update for the scheduler
    instead of one per task.
    """

    Settings = DaskSettings
    default_parallelism = 0
    """No limit of the host's own: Dask queues what its workers cannot run yet."""
    exechost_api = ">=1.1,<2"
    capabilities = Capabilities(
        can_cancel_running=True,
        runs_elsewhere=True,
        ordered_start=True,
        # Dask forgets a client's futures, and cancels their tasks, when the client goes away.
        can_adopt=False,
        # Dask tells a client when a task ends, not when a worker starts it.
        reports_running=False,
        executor_config=DaskTaskOptions,
    )

    def __init__(self, settings: DaskSettings) -> None:
        self.settings = settings
        self.cluster: LocalCluster | None = None
        self.client: Client | None = None
        self.log_dir: Path | None = None
        self._collector: Collector | None = None
        self._unsubmitted: list[_Submission] = []

    @hookimpl
    def executor_start(self, executor: Executor) -> None:
        self.log_dir = make_log_dir(self.settings)
        address = self.settings.scheduler_address
        try:
            if address is None:
                self.cluster = start_local_cluster(self.settings)
                address = self.cluster.scheduler_address
            self.client = Client(
                address, timeout=self.settings.connect_timeout, set_as_default=False
            )
            self.client.register_plugin(TaskReaper())
        except BaseException:
            self._close()
            raise
        self._collector = Collector(executor, self.client)

    @hookimpl
    def executor_execute_async(
        self,
        key: TaskKey,
        command: Sequence[str],
        attempt_id: str,
        options: DaskTaskOptions,
    ) -> str:
        assert self.log_dir is not None
        task_id = f"exechost-{attempt_id}"
        log_path = str(log_path_for(self.log_dir, key))
        self._unsubmitted.append(_Submission(key, task_id, list(command), log_path, options))
        return task_id

    @hookimpl
    def executor_sync(self, executor: Executor) -> None:
        """Submit the tasks started in this heartbeat, in one graph per set of resources."""
        assert self.client is not None and self._collector is not None
        unsubmitted, self._unsubmitted = self._unsubmitted, []
        by_resources: dict[tuple[tuple[str, float], ...], list[_Submission]] = {}
        for submission in unsubmitted:
            resources = tuple(sorted((submission.options.resources or {}).items()))
            by_resources.setdefault(resources, []).append(submission)
        for resources, batch in by_resources.items():
            task_ids = [submission.task_id for submission in batch]
            try:
                futures = self.client.map(
                    run_task,
                    task_ids,
                    [submission.command for submission in batch],
                    [submission.log_path for submission in batch],
                    [submission.options for submission in batch],
                    key=task_ids,
                    pure=False,
                    resources=dict(resources) or None,
                )
            except Exception as exc:
                error = f"submitting to Dask failed: {type(exc).__name__}: {exc}"
                for submission in batch:
                    executor.fail(submission.key, TaskInfo(error=error, log=submission.log_path))
                continue
            self._collector.watch(
                Watched(submission.key, future, submission.log_path)
                for submission, future in zip(batch, futures, strict=True)
            )

    @hookimpl
    def executor_cancel(self, executor: Executor, key: TaskKey) -> bool:
        """Cancel the task's future and kill its process group on the worker running it."""
        assert self.client is not None and self._collector is not None
        for submission in self._unsubmitted:
            if submission.key == key:
                self._unsubmitted.remove(submission)
                executor.fail(key, TaskInfo(log=submission.log_path))
                return True
        future = self._collector.future_of(key)
        if future is None:
            return False
        self._kill(self.client, [future])
        return True

    @hookimpl
    def executor_fetch_log(self, info: TaskInfo) -> str | None:
        """Ask every worker for the log of the task (its Dask key, the external id): the one that
        ran it reads its own file; if none answers (the worker is gone), read the host's file."""
        if self.client is not None and info.external_id is not None:
            answers = self.client.run(read_task_log, info.external_id, on_error="return")
            for worker, answer in answers.items():
                if isinstance(answer, str):
                    return answer
                if isinstance(answer, BaseException):
                    logger.error(
                        "exechost-dask: reading a log on worker %s failed: %s", worker, answer
                    )
        return None if info.log is None else read_log(Path(info.log))

    @hookimpl
    def executor_end(self) -> None:
        if self._collector is not None:
            self._collector.stop()
        self._close()

    @hookimpl
    def executor_terminate(self) -> None:
        try:
            self._unsubmitted.clear()
            if self._collector is not None and self.client is not None:
                self._collector.silence()
                self._kill(self.client, self._collector.pending())
                self._collector.stop()
        finally:
            self._close()

    @staticmethod
    def _kill(client: Client, futures: list[Future[TaskInfo | None]]) -> None:
        """Cancel ``futures``, then kill the processes of those a worker is running already."""
        if not futures:
            return
        client.cancel(futures, force=True)
        task_ids = [future.key for future in futures]
        outcomes = client.run(kill_tasks, task_ids, on_error="return")
        for worker, outcome in outcomes.items():
            if isinstance(outcome, BaseException):
                logger.error(
                    "exechost-dask: killing tasks on worker %s failed: %s", worker, outcome
                )

    def _close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def start_local_cluster(settings: DaskSettings) -> LocalCluster:
    """The embedded cluster that ``settings`` describe, listening on 127.0.0.1 only.

    The scheduler's HTTP server (health checks, and the dashboard if bokeh is installed) takes a
    free port, so that clusters started side by side never fight over Dask's default 8787.
    """
    scheduler_options: dict[str, Any] = {}
    if settings.allowed_failures is not None:
        scheduler_options["allowed_failures"] = settings.allowed_failures
    return LocalCluster(
        n_workers=settings.n_workers,
        threads_per_worker=settings.threads_per_worker,
        processes=settings.processes,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs=scheduler_options,
        resources=settings.worker_resources,
    )
