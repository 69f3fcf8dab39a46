"""What checking ``executor_config`` against a backend's declared options costs queue_command.

Queues the same tasks without options, with options of a backend that declares none (unchecked)
and with options checked against ``local``'s declared ProcessOptions; prints microseconds per task,
best of five rounds, and each as a ratio to the first, measured in the same run.

    python benchmarks/executor_config_check.py [TASKS]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import exechost
from exechost import hookimpl


class UndeclaredBackend:
    """Declares no capabilities, so no executor_config key is checked."""

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: Any) -> None:
        executor.success(key)


def microseconds_per_task(backend: Any, config: Mapping[str, Any] | None, tasks: int) -> float:
    best = float("inf")
    for _ in range(5):
        executor = exechost.load_executor(backend)
        began = time.perf_counter()
        for number in range(tasks):
            executor.queue_command(("task", number), ["true"], executor_config=config)
        best = min(best, time.perf_counter() - began)
    return best / tasks * 1e6


def main() -> None:
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    options = {"env": {"STAGE": "test"}, "timeout": 60}
    cases = [
        ("no executor_config", "local", None),
        ("executor_config, not declared", UndeclaredBackend, options),
        ("executor_config, checked (local)", "local", options),
    ]
    baseline = None
    print(f"queue_command, {tasks} tasks, best of 5")
    for label, backend, config in cases:
        cost = microseconds_per_task(backend, config, tasks)
        baseline = baseline or cost
        print(f"  {label:34} {cost:6.2f} us/task  x{cost / baseline:.2f}")


if __name__ == "__main__":
    main()
