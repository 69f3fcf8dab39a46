"""A record of the task processes each worker runs, to kill those its death orphaned.

A task's command runs in a session of its own, so when its worker process dies without warning
(killed, out of memory) nothing kills the command. While a task runs, a file in a per-user
directory (on ``/dev/shm`` where there is one) names its process and the worker's; a worker that
starts on the machine (a nanny restarting a dead worker, say) kills the process groups whose
worker is gone. Processes are told apart by PID and start time, so a reused PID is never mistaken
for a task's. Linux only (it reads ``/proc``); elsewhere nothing is recorded.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import tempfile
from pathlib import Path

_MEMORY_FS = Path("/dev/shm")  # a tmpfs on Linux: a note costs a tenth of one on a disk
RECORD_DIR = (
    _MEMORY_FS if _MEMORY_FS.is_dir() else Path(tempfile.gettempdir())
) / f"exechost-dask-{os.getuid()}"
"""Where the records are: one file per running task, named after its PID."""

_ENABLED = Path("/proc/self/stat").exists()


def start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or ``None`` if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22, counted after the command name


def record(pid: int) -> Path | None:
    """Note that this worker process runs the task process ``pid``; return the note.

    Best effort: a note that cannot be written (a full disk, a directory someone else owns) is
    skipped, and the task runs all the same.
    """
    if not _ENABLED:
        return None
    task_started = start_time(pid)
    if task_started is None:  # the task has exited already
        return None
    path = RECORD_DIR / str(pid)
    try:
        RECORD_DIR.mkdir(mode=0o700, exist_ok=True)
        if not _ours(RECORD_DIR):
            return None
        path.write_text(f"{_this_worker()} {task_started}")
    except OSError:
        return None
    return path


@functools.cache
def _worker_identity(pid: int) -> str:
    return f"{pid} {start_time(pid)}"


def _this_worker() -> str:
    """This process's PID and start time (cached by PID, so a forked child finds its own)."""
    return _worker_identity(os.getpid())


def _ours(directory: Path) -> bool:
    """Whether ``directory`` belongs to this user alone: no one else can plant notes in it."""
    status = directory.lstat()
    return status.st_uid == os.getuid() and not status.st_mode & 0o022


def forget(path: Path | None) -> None:
    """Remove a note made by :func:`record`: the task's process has been reaped."""
    if path is not None:
        path.unlink(missing_ok=True)


def kill_orphans() -> list[int]:
    """Kill the process group of each recorded task whose worker is gone; return their PIDs."""
    if not _ENABLED or not RECORD_DIR.is_dir() or not _ours(RECORD_DIR):
        return []
    killed = []
    for path in RECORD_DIR.iterdir():
        try:
            worker, worker_started, task_started = path.read_text().split()
            pid = int(path.name)
        except (OSError, ValueError):  # being written, or not ours
            continue
        if start_time(int(worker)) == worker_started:
            continue  # its worker is alive and looks after it
        if start_time(pid) == task_started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
        path.unlink(missing_ok=True)
    return killed
