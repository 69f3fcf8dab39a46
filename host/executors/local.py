"""The ``local`` executor: each task a child process of the host, up to ``parallelism`` at once.

There is no worker pool in between, and no thread per task: the host's thread starts each command,
and learns of exits through pidfds in an epoll set that its waits watch, so it reaps and reports
each end itself between heartbeats (no polling, no hand-over between threads). A thread runs only
while some task has a timeout, to kill it at its deadline. Where pidfds are missing (not Linux), a
thread per task waits.

By default a :class:`~exechost.executors.keeper.Keeper` kills every task's process group when the
host dies. With ``detach = true`` tasks outlive the host instead, and a later host adopts them
(:mod:`exechost.executors.detached`).
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from exechost.attempts import Attempt
from exechost.errors import SettingsError
from exechost.executor import TERMINATED_ERROR, Executor
from exechost.executors import detached
from exechost.executors.detached import AttemptRecords
from exechost.executors.keeper import Keeper
from exechost.hookspecs import Capabilities, hookimpl
from exechost.process import (
    HAVE_PIDFD,
    ProcessOptions,
    create_log,
    finished_info,
    kill_group,
    make_log_dir,
    read_log,
    reap,
    spawn,
    wait_for_exit,
)
from exechost.shutdown import HANDLED_SIGNALS, signals_deferred
from exechost.states import TaskInfo
from exechost.tasks import TaskKey

NO_EXIT_STATUS_ERROR = "ended without recording its exit status (killed)"
"""The error of an adopted task whose wrapper was killed before it could record the status."""


@dataclass(frozen=True)
class LogSettings:
    """Settings of the ``sequential`` executor, and the first of the ``local`` executor's."""

    log_dir: str | None = None
    """The directory of the tasks' log files; a new temporary directory when ``None``."""


@dataclass(frozen=True)
class LocalSettings(LogSettings):
    """Settings of the ``local`` executor."""

    detach: bool = False
    """Tasks run on when the host dies, and a later host adopts them (Linux only); by default they
    are killed with the host. Needs ``log_dir``: the later host finds the tasks' exit status
    there."""

    def __post_init__(self) -> None:
        if self.detach and self.log_dir is None:
            raise ValueError(
                "detach = true needs log_dir: a later host finds the detached tasks' exit status "
                "there (a temporary folder would be a new one for each host)"
            )


_LONGEST_POLL = 86400.0
"""The longest one wait for a child's exit or deadline lasts (epoll refuses more than about 24
days)."""


@dataclass(eq=False)
class _Child:
    key: TaskKey
    pid: int
    process: subprocess.Popen[bytes] | None
    """``None`` for an adopted task: not this host's child, its wrapper records how it ended."""
    log_path: Path | None
    external_id: str
    deadline: float | None
    records: AttemptRecords | None = None
    attempt_id: str | None = None
    timed_out: bool = False
    terminated: bool = False
    done: bool = field(default=False)


