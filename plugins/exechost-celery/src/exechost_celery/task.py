"""The Celery task a worker runs for each exechost task: one command, through exechost.process."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from celery.states import STARTED
from exechost import TaskKey
from exechost.process import log_path_for, parse_options, run

from exechost_celery.claims import claim_to_run, describe
from exechost_celery.orphans import TASK_ID_VARIABLE

TASK_NAME = "exechost.run_command"
"""The Celery name of the task that runs one exechost command."""

LOG_DIR_VARIABLE = "EXECHOST_CELERY_LOG_DIR"
"""The environment variable naming a worker's log directory (set by ``exechost-celery worker``)."""

logger = logging.getLogger(__name__)

_log_dir: Path | None = None


class TerminatedError(Exception):
    """The task's process received SIGTERM (a revoke with ``terminate=True``)."""


def run_command(
    task: Task,
    command: list[str],
    key: str | list[str | int],
    executor_config: Mapping[str, Any],
    heartbeat_interval: float,
    max_output_bytes: int,
) -> dict[str, Any]:
    """Run ``command`` with the task's ``env``/``cwd``/``timeout`` and return how it ended.

    First the attempt is claimed (see :mod:`exechost_celery.claims`): a message delivered again,
    or one a restarted host abandoned, is dropped without running the command or recording
    anything (Celery's ``Ignore``), and the worker logs why.

    The command's environment also has ``EXECHOST_CELERY_TASK_ID``, the Celery task id.

    While the command runs, the task's state is ``STARTED`` with a ``beat`` counter that a thread
    increments every ``heartbeat_interval`` seconds: the host fails the task as lost when the
    counter stops moving. The result is a JSON object: ``returncode``, ``error``, ``output`` (the
    last ``max_output_bytes`` of stdout and stderr), ``output_truncated``, ``log`` (the full output
    on the worker) and ``hostname``.
    """
    task_id, hostname = task.request.id, task.request.hostname
    refused = claim_to_run(task.backend, task_id, _stamp(hostname, 0))
    if refused is not None:
        logger.warning("task %s: not run: %s", task_id, describe(refused))
        raise Ignore()
    task_key: TaskKey = tuple(key) if isinstance(key, list) else key
    options = parse_options(task_key, executor_config)
    tagged = {**(options.env or {}), TASK_ID_VARIABLE: task_id}
    options = dataclasses.replace(options, env=tagged)
    log_path = log_path_for(worker_log_dir(), task_key)
    with _heartbeat(task, hostname, heartbeat_interval), _terminate_on_sigterm():
        info = run(command, log_path, options)
    output, truncated = _read_tail(log_path, max_output_bytes)
    return {
        "returncode": info.returncode,
        "error": info.error,
        "output": output,
        "output_truncated": truncated,
        "log": str(log_path),
        "hostname": hostname or socket.gethostname(),
    }


def worker_log_dir() -> Path:
    """The worker's log directory: ``$EXECHOST_CELERY_LOG_DIR``, or a temporary one per process."""
    global _log_dir
    if _log_dir is None:
        configured = os.environ.get(LOG_DIR_VARIABLE)
        if configured:
            _log_dir = Path(configured)
            _log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            _log_dir = Path(tempfile.mkdtemp(prefix="exechost-celery-logs-"))
    return _log_dir


def _stamp(hostname: str | None, beat: int) -> dict[str, Any]:
    """The result of a ``STARTED`` task: its heartbeat counter, worker and pool process."""
    return {"beat": beat, "hostname": hostname, "pid": os.getpid()}


@contextlib.contextmanager
def _heartbeat(task: Task, hostname: str | None, interval: float) -> Iterator[None]:
    """Re-stamp the claimed task's ``STARTED`` state every ``interval`` seconds (beat 1, 2...)."""
    task_id = task.request.id  # read here: the request is local to this thread
    stop = threading.Event()

    def beat_until_stopped() -> None:
        beat = 1
        while not stop.wait(interval):
            try:
                task.update_state(task_id=task_id, state=STARTED, meta=_stamp(hostname, beat))
            except Exception:  # the backend is away: the host decides what that means
                logger.warning("task %s: could not stamp its heartbeat", task_id, exc_info=True)
            beat += 1

    thread = threading.Thread(target=beat_until_stopped, name=f"heartbeat-{task_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise TerminatedError("terminated by SIGTERM")


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """Make SIGTERM kill the command's process group, then this process, as Celery expects.

    A revoke with ``terminate=True`` sends SIGTERM to the pool process running the task. Left to
    its default action the process would die at once and orphan the command, which runs in a
    session of its own; raised as an exception, it makes ``run`` kill the command's group first.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # thread pools: signals cannot be caught here, revoke cannot terminate
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except TerminatedError:
        # the pool marked this process as terminated and replaces it: it must not live on
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _read_tail(log_path: Path, limit: int) -> tuple[str, bool]:
    with open(log_path, "rb") as log:
        size = log.seek(0, os.SEEK_END)
        log.seek(max(size - limit, 0))
        data = log.read(limit)
    return data.decode("utf-8", errors="replace"), size > limit
