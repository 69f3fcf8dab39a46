"""The executor lifecycle: the hooks an executor backend implements.

The host calls these hooks for one executor at a time, and only the backend selected for that
executor implements them: other installed backends never see the call. Observer plugins may wrap
any of them with ``@hookimpl(wrapper=True)`` (for timing, tracing or metrics) but may not implement
them plainly; the host refuses such a plugin when it is registered.

Every hook receives ``executor``, the host's :class:`exechost.Executor`. A backend reports what
happens to its tasks through it, from any hook or from any of its own threads:

* ``executor.success(key, info=None)`` -- the task finished successfully;
* ``executor.fail(key, info=None)`` -- the task failed;
* ``executor.change_state(key, state, info=None)`` -- any other state (e.g. ``"running"`` once the
  work has really started somewhere), or a terminal one.

``info`` is an :class:`exechost.TaskInfo`; fields a backend leaves as ``None`` are filled in by the
host (the external id returned by :func:`executor_execute_async`, the start and end times).

An implementation may take any subset of a hook's arguments, by name. An argument that the hook
does not have is a :class:`pluggy.PluginValidationError` when the backend is registered.

If an implementation raises, the host does not go down: see each hook for what happens then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exechost.hookspecs.markers import hookspec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from exechost import Attempt, Executor, TaskInfo, TaskKey


@hookspec
def executor_start(executor: Executor) -> None:
    """Get the backend ready to accept tasks: connect to a broker, start a cluster or a thread.

    Called once, by :meth:`exechost.Executor.start`, before any other lifecycle hook.

    :param executor: the host's executor this backend serves.

    Return nothing. Raise if the backend cannot work (a broker that cannot be reached, say): the
    error reaches the caller of ``start()`` with the backend's name and distribution, before any
    task was handed to the backend.

    Example::

        @hookimpl
        def executor_start(self, executor):
            self.client = connect(self.settings.url)
    """


@hookspec(firstresult=True)
def executor_execute_async(
    executor: Executor,
    key: TaskKey,
    command: Sequence[str],
    queue: str | None,
    executor_config: Mapping[str, Any],
    attempt_id: str,
    options: Any,
) -> str | None:
    """Start running one task, without waiting for it to finish.

    Called by :meth:`exechost.Executor.heartbeat` once for each task that gets an open slot, highest
    priority first. The host already counts the task as running when this is called.

    :param executor: the host's executor this backend serves.
    :param key: the task's key: a string, or a tuple of strings and ints. Report the task's state
        under this key.
    :param command: the task's argv, a sequence of strings. Never run it through a shell.
    :param queue: the queue the task was submitted to, or ``None``.
    :param executor_config: the task's per-task options (e.g. ``env``, ``cwd``, ``timeout``); an
        empty mapping when none were given.
    :param attempt_id: the id of this attempt at the task, unique across runs (a UUID string),
        fixed and written to the journal (when there is one) before this hook is called; a retry
        gets a new one. Use it as the engine's own id where the engine allows (a Celery task id, a
        Dask key, a Slurm job comment), so that :func:`executor_adopt` can find the work again
        after the host died. New in API 1.1; implementations written for 1.0 leave it out.
    :param options: ``executor_config`` already checked and parsed, when the task was queued, into
        the dataclass the backend declares as
        :attr:`Capabilities.executor_config <exechost.hookspecs.Capabilities.executor_config>`
        (its defaults when the task gave no options); ``None`` when the backend declares none.
        Use it rather than parsing ``executor_config`` again for each task. New in API 1.1.

        .. versionadded:: 1.1

    Return an external id for the task (a string: a PID, a Celery task id, a job id), which the host
    records in the task's :class:`exechost.TaskInfo` (also in the events the backend reported
    before returning), or ``None``. This hook is ``firstresult``:
    only the backend's result counts.

    A synchronous backend may run the task here and report its end before returning. If the hook
    raises, the task ends ``failed`` with the error in its info; other tasks go on.

    Example::

        @hookimpl
        def executor_execute_async(self, executor, key, command, options, attempt_id):
            job = self.cluster.submit(command, name=attempt_id, cwd=options.cwd)
            job.on_done(lambda rc: executor.success(key) if rc == 0 else executor.fail(key))
            return job.id
    """


@hookspec(firstresult=True)
def executor_adopt(executor: Executor, tasks: Sequence[Attempt]) -> Sequence[TaskKey] | None:
    """Take over tasks that an earlier host handed to this executor and never saw finish.

    Called at most once, after :func:`executor_start` and before any
    :func:`executor_execute_async`, when the journal of an earlier run (``exechost run --resume``,
    :meth:`exechost.Executor.adopt`) shows attempts of this executor that had not finished when
    that host stopped, killed or crashed. New in API 1.1.

    :param executor: the host's executor this backend serves.
    :param tasks: the unfinished attempts, each an :class:`exechost.Attempt` with the task's key,
        command, queue and options, the ``attempt_id`` given to :func:`executor_execute_async`,
        and the ``external_id`` it returned (``None`` when the host died before recording it).

    The host counts every offered task as running while this hook runs, so the backend may report
    the end of one it finds finished (``executor.success(key, info)``) from inside the hook, or
    later from :func:`executor_sync` or its own threads, as for any task.

    Return the keys of the tasks the backend has taken over (those it already reported included):
    the host tracks them to their end. The others are dropped: the host runs them again or fails
    them, by its policy (see :doc:`/durability`). Take over only a task whose work you can really
    find (a PID with its start time, a task id the engine knows); never one whose work may have
    been lost, which would then never end. ``firstresult``; ``None`` adopts nothing.
    A backend that adopts declares ``Capabilities(can_adopt=True)``. If the hook raises, nothing
    is adopted and the error is logged with the backend's name and distribution.

    Example::

        @hookimpl
        def executor_adopt(self, executor, tasks):
            adopted = []
            for attempt in tasks:
                job = self.cluster.find(attempt.attempt_id)
                if job is not None:
                    self.jobs[attempt.key] = job
                    adopted.append(attempt.key)
            return adopted
    """


@hookspec
def executor_sync(executor: Executor) -> None:
    """Find out what happened to the running tasks and report it.

    Called at the end of every :meth:`exechost.Executor.heartbeat`, after new tasks were started.
    A backend whose own threads or callbacks already report every change may leave it out.

    :param executor: the host's executor this backend serves.

    Return nothing. If the hook raises, every task the host counts as running on this backend ends
    ``failed`` with the error in its info: the host cannot know their fate any more. A backend that
    wants to retry a lost connection does so inside the hook, within the executor's
    ``sync_timeout``: the hook runs on a thread of the host's own, and one that has not returned
    by then is abandoned, its executor broken and its tasks failed (see :doc:`/configuration`).

    Example::

        @hookimpl
        def executor_sync(self, executor):
            for key, job_id in list(self.jobs.items()):
                status = self.cluster.status(job_id)
                if status in ("done", "error"):
                    del self.jobs[key]
                    info = TaskInfo(error=None if status == "done" else "job error")
                    executor.change_state(key, "success" if status == "done" else "failed", info)
    """


@hookspec
def executor_end(executor: Executor) -> None:
    """Release the backend's resources after every task has finished.

    Called once by :meth:`exechost.Executor.end`, after it heartbeated until no task was queued or
    running. No lifecycle hook is called after it.

    :param executor: the host's executor this backend serves.

    Return nothing. If the hook raises, the error is logged with the backend's name and
    distribution and ``end()`` still completes; so it does, after the executor's ``sync_timeout``,
    if the hook has not returned by then (it runs on a thread of its own).

    Example::

        @hookimpl
        def executor_end(self):
            self.client.close()
    """


@hookspec
def executor_terminate(executor: Executor) -> None:
    """Stop now: kill or revoke every running task and release the backend's resources.

    Called once by :meth:`exechost.Executor.terminate` (on an error in a ``with`` block, Ctrl-C or
    SIGTERM), instead of :func:`executor_end`. No lifecycle hook is called after it.

    :param executor: the host's executor this backend serves.

    Return nothing. A backend need not report the tasks it killed: after this hook returns, the host
    reports every task still running as ``failed`` with the error ``"terminated"``. If the hook
    raises, the error is logged with the backend's name and distribution and the same happens. It
    runs on a thread of its own: if it has not returned within the executor's ``sync_timeout``,
    the host reports those tasks ``failed`` with that reason and goes on. Also called, instead of
    :func:`executor_end`, when an executor whose backend missed its ``sync_timeout`` ends.

    Example::

        @hookimpl
        def executor_terminate(self):
            for job_id in self.jobs.values():
                self.cluster.cancel(job_id)
            self.client.close()
    """


@hookspec(firstresult=True)
def executor_cancel(executor: Executor, key: TaskKey) -> bool | None:
    """Kill the work of one running task, whose caller no longer wants it.

    Called by :meth:`exechost.Executor.cancel` for a task the host counts as running, only when
    the backend declares ``Capabilities(can_cancel_running=True)``. A task still queued or waiting
    for a retry never reaches the backend: the host removes it itself.

    .. versionadded:: 1.1

    :param executor: the host's executor this backend serves.
    :param key: the key of the task to cancel, as given to :func:`executor_execute_async`.

    Return ``True`` once the kill is under way (a signal sent, a revoke published, a future
    cancelled); then report the task's end as for any task (``executor.fail(key, info)``, from
    this hook or later), and the host reports it ``failed`` with the error ``"cancelled"``
    (:data:`exechost.CANCELLED_ERROR`), whatever the state reported, and never retries it.
    Return ``False`` or ``None`` when the task cannot be cancelled (its work is already over, or
    unknown to the engine): it goes on and ends as it will. ``firstresult``: only the backend's
    result counts. If the hook raises, the error is logged with the backend's name and
    distribution and the task goes on as if it had returned ``False``.

    Example::

        @hookimpl
        def executor_cancel(self, key):
            job = self.jobs.get(key)
            if job is None:
                return False
            self.cluster.cancel(job.id)
            return True
    """


@hookspec(firstresult=True)
def executor_fetch_log(executor: Executor, key: TaskKey, info: TaskInfo) -> str | None:
    """Read back the output of one task, running or finished, wherever it ran.

    Called by :meth:`exechost.Executor.fetch_log`, for a task running or finished on this
    executor.

    .. versionadded:: 1.1

    :param executor: the host's executor this backend serves.
    :param key: the task's key.
    :param info: what the host knows of the task's latest attempt: the
        :class:`exechost.TaskInfo` last reported for it (its ``log``, ``external_id`` and
        ``attempt_id`` are the backend's own handles on the output).

    Return the task's output (stdout and stderr as one text, undecodable bytes replaced), at most
    its last :data:`exechost.process.LOG_FETCH_LIMIT` bytes, or ``None`` when the backend has none
    to give (no such log, or the engine has forgotten it). A backend whose tasks run on another
    machine returns what the worker wrote there, without a shared file system: the worker sends
    its log's tail back (in the task's result, say). A backend whose logs are files on the host's
    machine reads them with :func:`exechost.process.read_log`. ``firstresult``: only the
    backend's result counts. If the hook raises, the error reaches the caller of ``fetch_log()``
    as a :class:`exechost.BackendError`.

    Example::

        @hookimpl
        def executor_fetch_log(self, info):
            return None if info.log is None else read_log(Path(info.log))
    """
