"""The host's executor: queue, slots, running tasks and event buffer of one backend."""

from __future__ import annotations

import dataclasses
import enum
import logging
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from exechost import shutdown
from exechost.contract import capabilities_of, check_task_options
from exechost.errors import (
    BackendError,
    DuplicateTaskError,
    ExecutorStateError,
    InvalidTaskError,
    SettingsError,
)
from exechost.events import EventBatch, EventBuffer
from exechost.hooks import ExecutorHooks
from exechost.lifecycle import LifecycleContext
from exechost.states import Event, TaskInfo, TaskState
from exechost.taskqueue import TaskQueue
from exechost.tasks import (
    QueuedTask,
    TaskKey,
    check_command,
    check_executor_config,
    check_key,
)

logger = logging.getLogger("exechost")

UNLIMITED = sys.maxsize
"""What :attr:`Executor.open_slots` is when :attr:`Executor.parallelism` is 0."""

TERMINATED_ERROR = "terminated"
"""The error of a task that was running when its executor was terminated."""

NOT_STARTED_ERROR = "terminated before it started"
"""The error of a task that was still queued when its executor was terminated."""


class Phase(enum.Enum):
    """Where an executor is in its life."""

    NEW = "new"
    STARTED = "started"
    ENDED = "ended"


class Executor(LifecycleContext):
    """Runs tasks on one backend, with Airflow's BaseExecutor bookkeeping.

    Tasks are queued with :meth:`queue_command`; each :meth:`heartbeat` starts up to
    :attr:`open_slots` of them, highest priority first, and lets the backend sync; backends report
    what happened with :meth:`success`, :meth:`fail` and :meth:`change_state`, and those reports
    wait in the event buffer until :meth:`get_event_buffer` reads them.

    The reporting methods are thread-safe. The others are meant for one thread, the host's.
    Usually made by :func:`exechost.load_executor`; it is a context manager that starts on enter,
    ends on a normal exit and terminates when the block raises.
    """

    heartbeat_interval: float = 0.1
    """The longest :meth:`end` waits between heartbeats when no backend report wakes it first."""

    def __init__(
        self, backend: object, *, name: str, parallelism: int, origin: str | None = None
    ) -> None:
        """
        :param backend: the backend object, whose methods implement the lifecycle hooks.
        :param name: the executor's name, for messages and observers.
        :param parallelism: how many tasks may run at once; 0 for no limit.
        :param origin: the backend's distribution and version, for messages, if known.
        """
        if type(parallelism) is not int or parallelism < 0:
            raise SettingsError(
                f"executor {name!r}: parallelism must be an int >= 0, got {parallelism!r}"
            )
        self.name = name
        self.backend = backend
        self.parallelism = parallelism
        self.hooks = ExecutorHooks(backend, name, origin)
        self.capabilities = capabilities_of(backend, name)
        """What the backend declares it can do, an :class:`exechost.hookspecs.Capabilities`."""
        self.phase = Phase.NEW
        self._queue = TaskQueue()
        self._running: dict[TaskKey, TaskInfo] = {}
        self._events = EventBuffer()
        self._lock = threading.Lock()
        self._progress = threading.Event()
        hook = self.hooks.hook
        self._on_queued = hook.executor_task_queued
        self._on_state_changed = hook.executor_task_state_changed
        self._on_heartbeat = hook.executor_heartbeat

    def __repr__(self) -> str:
        return (
            f"<Executor {self.name!r} {self.phase.value}: {len(self._queue)} queued, "
            f"{len(self._running)} running>"
        )

    # -- what the executor holds -------------------------------------------------------------

    @property
    def queued_tasks(self) -> Mapping[TaskKey, QueuedTask]:
        """The tasks waiting for a slot, by key: a live read-only mapping."""
        return self._queue.view

    @property
    def running(self) -> Mapping[TaskKey, TaskInfo]:
        """The tasks handed to the backend and not finished, by key: a live read-only mapping.

        Copy it (``dict(executor.running)``) to iterate over it while a backend reports.
        """
        return MappingProxyType(self._running)

    @property
    def open_slots(self) -> int:
        """How many more tasks may start now: ``parallelism - len(running)``, at least 0.

        :data:`UNLIMITED` (``sys.maxsize``) when :attr:`parallelism` is 0.
        """
        if self.parallelism == 0:
            return UNLIMITED
        return max(self.parallelism - len(self._running), 0)

    def has_task(self, key: TaskKey) -> bool:
        """Whether a task with ``key`` is queued or running here."""
        return key in self._queue or key in self._running

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the backend (hook ``executor_start``).

        :raises BackendError: when the backend cannot start; the executor is then unusable.
        """
        if self.phase is not Phase.NEW:
            raise ExecutorStateError(f"executor {self.name!r} is {self.phase.value}, not new")
        try:
            self.hooks.hook.executor_start(executor=self)
        except Exception as exc:
            self.phase = Phase.ENDED
            who = self.hooks.culprit("executor_start", exc)
            raise BackendError(
                f"executor {self.name!r} could not start: backend {who} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.phase = Phase.STARTED
        shutdown.track(self)

    def queue_command(
        self,
        key: TaskKey,
        command: Sequence[str],
        priority: int = 1,
        queue: str | None = None,
        executor_config: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue a task; a later :meth:`heartbeat` starts it when a slot is open.

        :param key: the task's unique key: a string, or a tuple of strings and ints.
        :param command: the argv to run, a list of strings; never run through a shell.
        :param priority: higher starts first; equal priorities start in the order queued.
        :param queue: the queue the task belongs to, passed to the backend.
        :param executor_config: per-task options for the backend (``env``, ``cwd``, ``timeout``).
        :raises InvalidTaskError: for a bad key, command, priority or executor_config (a key the
            backend's :attr:`capabilities` do not list, or a value of the wrong type).
        :raises DuplicateTaskError: when ``key`` is already queued or running.
        :raises ExecutorStateError: when the executor has ended.
        """
        if self.phase is Phase.ENDED:
            raise ExecutorStateError(f"executor {self.name!r} has ended; it accepts no more tasks")
        check_key(key)
        check_command(key, command)
        if type(priority) is not int:
            raise InvalidTaskError(f"task {key!r}: priority must be an int, got {priority!r}")
        if queue is not None and type(queue) is not str:
            raise InvalidTaskError(f"task {key!r}: queue must be a str or None, got {queue!r}")
        config = check_executor_config(key, executor_config)
        check_task_options(self.capabilities, key, config, self.name)
        if self.has_task(key):
            where = "queued" if key in self._queue else "running"
            raise DuplicateTaskError(
                f"task {key!r} is already {where} on executor {self.name!r}; "
                "a key can be queued again once its task has finished"
            )
        argv = tuple(command)
        self._queue.push(QueuedTask(key, argv, priority, queue, config))
        self._notify(
            self._on_queued,
            key=key,
            command=argv,
            priority=priority,
            queue=queue,
            executor_config=config,
        )

    def heartbeat(self, limit: int | None = None) -> None:
        """Start up to :attr:`open_slots` queued tasks, highest priority first, then sync.

        :param limit: start at most this many tasks (a cap shared with other executors).

        Its cost grows with the tasks it starts (each O(log n) in the queue's length), not with the
        length of the queue.
        """
        self._require_started("heartbeat")
        slots = self.open_slots if limit is None else min(self.open_slots, limit)
        queue = self._queue
        started = 0
        while started < slots and queue:
            self._launch(queue.pop())
            started += 1
        try:
            self.hooks.hook.executor_sync(executor=self)
        except Exception as exc:
            self._fail_running(self._backend_error("executor_sync", exc))
        self._notify(
            self._on_heartbeat,
            open_slots=self.open_slots,
            queued=len(queue),
            running=len(self._running),
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a backend reports a state change or ``timeout`` seconds pass.

        Returns whether a report arrived. Reports that came since the last call count, so a loop
        of ``heartbeat()`` then ``wait()`` never misses one.
        """
        arrived = self._progress.wait(timeout)
        self._progress.clear()
        return arrived

    def end(self) -> None:
        """Heartbeat until no task is queued or running, then end the backend (``executor_end``).

        If the wait is interrupted (``KeyboardInterrupt``, ``SystemExit`` from SIGTERM), the
        executor is terminated before the exception propagates.
        """
        self._require_started("end")
        try:
            while True:
                self._progress.clear()
                self.heartbeat()
                if not self._queue and not self._running:
                    break
                self._progress.wait(self.heartbeat_interval)
        except BaseException:  # Ctrl-C or a signal while waiting: nothing may outlive the host
            self.terminate()
            raise
        try:
            self.hooks.hook.executor_end(executor=self)
        except Exception as exc:
            self._backend_error("executor_end", exc)
        self._close()

    def terminate(self) -> None:
        """Stop now: the backend kills its running work (``executor_terminate``).

        Every task still running afterwards is reported ``failed`` with the error
        ``"terminated"``, and every queued task ``failed`` with ``"terminated before it
        started"``. Does nothing on an executor that has ended.
        """
        if self.phase is not Phase.STARTED:
            if self.phase is Phase.NEW:
                self._fail_queued()
                self._close()
            return
        try:
            self.hooks.hook.executor_terminate(executor=self)
        except Exception as exc:
            self._backend_error("executor_terminate", exc)
        self._fail_running(TERMINATED_ERROR)
        self._fail_queued()
        self._close()

    # -- reports from the backend (thread-safe) ---------------------------------------------

    def success(self, key: TaskKey, info: TaskInfo | None = None) -> None:
        """Report that the task ``key`` succeeded."""
        self.change_state(key, TaskState.SUCCESS, info)

    def fail(self, key: TaskKey, info: TaskInfo | None = None) -> None:
        """Report that the task ``key`` failed; put the reason in ``info.error``."""
        self.change_state(key, TaskState.FAILED, info)

    def change_state(
        self, key: TaskKey, state: TaskState | str, info: TaskInfo | None = None
    ) -> None:
        """Report that the task ``key`` is now in ``state``, with what is known in ``info``.

        A finished state (success, failed) frees the task's slot. A report for a key that is not
        running here (never started, or already finished) is logged and ignored.
        """
        state = TaskState(state)
        if info is not None and not isinstance(info, TaskInfo):
            raise TypeError(f"info must be an exechost.TaskInfo or None, got {info!r}")
        with self._lock:
            current = self._running.get(key)
            if current is None:
                level = logging.DEBUG if self.phase is Phase.ENDED else logging.WARNING
                logger.log(
                    level,
                    "executor %r: backend reported %s for task %r, which is not running here; "
                    "ignored",
                    self.name,
                    state.value,
                    key,
                )
                return
            merged = _merge(current, info, time.time() if state.finished else None)
            if state.finished:
                del self._running[key]
            else:
                self._running[key] = merged
            self._events.append(key, Event(state, merged))
        self._progress.set()
        self._notify(self._on_state_changed, key=key, state=state, info=merged)

    def get_event_buffer(self, groups: Collection[str | int] | None = None) -> EventBatch:
        """Return and forget the state changes reported since the last call.

        :param groups: only return (and forget) the events of these groups: a tuple key's group is
            its first element, a string key's group is the key itself. ``None`` for all.
        :returns: a mapping of each key to its latest :class:`Event` ``(state, info)``; a task that
            changed state more than once keeps every change in the batch's ``transitions``.
        """
        with self._lock:
            return self._events.flush(groups)

    # -- internals ---------------------------------------------------------------------------

    def _launch(self, task: QueuedTask) -> None:
        key = task.key
        info = TaskInfo(started_at=time.time())
        with self._lock:
            self._running[key] = info
            reported_from = self._events.position()
        self._notify(self._on_state_changed, key=key, state=TaskState.RUNNING, info=info)
        try:
            external_id = self.hooks.hook.executor_execute_async(
                executor=self,
                key=key,
                command=task.command,
                queue=task.queue,
                executor_config=task.executor_config,
            )
        except Exception as exc:
            self._fail_running(self._backend_error("executor_execute_async", exc), [key])
            return
        if external_id is not None:
            external_id = str(external_id)
            with self._lock:
                current = self._running.get(key)
                if current is not None and current.external_id is None:
                    self._running[key] = dataclasses.replace(current, external_id=external_id)
                # what the backend reported before returning (a synchronous backend reports
                # the end itself) gets the id too
                self._events.fill_external_id(key, external_id, reported_from)

    def _backend_error(self, hook_name: str, exc: Exception) -> str:
        who = self.hooks.culprit(hook_name, exc)
        logger.error(
            "executor %r: %s of %s raised %s: %s",
            self.name,
            hook_name,
            who,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        return f"{hook_name} raised {type(exc).__name__}: {exc}"

    def _fail_running(self, error: str, keys: Collection[TaskKey] | None = None) -> None:
        for key in list(self._running if keys is None else keys):
            if key in self._running:
                self.change_state(key, TaskState.FAILED, TaskInfo(error=error))

    def _fail_queued(self) -> None:
        now = time.time()
        for task in self._queue.drain():
            info = TaskInfo(error=NOT_STARTED_ERROR, ended_at=now)
            with self._lock:
                self._events.append(task.key, Event(TaskState.FAILED, info))
            self._notify(self._on_state_changed, key=task.key, state=TaskState.FAILED, info=info)

    def _require_started(self, what: str) -> None:
        if self.phase is not Phase.STARTED:
            raise ExecutorStateError(
                f"executor {self.name!r} is {self.phase.value}: {what}() needs a started executor"
            )

    def _close(self) -> None:
        self.phase = Phase.ENDED
        shutdown.untrack(self)

    def _notify(self, caller: Any, **kwargs: Any) -> None:
        if not caller.get_hookimpls():  # no observer: skip the cost of a pluggy call
            return
        try:
            caller(executor=self, **kwargs)
        except Exception as exc:
            logger.error(
                "executor %r: observer %s raised in %s: %s: %s",
                self.name,
                self.hooks.culprit(caller.name, exc),
                caller.name,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )


def _merge(current: TaskInfo, reported: TaskInfo | None, ended_at: float | None) -> TaskInfo:
    """What the host knew of a task, updated with what its backend reports now."""
    if reported is None:
        return TaskInfo(None, None, current.log, current.external_id, current.started_at, ended_at)
    return TaskInfo(
        reported.returncode,
        reported.error,
        reported.log or current.log,
        reported.external_id or current.external_id,
        reported.started_at or current.started_at,
        reported.ended_at or ended_at,
    )
