"""The keeper: a small process that kills the ``local`` executor's tasks when their host dies.

A ``local`` executor starts one keeper and holds the write end of a pipe to its stdin. Before it
starts a task the host sends ``=DEV:INODE``, the task's log file; once started, ``+PGID`` (each
task is a process group of its own); ``-PGID`` before it reaps the task, while the group's id
cannot be reused yet. When the pipe reaches end of file -- the host closed it, or the host died,
even by SIGKILL, and the kernel closed it -- the keeper SIGKILLs every group it still knows of,
and the task the host was starting when it died (found by its output, the announced log file:
the host never learned its id), then exits. The host's death thus takes its task trees with it
at once, timeouts included.

The keeper runs this file as a script with ``python -I -S``: the standard library only, so that it
starts in milliseconds and in any environment. It works on every POSIX system (the task being
started is found through Linux's ``/proc``); what it cannot reach is a process that left its
task's group (``setsid``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

logger = logging.getLogger("exechost")

BATCH_SECONDS = 0.01
"""How long the keeper lets the host's lines gather between two reads."""

KEEPER_EXIT_TIMEOUT = 10.0
"""Seconds the host waits for the keeper to exit after its pipe closed."""

STARTING_SEARCHES = (0.0, 0.05, 0.2, 0.5)
"""When, in seconds after the host died, the keeper looks for the task it was starting: a child
the host forked just before it died may take that long to run."""


class Keeper:
    """The host's end of a keeper process."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            bufsize=0,
            start_new_session=True,  # a Ctrl-C meant for the host must not kill the keeper first
        )
        assert self._process.stdin is not None
        self._pipe = self._process.stdin.fileno()
        self._lost = False

    @property
    def pid(self) -> int:
        """The keeper's process id."""
        return self._process.pid

    def starting(self, log_fd: int) -> None:
        """Tell the keeper that a task whose output goes to ``log_fd`` is about to start: if the
        host dies before :meth:`watch`, the keeper finds it by that file."""
        found = os.fstat(log_fd)
        self._send(b"=%d:%d\n" % (found.st_dev, found.st_ino))

    def watch(self, pgid: int) -> None:
        """Have the keeper kill process group ``pgid`` if the host dies."""
        self._send(b"+%d\n" % pgid)

    def forget(self, pgid: int) -> None:
        """Tell the keeper that group ``pgid`` is no longer the host's (call it before reaping)."""
        self._send(b"-%d\n" % pgid)

    def close(self) -> None:
        """Close the pipe, so that the keeper kills what it still knows of and exits.

        Returns at once: a thread reaps the keeper, which may still be starting up.
        """
        assert self._process.stdin is not None
        self._process.stdin.close()
        threading.Thread(target=self._reap, name="exechost-keeper-reaper", daemon=True).start()

    def _reap(self) -> None:
        try:
            self._process.wait(KEEPER_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.error(
                "the local executor's keeper (pid %d) did not exit %gs after its pipe closed; "
                "killing it",
                self._process.pid,
                KEEPER_EXIT_TIMEOUT,
            )
            self._process.kill()
            self._process.wait()

    def _send(self, line: bytes) -> None:
        # one write of less than PIPE_BUF bytes: atomic between the host's threads
        try:
            os.write(self._pipe, line)
        except BrokenPipeError:
            if not self._lost:
                self._lost = True
                logger.error(
                    "the local executor's keeper (pid %d) has died: its tasks will not be "
                    "killed if this host dies",
                    self._process.pid,
                )


def main() -> None:
    """The keeper's loop: remember the groups it is told of until end of file, then kill them."""
    groups: set[int] = set()
    starting: tuple[int, int] | None = None  # the log file of a task announced, not yet started
    pending = b""
    while chunk := os.read(0, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line[:1] == b"=":
                device, inode = line[1:].split(b":")
                starting = (int(device), int(inode))
            elif line[:1] == b"+":
                groups.add(int(line[1:]))
                starting = None
            else:
                groups.discard(int(line[1:]))
        # let lines gather: one wake-up per batch of tasks, not two per task, spares the host's
        # CPUs; end of file waits at most this long
        time.sleep(BATCH_SECONDS)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    if starting is not None:
        began = time.monotonic()
        for at in STARTING_SEARCHES:
            time.sleep(max(at - (time.monotonic() - began), 0))
            _kill_writers_of(starting)


def _kill_writers_of(file: tuple[int, int]) -> None:
    """SIGKILL every process whose standard output is ``file`` (device, inode), with its group
    when it leads one (it may not have made its own yet)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            found = os.stat(f"/proc/{pid}/fd/1")
            if (found.st_dev, found.st_ino) != file:
                continue
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except OSError:  # gone, not ours to read, or no /proc at all
            continue


if __name__ == "__main__":
    main()
