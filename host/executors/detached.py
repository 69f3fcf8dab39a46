"""Detached attempts of the ``local`` executor: what lets a later host find them again.

With ``detach = true`` each attempt gets a private folder, ``LOG_DIR/.exechost-attempts/ATTEMPT_ID``
(0700, like the folder holding it). The host writes ``log`` there (the path of the attempt's log
file) before the command starts. The command runs under a small ``sh`` wrapper that outlives the
host and, once the command has exited, writes its exit status to ``status`` (0600, by an atomic
rename; the file's modification time is the end time) and exits with it.

An attempt's external id is ``PID:START``, the wrapper's process id and its start time in clock
ticks since boot (``/proc/PID/stat``), so that a later host recognises the process by both and
never by its pid alone. Linux only: it reads ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ATTEMPTS_DIR = ".exechost-attempts"
"""The folder, inside the log folder, of the attempts' records."""

SHELL = "/bin/sh"

_WRAPPER = (
    '"$@"; s=$?; umask 077; printf "%s\\n" "$s" > "$0/status.tmp" && '
    'mv -f "$0/status.tmp" "$0/status"; exit "$s"'
)
_WRAPPER_ARGV = b"\0".join((SHELL.encode(), b"-c", _WRAPPER.encode())) + b"\0"
_ATTEMPT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_EXITED = (b"Z", b"X", b"x")  # the states of /proc/PID/stat of a process that has exited
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def supported() -> bool:
    """Whether attempts can be detached here (a Linux ``/proc`` and pidfds)."""
    return hasattr(os, "pidfd_open") and os.path.exists(f"/proc/{os.getpid()}/stat")


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot; ``None`` when there is none."""
    found = _state_and_start(pid)
    return None if found is None else found[1]


def _state_and_start(pid: int) -> tuple[bytes, int] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rpartition(b")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[19])  # the 3rd and 22nd fields; the name is the 2nd


def parse_external_id(external_id: str | None) -> tuple[int, int] | None:
    """The ``(pid, start time)`` of an external id ``PID:START``; ``None`` for anything else."""
    pid, _, start = (external_id or "").partition(":")
    if not (pid.isdigit() and start.isdigit()):
        return None
    return int(pid), int(start)


def open_process(pid: int, start_time: int) -> int | None:
    """A pidfd on process ``pid`` if it is still the one that started at ``start_time`` and has
    not exited (a zombie that its new parent has not reaped yet has)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    # checked after the pidfd is open: the pidfd keeps naming this process even if it exits now
    found = _state_and_start(pid)
    if found is None or found[0] in _EXITED or found[1] != start_time:
        os.close(pidfd)
        return None
    return pidfd


@dataclass(frozen=True)
class ExitRecord:
    """How a detached attempt ended, as its wrapper recorded it."""

    returncode: int
    ended_at: float


class AttemptRecords:
    """The attempts' folders under one log folder."""

    def __init__(self, log_dir: Path) -> None:
        """Create (if needed) and open ``log_dir/.exechost-attempts``.

        :raises OSError: when it is a symbolic link, not a folder, or not private to this user.
        """
        self.path = log_dir / ATTEMPTS_DIR
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.path, 0o700)
        self._fd = os.open(self.path, _DIR_FLAGS)
        info = os.fstat(self._fd)
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            os.close(self._fd)
            raise PermissionError(
                f"{self.path} must belong to this user and be private (0700); refusing to use it"
            )

    def close(self) -> None:
        os.close(self._fd)

    def prepare(self, attempt_id: str, log_path: Path) -> list[str]:
        """Make the attempt's folder; return the argv prefix that runs a command under its
        wrapper."""
        os.mkdir(attempt_id, 0o700, dir_fd=self._fd)
        fd = os.open(
            f"{attempt_id}/log",
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=self._fd,
        )
        try:
            os.write(fd, os.fsencode(log_path))
        finally:
            os.close(fd)
        return [SHELL, "-c", _WRAPPER, str(self.path / attempt_id)]

    def knows(self, attempt_id: str) -> bool:
        """Whether ``attempt_id`` has a folder here (was started detached from this log folder)."""
        if not _ATTEMPT_ID.fullmatch(attempt_id):
            return False
        try:
            return stat.S_ISDIR(os.stat(attempt_id, dir_fd=self._fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return False

    def log_path(self, attempt_id: str) -> str | None:
        """The attempt's log file, as recorded when it started."""
        data = self._read(attempt_id, "log")
        return None if not data else os.fsdecode(data)

    def exit_record(self, attempt_id: str) -> ExitRecord | None:
        """How the attempt ended; ``None`` when its wrapper recorded nothing (yet)."""
        fd = self._open(attempt_id, "status")
        if fd is None:
            return None
        try:
            text = os.read(fd, 64).strip()
            ended_at = os.fstat(fd).st_mtime
        finally:
            os.close(fd)
        if not text.isdigit():
            return None
        return ExitRecord(int(text), ended_at)

    def find_wrappers(self, attempt_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """The running wrappers of these attempts, found by their command lines in ``/proc``:
        ``(pid, start time)`` by attempt id. For attempts whose external id the host never
        recorded."""
        wanted = {os.fsencode(self.path / attempt_id): attempt_id for attempt_id in attempt_ids}
        found: dict[str, tuple[int, int]] = {}
        if not wanted:
            return found
        uid = os.getuid()
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            start_time = process_start_time(pid)  # before the command line: pid reuse
            try:
                if entry.stat().st_uid != uid:
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as file:
                    argv = file.read()
            except OSError:
                continue
            if start_time is None or not argv.startswith(_WRAPPER_ARGV):
                continue
            folder = argv[len(_WRAPPER_ARGV) :].partition(b"\0")[0]
            if folder in wanted:
                found[wanted[folder]] = (pid, start_time)
        return found

    def _open(self, attempt_id: str, name: str) -> int | None:
        if not _ATTEMPT_ID.fullmatch(attempt_id):
            return None
        try:
            folder = os.open(attempt_id, _DIR_FLAGS, dir_fd=self._fd)
        except FileNotFoundError:
            return None
        try:
            return os.open(name, _READ_FLAGS, dir_fd=folder)
        except FileNotFoundError:
            return None
        finally:
            os.close(folder)

    def _read(self, attempt_id: str, name: str) -> bytes | None:
        fd = self._open(attempt_id, name)
        if fd is None:
            return None
        try:
            return os.read(fd, 65536)
        finally:
            os.close(fd)