class LocalBackend:
    """Runs each task as a child process of the host."""

    Settings = LocalSettings
    default_parallelism = os.cpu_count() or 1
    exechost_api = ">=1.1,<2"  # attempt_id and executor_adopt
    capabilities = Capabilities(
        can_cancel_running=True, ordered_start=True, executor_config=ProcessOptions
    )
    """Without ``detach``; an instance with ``detach = true`` has its own, which can adopt."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.log_dir: Path | None = None
        self._reaper: _Reaper | None = None
        self._keeper: Keeper | None = None
        self._records: AttemptRecords | None = None
        if settings.detach:
            self.capabilities = dataclasses.replace(LocalBackend.capabilities, can_adopt=True)

    @hookimpl
    def executor_start(self, executor: Executor) -> None:
        self.log_dir = make_log_dir(self.settings)
        if self.settings.detach:
            if not detached.supported():
                raise SettingsError("detach = true needs Linux (/proc and pidfds)")
            self._records = AttemptRecords(self.log_dir)
        else:
            self._keeper = Keeper()
        self._reaper = _Reaper(executor, self._keeper)

    @hookimpl
    def executor_execute_async(
        self,
        executor: Executor,
        key: TaskKey,
        command: list[str],
        attempt_id: str,
        options: ProcessOptions,
    ) -> str | None:
        assert self._reaper is not None and self.log_dir is not None
        log_path, log_fd = create_log(self.log_dir, key)
        deadline = None if options.timeout is None else time.monotonic() + options.timeout
        records = self._records
        with signals_deferred():  # a signal now must not lose the child between the two calls
            try:
                wrapper = () if records is None else records.prepare(attempt_id, log_path)
                if self._keeper is not None:
                    self._keeper.starting(log_fd)
                process = spawn(command, log_path, options, log_fd=log_fd, wrapper=wrapper)
            except (OSError, ValueError) as exc:  # no such command, a bad cwd, a NUL in an argv
                executor.fail(key, TaskInfo(error=str(exc), log=str(log_path)))
                return None
            finally:
                os.close(log_fd)
            if self._keeper is not None:
                self._keeper.watch(process.pid)
            external_id = str(process.pid)
            if records is not None:
                external_id = f"{process.pid}:{detached.process_start_time(process.pid)}"
            self._reaper.watch(_Child(key, process.pid, process, log_path, external_id, deadline))
        return external_id

    @hookimpl
    def executor_adopt(self, executor: Executor, tasks: Sequence[Attempt]) -> list[TaskKey] | None:
        """Adopt the detached attempts whose wrapper still runs (found by PID and start time) or
        has recorded its exit status; the others, never started or killed, are left."""
        records = self._records
        if records is None:
            return None
        assert self._reaper is not None
        tasks = [attempt for attempt in tasks if records.knows(attempt.attempt_id)]
        wrappers = records.find_wrappers(
            attempt.attempt_id
            for attempt in tasks
            if detached.parse_external_id(attempt.external_id) is None
        )
        taken = []
        for attempt in tasks:
            process = detached.parse_external_id(attempt.external_id) or wrappers.get(
                attempt.attempt_id
            )
            pidfd = None if process is None else detached.open_process(*process)
            log = records.log_path(attempt.attempt_id)
            log_path = None if log is None else Path(log)
            if pidfd is not None:
                assert process is not None
                child = _Child(
                    attempt.key,
                    process[0],
                    None,
                    log_path,
                    f"{process[0]}:{process[1]}",
                    _adopted_deadline(attempt),
                    records,
                    attempt.attempt_id,
                )
                self._reaper.watch(child, pidfd)
            else:
                ended = records.exit_record(attempt.attempt_id)
                if ended is None:  # never started, or killed before its end was recorded
                    continue
                info = finished_info(
                    ended.returncode,
                    log_path,
                    external_id=attempt.external_id,
                    ended_at=ended.ended_at,
                )
                _report(executor, attempt.key, info)
            taken.append(attempt.key)
        return taken

    @hookimpl
    def executor_cancel(self, key: TaskKey) -> bool:
        """Kill the task's process group (a detached task's too)."""
        assert self._reaper is not None
        return self._reaper.kill(key)

    @hookimpl
    def executor_fetch_log(self, key: TaskKey, info: TaskInfo) -> str | None:
        """Read the log file of the task's info, or of its running child (the info of a running
        task names no log yet)."""
        log = info.log
        if log is None and self._reaper is not None:
            log = self._reaper.log_of(key)
        return None if log is None else read_log(Path(log))

    @hookimpl
    def executor_end(self) -> None:
        assert self._reaper is not None
        self._reaper.stop()
        self._release()

    @hookimpl
    def executor_terminate(self) -> None:
        if self._reaper is not None:
            self._reaper.kill_all()
            self._reaper.stop()
        self._release()

    def _release(self) -> None:
        if self._keeper is not None:
            self._keeper.close()
        if self._records is not None:
            self._records.close()


def _adopted_deadline(attempt: Attempt) -> float | None:
    """When an adopted attempt's timeout, counted from its start, expires (monotonic clock)."""
    timeout = attempt.executor_config.get("timeout")
    if not isinstance(timeout, int | float) or attempt.started_at is None:
        return None
    return time.monotonic() + max(attempt.started_at + timeout - time.time(), 0.0)


def _report(executor: Executor, key: TaskKey, info: TaskInfo) -> None:
    if info.error is None:
        executor.success(key, info)
    else:
        executor.fail(key, info)


