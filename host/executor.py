"""The host's executor: queue, slots, running tasks and event buffer of one backend."""

from __future__ import annotations

import dataclasses
import enum
import functools
import heapq
import itertools
import logging
import math
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from exechost import shutdown
from exechost.attempts import Attempt, new_attempt_id
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
from exechost.hookthread import HookThread, call_once
from exechost.lifecycle import LifecycleContext, heartbeat_until_idle
from exechost.notify import Notifier
from exechost.states import Event, TaskInfo, TaskState
from exechost.taskqueue import TaskQueue
from exechost.tasks import (
    QueuedTask,
    TaskKey,
    check_command,
    check_executor_config,
    check_key,
)
from exechost.wakeup import WaitSource, Wakeup

if TYPE_CHECKING:
    from exechost.journal import Journal

logger = logging.getLogger("exechost")

UNLIMITED = sys.maxsize
"""What :attr:`Executor.open_slots` is when :attr:`Executor.parallelism` is 0."""

TERMINATED_ERROR = "terminated"
"""The error of a task that was running when its executor was terminated."""

NOT_STARTED_ERROR = "terminated before it started"
"""The error of a task that was still queued when its executor was terminated."""

CANCELLED_ERROR = "cancelled"
"""The error of a task ended by :meth:`Executor.cancel` (API 1.1)."""

ENDED_KEPT = 10_000
"""How many finished tasks' infos an executor keeps for :meth:`Executor.fetch_log`, the latest."""

DEFAULT_SYNC_TIMEOUT = 300.0
"""Seconds a backend's ``executor_sync``, ``executor_end`` or ``executor_terminate`` may take."""


