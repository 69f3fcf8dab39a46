"""Several executors at once: each task routed to one of them, under a global cap on running tasks.

A task goes to the executor it names, else to the executor whose ``queues`` list its queue, else
to the default executor. Unlike Airflow's multiple executors, two executors may share a backend
with different settings (``[executors.gpu] backend = "local"``), and routing by queue is explicit.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from exechost.api import build_executor, journal_path
from exechost.attempts import Attempt
from exechost.autoload import observer_plugins
from exechost.config import Config, Source, Value, load_config
from exechost.errors import DuplicateTaskError, InvalidTaskError
from exechost.events import EventBatch
from exechost.executor import UNLIMITED, Executor
from exechost.hookspecs import hookimpl
from exechost.journal import Journal, open_journal
from exechost.lifecycle import LifecycleContext, heartbeat_until_idle
from exechost.states import TaskInfo, TaskState
from exechost.tasks import QueuedTask, TaskKey
from exechost.wakeup import Wakeup

V = TypeVar("V")


class _MergedView(Mapping[TaskKey, V]):
    """A live read-only view of several mappings whose keys are unique across them."""

    def __init__(self, parts: Iterable[Mapping[TaskKey, V]]) -> None:
        self._parts = list(parts)

    def __getitem__(self, key: TaskKey) -> V:
        for part in self._parts:
            if key in part:
                return part[key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[TaskKey]:
        return itertools.chain.from_iterable(self._parts)

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)


class _Wakeup:
    """An observer that wakes :meth:`MultiExecutor.wait` when a task of any executor finishes."""

    def __init__(self, progress: Wakeup) -> None:
        self._progress = progress

    @hookimpl
    def executor_task_state_changed(self, state: TaskState) -> None:
        if state.finished:  # a freed slot: the host's own "running" notices need no wake-up
            self._progress.set()


class MultiExecutor(LifecycleContext):
    """Runs tasks on several :class:`exechost.Executor`, routing each task to one of them.

    It has the executor's interface (queue, heartbeat, wait, end, terminate, event buffer) with an
    ``executor`` argument to :meth:`queue_command`. Keys are unique across all its executors.
    Usually made by :func:`exechost.load_executors` from the configuration.

    :attr:`parallelism` caps the tasks running across all executors (0: no cap). When the cap
    binds, the executors take turns for the free slots; within one executor, higher priorities
    start first.
    """

    heartbeat_interval: float = 0.1
    """The longest :meth:`end` waits between heartbeats when no report wakes it first."""

    def __init__(
        self,
        executors: Mapping[str, Executor],
        *,
        default: str,
        queues: Mapping[str, str] | None = None,
        parallelism: int = 0,
        journal: Journal | None = None,
    ) -> None:
        """
        :param executors: the executors by name.
        :param default: the name of the executor of tasks that name none and match no queue.
        :param queues: each routed queue and the name of its executor.
        :param parallelism: the most tasks running at once across all executors; 0 for no cap.
        :param journal: the journal every executor records into (see :mod:`exechost.journal`).
        """
        names = ", ".join(executors) or "(none)"
        if default not in executors:
            raise ValueError(f"default executor {default!r} is not one of the executors: {names}")
        for queue, name in (queues or {}).items():
            if name not in executors:
                raise ValueError(f"queue {queue!r} routes to {name!r}, not one of: {names}")
        if type(parallelism) is not int or parallelism < 0:
            raise ValueError(f"parallelism must be an int >= 0, got {parallelism!r}")
        self.executors: Mapping[str, Executor] = MappingProxyType(dict(executors))
        self.default = default
        self.queues: Mapping[str, str] = MappingProxyType(dict(queues or {}))
        self.parallelism = parallelism
        self.journal = journal
        """The journal every executor records into, or ``None``."""
        self.owns_journal = False
        """Whether :meth:`end` and :meth:`terminate` end the journal's run and close it."""
        self._progress = Wakeup()
        self._turn = 0
        self._wakeup = _Wakeup(self._progress)
        for executor in self.executors.values():
            executor.hooks.register_observer(self._wakeup)
            executor.journal = journal

    def __repr__(self) -> str:
        return f"<MultiExecutor {', '.join(self.executors)} (default {self.default!r})>"

    # -- what the executors hold -------------------------------------------------------------

    @property
    def queued_tasks(self) -> Mapping[TaskKey, QueuedTask]:
        """The tasks waiting for a slot on any executor: a live read-only mapping."""
        return _MergedView(e.queued_tasks for e in self.executors.values())

    @property
    def running(self) -> Mapping[TaskKey, TaskInfo]:
        """The tasks running on any executor: a live read-only mapping."""
        return _MergedView(e.running for e in self.executors.values())

    @property
    def open_slots(self) -> int:
        """How many more tasks the global cap lets start now (:data:`UNLIMITED` with no cap)."""
        if self.parallelism == 0:
            return UNLIMITED
        running = sum(len(e.running) for e in self.executors.values())
        return max(self.parallelism - running, 0)

    @property
    def idle(self) -> bool:
        """Whether no task is queued, running or waiting to be retried on any executor."""
        return all(e.idle for e in self.executors.values())

    def has_task(self, key: TaskKey) -> bool:
        """Whether a task with ``key`` is queued, running or waiting to be retried anywhere."""
        return any(e.has_task(key) for e in self.executors.values())

    def route(self, executor: str | None = None, queue: str | None = None) -> Executor:
        """The executor a task naming ``executor`` and in ``queue`` goes to.

        :raises InvalidTaskError: for an executor name that is not one of these executors.
        """
        if executor is not None:
            found = self.executors.get(executor)
            if found is None:
                raise InvalidTaskError(
                    f"no executor named {executor!r} is configured; configured executors: "
                    f"{', '.join(self.executors)} (add an [executors.{executor}] table to the "
                    "configuration to run tasks there)"
                )
            return found
        return self.executors[self.queues.get(queue or "", self.default)]

    def subset(self, names: Collection[str]) -> MultiExecutor:
        """The same executors, not started, but only those named and the default one.

        For a batch whose tasks are all known: the executors no task routes to are not started.
        The subset takes over the journal (and closing it, if this one was to).
        """
        kept = {n: e for n, e in self.executors.items() if n in names or n == self.default}
        for executor in kept.values():  # they are the subset's now: it wakes on their ends
            executor.hooks.manager.unregister(self._wakeup)
        subset = MultiExecutor(
            kept,
            default=self.default,
            queues={queue: name for queue, name in self.queues.items() if name in kept},
            parallelism=self.parallelism,
            journal=self.journal,
        )
        subset.owns_journal, self.owns_journal = self.owns_journal, False
        return subset

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every executor; if one cannot start, terminate those started and raise."""
        if self.journal is not None and self.journal.run_id is None:
            self.journal.begin_run()
        started: list[Executor] = []
        try:
            for executor in self.executors.values():
                executor.start()
                started.append(executor)
        except BaseException:
            for executor in started:
                executor.terminate()
            self._close_journal("not started")
            raise

    def queue_command(
        self,
        key: TaskKey,
        command: Sequence[str],
        priority: int = 1,
        queue: str | None = None,
        executor_config: Mapping[str, Any] | None = None,
        executor: str | None = None,
        *,
        retries: int | None = None,
        retry_delay: float | None = None,
    ) -> None:
        """Queue a task on the executor it routes to (see :meth:`route`).

        :param executor: the name of the executor to run it; ``None`` to route by ``queue``.
        :param retries: as :meth:`exechost.Executor.queue_command`.
        :param retry_delay: as :meth:`exechost.Executor.queue_command`.
        :raises InvalidTaskError: for an unknown executor name, or a bad key, command, priority or
            executor_config.
        :raises DuplicateTaskError: when ``key`` is queued or running on any executor.
        """
        try:
            target = self.route(executor, queue)
        except InvalidTaskError as exc:
            raise InvalidTaskError(f"task {key!r}: {exc}") from None
        self._refuse_elsewhere(key, target)
        target.queue_command(
            key,
            command,
            priority,
            queue,
            executor_config,
            retries=retries,
            retry_delay=retry_delay,
        )

    def queue_task(self, executor: str, task: QueuedTask) -> None:
        """Queue on the executor ``executor`` a task its
        :meth:`~exechost.Executor.prepare_task` made: routed and checked already, so neither is
        done again (as ``exechost run`` does, having checked the whole batch first).

        :raises KeyError: for an executor name that is not one of these executors.
        :raises DuplicateTaskError: when the task's key is queued or running on any executor.
        """
        target = self.executors[executor]
        self._refuse_elsewhere(task.key, target)
        target.queue_task(task)

    def _refuse_elsewhere(self, key: TaskKey, target: Executor) -> None:
        """Raise :class:`DuplicateTaskError` when an executor other than ``target`` has ``key``
        (``target`` checks its own)."""
        for name, other in self.executors.items():
            if other is not target and other.has_task(key):
                raise DuplicateTaskError(f"task {key!r} is already queued or running on {name!r}")

    def adopt(self, attempts: Mapping[str, Sequence[Attempt]]) -> list[Attempt]:
        """Offer each executor's backend the attempts an earlier host left unfinished there.

        :param attempts: the attempts by the name of the executor they were handed to; those of an
            executor not here are returned untouched.
        :returns: the attempts no backend took over (see :meth:`exechost.Executor.adopt`).
        """
        left: list[Attempt] = []
        for name, offered in attempts.items():
            executor = self.executors.get(name)
            left += list(offered) if executor is None else executor.adopt(offered)
        return left

    def cancel(self, key: TaskKey) -> bool:
        """Cancel the task ``key`` on the executor that holds it (see
        :meth:`exechost.Executor.cancel`); ``False`` when none holds it."""
        for executor in self.executors.values():
            if executor.has_task(key):
                return executor.cancel(key)
        return False

    def fetch_log(self, key: TaskKey) -> str | None:
        """The output of the task ``key`` (see :meth:`exechost.Executor.fetch_log`), from the
        executor that holds it, or else the first that ran it."""
        executors = sorted(self.executors.values(), key=lambda e: not e.has_task(key))
        for executor in executors:
            text = executor.fetch_log(key)
            if text is not None:
                return text
        return None

    def heartbeat(self) -> None:
        """Heartbeat every executor, starting no more tasks than the global cap allows."""
        executors = list(self.executors.values())
        for executor in executors:  # the slots that ended anywhere count in the cap's budget
            executor._require_started("heartbeat")
            executor._pump_sources()
        budget = self.open_slots
        self._turn = (self._turn + 1) % len(executors)
        for executor in executors[self._turn :] + executors[: self._turn]:
            queued = len(executor.queued_tasks)
            executor._launch_and_sync(None if budget == UNLIMITED else budget)
            if budget != UNLIMITED:
                budget = max(budget - (queued - len(executor.queued_tasks)), 0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a task of any executor finishes or ``timeout`` seconds pass, pumping the
        executors' wait sources meanwhile (see :meth:`exechost.Executor.add_wait_source`).

        Returns whether one did. Ends since the last call count, so a loop of ``heartbeat()`` then
        ``wait()`` never misses one.
        """
        sources = [s for e in self.executors.values() for s in e._wait_sources]
        return self._progress.wait(timeout, sources)

    def end(self) -> None:
        """Heartbeat until no task is queued or running anywhere, then end every executor.

        If the wait is interrupted (``KeyboardInterrupt``, ``SystemExit`` from SIGTERM), every
        executor is terminated before the exception propagates, as :meth:`exechost.Executor.end`
        does.
        """
        heartbeat_until_idle(self, self._progress.clear)
        for executor in self.executors.values():
            executor.end()
        self._close_journal("ended")

    def terminate(self) -> None:
        """Terminate every executor (see :meth:`exechost.Executor.terminate`)."""
        for executor in self.executors.values():
            executor.terminate()
        self._close_journal("terminated")

    def _close_journal(self, how: str) -> None:
        if self.journal is not None and self.owns_journal:
            self.journal.end_run(how)
            self.journal.close()
            self.owns_journal = False

    def get_event_buffer(self, groups: Collection[str | int] | None = None) -> EventBatch:
        """Return and forget the state changes every executor reported since the last call."""
        transitions = []
        for executor in self.executors.values():
            transitions += executor.get_event_buffer(groups).transitions
        return EventBatch(transitions)


