"""Validate once: a task's options are parsed when it is queued and handed to the backend parsed;
``exechost run`` routes and checks each task once."""

from __future__ import annotations

import dataclasses
import io
from typing import Any, ClassVar

import exechost
from exechost import hookimpl
from exechost.cli.run import run_batch
from exechost.cli.taskfile import TaskSpec
from exechost.hookspecs import Capabilities
from exechost.multi import MultiExecutor
from rich.console import Console


@dataclasses.dataclass(frozen=True)
class CountedOptions:
    """Per-task options that count how often they are parsed."""

    made: ClassVar[list[int]] = []
    size: int = 1

    def __post_init__(self) -> None:
        CountedOptions.made.append(self.size)


class OptionsBackend:
    """Runs nothing; records the options it is handed and succeeds at once."""

    exechost_api = ">=1.1,<2"
    capabilities = Capabilities(executor_config=CountedOptions)

    def __init__(self) -> None:
        self.handed: dict[Any, Any] = {}

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: Any, options: Any) -> None:
        self.handed[key] = options
        executor.success(key)


def test_options_are_parsed_when_queued_and_handed_over_parsed():
    CountedOptions.made.clear()
    backend = OptionsBackend()
    with exechost.load_executor(backend) as executor:
        executor.queue_command("big", ["true"], executor_config={"size": 8})
        executor.queue_command("plain", ["true"])
        queued = dict(executor.queued_tasks)
    assert backend.handed["big"] == CountedOptions(size=8)
    assert backend.handed["big"] is queued["big"].options  # the very object checked
    assert backend.handed["plain"] == CountedOptions()  # the defaults, made once and shared
    made = len(CountedOptions.made)
    with exechost.load_executor(OptionsBackend()) as again:
        again.queue_command("plain-2", ["true"])
    assert len(CountedOptions.made) == made  # no option, nothing parsed again


def test_a_1_0_backend_still_gets_the_mapping():
    got: list[Any] = []

    class Old:
        capabilities = Capabilities(executor_config=CountedOptions)

        @hookimpl
        def executor_execute_async(self, executor: Any, key: Any, executor_config: Any) -> None:
            got.append(executor_config)
            executor.success(key)

    with exechost.load_executor(Old()) as executor:
        executor.queue_command("a", ["true"], executor_config={"size": 3})
    assert got == [{"size": 3}]


def test_run_routes_and_checks_each_task_once():
    CountedOptions.made.clear()
    routed: list[tuple[Any, Any]] = []

    class Counting(MultiExecutor):
        def route(self, executor: str | None = None, queue: str | None = None) -> Any:
            routed.append((executor, queue))
            return super().route(executor, queue)

    backend = OptionsBackend()
    executor = exechost.Executor(backend, name="opts", parallelism=2)
    executors = Counting({"opts": executor}, default="opts")
    tasks = [
        TaskSpec(key=("t", n), command=("true",), executor_config={"size": n + 10})
        for n in range(5)
    ]
    status = run_batch(tasks, executors, Console(file=io.StringIO()), json_output=False)
    assert status == 0
    assert len(routed) == 5
    assert sorted(CountedOptions.made) == [10, 11, 12, 13, 14]  # each parsed once, not twice
    assert backend.handed[("t", 2)] == CountedOptions(size=12)
