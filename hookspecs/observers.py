"""Observer hooks: what any number of plugins may watch.

Unlike the lifecycle hooks, every registered plugin that implements one of these is called, in
pluggy's order (last registered first). Their return values are ignored. They are called
synchronously: keep them quick, or hand the work to a thread of your own.

``executor_task_state_changed`` runs in the thread that reported the change: usually the host's
thread, but a backend's own thread when the backend reports from there. An observer that raises
is logged with its name and distribution; the task and the host carry on.

An observer is any object with methods marked :data:`exechost.hookimpl`; register it with
``exechost.load_executor(..., plugins=[observer])`` or
``executor.hooks.register_observer(observer)``.
It may also wrap lifecycle calls (``@hookimpl(wrapper=True)``), never implement them plainly.
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