def check_retry_policy(owner: str, retries: object, retry_delay: object) -> None:
    """Raise :class:`InvalidTaskError` unless ``retries`` is an int >= 0 and ``retry_delay`` a
    finite number of seconds >= 0."""
    if type(retries) is not int or retries < 0:
        raise InvalidTaskError(f"{owner}: retries must be an int >= 0, got {retries!r}")
    if (
        type(retry_delay) not in (int, float)
        or not math.isfinite(retry_delay)  # type: ignore[arg-type]
        or retry_delay < 0  # type: ignore[operator]
    ):
        raise InvalidTaskError(
            f"{owner}: retry_delay must be a finite number of seconds >= 0, got {retry_delay!r}"
        )


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
        self,
        backend: object,
        *,
        name: str,
        parallelism: int,
        origin: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        queued_timeout: float | None = None,
        sync_timeout: float = DEFAULT_SYNC_TIMEOUT,
        journal: Journal | None = None,
    ) -> None:
        """
        :param backend: the backend object, whose methods implement the lifecycle hooks.
        :param name: the executor's name, for messages and observers.
        :param parallelism: how many tasks may run at once; 0 for no limit.
        :param origin: the backend's distribution and version, for messages, if known.
        :param retries: how many more attempts a task that failed gets, unless it sets its own.
        :param retry_delay: seconds between a failed attempt and the next, unless the task sets
            its own.
        :param queued_timeout: seconds a task may wait inside a backend that reports ``running``
            (:attr:`Capabilities.reports_running <exechost.hookspecs.Capabilities.reports_running>`)
            before it is failed; ``None`` for no limit.
        :param sync_timeout: seconds the backend's ``executor_sync``, ``executor_end`` and
            ``executor_terminate`` may take, each call (then run on a thread of their own); 0 for
            no limit. A backend that misses it makes the executor :attr:`broken`.
        :param journal: where to record every task, attempt and state change (see
            :mod:`exechost.journal`); the caller opens and closes it.
        """
        if type(parallelism) is not int or parallelism < 0:
            raise SettingsError(
                f"executor {name!r}: parallelism must be an int >= 0, got {parallelism!r}"
            )
        try:
            check_retry_policy(f"executor {name!r}", retries, retry_delay)
        except InvalidTaskError as exc:
            raise SettingsError(str(exc)) from None
        if queued_timeout is not None and (
            type(queued_timeout) not in (int, float)
            or not math.isfinite(queued_timeout)
            or queued_timeout <= 0
        ):
            raise SettingsError(
                f"executor {name!r}: queued_timeout must be a finite number of seconds > 0, "
                f"got {queued_timeout!r}"
            )
        if (
            type(sync_timeout) not in (int, float)
            or not math.isfinite(sync_timeout)
            or sync_timeout < 0
        ):
            raise SettingsError(
                f"executor {name!r}: sync_timeout must be a finite number of seconds >= 0 "
                f"(0 for no limit), got {sync_timeout!r}"
            )
        self.name = name
        self.backend = backend
        self.parallelism = parallelism
        self.retries = retries
        self.retry_delay = float(retry_delay)
        self.queued_timeout = queued_timeout
        self.sync_timeout = float(sync_timeout)
        self.broken: str | None = None
        """Why the executor is broken (its backend missed :attr:`sync_timeout`), or ``None``.

        A broken executor calls its backend no more, except ``executor_terminate`` when it ends;
        the tasks queued on it fail with this reason."""
        self._sync_thread: HookThread | None = None
        self.journal = journal
        """The journal this executor records into, or ``None``."""
        self.owns_journal = False
        """Whether the executor ends the journal's run and closes it when it ends."""
        self.hooks = ExecutorHooks(backend, name, origin)
        self.capabilities = capabilities_of(backend, name)
        """What the backend declares it can do, an :class:`exechost.hookspecs.Capabilities`."""
        self.phase = Phase.NEW
        self._queue = TaskQueue()
        self._running: dict[TaskKey, TaskInfo] = {}
        self._handed: dict[TaskKey, QueuedTask] = {}  # the running tasks, for their retries
        self._retrying: list[tuple[float, int, QueuedTask]] = []  # (due, order, task), a heap
        self._retrying_keys: set[TaskKey] = set()
        self._order = itertools.count()
        self._stopping = False  # terminating: no more retries
        self._awaiting_start: deque[tuple[float, TaskKey, str]] = deque()  # queued_timeout
        self._started_attempts: set[str] = set()
        self._cancelling: set[str] = set()  # attempt ids handed to executor_cancel
        self._keep_ended = bool(self.hooks.hook.executor_fetch_log.get_hookimpls())
        self._ended: dict[TaskKey, TaskInfo] = {}  # the latest ENDED_KEPT ends, for their logs
        self._watch_start = queued_timeout is not None and self.capabilities.reports_running
        self._events = EventBuffer()
        self._lock = threading.Lock()
        self._progress = Wakeup()
        self._wait_sources: tuple[WaitSource, ...] = ()  # see add_wait_source
        hook = self.hooks.hook
        self._on_queued = Notifier(hook.executor_task_queued)
        self._on_state_changed = Notifier(hook.executor_task_state_changed)
        self._on_heartbeat = Notifier(hook.executor_heartbeat)
        self._on_finished = Notifier(hook.executor_finished)

    def __repr__(self) -> str:
        retrying = f", {len(self._retrying)} waiting to retry" if self._retrying else ""
        return (
            f"<Executor {self.name!r} {self.phase.value}: {len(self._queue)} queued, "
            f"{len(self._running)} running{retrying}>"
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

    @property
    def idle(self) -> bool:
        """Whether no task is queued, running or waiting to be retried here."""
        return not (self._queue or self._running or self._retrying)

    def has_task(self, key: TaskKey) -> bool:
        """Whether a task with ``key`` is queued, running or waiting to be retried here."""
        return key in self._queue or key in self._running or key in self._retrying_keys

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
            self._fail_queued()
            self._close("not started")
            who = self.hooks.culprit("executor_start", exc)
            raise BackendError(
                f"executor {self.name!r} could not start: backend {who} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.phase = Phase.STARTED
        if self.sync_timeout and self.hooks.hook.executor_sync.get_hookimpls():
            self._sync_thread = HookThread(f"exechost-{self.name}-sync")
        if self.journal is not None and self.journal.run_id is None:
            self.journal.begin_run()
        shutdown.track(self)

    def queue_command(
        self,
        key: TaskKey,
        command: Sequence[str],
        priority: int = 1,
        queue: str | None = None,
        executor_config: Mapping[str, Any] | None = None,
        *,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> None:
        """Queue a task; a later :meth:`heartbeat` starts it when a slot is open.

        :param key: the task's unique key: a string, or a tuple of strings and ints.
        :param command: the argv to run, a list of strings; never run through a shell.
        :param priority: higher starts first; equal priorities start in the order queued.
        :param queue: the queue the task belongs to, passed to the backend.
        :param executor_config: per-task options for the backend (``env``, ``cwd``, ``timeout``).
        :param retries: how many more attempts the task gets after a failed one (each with an
            attempt id of its own, reported ``up_for_retry`` in between); the executor's
            :attr:`retries` when ``None``.
        :param retry_delay: seconds between a failed attempt and the next; the executor's
            :attr:`retry_delay` when ``None``.
        :raises InvalidTaskError: for a bad key, command, priority, retry policy or
            executor_config (a key the backend's :attr:`capabilities` do not list, or a value of
            the wrong type).
        :raises DuplicateTaskError: when ``key`` is already queued or running.
        :raises ExecutorStateError: when the executor has ended.
        """
        self.queue_task(
            self.prepare_task(
                key,
                command,
                priority,
                queue,
                executor_config,
                retries=retries,
                retry_delay=retry_delay,
            )
        )

    def prepare_task(
        self,
        key: TaskKey,
        command: Sequence[str],
        priority: int = 1,
        queue: str | None = None,
        executor_config: Mapping[str, Any] | None = None,
        *,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> QueuedTask:
        """Check a task as :meth:`queue_command` does, without queueing it: the checked task,
        its ``executor_config`` parsed (:attr:`QueuedTask.options <exechost.tasks.QueuedTask>`),
        for :meth:`queue_task`. To check a whole batch before queueing any of it.

        :raises InvalidTaskError: as :meth:`queue_command`.
        """
        check_key(key)
        check_command(key, command)
        if type(priority) is not int:
            raise InvalidTaskError(f"task {key!r}: priority must be an int, got {priority!r}")
        if queue is not None and type(queue) is not str:
            raise InvalidTaskError(f"task {key!r}: queue must be a str or None, got {queue!r}")
        config = check_executor_config(key, executor_config)
        options = check_task_options(self.capabilities, key, config, self.name)
        if retries is None and retry_delay is None:  # the executor's, checked when it was made
            retries, retry_delay = self.retries, self.retry_delay
        else:
            retries = self.retries if retries is None else retries
            retry_delay = self.retry_delay if retry_delay is None else retry_delay
            check_retry_policy(f"task {key!r}", retries, retry_delay)
        argv = tuple(command)
        return QueuedTask(
            key, argv, priority, queue, config, retries, float(retry_delay), options=options
        )

    def queue_task(self, task: QueuedTask) -> None:
        """Queue a task made by this executor's :meth:`prepare_task`, which is not checked again.

        :raises DuplicateTaskError: when its key is already queued or running.
        :raises ExecutorStateError: when the executor has ended.
        """
        if self.phase is Phase.ENDED:
            raise ExecutorStateError(f"executor {self.name!r} has ended; it accepts no more tasks")
        key = task.key
        if self.has_task(key):
            where = "queued" if key in self._queue else "running"
            raise DuplicateTaskError(
                f"task {key!r} is already {where} on executor {self.name!r}; "
                "a key can be queued again once its task has finished"
            )
        self._queue.push(task)
        if self.journal is not None:
            self.journal.record_task(self.name, task)
        self._notify(
            self._on_queued,
            key=key,
            command=task.command,
            priority=task.priority,
            queue=task.queue,
            executor_config=task.executor_config,
        )

    def heartbeat(self, limit: int | None = None) -> None:
        """Pump the backend's wait sources (see :meth:`add_wait_source`), start up to
        :attr:`open_slots` queued tasks, highest priority first, then sync.

        :param limit: start at most this many tasks (a cap shared with other executors).

        Its cost grows with the tasks it starts (each O(log n) in the queue's length), not with the
        length of the queue. With a :attr:`journal`, each task's attempt is written to it (with
        what was reported since the last heartbeat, in one transaction) before the backend is
        handed the task.
        """
        self._require_started("heartbeat")
        self._pump_sources()
        self._launch_and_sync(limit)

    def _pump_sources(self) -> None:
        """Pump the backend's wait sources: what ended frees its slot for the next launches."""
        for source in self._wait_sources:
            source.pump()

    def _launch_and_sync(self, limit: int | None) -> None:
        """The heartbeat after the pumps (a multi-executor pumps all its executors first)."""
        if self.broken is not None:
            self._fail_queued(self.broken)
            return
        if self._retrying:
            self._requeue_due_retries()
        slots = self.open_slots if limit is None else min(self.open_slots, limit)
        queue = self._queue
        launching: list[tuple[QueuedTask, str]] = []
        journal = self.journal
        now = time.time()
        while len(launching) < slots and queue:
            task = queue.pop()
            launching.append(
                (task, new_attempt_id() if journal is None else journal.begin_attempt(task, now))
            )
        if journal is not None:
            journal.commit()
        for task, attempt_id in launching:
            self._launch(task, attempt_id, now)
        self._sync()
        if self._awaiting_start:
            self._expire_queued_timeouts()
        self._notify(
            self._on_heartbeat,
            open_slots=self.open_slots,
            queued=len(queue),
            running=len(self._running),
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a backend reports a state change or ``timeout`` seconds pass.

        Meanwhile the backend's wait sources are watched, and each pumped here, in this thread,
        when its descriptor is readable (see :meth:`add_wait_source`). Returns whether a report
        arrived. Reports that came since the last call count, so a loop of ``heartbeat()`` then
        ``wait()`` never misses one.
        """
        return self._progress.wait(timeout, self._wait_sources)

    def add_wait_source(self, fd: int, pump: Callable[[], object]) -> None:
        """Have the host call ``pump`` when ``fd`` is readable: a backend that learns of its
        tasks' ends through a file descriptor (pidfds in an epoll set, a socket) reports them
        without a thread of its own.

        ``pump`` runs in the thread that heartbeats or waits: at the start of every
        :meth:`heartbeat`, and in :meth:`wait` (or :meth:`exechost.MultiExecutor.wait`) as soon as
        ``fd`` is readable. It reports what it found (:meth:`success`, :meth:`fail`...) and must
        not block. Call it from ``executor_start``; :meth:`remove_wait_source` before closing
        ``fd``. If ``pump`` raises, ``fd`` is no longer watched and the running tasks fail with
        the error (their ends would never come), as when ``executor_sync`` raises.
        """
        guarded = functools.partial(self._pump, fd, pump)
        self._wait_sources = (*self._wait_sources, WaitSource(fd, guarded))

    def remove_wait_source(self, fd: int) -> None:
        """Stop watching ``fd`` (see :meth:`add_wait_source`)."""
        self._wait_sources = tuple(s for s in self._wait_sources if s.fd != fd)

    def _pump(self, fd: int, pump: Callable[[], object]) -> None:
        try:
            pump()
        except Exception as exc:  # its tasks' ends would never come: fail them, stop watching
            backend = self.hooks.describe(self.hooks.manager.get_name(self.backend) or "?")
            logger.error(
                "executor %r: the wait source pump of %s raised %s: %s; fd %d is no longer watched",
                self.name,
                backend,
                type(exc).__name__,
                exc,
                fd,
                exc_info=exc,
            )
            self.remove_wait_source(fd)
            self._fail_running(f"the backend's wait source raised {type(exc).__name__}: {exc}")
            self._progress.set()

    def end(self) -> None:
        """Heartbeat until no task is queued or running, then end the backend (``executor_end``).

        If the wait is interrupted (``KeyboardInterrupt``, ``SystemExit`` from SIGTERM), the
        executor is terminated before the exception propagates.
        """
        self._require_started("end")
        heartbeat_until_idle(self, self._progress.clear)
        # a broken backend may still run the tasks reported failed: kill them, not just end
        self._call_last("executor_end" if self.broken is None else "executor_terminate")
        self._close("ended")

    def terminate(self) -> None:
        """Stop now: the backend kills its running work (``executor_terminate``).

        Every task still running afterwards is reported ``failed`` with the error
        ``"terminated"``, and every queued task ``failed`` with ``"terminated before it
        started"``. Does nothing on an executor that has ended. A backend that misses
        :attr:`sync_timeout` here is abandoned: the running tasks then fail with that reason.
        """
        self._stopping = True
        if self.phase is not Phase.STARTED:
            if self.phase is Phase.NEW:
                self._fail_queued()
                self._close("terminated")
            return
        thread = self._sync_thread
        if self.broken is None and thread is not None and not thread.settle(self.sync_timeout):
            self._break("executor_sync")  # interrupted while the backend synced, which hangs
        self._call_last("executor_terminate")
        self._fail_running(self.broken or TERMINATED_ERROR)
        self._fail_queued()
        self._close("terminated")

    def adopt(self, attempts: Sequence[Attempt]) -> list[Attempt]:
        """Offer the backend (hook ``executor_adopt``) attempts an earlier host left unfinished.

        Call it after :meth:`start` and before queueing. The attempts the backend takes over run
        on here as if this host had started them, and end in the event buffer as usual.

        :returns: the attempts the backend did not take over (all of them when it cannot adopt):
            the caller queues them again or gives up on them.
        :raises DuplicateTaskError: when one of their keys is queued or running here already.
        """
        self._require_started("adopt")
        if not attempts or not self.hooks.hook.executor_adopt.get_hookimpls():
            return list(attempts)
        with self._lock:
            for attempt in attempts:
                if self.has_task(attempt.key):
                    raise DuplicateTaskError(
                        f"task {attempt.key!r} is already queued or running on executor "
                        f"{self.name!r}; it cannot be adopted too"
                    )
            adopted = {}
            for attempt in attempts:
                self._running[attempt.key] = TaskInfo(
                    external_id=attempt.external_id,
                    started_at=attempt.started_at,
                    attempt_id=attempt.attempt_id,
                    attempt=attempt.number,
                )
                options = self._journaled_options(attempt)
                self._handed[attempt.key] = adopted[attempt.attempt_id] = QueuedTask(
                    attempt.key,
                    attempt.command,
                    1,
                    attempt.queue,
                    attempt.executor_config,
                    max(self.retries - attempt.number + 1, 0) if options is not False else 0,
                    self.retry_delay,
                    attempt.number,
                    options=options or None,
                )
        try:
            taken = set(self.hooks.hook.executor_adopt(executor=self, tasks=list(attempts)) or ())
        except Exception as exc:
            self._backend_error("executor_adopt", exc)
            taken = set()
        left = []
        with self._lock:
            for attempt in attempts:
                info = self._running.get(attempt.key)
                if (
                    attempt.key not in taken
                    and info is not None
                    and info.attempt_id == attempt.attempt_id
                ):
                    del self._running[attempt.key]
                    del self._handed[attempt.key]
                    left.append(attempt)
        if self.journal is not None:  # this run's rows of the tasks it now tracks
            for attempt in left:
                del adopted[attempt.attempt_id]
            for attempt_id, task in adopted.items():
                self.journal.record_task(self.name, task, attempt_id)
        return left

    def cancel(self, key: TaskKey) -> bool:
        """Cancel the task ``key``: it ends ``failed`` with the error ``"cancelled"``
        (:data:`CANCELLED_ERROR`), journaled as any end, and is not retried (API 1.1).

        A task queued or waiting for a retry is removed and reported at once (O(1) for a queued
        one, O(n) in the tasks waiting for a retry for one of those). A running task is handed
        to the backend's ``executor_cancel`` when the backend declares
        :attr:`~exechost.hookspecs.Capabilities.can_cancel_running`; it keeps its slot until
        the backend reports its end, which is then reported as cancelled.

        :returns: ``True`` when the task was removed or its backend is killing it; ``False`` when
            no task ``key`` is queued, waiting or running here (unknown, or finished already), or
            when it is running on a backend that cannot cancel it (it goes on to its end).
        :raises ExecutorStateError: when the executor is not started.
        """
        self._require_started("cancel")
        with self._lock:
            task = self._queue.remove(key)
            if task is None:
                task = self._remove_retry(key)
            info = None if task is not None else self._running.get(key)
            if info is not None and info.attempt_id is not None:
                self._cancelling.add(info.attempt_id)
        if task is not None:
            self._cancel_waiting(task)
            return True
        if info is None or info.attempt_id is None:
            return False
        accepted: bool | None = False
        if (
            self.capabilities.can_cancel_running
            and self.broken is None
            and self.hooks.hook.executor_cancel.get_hookimpls()
        ):
            try:
                accepted = self.hooks.hook.executor_cancel(executor=self, key=key)
            except Exception as exc:
                self._backend_error("executor_cancel", exc)
        if accepted:
            return True
        with self._lock:
            if info.attempt_id not in self._cancelling:  # it ended meanwhile, as cancelled
                return True
            self._cancelling.discard(info.attempt_id)
        return False

    def fetch_log(self, key: TaskKey, info: TaskInfo | None = None) -> str | None:
        """The output of the task ``key``'s latest attempt, running or finished, wherever it ran
        (hook ``executor_fetch_log``; API 1.1).

        :param info: the task's info as its end's event reported it, for a task that ended
            before the executor's latest 10,000 ends; ``None`` for what the executor knows of the
            task: while it runs, and for the latest 10,000 tasks that ended.
        :returns: the log's text (at most its last
            :data:`exechost.process.LOG_FETCH_LIMIT` bytes, undecodable bytes replaced), or
            ``None`` when the backend has none, the task has not started, or no task ``key`` ran
            on this executor.
        :raises BackendError: when the backend raised while reading it.
        """
        if info is None:
            info = self._running.get(key) or self._ended.get(key)
        if info is None or not self._keep_ended:
            return None
        try:
            text = self.hooks.hook.executor_fetch_log(executor=self, key=key, info=info)
        except Exception as exc:
            who = self.hooks.culprit("executor_fetch_log", exc)
            raise BackendError(
                f"executor {self.name!r}: backend {who} could not fetch the log of task {key!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return None if text is None else str(text)

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
        if state is TaskState.UP_FOR_RETRY:
            raise ValueError("up_for_retry is the host's to report: report the attempt failed")
        if info is not None and not isinstance(info, TaskInfo):
            raise TypeError(f"info must be an exechost.TaskInfo or None, got {info!r}")
        now = time.time()
        reported: TaskState = state
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
            merged = _merge(current, info, now if state.finished else None)
            if state.finished:
                del self._running[key]
                task = self._handed.pop(key, None)
                if merged.attempt_id is not None and merged.attempt_id in self._cancelling:
                    self._cancelling.discard(merged.attempt_id)
                    reported = state = TaskState.FAILED
                    merged = dataclasses.replace(merged, error=CANCELLED_ERROR)
                elif state is TaskState.FAILED and task is not None and self._may_retry(task):
                    self._schedule_retry(task)
                    reported = TaskState.UP_FOR_RETRY
                if self._keep_ended:
                    self._ended.pop(key, None)
                    self._ended[key] = merged
                    if len(self._ended) > ENDED_KEPT:
                        del self._ended[next(iter(self._ended))]
            else:
                self._running[key] = merged
                if self._watch_start and state is TaskState.RUNNING and merged.attempt_id:
                    self._started_attempts.add(merged.attempt_id)
            self._events.append(key, Event(reported, merged))
            if self.journal is not None and merged.attempt_id is not None:
                self.journal.record_state(merged.attempt_id, state, merged, now)
        self._progress.set()
        self._notify(self._on_state_changed, key=key, state=reported, info=merged)

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

    def _launch(self, task: QueuedTask, attempt_id: str, now: float) -> None:
        key = task.key
        info = TaskInfo(started_at=now, attempt_id=attempt_id, attempt=task.attempt)
        with self._lock:
            self._running[key] = info
            self._handed[key] = task
            reported_from = self._events.position()
            self._events.append(key, Event(TaskState.RUNNING, info))
        if self._watch_start:
            assert self.queued_timeout is not None
            deadline = time.monotonic() + self.queued_timeout
            self._awaiting_start.append((deadline, key, attempt_id))
        self._notify(self._on_state_changed, key=key, state=TaskState.RUNNING, info=info)
        try:
            external_id = self.hooks.hook.executor_execute_async(
                executor=self,
                key=key,
                command=task.command,
                queue=task.queue,
                executor_config=task.executor_config,
                attempt_id=attempt_id,
                options=task.options,
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
                if self.journal is not None:
                    self.journal.record_external_id(attempt_id, external_id)

    def _journaled_options(self, attempt: Attempt) -> Any:
        """An adopted attempt's options, parsed for its retries; ``False`` when this backend no
        longer accepts them (the attempt then gets no retry)."""
        try:
            return check_task_options(
                self.capabilities, attempt.key, attempt.executor_config, self.name
            )
        except InvalidTaskError:
            return False

    def _remove_retry(self, key: TaskKey) -> QueuedTask | None:
        """Remove and return the task ``key`` waiting for its retry, if any (under the lock)."""
        if key not in self._retrying_keys:
            return None
        self._retrying_keys.discard(key)
        index = next(i for i, entry in enumerate(self._retrying) if entry[2].key == key)
        task = self._retrying.pop(index)[2]
        heapq.heapify(self._retrying)
        return task

    def _cancel_waiting(self, task: QueuedTask) -> None:
        """Report a task removed before its attempt started as cancelled, and journal it."""
        now = time.time()
        journal = self.journal
        attempt_id = new_attempt_id() if journal is None else journal.begin_attempt(task, now)
        info = TaskInfo(
            error=CANCELLED_ERROR, ended_at=now, attempt_id=attempt_id, attempt=task.attempt
        )
        if journal is not None:
            journal.record_state(attempt_id, TaskState.FAILED, info, now)
        with self._lock:
            self._events.append(task.key, Event(TaskState.FAILED, info))
        self._progress.set()
        self._notify(self._on_state_changed, key=task.key, state=TaskState.FAILED, info=info)

    def _may_retry(self, task: QueuedTask) -> bool:
        return task.retries > 0 and not self._stopping and self.phase is Phase.STARTED

    def _schedule_retry(self, task: QueuedTask) -> None:
        """Queue the task's next attempt after its delay (called under the lock)."""
        retry = dataclasses.replace(task, retries=task.retries - 1, attempt=task.attempt + 1)
        due = time.monotonic() + task.retry_delay
        heapq.heappush(self._retrying, (due, next(self._order), retry))
        self._retrying_keys.add(task.key)

    def _requeue_due_retries(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._retrying and self._retrying[0][0] <= now:
                task = heapq.heappop(self._retrying)[2]
                self._retrying_keys.discard(task.key)
                self._queue.push(task)

    def _expire_queued_timeouts(self) -> None:
        """Fail the tasks a backend has held without reporting them running for too long."""
        now = time.monotonic()
        waiting = self._awaiting_start
        expired = []
        while waiting and waiting[0][0] <= now:
            _, key, attempt_id = waiting.popleft()
            if attempt_id in self._started_attempts:
                self._started_attempts.discard(attempt_id)
                continue
            info = self._running.get(key)
            if info is not None and info.attempt_id == attempt_id:
                expired.append(key)
        error = (
            f"queued_timeout: not running after {self.queued_timeout:g}s in the backend "
            "(setting queued_timeout)"
        )
        for key in expired:
            self.change_state(key, TaskState.FAILED, TaskInfo(error=error))

    def _sync(self) -> None:
        """Let the backend sync (hook ``executor_sync``), on its thread when it has one."""
        thread = self._sync_thread
        try:
            if thread is None:
                self._call_sync()
            elif not thread.call(self._call_sync, self.sync_timeout):
                self._break("executor_sync")
        except Exception as exc:
            self._fail_running(self._backend_error("executor_sync", exc))

    def _call_sync(self) -> None:
        self.hooks.hook.executor_sync(executor=self)

    def _call_last(self, hook_name: str) -> None:
        """Call ``executor_end`` or ``executor_terminate``, within :attr:`sync_timeout`."""
        caller = getattr(self.hooks.hook, hook_name)
        if not caller.get_hookimpls():
            return
        call = functools.partial(caller, executor=self)
        try:
            if not self.sync_timeout:
                call()
            elif not call_once(call, self.sync_timeout, f"exechost-{self.name}-{hook_name}"):
                self._break(hook_name)
        except Exception as exc:
            self._backend_error(hook_name, exc)

    def _break(self, hook_name: str) -> None:
        """Give up on a backend that did not return from ``hook_name`` in time."""
        backend = self.hooks.describe(self.hooks.manager.get_name(self.backend) or "?")
        self.broken = (
            f"backend {backend} did not return from {hook_name} within {self.sync_timeout:g} s "
            "(setting sync_timeout)"
        )
        logger.error("executor %r: %s; it is broken, its tasks fail", self.name, self.broken)
        self._stopping = True
        self._fail_running(self.broken)
        self._fail_queued(self.broken)

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

    def _fail_queued(self, error: str = NOT_STARTED_ERROR) -> None:
        now = time.time()
        with self._lock:
            retrying = [entry[2] for entry in sorted(self._retrying)]
            self._retrying.clear()
            self._retrying_keys.clear()
        for task in retrying + self._queue.drain():
            info = TaskInfo(error=error, ended_at=now)
            with self._lock:
                self._events.append(task.key, Event(TaskState.FAILED, info))
            self._notify(self._on_state_changed, key=task.key, state=TaskState.FAILED, info=info)

    def _require_started(self, what: str) -> None:
        if self.phase is not Phase.STARTED:
            raise ExecutorStateError(
                f"executor {self.name!r} is {self.phase.value}: {what}() needs a started executor"
            )

    def _close(self, how: str) -> None:
        """End the executor's life: ``how`` is ``"ended"``, ``"terminated"`` or ``"not started"``.

        Every task's final state is in the event buffer by now; observers hear of it last
        (``executor_finished``).
        """
        self.phase = Phase.ENDED
        shutdown.untrack(self)
        if self._sync_thread is not None:
            self._sync_thread.stop()
        journal = self.journal
        if journal is not None:
            if self.owns_journal:
                journal.end_run(how)
                journal.close()
            else:
                journal.commit()
        self._notify(self._on_finished, outcome=how)

    def _notify(self, notifier: Notifier, **kwargs: Any) -> None:
        try:
            notifier(executor=self, **kwargs)
        except Exception as exc:
            logger.error(
                "executor %r: observer %s raised in %s: %s: %s",
                self.name,
                self.hooks.culprit(notifier.name, exc),
                notifier.name,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )


def _merge(current: TaskInfo, reported: TaskInfo | None, ended_at: float | None) -> TaskInfo:
    """What the host knew of a task, updated with what its backend reports now."""
    if reported is None:
        return TaskInfo(
            None,
            None,
            current.log,
            current.external_id,
            current.started_at,
            ended_at,
            current.attempt_id,
            current.attempt,
        )
    return TaskInfo(
        reported.returncode,
        reported.error,
        reported.log or current.log,
        reported.external_id or current.external_id,
        reported.started_at or current.started_at,
        reported.ended_at or ended_at,
        current.attempt_id,
        current.attempt,
    )
