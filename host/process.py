"""Running one command as a process tree of its own: duties every process-running backend shares.

Each command runs in a new session (so its own process group) with stdin from ``/dev/null`` and
stdout and stderr in one log file. When the command exits, whatever it left running in its process
group is killed too, so a task's processes end with the task. Backends outside this distribution
(a Celery worker, a Dask worker) use these functions as they are.

This module is the SDK of backend authors: with :mod:`exechost` (the types of the hooks'
arguments, the errors), :mod:`exechost.hookspecs` (the contract) and :mod:`exechost.testing` (the
conformance suite), the names in its ``__all__`` are everything a backend needs from exechost.
Other modules of exechost are internal: they change without notice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, overload

from exechost.settings import build_settings
from exechost.shutdown import signals_deferred
from exechost.states import TaskInfo
from exechost.tasks import TaskKey

__all__ = [
    "HAVE_PIDFD",
    "LOG_FETCH_LIMIT",
    "TIMEOUT_ERROR",
    "LogDirSettings",
    "ProcessOptions",
    "create_log",
    "finished_info",
    "kill_group",
    "log_path_for",
    "make_log_dir",
    "parse_options",
    "read_log",
    "reap",
    "run",
    "spawn",
    "wait_for_exit",
]

HAVE_PIDFD = hasattr(os, "pidfd_open")
"""Whether exits can be waited for through pidfds (Linux 5.3 and later)."""

TIMEOUT_ERROR = "timeout"
"""The error of a task that was killed because it ran past its timeout."""


@dataclasses.dataclass(frozen=True)
class ProcessOptions:
    """The per-task options (``executor_config``) of the process-running backends."""

    env: dict[str, str] | None = None
    """Variables merged over the host's environment."""
    cwd: str | None = None
    """The working directory; the host's when ``None``."""
    timeout: float | None = None
    """Seconds after which the task's process group is killed and the task fails (``"timeout"``);
    more than 0, at most :data:`LONGEST_TIMEOUT`."""

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.timeout is not None and self.timeout > LONGEST_TIMEOUT:
            raise ValueError(
                f"timeout must be at most {LONGEST_TIMEOUT} seconds (a year), got {self.timeout}"
            )


LONGEST_TIMEOUT = 365 * 24 * 3600
"""The longest task ``timeout``, in seconds: a year (the operating system's waits end sooner than
the largest floats)."""


OptionsT = TypeVar("OptionsT", bound=ProcessOptions)


@overload
def parse_options(key: TaskKey, executor_config: Mapping[str, Any]) -> ProcessOptions: ...
@overload
def parse_options(
    key: TaskKey, executor_config: Mapping[str, Any], options_class: type[OptionsT]
) -> OptionsT: ...
def parse_options(
    key: TaskKey,
    executor_config: Mapping[str, Any],
    options_class: type[ProcessOptions] = ProcessOptions,
) -> ProcessOptions:
    """Validate a task's ``executor_config`` as :class:`ProcessOptions`.

    :param options_class: a backend's subclass of :class:`ProcessOptions` with options of its own
        (a frozen dataclass whose added fields have defaults).
    :raises exechost.SettingsError: naming the task, the bad key and the accepted keys.
    """
    if not executor_config:
        return _NO_OPTIONS if options_class is ProcessOptions else options_class()
    options: ProcessOptions = build_settings(
        options_class, executor_config, owner=f"task {key!r} (executor_config)"
    )
    return options


LOG_FILE_MODE = 0o600
"""Task logs are readable by their owner only: a task's output may hold secrets."""
_NO_OPTIONS = ProcessOptions()
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]+")


class LogDirSettings(Protocol):
    """Settings that may name the directory of the tasks' logs: any settings dataclass with a
    ``log_dir: str | None`` field (``None``: a new temporary directory)."""

    @property
    def log_dir(self) -> str | None: ...


def make_log_dir(settings: LogDirSettings) -> Path:
    """The settings' log directory as an absolute path, created (mode 0700) if needed, or a new
    temporary one."""
    if settings.log_dir is None:
        return Path(tempfile.mkdtemp(prefix="exechost-logs-")).absolute()
    path = Path(settings.log_dir).absolute()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def create_log(log_dir: Path, key: TaskKey) -> tuple[Path, int]:
    """Create a new log file in ``log_dir`` for ``key`` and return it with a descriptor open on it.

    The file is ``a__b__3.log`` for the key ``("a", "b", 3)``. An earlier log of that name is
    moved aside to ``a__b__3.1.log`` (then ``.2``...): the log without a number is always the
    newest, the numbered ones go from the oldest up. The descriptor appends and is not
    inherited; the caller closes it.
    """
    parts = key if type(key) is tuple else (key,)
    stem = "__".join(_UNSAFE.sub("_", str(part)) for part in parts)[:200] or "task"
    path = log_dir / f"{stem}.log"
    while True:
        try:
            return path, os.open(path, _LOG_FLAGS | os.O_EXCL, LOG_FILE_MODE)
        except FileExistsError:
            _move_aside(path, stem)


def _move_aside(path: Path, stem: str) -> None:
    """Give the log at ``path`` the first free numbered name (a link never overwrites)."""
    number = 1
    while True:
        try:
            os.link(path, path.with_name(f"{stem}.{number}.log"), follow_symlinks=False)
        except FileExistsError:
            number += 1
            continue
        except FileNotFoundError:  # moved aside by another host meanwhile
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return


