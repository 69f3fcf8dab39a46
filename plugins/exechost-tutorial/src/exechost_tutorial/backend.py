"""The ``threads`` executor: each task a process of its own, watched by a thread of its own."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exechost import Executor, TaskInfo, TaskKey
from exechost.hookspecs import Capabilities, hookimpl
from exechost.process import (
    ProcessOptions,
    finished_info,
    kill_group,
    log_path_for,
    parse_options,
    reap,
    spawn,
    wait_for_exit,
)


@dataclass(frozen=True)
class ThreadsSettings:
    """What a user may set for the ``threads`` executor, in a config file or in Python."""

    log_dir: str | None = None
    """Where the tasks' log files go; a new temporary directory when not set."""


class ThreadsBackend:
    """Starts each task's command as a child process and reports its end from a thread."""

    Settings = ThreadsSettings
    default_parallelism = 4
    exechost_api = ">=1.0,<2"
    capabilities = Capabilities(
        can_cancel_running=True, ordered_start=True, executor_config=ProcessOptions
    )

    def __init__(self, settings: ThreadsSettings) -> None:
        self.settings = settings
        self.log_dir = Path()
        self._lock = threading.Lock()
        self._watchers: dict[TaskKey, tuple[threading.Thread, subprocess.Popen[bytes]]] = {}

    @hookimpl
    def executor_start(self) -> None:
        if self.settings.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="exechost-threads-"))
        else:
            self.log_dir = Path(self.settings.log_dir)
            self.log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    @hookimpl
    def executor_execute_async(
        self,
        executor: Executor,
        key: TaskKey,
        command: Sequence[str],
        executor_config: Mapping[str, Any],
    ) -> str | None:
        options = parse_options(key, executor_config)
        log_path = log_path_for(self.log_dir, key)
        try:
            process = spawn(command, log_path, options)
        except OSError as exc:  # no such command, a bad cwd: the task fails, the executor goes on
            executor.fail(key, TaskInfo(error=str(exc), log=str(log_path)))
            return None
        watcher = threading.Thread(
            target=self._watch,
            args=(executor, key, process, log_path, options.timeout),
            name=f"exechost-threads-{key}",
            daemon=True,
        )
        with self._lock:
            self._watchers[key] = (watcher, process)
        watcher.start()
        return str(process.pid)

    def _watch(
        self,
        executor: Executor,
        key: TaskKey,
        process: subprocess.Popen[bytes],
        log_path: Path,
        timeout: float | None,
    ) -> None:
        exited = wait_for_exit(process, timeout)
        if not exited:
            kill_group(process)
        info = finished_info(reap(process), log_path, timed_out=not exited)
        with self._lock:
            del self._watchers[key]
        if info.error is None:
            executor.success(key, info)
        else:
            executor.fail(key, info)

    @hookimpl
    def executor_end(self) -> None:
        self._join_watchers()

    @hookimpl
    def executor_terminate(self) -> None:
        with self._lock:
            processes = [process for _, process in self._watchers.values()]
        for process in processes:
            kill_group(process)
        self._join_watchers()

    def _join_watchers(self) -> None:
        with self._lock:
            watchers = [watcher for watcher, _ in self._watchers.values()]
        for watcher in watchers:
            watcher.join()
