"""What runs on a Dask worker: one exechost task as a process tree, and the means to kill it.

Dask runs :func:`run_task` in a worker thread, which it cannot stop. So the task's process is
recorded in this worker process's registry while it runs, and :func:`kill_tasks` (sent to every
worker with ``Client.run``) kills the process groups of the tasks it names: the thread then sees
its process exit and returns. :class:`TaskReaper`, a worker plugin, kills the tasks of a worker
that closes, and those a dead worker left behind (see :mod:`exechost_dask.orphans`).
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from distributed import Worker
from distributed.diagnostics.plugin import WorkerPlugin
from exechost import TaskInfo
from exechost.process import ProcessOptions, kill_group, read_log, run

from exechost_dask import orphans

DOOMED_MEMORY = 600.0
"""Seconds a kill request is remembered for a task that has not started on this worker, in case
its start was already on its way when the request came."""

_lock = threading.Lock()
_running: dict[str, subprocess.Popen[bytes]] = {}  # by task id (the Dask key)
_doomed: dict[str, float] = {}  # task id -> when a kill request found it not running here
_logs: dict[str, str] = {}  # task id -> log file, of the tasks run here (the latest LOGS_KEPT)

LOGS_KEPT = 100_000
"""How many tasks' log files a worker remembers for :func:`read_task_log` (~100 bytes each)."""


def run_task(
    task_id: str, command: Sequence[str], log_path: str, options: ProcessOptions
) -> TaskInfo | None:
    """Run one task's ``command`` to its end (or timeout, or kill) with exechost's process duties.

    :param task_id: the task's Dask key, by which :func:`kill_tasks` finds it.
    :param log_path: the log file; its directory is made if this worker has none (a worker on
        another machine).
    :returns: ``None`` when the command succeeded: the client learns that from the result's type
        alone, without fetching it (see :mod:`exechost_dask.collector`); otherwise the
        :class:`exechost.TaskInfo` that says how it failed. Never raises for the command's
        failure, so Dask's worker log does not repeat each failed task with its arguments (its
        environment, perhaps secrets).
    """
    path = Path(log_path)
    with contextlib.suppress(OSError):  # if it cannot be made, the task fails opening its log
        path.parent.mkdir(parents=True, exist_ok=True)
    notes: list[Path | None] = []
    with _lock:
        _logs[task_id] = log_path
        if len(_logs) > LOGS_KEPT:
            del _logs[next(iter(_logs))]
    try:
        info = run(command, path, options, on_spawn=functools.partial(_register, task_id, notes))
    finally:
        with _lock:
            _running.pop(task_id, None)
        for note in notes:
            orphans.forget(note)
    return None if info.error is None else info


def _register(task_id: str, notes: list[Path | None], process: subprocess.Popen[bytes]) -> None:
    notes.append(orphans.record(process.pid))
    with _lock:
        doomed = _doomed.pop(task_id, None) is not None
        if not doomed:
            _running[task_id] = process
    if doomed:
        kill_group(process)


def kill_tasks(task_ids: Collection[str] | None) -> int:
    """Kill the process groups of the named tasks running on this worker; return how many.

    A named task that starts here later (its start crossed this request) is killed as it starts.
    ``None`` names every task running here.
    """
    now = time.monotonic()
    with _lock:
        for task_id, doomed_at in list(_doomed.items()):
            if now - doomed_at > DOOMED_MEMORY:
                del _doomed[task_id]
        victims = []
        for task_id in _running if task_ids is None else task_ids:
            process = _running.get(task_id)
            if process is None:
                _doomed[task_id] = now
            else:
                victims.append(process)
    for process in victims:
        kill_group(process)
    return len(victims)


def read_task_log(task_id: str) -> str | None:
    """The output of the task ``task_id`` if it ran (or runs) on this worker, read from this
    machine's file (its last ``LOG_FETCH_LIMIT`` bytes), else ``None``.

    Sent to every worker with ``Client.run``: the worker that ran the task answers, so the host
    reads a log written on another machine without a shared file system.
    """
    with _lock:
        path = _logs.get(task_id)
    return None if path is None else read_log(Path(path))


class TaskReaper(WorkerPlugin):
    """Kills the task processes that would outlive their worker.

    On a worker's start, those of dead workers on the same machine; on its close, its own.
    """

    name = "exechost-dask-task-reaper"
    idempotent = True  # registered again by every executor; replacing it would tear it down

    def setup(self, worker: Worker) -> None:
        orphans.kill_orphans()

    def teardown(self, worker: Worker) -> None:
        kill_tasks(None)
