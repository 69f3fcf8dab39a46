"""The ``celery`` executor: each task a Celery task, run by ``exechost-celery worker`` processes.

Tasks are published when the host hands them over (in bulk, at the end of each heartbeat, over one
producer), under the host's attempt id as Celery task id, also returned as the external id. Their
states are read from the result backend for all running tasks at once, in one ``MGET``, at most
every ``sync_interval``. A restarted host adopts the attempts it finds claimed or finished there,
and abandons the others (see :mod:`exechost_celery.claims`).
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery, states
from celery.backends.redis import RedisBackend
from celery.utils import uuid
from exechost import (
    Attempt,
    ExecHostError,
    Executor,
    SettingsError,
    TaskInfo,
    TaskKey,
    TaskState,
    hookimpl,
)
from exechost.hookspecs import Capabilities
from exechost.process import ProcessOptions, log_path_for, make_log_dir, read_log
from kombu.exceptions import OperationalError
from kombu.messaging import Producer
from kombu.utils.url import maybe_sanitize_url

from exechost_celery.app import make_app
from exechost_celery.claims import ABANDONED, abandon
from exechost_celery.outage import Outage
from exechost_celery.settings import CelerySettings
from exechost_celery.task import TASK_NAME

logger = logging.getLogger(__name__)

REVOKED_ERROR = "revoked"
ARGSREPR_LIMIT = 1024
"""The longest command line shown for a task by Celery's tools (its ``argsrepr``)."""


class CeleryUnreachableError(ExecHostError):
    """The broker or the result backend could not be reached when the executor started."""


@dataclass(eq=False, slots=True)
class _Task:
    key: TaskKey
    task_id: str
    queue: str
    args: tuple[Any, ...] = ()
    """What is published; nothing for an adopted task, which is not published again."""
    beat: int | None = None
    """The last heartbeat counter seen in the task's ``STARTED`` state."""
    beat_seen: float = 0.0
    """When (monotonic) that counter was first seen."""
    unknown_since: float | None = None
    """When (monotonic) the result backend was found to have lost its data, the task's state
    with it; ``None`` while its state is known, or has never been lost."""