def open_log(path: Path) -> int:
    """A descriptor appending to the log ``path``, created if missing (mode 0600).

    :raises OSError: when ``path`` is a symbolic link (one planted in the log folder would
        send a task's output into another file).
    """
    return os.open(path, _LOG_FLAGS | os.O_NOFOLLOW, LOG_FILE_MODE)


LOG_FETCH_LIMIT = 1024 * 1024
"""The most bytes of a task's log that :func:`read_log` (so ``Executor.fetch_log``) returns: the
log's last MiB, so that a task that wrote gigabytes cannot exhaust the host's memory."""


def read_log(path: Path, limit: int = LOG_FETCH_LIMIT) -> str | None:
    """The text of the log file ``path``: its last ``limit`` bytes, undecodable bytes replaced.

    ``None`` when there is no such file. Never follows a symbolic link, and reads only a regular
    file (a FIFO planted in the log folder would block).

    :raises OSError: when ``path`` is a symbolic link or not a regular file, or cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as file:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file")
        file.seek(max(status.st_size - limit, 0))
        return file.read(limit).decode("utf-8", errors="replace")


def log_path_for(log_dir: Path, key: TaskKey) -> Path:
    """A new, empty log file in ``log_dir`` for ``key`` (named as by :func:`create_log`)."""
    path, log_fd = create_log(log_dir, key)
    os.close(log_fd)
    return path


def spawn(
    command: Sequence[str],
    log_path: Path,
    options: ProcessOptions = _NO_OPTIONS,
    *,
    log_fd: int | None = None,
    wrapper: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own, its output going to ``log_path``.

    :param log_fd: a descriptor already open on ``log_path`` (see :func:`create_log`), used instead
        of opening the file again; the caller keeps and closes it.
    :param wrapper: an argv that runs ``command`` given as its last arguments (e.g. ``sh -c
        SCRIPT ARG0``); ``command``'s program is then looked up on ``PATH`` here, as without it.
    :raises OSError: when the command cannot be started (not found, not executable, bad cwd).
    """
    env = None if options.env is None else {**os.environ, **options.env}
    executable = None
    if options.cwd is None and "/" not in command[0]:
        executable = _find_program(command[0], (os.environ if env is None else env).get("PATH"))
    if wrapper:
        if executable is None and options.cwd is None and "/" not in command[0]:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command[0])
        command = [*wrapper, executable or command[0], *command[1:]]
        executable = None
    output = open_log(log_path) if log_fd is None else log_fd
    try:
        return subprocess.Popen(
            command,
            executable=executable,
            stdin=_devnull(),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=options.cwd,
            start_new_session=True,
        )
    finally:
        if log_fd is None:
            os.close(output)


@functools.lru_cache(maxsize=1024)
def _find_program(name: str, path: str | None) -> str | None:
    """Where ``name`` is on ``path``, remembered like a shell's command hash.

    Spares Popen from trying every ``PATH`` entry in the child for every task. ``None`` (not
    found) lets Popen search, and fail, as usual.
    """
    return shutil.which(name, path=path)


@functools.cache
def _devnull() -> int:
    """One read-only ``/dev/null`` descriptor for every child's stdin, opened once."""
    return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process``'s whole process group, unless the process was reaped already."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def reap(process: subprocess.Popen[bytes]) -> int:
    """Kill what ``process`` (which has exited) left in its group, reap it, return its status."""
    kill_group(process)
    return process.wait()


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds for ``process`` to exit, without reaping it."""
    if not HAVE_PIDFD:  # pragma: no cover - non-Linux: poll through Popen, which reaps
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    pidfd = os.pidfd_open(process.pid)
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def finished_info(
    returncode: int,
    log_path: Path | None,
    *,
    timed_out: bool = False,
    external_id: str | None = None,
    ended_at: float | None = None,
) -> TaskInfo:
    """The :class:`TaskInfo` of a process that exited with ``returncode`` (at ``ended_at``, or
    now)."""
    if timed_out:
        error: str | None = TIMEOUT_ERROR
    elif returncode < 0:
        error = f"killed by {signal.Signals(-returncode).name}"
    elif returncode > 0:
        error = f"exit status {returncode}"
    else:
        error = None
    return TaskInfo(
        returncode=returncode,
        error=error,
        log=None if log_path is None else str(log_path),
        external_id=external_id,
        ended_at=time.time() if ended_at is None else ended_at,
    )


def run(
    command: Sequence[str],
    log_path: Path,
    options: ProcessOptions = _NO_OPTIONS,
    on_spawn: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> TaskInfo:
    """Run ``command`` to its end (or its timeout) and describe how it ended.

    :param on_spawn: called with the process as soon as it has started, e.g. to record it where
        another thread can :func:`kill_group` it (a worker's cancel or terminate request). If it
        raises, the process group is killed and the error propagates.

    Never raises for the command's own failure: a command that cannot start gives a
    :class:`TaskInfo` with the OS error and no return code.
    """
    process: subprocess.Popen[bytes] | None = None
    try:
        with signals_deferred():  # the exit a signal causes waits until ``process`` is known
            process = spawn(command, log_path, options)
        if on_spawn is not None:
            on_spawn(process)
        exited = wait_for_exit(process, options.timeout)
        if not exited:
            kill_group(process)
        return finished_info(
            reap(process), log_path, timed_out=not exited, external_id=str(process.pid)
        )
    except BaseException as exc:
        if process is None and isinstance(exc, OSError | ValueError):  # it could not start
            return TaskInfo(error=str(exc), log=str(log_path), ended_at=time.time())
        if process is not None:
            kill_group(process)
            process.wait()
        raise
