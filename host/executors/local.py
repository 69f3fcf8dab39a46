"""The ``local`` executor: each task a child process of the host, up to ``parallelism`` at once.

There is no worker pool in between: the host's thread starts each command, and one reaper thread
learns of exits through pidfds in an epoll set (so without polling), enforces timeouts and
reports each end to the executor. Where pidfds are missing (not Linux), a thread per task waits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import itertools
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exechost.executor import TERMINATED_ERROR, Executor
from exechost.hookspecs import Capabilities, hookimpl
from exechost.process import (
    HAVE_PIDFD,
    ProcessOptions,
    create_log,
    finished_info,
    kill_group,
    make_log_dir,
    parse_options,
    reap,
    spawn,
    wait_for_exit,
)
from exechost.shutdown import HANDLED_SIGNALS, signals_deferred
from exechost.states import TaskInfo
from exechost.tasks import TaskKey


@dataclass(frozen=True)
class LocalSettings:
    """Settings of the ``local`` and ``sequential`` executors."""

    log_dir: str | None = None
    """The directory of the tasks' log files; a new temporary directory when ``None``."""


@dataclass(eq=False)
class _Child:
    key: TaskKey
    process: subprocess.Popen[bytes]
    log_path: Path
    deadline: float | None
    timed_out: bool = False
    terminated: bool = False
    done: bool = field(default=False)


class LocalBackend:
    """Runs each task as a child process of the host."""

    Settings = LocalSettings
    default_parallelism = os.cpu_count() or 1
    exechost_api = ">=1.0,<2"
    capabilities = Capabilities(
        can_cancel_running=True, ordered_start=True, executor_config=ProcessOptions
    )

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.log_dir: Path | None = None
        self._reaper: _Reaper | None = None

    @hookimpl
    def executor_start(self, executor: Executor) -> None:
        self.log_dir = make_log_dir(self.settings)
        self._reaper = _Reaper(executor)

    @hookimpl
    def executor_execute_async(
        self,
        executor: Executor,
        key: TaskKey,
        command: list[str],
        executor_config: Mapping[str, Any],
    ) -> str | None:
        assert self._reaper is not None and self.log_dir is not None
        options = parse_options(key, executor_config)  # checked when queued: cannot fail here
        log_path, log_fd = create_log(self.log_dir, key)
        deadline = None if options.timeout is None else time.monotonic() + options.timeout
        with signals_deferred():  # a signal now must not lose the child between the two calls
            try:
                process = spawn(command, log_path, options, log_fd=log_fd)
            except (OSError, ValueError) as exc:  # no such command, a bad cwd, a NUL in an argv
                executor.fail(key, TaskInfo(error=str(exc), log=str(log_path)))
                return None
            finally:
                os.close(log_fd)
            self._reaper.watch(_Child(key, process, log_path, deadline))
        return str(process.pid)

    @hookimpl
    def executor_end(self) -> None:
        assert self._reaper is not None
        self._reaper.stop()

    @hookimpl
    def executor_terminate(self) -> None:
        if self._reaper is not None:
            self._reaper.kill_all()
            self._reaper.stop()


class _Reaper:
    """Waits for the children's exits and timeouts, and reports each end to the executor."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._lock = threading.Lock()
        self._children: dict[int, _Child] = {}  # by pidfd, or by pid without pidfds
        self._deadlines: list[tuple[float, int, _Child]] = []
        self._order = itertools.count()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        if HAVE_PIDFD:
            self._epoll = select.epoll()
            self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._epoll.register(self._wake_read, select.EPOLLIN)
            self._thread = threading.Thread(
                target=self._run, name="exechost-local-reaper", daemon=True
            )
            self._thread.start()

    def watch(self, child: _Child) -> None:
        """Start watching ``child``, which has just been spawned."""
        if not HAVE_PIDFD:  # pragma: no cover - exercised on platforms without pidfds
            with self._lock:
                self._children[child.process.pid] = child
            thread = threading.Thread(target=self._wait_one, args=(child,), daemon=True)
            self._threads.append(thread)
            thread.start()
            return
        pidfd = os.pidfd_open(child.process.pid)
        with self._lock:
            self._children[pidfd] = child
            if child.deadline is not None:
                heapq.heappush(self._deadlines, (child.deadline, next(self._order), child))
        self._epoll.register(pidfd, select.EPOLLIN)
        if child.deadline is not None:
            self._wake()

    def kill_all(self) -> None:
        """Kill every watched child's process group; each is reported failed ("terminated")."""
        with self._lock:
            children = list(self._children.values())
        for child in children:
            child.terminated = True
            kill_group(child.process)

    def stop(self) -> None:
        """Wait until every watched child has been reported, then stop the reaper."""
        if not HAVE_PIDFD:  # pragma: no cover
            for thread in self._threads:
                thread.join()
            return
        self._stopping = True
        self._wake()
        self._thread.join()
        self._epoll.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # the pipe is full of wake-ups already
            os.write(self._wake_write, b"x")

    def _run(self) -> None:
        # the host's signals go to its main thread, which turns them into a clean exit
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        children = self._children
        while True:
            with self._lock:
                if self._stopping and not children:
                    return
                timeout = self._expire_deadlines()
            for fd, _ in self._epoll.poll(timeout):
                if fd == self._wake_read:
                    while True:
                        try:
                            os.read(fd, 4096)
                        except BlockingIOError:
                            break
                    continue
                with self._lock:
                    child = children.pop(fd)
                self._epoll.unregister(fd)
                os.close(fd)
                self._report(child, reap(child.process))

    def _expire_deadlines(self) -> float:
        """Kill the children past their deadline; return seconds to the next one (-1: none)."""
        now = time.monotonic()
        deadlines = self._deadlines
        while deadlines and (deadlines[0][2].done or deadlines[0][0] <= now):
            child = heapq.heappop(deadlines)[2]
            if not child.done:
                child.timed_out = True
                kill_group(child.process)
        return deadlines[0][0] - now if deadlines else -1

    def _wait_one(self, child: _Child) -> None:  # pragma: no cover - platforms without pidfds
        timeout = None if child.deadline is None else max(child.deadline - time.monotonic(), 0)
        if not wait_for_exit(child.process, timeout):
            child.timed_out = True
            kill_group(child.process)
        returncode = reap(child.process)
        with self._lock:
            del self._children[child.process.pid]
        self._report(child, returncode)

    def _report(self, child: _Child, returncode: int) -> None:
        child.done = True
        info = finished_info(
            returncode,
            child.log_path,
            timed_out=child.timed_out,
            external_id=str(child.process.pid),
        )
        if child.terminated:
            info = dataclasses.replace(info, error=TERMINATED_ERROR)
        if info.error is None:
            self._executor.success(child.key, info)
        else:
            self._executor.fail(child.key, info)
