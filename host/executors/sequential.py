"""The ``sequential`` executor: one task at a time, run to its end inside the heartbeat.

For debugging: tasks run in the host's thread, in priority order, and each has ended before the
next starts, so a breakpoint or a print in the host sees a quiet, deterministic world.

A running task cannot be cancelled (:meth:`exechost.Executor.cancel` returns ``False``): it runs
inside the heartbeat, so the host's thread that would cancel it is the one waiting for its end.
Queued tasks are cancelled by the host as on any executor.
"""

from __future__ import annotations

from pathlib import Path

from exechost.executor import Executor
from exechost.executors.local import LogSettings
from exechost.hookspecs import Capabilities, hookimpl
from exechost.process import (
    ProcessOptions,
    log_path_for,
    make_log_dir,
    read_log,
    run,
)
from exechost.states import TaskInfo
from exechost.tasks import TaskKey


class SequentialBackend:
    """Runs each task synchronously in ``executor_execute_async`` and reports its end there."""

    Settings = LogSettings
    default_parallelism = 1
    exechost_api = ">=1.1,<2"  # the parsed options of executor_execute_async
    capabilities = Capabilities(ordered_start=True, executor_config=ProcessOptions)

    def __init__(self, settings: LogSettings) -> None:
        self.settings = settings
        self.log_dir: Path | None = None

    @hookimpl
    def executor_start(self) -> None:
        self.log_dir = make_log_dir(self.settings)

    @hookimpl
    def executor_execute_async(
        self,
        executor: Executor,
        key: TaskKey,
        command: list[str],
        options: ProcessOptions,
    ) -> None:
        assert self.log_dir is not None
        info = run(command, log_path_for(self.log_dir, key), options)
        if info.error is None:
            executor.success(key, info)
        else:
            executor.fail(key, info)

    @hookimpl
    def executor_fetch_log(self, info: TaskInfo) -> str | None:
        return None if info.log is None else read_log(Path(info.log))
