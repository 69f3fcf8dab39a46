"""Killing what a task left running when its pool process died (Celery's ``WorkerLostError``).

A task's command runs in a session of its own, so a pool process killed outright (``kill -9``,
the OOM killer) cannot take the command down with it. Every command a worker runs therefore has
:data:`TASK_ID_VARIABLE` in its environment, which its children inherit; when the worker's main
process learns that a pool process died mid-task, it kills the process group of every process
carrying that task's id. Linux only (it reads ``/proc/PID/environ``); elsewhere nothing is found.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from celery import signals
from celery.exceptions import WorkerLostError

TASK_ID_VARIABLE = "EXECHOST_CELERY_TASK_ID"
"""The environment variable that holds, in each command a worker runs, its Celery task id."""

logger = logging.getLogger(__name__)


def tagged_processes(task_id: str) -> list[int]:
    """The processes whose environment says they belong to the task ``task_id``."""
    tag = f"{TASK_ID_VARIABLE}={task_id}".encode()
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:  # gone already, or another user's
                continue
            if tag in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def kill_task_processes(task_id: str) -> list[int]:
    """SIGKILL the process groups of the task's processes; return the processes found."""
    own_group = os.getpgrp()
    pids = tagged_processes(task_id)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group == own_group:
                os.kill(pid, signal.SIGKILL)
            else:
                os.killpg(group, signal.SIGKILL)
    return pids


def _on_task_failure(task_id: str, exception: BaseException, **_: Any) -> None:
    if isinstance(exception, WorkerLostError):
        killed = kill_task_processes(task_id)
        if killed:
            logger.warning(
                "task %s: its pool process died; killed its processes %s", task_id, killed
            )


def reap_orphans_of_lost_tasks() -> None:
    """In a worker: kill a task's processes when its pool process dies (call before starting)."""
    signals.task_failure.connect(_on_task_failure, weak=False)