class _Reaper:
    """Learns of the children's exits and reports each end to the executor.

    With pidfds there is no thread: the pidfds sit in an epoll set that the executor's waits
    watch (:meth:`exechost.Executor.add_wait_source`), so the thread that heartbeats and waits
    reaps. Only timeouts have a thread, :class:`_Timeouts`, alive while a child has one. Without
    pidfds a thread per child waits for it.
    """

    def __init__(self, executor: Executor, keeper: Keeper | None) -> None:
        self._executor = executor
        self._keeper = keeper
        self._lock = threading.Lock()  # the children, and each one's reap against its kill
        self._pumping = threading.Lock()
        self._children: dict[int, _Child] = {}  # by pidfd, or by pid without pidfds
        self._threads: list[threading.Thread] = []
        if HAVE_PIDFD:
            self._epoll = select.epoll()
            self._timeouts = _Timeouts(self._lock)
            executor.add_wait_source(self._epoll.fileno(), self.pump)

    def watch(self, child: _Child, pidfd: int | None = None) -> None:
        """Start watching ``child``, which has just been spawned, or adopted with ``pidfd`` open
        on it (which the reaper then owns)."""
        if not HAVE_PIDFD:  # pragma: no cover - exercised on platforms without pidfds
            with self._lock:
                self._children[child.pid] = child
            thread = threading.Thread(target=self._wait_one, args=(child,), daemon=True)
            self._threads.append(thread)
            thread.start()
            return
        if pidfd is None:
            pidfd = os.pidfd_open(child.pid)
        with self._lock:
            self._children[pidfd] = child
        self._epoll.register(pidfd, select.EPOLLIN)
        if child.deadline is not None:
            self._timeouts.add(child)

    def pump(self) -> None:
        """Reap and report every watched child that has exited; never blocks."""
        if not self._pumping.acquire(False):  # another thread is at it
            return
        try:
            for fd, _ in self._epoll.poll(0):
                with self._lock:
                    child = self._children.pop(fd)
                    child.done = True  # a timeout that comes now is too late to count
                    ended = self._collect(child)
                self._epoll.unregister(fd)
                os.close(fd)
                self._report(child, *ended)
        finally:
            self._pumping.release()

    def kill(self, key: TaskKey) -> bool:
        """Kill the process group of the watched child of ``key``; whether there was one."""
        with self._lock:
            children = [c for c in self._children.values() if c.key == key and not c.done]
            for child in children:
                _kill(child)
        return bool(children)

    def log_of(self, key: TaskKey) -> str | None:
        """The log file of the watched child of ``key``, if any."""
        with self._lock:
            for child in self._children.values():
                if child.key == key and child.log_path is not None:
                    return str(child.log_path)
        return None

    def kill_all(self) -> None:
        """Kill every watched child's process group; each is reported failed ("terminated")."""
        with self._lock:
            for child in self._children.values():
                child.terminated = True
                _kill(child)

    def stop(self) -> None:
        """Wait until every watched child has been reported, then stop watching."""
        if not HAVE_PIDFD:  # pragma: no cover
            for thread in self._threads:
                thread.join()
            return
        while self._children:
            self._epoll.poll(_LONGEST_POLL)
            self.pump()
        self._timeouts.stop()
        self._executor.remove_wait_source(self._epoll.fileno())
        self._epoll.close()

    def _wait_one(self, child: _Child) -> None:  # pragma: no cover - platforms without pidfds
        process = child.process
        assert process is not None  # only a detached task is adopted, and only on Linux
        timeout = None if child.deadline is None else max(child.deadline - time.monotonic(), 0)
        if not wait_for_exit(process, timeout):
            child.timed_out = True
            kill_group(process)
        returncode = reap(process)
        if self._keeper is not None:  # only after the reap here: pid reuse is the keeper's risk
            self._keeper.forget(child.pid)
        with self._lock:
            del self._children[child.pid]
            child.done = True
        self._report(child, returncode, None)

    def _collect(self, child: _Child) -> tuple[int | None, float | None]:
        """The exit status and end time of a child that has exited; reaped if it is ours."""
        process = child.process
        if process is None:
            assert child.records is not None and child.attempt_id is not None
            ended = child.records.exit_record(child.attempt_id)
            return (None, None) if ended is None else (ended.returncode, ended.ended_at)
        kill_group(process)  # what it left in its group
        if self._keeper is not None:  # before the reap, while the group's id cannot be reused
            self._keeper.forget(child.pid)
        return process.wait(), None

    def _report(self, child: _Child, returncode: int | None, ended_at: float | None) -> None:
        if returncode is None and not child.timed_out:
            info = TaskInfo(
                error=NO_EXIT_STATUS_ERROR,
                log=None if child.log_path is None else str(child.log_path),
                external_id=child.external_id,
                ended_at=time.time(),
            )
        else:
            info = finished_info(
                -signal.SIGKILL if returncode is None else returncode,
                child.log_path,
                timed_out=child.timed_out,
                external_id=child.external_id,
                ended_at=ended_at,
            )
        if child.terminated:
            info = dataclasses.replace(info, error=TERMINATED_ERROR)
        _report(self._executor, child.key, info)


class _Timeouts:
    """Kills each child whose deadline passes, on a thread that runs while one has a deadline.

    It only kills: the child's exit then reaches the reaper like any other, marked timed out.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock  # the reaper's: a child is killed or reaped, never both at once
        self._changed = threading.Condition(threading.Lock())
        self._deadlines: list[tuple[float, int, _Child]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def add(self, child: _Child) -> None:
        """Kill ``child`` at its deadline unless it is done by then."""
        assert child.deadline is not None
        with self._changed:
            heapq.heappush(self._deadlines, (child.deadline, next(self._order), child))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="exechost-local-timeouts", daemon=True
                )
                self._thread.start()
            elif self._deadlines[0][2] is child:  # sooner than what the thread waits for
                self._changed.notify()

    def stop(self) -> None:
        """Stop the thread (every child is done), waiting at most a second for it."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join(1.0)

    def _run(self) -> None:
        # the host's signals go to its main thread, which turns them into a clean exit
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        deadlines = self._deadlines
        with self._changed:
            while deadlines and not self._stopping:
                deadline, _, child = deadlines[0]
                remaining = deadline - time.monotonic()
                if remaining > 0 and not child.done:
                    self._changed.wait(min(remaining, _LONGEST_POLL))
                    continue
                heapq.heappop(deadlines)
                with self._lock:
                    if not child.done:
                        child.timed_out = True
                        _kill(child)
            self._thread = None


def _kill(child: _Child) -> None:
    """SIGKILL the child's process group, unless it was reaped (or, adopted, reported) already."""
    if child.process is not None:
        kill_group(child.process)
    elif not child.done:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