def load_executors(
    config: str | Path | Config | None = None,
    *,
    executor: str | None = None,
    parallelism: int | None = None,
    plugins: Sequence[object] = (),
    journal: str | Path | Journal | bool | None = None,
    **common_settings: Any,
) -> MultiExecutor:
    """Make every configured executor, ready to be started together (or used with ``with``).

    Every backend is imported and its settings checked before this returns, so a bad
    configuration fails before any task runs.

    :param config: a configuration file to read instead of searching for one, or a loaded
        :class:`exechost.Config`.
    :param executor: the default executor's name, over the configuration's ``executor``.
    :param parallelism: the global cap, over the configuration's ``parallelism`` (0: no cap);
        also the parallelism of each executor that sets none of its own.
    :param plugins: observer plugin objects to register with every executor.
    :param journal: as :func:`exechost.load_executor`: a path, an open journal, ``True`` for
        ``.exechost/journal.sqlite``, ``False`` for none, ``None`` for the configuration's key.
    :param common_settings: settings given to every executor whose backend takes them, over the
        configured ones (e.g. ``log_dir``).
    :raises ConfigError, ExecutorNotFoundError, PluginLoadError, SettingsError: as
        :func:`exechost.load_executor`.

    Example::

        with exechost.load_executors() as executors:
            executors.queue_command("train", ["python", "train.py"], executor="gpu")
            executors.queue_command("report", ["make", "report"], queue="io")
    """
    loaded = config if isinstance(config, Config) else load_config(config)
    loaded = loaded.override(executor=executor, parallelism=parallelism)
    observers = observer_plugins(loaded.plugins)
    common = {
        key: Value(value, Source("argument", f"{key} of load_executors"))
        for key, value in common_settings.items()
    }
    executors = {
        name: build_executor(
            loaded, name, common_settings=common, observers=observers, plugins=plugins
        )
        for name in loaded.executor_names()
    }
    opened = None
    if not isinstance(journal, Journal):
        path = journal_path(loaded, journal, None)
        opened = journal = None if path is None else open_journal(path)
    try:
        multi = MultiExecutor(
            executors,
            default=loaded.default_executor,
            queues=loaded.queue_routes(),
            parallelism=loaded.global_parallelism or 0,
            journal=journal,
        )
    except BaseException:
        if opened is not None:
            opened.close()
        raise
    multi.owns_journal = opened is not None
    return multi