class CeleryBackend:
    """Runs each task on a Celery worker started with ``exechost-celery worker``."""

    Settings = CelerySettings
    default_parallelism = 512
    """Tasks in flight at once; the workers' concurrency decides how many really run."""
    exechost_api = ">=1.1,<2"  # the attempt id is the Celery task id
    capabilities = Capabilities(
        can_cancel_running=True,  # revoke(terminate=True): the worker kills the process group
        runs_elsewhere=True,
        ordered_start=True,  # one FIFO Celery queue: handed over in order, started in order
        can_adopt=True,  # by the claims in the result backend
        reports_running=True,  # when the worker's claim (the first STARTED stamp) is read
        executor_config=ProcessOptions,
    )

    def __init__(self, settings: CelerySettings) -> None:
        self.settings = settings
        self.app: Celery | None = None
        self.log_dir: Path | None = None
        self._outgoing: deque[_Task] = deque()
        self._published: dict[str, _Task] = {}
        self._routes: dict[str, dict[str, Any]] = {}
        self._producer: Producer | None = None
        self._next_fetch = 0.0
        broker, results = _safe_url(settings.broker_url), _safe_url(settings.result_backend)
        self._broker_outage = Outage("broker", broker, settings.operation_timeout)
        self._results_outage = Outage("result backend", results, settings.operation_timeout)
        self._transient_errors: tuple[type[BaseException], ...] = (OSError, OperationalError)
        # a key of this executor's own in the result backend: gone, the backend lost its data
        self._canary = f"exechost-celery-canary-{uuid()}"

    # -- lifecycle ---------------------------------------------------------------------------

    @hookimpl
    def executor_start(self) -> None:
        settings = self.settings
        app = make_app(
            settings.broker_url,
            settings.result_backend,
            settings.queue,
            settings.operation_timeout,
        )
        if not isinstance(app.backend, RedisBackend):
            raise SettingsError(
                f"executor 'celery': setting result_backend {self._results_outage.url!r} is a "
                f"{type(app.backend).__name__}; the celery executor needs a Redis result backend "
                "(redis://, rediss://, sentinel://), which reads many results in one request"
            )
        self._check_broker(app)
        self._check_result_backend(app)
        app.backend.client.set(self._canary, b"1")
        with app.connection_for_write() as connection:  # not connected: only its error types
            broker_errors = connection.connection_errors
        self._transient_errors = (
            OSError,
            OperationalError,
            *broker_errors,
            *app.backend.connection_errors,
        )
        self.log_dir = make_log_dir(settings)
        self.app = app

    @hookimpl
    def executor_execute_async(
        self,
        executor: Executor,
        key: TaskKey,
        command: Sequence[str],
        queue: str | None,
        attempt_id: str,
        options: ProcessOptions,
    ) -> str | None:
        settings = self.settings
        given = {name: value for name, value in vars(options).items() if value is not None}
        args = (
            list(command),
            list(key) if isinstance(key, tuple) else key,
            given,
            settings.task_heartbeat_interval,
            settings.max_output_bytes,
        )
        task = _Task(key, attempt_id, queue or settings.queue, args)
        self._outgoing.append(task)
        return task.task_id

    @hookimpl
    def executor_adopt(self, executor: Executor, tasks: Sequence[Attempt]) -> list[TaskKey]:
        """Adopt the attempts a worker claimed (running, or finished); abandon the others.

        Abandoning is a claim too, so an attempt still in the broker when the host looked (or
        in a worker's prefetch) is dropped by the worker that receives it: the host runs the task
        again under a new attempt id, and the old one never runs.
        """
        claims = self._abandon_unclaimed([attempt.attempt_id for attempt in tasks])
        if claims is None:
            reason = (
                f"not adopted: {self._results_outage.reason}; the attempt may have run, so it is "
                "not run again"
            )
            self._results_outage.recovered()
            for attempt in tasks:
                executor.fail(attempt.key, TaskInfo(error=reason))
            return [attempt.key for attempt in tasks]
        adopted = []
        for attempt, claim in zip(tasks, claims, strict=True):
            if claim is None or claim.get("by") == ABANDONED:
                continue
            task = _Task(attempt.key, attempt.attempt_id, attempt.queue or self.settings.queue)
            self._published[task.task_id] = task
            adopted.append(attempt.key)
        if adopted:
            self._fetch(executor)  # report the finished ones now
        return adopted

    def _abandon_unclaimed(self, task_ids: list[str]) -> list[Mapping[str, Any] | None] | None:
        """:func:`abandon`, retried for ``operation_timeout``; ``None`` if it never got through."""
        assert self.app is not None
        while True:
            try:
                claims = abandon(self.app.backend, task_ids)
            except self._transient_errors as exc:
                if self._results_outage.failed(exc):
                    return None
                time.sleep(0.2)
                continue
            self._results_outage.recovered()
            return claims

    @hookimpl
    def executor_sync(self, executor: Executor) -> None:
        if self._outgoing:
            self._publish(executor)
        now = time.monotonic()
        if self._published and now >= self._next_fetch:
            self._next_fetch = now + self.settings.sync_interval
            self._fetch(executor)

    @hookimpl
    def executor_cancel(self, executor: Executor, key: TaskKey) -> bool:
        """Drop the task if it is not published yet, else revoke it with ``terminate=True``: a
        worker running it kills its process group, one receiving it later drops it."""
        for task in self._outgoing:
            if task.key == key:
                self._outgoing.remove(task)
                executor.fail(key, TaskInfo(external_id=task.task_id))
                return True
        task_ids = [task.task_id for task in self._published.values() if task.key == key]
        if not task_ids:
            return False
        self._revoke(task_ids)
        return True

    @hookimpl
    def executor_fetch_log(self, info: TaskInfo) -> str | None:
        """The host's copy of a finished task's output, which its worker sent back in the result
        (the last ``max_output_bytes``); ``None`` while the task runs."""
        return None if info.log is None else read_log(Path(info.log))

    @hookimpl
    def executor_end(self) -> None:
        self._close()

    @hookimpl
    def executor_terminate(self) -> None:
        self._outgoing.clear()
        try:
            if self._published:
                task_ids = list(self._published)
                self._revoke(task_ids)
                self._await_stopped(task_ids)
        finally:
            self._published.clear()
            self._close()

    # -- start-up checks ---------------------------------------------------------------------

    def _check_broker(self, app: Celery) -> None:
        timeout = self.settings.operation_timeout
        connection = app.connection_for_write()
        try:
            connection.ensure_connection(max_retries=None, timeout=timeout, interval_max=1)
        except Exception as exc:
            raise CeleryUnreachableError(
                f"cannot reach the Celery broker at {self._broker_outage.url} (setting "
                f"broker_url) within {timeout:g}s (setting operation_timeout): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            connection.release()

    def _check_result_backend(self, app: Celery) -> None:
        timeout = self.settings.operation_timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                app.backend.client.ping()
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise CeleryUnreachableError(
                        f"cannot reach the Celery result backend at {self._results_outage.url} "
                        f"(setting result_backend) within {timeout:g}s (setting "
                        f"operation_timeout): {type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))

    # -- publishing and fetching -------------------------------------------------------------

    def _publish(self, executor: Executor) -> None:
        """Publish the tasks handed over since the last sync, over one producer."""
        assert self.app is not None
        amqp = self.app.amqp
        outgoing = self._outgoing
        try:
            producer = self._connected_producer()
            while outgoing:
                task = outgoing[0]
                message = amqp.create_task_message(
                    task.task_id,
                    TASK_NAME,
                    task.args,
                    argsrepr=shlex.join(task.args[0])[:ARGSREPR_LIMIT],
                    kwargsrepr="{}",
                )
                amqp.send_task_message(
                    producer, TASK_NAME, message, retry=False, **self._route(task.queue)
                )
                outgoing.popleft()
                self._published[task.task_id] = task
        except self._transient_errors as exc:
            self._drop_producer()
            beginning = self._broker_outage.since is None
            if self._broker_outage.failed(exc):
                reason = self._broker_outage.reason
                self._broker_outage.recovered()
                while outgoing:
                    executor.fail(outgoing.popleft().key, TaskInfo(error=reason))
            elif beginning:
                logger.warning("exechost-celery: cannot publish, retrying: %s", exc)
            return
        self._broker_outage.recovered()

    def _connected_producer(self) -> Producer:
        """The producer every publication shares, connected in one attempt if it is not.

        Celery's own producer pool would retry connecting for up to its own timeouts inside one
        heartbeat; a single attempt per sync keeps the host responsive during an outage.
        """
        if self._producer is None:
            assert self.app is not None
            connection = self.app.connection_for_write()
            try:
                connection.ensure_connection(max_retries=1, interval_start=0)
            except BaseException:
                connection.release()
                raise
            self._producer = self.app.amqp.Producer(connection)
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.connection.release()
            self._producer = None

    def _route(self, queue: str) -> dict[str, Any]:
        route = self._routes.get(queue)
        if route is None:
            assert self.app is not None
            route = self.app.amqp.router.route({"queue": queue}, TASK_NAME, None, None)
            self._routes[queue] = route
        return route

    def _fetch(self, executor: Executor) -> None:
        """Read the states of every published task in one request and report the finished."""
        assert self.app is not None
        backend = self.app.backend
        tasks = list(self._published.values())
        try:
            canary, *values = backend.mget(
                [self._canary, *(backend.get_key_for_task(task.task_id) for task in tasks)]
            )
            if canary is None:
                backend.client.set(self._canary, b"1")
        except self._transient_errors as exc:
            beginning = self._results_outage.since is None
            if self._results_outage.failed(exc):
                reason = self._results_outage.reason
                self._results_outage.recovered()
                for task in tasks:
                    del self._published[task.task_id]
                    executor.fail(task.key, TaskInfo(error=reason))
            elif beginning:
                logger.warning("exechost-celery: cannot fetch states, retrying: %s", exc)
            return
        self._results_outage.recovered()
        now = time.monotonic()
        if canary is None:
            logger.warning(
                "exechost-celery: the result backend at %s lost its data (restarted without "
                "persistence, or flushed): tasks not reported again within %gs fail",
                self._results_outage.url,
                self.settings.worker_lost_timeout,
            )
        lost: list[str] = []
        for task, value in zip(tasks, values, strict=True):
            if value is None:
                if canary is None and task.unknown_since is None:
                    task.unknown_since = now
                elif (
                    task.unknown_since is not None
                    and now - task.unknown_since >= self.settings.worker_lost_timeout
                ):
                    del self._published[task.task_id]
                    lost.append(task.task_id)
                    executor.fail(task.key, TaskInfo(error=self._forgotten_error()))
                continue
            task.unknown_since = None
            meta = backend.decode(value)
            status, result = meta["status"], meta["result"]
            if status == states.SUCCESS:
                del self._published[task.task_id]
                self._report_result(executor, task, result)
            elif status in (states.FAILURE, states.REVOKED):
                del self._published[task.task_id]
                executor.fail(task.key, TaskInfo(error=_describe_failure(status, result)))
            elif status == states.STARTED and isinstance(result, dict):
                if task.beat is None:
                    executor.change_state(task.key, TaskState.RUNNING)
                if result.get("beat") != task.beat:
                    task.beat, task.beat_seen = result.get("beat"), now
                elif now - task.beat_seen >= self.settings.worker_lost_timeout:
                    del self._published[task.task_id]
                    lost.append(task.task_id)
                    executor.fail(task.key, TaskInfo(error=self._lost_error(result)))
        if lost:
            try:
                self._revoke(lost)  # in case their worker is alive after all
            except self._transient_errors as exc:
                logger.warning("exechost-celery: could not revoke lost tasks %s: %s", lost, exc)

    def _report_result(self, executor: Executor, task: _Task, result: Mapping[str, Any]) -> None:
        assert self.log_dir is not None
        log_path = log_path_for(self.log_dir, task.key)
        output: str = result.get("output") or ""
        with open(log_path, "w", encoding="utf-8") as log:
            if result.get("output_truncated"):
                log.write(
                    f"[exechost-celery: only the last {self.settings.max_output_bytes} bytes; "
                    f"the whole output is in {result.get('log')} on {result.get('hostname')}]\n"
                )
            log.write(output)
        info = TaskInfo(
            returncode=result.get("returncode"),
            error=result.get("error"),
            log=str(log_path),
            external_id=task.task_id,
        )
        if info.error is None:
            executor.success(task.key, info)
        else:
            executor.fail(task.key, info)

    def _lost_error(self, started: Mapping[str, Any]) -> str:
        return (
            f"worker lost: {started.get('hostname')} (pid {started.get('pid')}) sent no "
            f"heartbeat for {self.settings.worker_lost_timeout:g}s (setting worker_lost_timeout)"
        )

    def _forgotten_error(self) -> str:
        return (
            f"state lost: the result backend at {self._results_outage.url} lost its data "
            "(restarted without persistence, or flushed) and no worker reported the task in the "
            f"{self.settings.worker_lost_timeout:g}s after (setting worker_lost_timeout); it may "
            "have run"
        )

    def _revoke(self, task_ids: list[str]) -> None:
        """Tell every worker to drop these tasks, and to kill them where they run."""
        assert self.app is not None
        try:
            producer = self._connected_producer()
            self.app.control.revoke(
                task_ids, terminate=True, signal="SIGTERM", connection=producer.connection
            )
        except self._transient_errors:
            self._drop_producer()
            raise

    def _await_stopped(self, task_ids: list[str]) -> None:
        """Wait until none of the tasks is ``STARTED`` any more, up to ``operation_timeout``.

        A worker records ``REVOKED`` once it has sent the signal that kills a running task, so
        ``terminate()`` returns when the work is being killed, not merely asked to be.
        """
        assert self.app is not None
        backend = self.app.backend
        keys = [backend.get_key_for_task(task_id) for task_id in task_ids]
        deadline = time.monotonic() + self.settings.operation_timeout
        while keys:
            values = backend.mget(keys)
            keys = [
                key
                for key, value in zip(keys, values, strict=True)
                if value is not None and backend.decode(value)["status"] == states.STARTED
            ]
            if keys and time.monotonic() > deadline:
                logger.warning(
                    "exechost-celery: %d revoked tasks still running after %gs",
                    len(keys),
                    self.settings.operation_timeout,
                )
                return
            if keys:
                time.sleep(0.05)

    def _close(self) -> None:
        self._drop_producer()
        if self.app is not None:
            with contextlib.suppress(*self._transient_errors):
                self.app.backend.client.delete(self._canary)
            self.app.close()


def _describe_failure(status: str, result: Any) -> str:
    """The error of a task that Celery marked failed or revoked, e.g. ``WorkerLostError: ...``."""
    if not isinstance(result, Mapping) or "exc_type" not in result:
        return f"{REVOKED_ERROR if status == states.REVOKED else 'failed'}: {result!r}"
    message = result.get("exc_message")
    if isinstance(message, list | tuple):
        message = ", ".join(str(part) for part in message)
    return f"{result['exc_type']}: {message}"


def _safe_url(url: str) -> str:
    """``url`` with its password masked, for messages."""
    return str(maybe_sanitize_url(url))
