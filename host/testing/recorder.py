"""An observer plugin that records what an executor did, for tests."""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from exechost.hookspecs import hookimpl
from exechost.states import TaskInfo, TaskState
from exechost.tasks import TaskKey


@dataclass
class Recorder:
    """Records, in order, every lifecycle call and every state change of one executor.

    Register it with ``load_executor(..., plugins=[recorder])``. ``calls`` holds the lifecycle
    hooks' names (``"executor_start"``, ...) as each call begins, and ``"state:<state>"`` for each
    state change, in one sequence; ``changes`` the
    ``(key, state, info)`` of every state change. It also keeps the most tasks it saw running at
    once after a heartbeat.
    """

    calls: list[str] = field(default_factory=list)
    changes: list[tuple[TaskKey, TaskState, TaskInfo]] = field(default_factory=list)
    most_running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _record(self, name: str) -> Generator[None, Any, Any]:
        with self._lock:
            self.calls.append(name)
        return (yield)

    @hookimpl(wrapper=True)
    def executor_start(self) -> Generator[None, Any, Any]:
        return (yield from self._record("executor_start"))

    @hookimpl(wrapper=True)
    def executor_execute_async(self) -> Generator[None, Any, Any]:
        return (yield from self._record("executor_execute_async"))

    @hookimpl(wrapper=True)
    def executor_sync(self) -> Generator[None, Any, Any]:
        return (yield from self._record("executor_sync"))

    @hookimpl(wrapper=True)
    def executor_end(self) -> Generator[None, Any, Any]:
        return (yield from self._record("executor_end"))

    @hookimpl(wrapper=True)
    def executor_terminate(self) -> Generator[None, Any, Any]:
        return (yield from self._record("executor_terminate"))

    @hookimpl
    def executor_task_state_changed(self, key: TaskKey, state: TaskState, info: TaskInfo) -> None:
        with self._lock:
            self.changes.append((key, state, info))
            self.calls.append(f"state:{state.value}")

    @hookimpl
    def executor_heartbeat(self, running: int) -> None:
        self.most_running = max(self.most_running, running)

    def finished(self) -> dict[TaskKey, list[tuple[TaskState, TaskInfo]]]:
        """Every key's terminal reports (success or failed); a correct backend gives one each."""
        ends: dict[TaskKey, list[tuple[TaskState, TaskInfo]]] = {}
        with self._lock:
            for key, state, info in self.changes:
                if state.finished:
                    ends.setdefault(key, []).append((state, info))
        return ends
