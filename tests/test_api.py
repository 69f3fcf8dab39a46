"""``exechost.load_executor`` and the executor as a context manager."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import exechost
import pytest
from conftest import InstantBackend
from exechost import ExecutorStateError, hookimpl


def test_the_context_manager_starts_then_ends(instant):
    executor = exechost.load_executor(instant)
    assert executor.phase.value == "new"
    with executor as entered:
        assert entered is executor
        assert executor.phase.value == "started"
        executor.queue_command("a", ["true"])
    assert [hook for hook, _ in instant.calls] == ["start", "execute_async", "sync", "end"]
    assert executor.phase.value == "ended"


def test_the_context_manager_terminates_when_the_block_raises(holding):
    with (
        pytest.raises(RuntimeError, match="application error"),
        exechost.load_executor(holding) as executor,
    ):
        executor.queue_command("a", ["true"])
        executor.heartbeat()
        raise RuntimeError("application error")
    assert executor.get_event_buffer()["a"].info.error == "terminated"
    assert executor.phase.value == "ended"


def test_a_started_executor_cannot_start_again(instant):
    with (
        exechost.load_executor(instant) as executor,
        pytest.raises(ExecutorStateError, match="is started, not new"),
    ):
        executor.start()


def test_a_backend_object_is_used_as_it_is(instant):
    executor = exechost.load_executor(instant, parallelism=5)
    assert executor.backend is instant
    assert executor.name == "InstantBackend"
    assert executor.parallelism == 5
    assert executor.hooks.manager.get_plugin("InstantBackend") is instant


@dataclass(frozen=True)
class GreetingSettings:
    greeting: str = "hello"


class GreetingBackend:
    """A backend class with settings, a name and a default parallelism of its own."""

    Settings = GreetingSettings
    default_parallelism = 7
    name = "greeter"

    def __init__(self, settings: GreetingSettings) -> None:
        self.settings = settings

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: Any) -> str:
        executor.success(key)
        return f"{self.settings.greeting} {key}"


def test_a_backend_class_is_made_with_its_validated_settings():
    with exechost.load_executor(GreetingBackend, greeting="hi") as executor:
        executor.queue_command("there", ["true"])
    assert executor.name == "greeter"
    assert executor.parallelism == 7
    assert executor.get_event_buffer()["there"].info.external_id == "hi there"


def test_parallelism_defaults_to_32_for_a_backend_that_declares_none():
    assert exechost.load_executor(InstantBackend()).parallelism == 32
    assert exechost.load_executor(InstantBackend, parallelism=0).parallelism == 0


def test_the_executor_describes_itself(holding):
    executor = exechost.load_executor(holding)
    executor.queue_command("a", ["true"])
    assert repr(executor) == "<Executor 'HoldingBackend' new: 1 queued, 0 running>"


def test_wait_returns_when_a_report_arrives_and_on_timeout(holding):
    import threading

    with exechost.load_executor(holding) as executor:
        executor.queue_command("a", ["true"])
        executor.heartbeat()
        assert executor.wait(0.01) is False
        threading.Timer(0.05, holding.finish, args=("a",)).start()
        assert executor.wait(5) is True
