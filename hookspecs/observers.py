"""Observer hooks: what any number of plugins may watch.

Unlike the lifecycle hooks, every registered plugin that implements one of these is called, in
pluggy's order (last registered first). Their return values are ignored. They are called
synchronously: keep them quick, or hand the work to a thread of your own.

``executor_task_state_changed`` runs in the thread that reported the change: usually the host's
thread, but a backend's own thread when the backend reports from there.

An observer is any object with methods marked :data:`exechost.hookimpl`, or a module with such
functions; register it with ``exechost.load_executor(..., plugins=[observer])`` or
``executor.hooks.register_observer(observer)``, or install it (below).
It may also wrap lifecycle calls (``@hookimpl(wrapper=True)``), never implement them plainly.

**Errors.** What an observer's implementation raises is logged as that observer's (its name and
distribution), the first time for each hook at ``ERROR`` with the traceback, later times at
``DEBUG``; the run goes on, and the other observers are still called. A wrapper that raises is
left out: the wrapped call's result, or the backend's exception, passes on unchanged.

**Installed observers** (the ``exechost.plugins`` entry point group). The entry point's value
names one of:

- a module (``prom = "exechost_prom"``): the module is the observer;
- a class (``prom = "exechost_prom:PromObserver"``): exechost calls it once, with no argument, or,
  when the class declares a ``Settings`` dataclass, with its ``[plugins.NAME]`` settings
  validated against it (API 1.1);
- an object (``prom = "exechost_prom:OBSERVER"``): the object is the observer.

Anything else (a function, an object with nothing marked ``@hookimpl``) is refused, and
``exechost plugins --check`` reports it as ``refused``. The observer is made when the executors
are made (``exechost run``, :func:`exechost.load_executor`, :func:`exechost.load_executors`),
before any starts, once per such call: the one object is registered with every executor that
call makes and serves them all; each hook's ``executor`` argument tells them apart.

**Settings** (API 1.1). A plugin's own settings live in ``[plugins.NAME]`` of the configuration,
or in ``EXECHOST_PLUGINS__NAME__KEY`` variables (``NAME`` in capitals, ``_`` for ``-``), and are
validated like a backend's: unknown keys are refused with a did-you-mean, wrong types named with
the file and table (or the variable) they came from. Example::

    # exechost.toml
    [plugins.prom]
    port = 9100

    # exechost_prom.py, entry point: prom = "exechost_prom:PromObserver"
    @dataclasses.dataclass(frozen=True)
    class PromSettings:
        port: int = 9100

    class PromObserver:
        Settings = PromSettings

        def __init__(self, settings: PromSettings) -> None:
            self.port = settings.port

        @hookimpl
        def executor_finished(self, executor, outcome):
            ...

.. versionchanged:: 1.1
   Entry points may name a class; ``[plugins.NAME]`` settings; ``executor_finished``; an
   observer's error never breaks the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exechost.hookspecs.markers import hookspec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from exechost import Executor, TaskInfo, TaskKey, TaskState


@hookspec
def executor_task_queued(
    executor: Executor,
    key: TaskKey,
    command: Sequence[str],
    priority: int,
    queue: str | None,
    executor_config: Mapping[str, Any],
) -> None:
    """A task was accepted by :meth:`exechost.Executor.queue_command`.

    :param executor: the executor that queued it.
    :param key: the task's key.
    :param command: its argv.
    :param priority: its priority; higher starts first.
    :param queue: its queue, or ``None``.
    :param executor_config: its per-task options (an empty mapping when none were given).

    Example::

        @hookimpl
        def executor_task_queued(self, key, priority):
            self.queued_total += 1
    """


@hookspec
def executor_task_state_changed(
    executor: Executor, key: TaskKey, state: TaskState, info: TaskInfo
) -> None:
    """A task changed state.

    Called with ``"running"`` when the host hands the task to its backend, and for every state the
    backend reports afterwards, ending with ``"success"`` or ``"failed"``.

    :param executor: the executor that runs the task.
    :param key: the task's key.
    :param state: the new state, a :class:`exechost.TaskState`.
    :param info: what is known of the task so far, a :class:`exechost.TaskInfo`.

    Example::

        @hookimpl
        def executor_task_state_changed(self, key, state, info):
            if state == "failed":
                alert(f"{key} failed: {info.error}, see {info.log}")
    """


@hookspec
def executor_heartbeat(executor: Executor, open_slots: int, queued: int, running: int) -> None:
    """A heartbeat finished: the figures after it started tasks and synced.

    :param executor: the executor that heartbeated.
    :param open_slots: how many more tasks it could start now (``sys.maxsize`` when its
        parallelism is 0, unlimited).
    :param queued: how many tasks wait in its queue.
    :param running: how many tasks it counts as running.

    Example::

        @hookimpl
        def executor_heartbeat(self, executor, open_slots, queued, running):
            statsd.gauge(f"exechost.{executor.name}.queued", queued)
    """


@hookspec
def executor_finished(executor: Executor, outcome: str) -> None:
    """An executor has finished: every task it was given has its final state.

    Called once per executor, last: after ``executor_end`` or ``executor_terminate`` returned and
    after the host's own final reports (``"terminated"``, ``"terminated before it started"``)
    are in the event buffer and have reached ``executor_task_state_changed``; so an observer has
    seen every task's final state before this. Called in the host's thread.

    :param executor: the executor that finished.
    :param outcome: how: ``"ended"`` (:meth:`exechost.Executor.end`: every task ran to its end),
        ``"terminated"`` (:meth:`exechost.Executor.terminate`, or an interrupted ``end()``), or
        ``"not started"`` (its backend could not start; what was queued failed).
    :returns: nothing; not ``firstresult``: every observer is called.

    Example::

        @hookimpl
        def executor_finished(self, executor, outcome):
            self.push_metrics(executor.name, outcome)

    .. versionadded:: 1.1
    """
