"""The host calls the observer hooks itself (exechost.notify) as pluggy would: in pluggy's order,
each implementation with the arguments it names, through pluggy when one is a wrapper, and an
observer registered after the executor was made is called too."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import exechost
from conftest import InstantBackend
from exechost import hookimpl


class Noting:
    """Notes, under its label, each task it is told of, and how it was called."""

    def __init__(self, label: str, calls: list[tuple[str, Any]]) -> None:
        self.label = label
        self.calls = calls

    @hookimpl
    def executor_task_queued(self, key: Any, queue: str | None) -> None:
        self.calls.append((self.label, (key, queue)))


class First(Noting):
    @hookimpl(tryfirst=True)
    def executor_task_queued(self, key: Any, queue: str | None) -> None:
        self.calls.append((self.label, (key, queue)))


class Wrapping:
    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    @hookimpl(wrapper=True)
    def executor_task_queued(self, key: Any) -> Generator[None, Any, Any]:
        self.calls.append(("before", key))
        result = yield
        self.calls.append(("after", key))
        return result


def queue_a_task(*observers: object) -> None:
    with exechost.load_executor(InstantBackend(), plugins=observers) as executor:
        executor.queue_command("a", ["true"], queue="q")


def test_observers_are_called_in_pluggys_order_with_the_arguments_they_name() -> None:
    calls: list[tuple[str, Any]] = []
    queue_a_task(Noting("early", calls), First("first", calls), Noting("late", calls))
    assert calls == [("first", ("a", "q")), ("late", ("a", "q")), ("early", ("a", "q"))]


def test_a_wrapper_is_called_around_the_others_by_pluggy() -> None:
    calls: list[tuple[str, Any]] = []
    queue_a_task(Noting("plain", calls), Wrapping(calls))
    assert calls == [("before", "a"), ("plain", ("a", "q")), ("after", "a")]


def test_an_observer_registered_later_is_called_from_then_on() -> None:
    calls: list[tuple[str, Any]] = []
    executor = exechost.load_executor(InstantBackend(), plugins=[Noting("first", calls)])
    executor.start()
    executor.queue_command("a", ["true"])
    executor.hooks.register_observer(Noting("later", calls))
    executor.queue_command("b", ["true"])
    executor.hooks.manager.unregister(name="Noting")
    executor.queue_command("c", ["true"])
    executor.end()
    assert calls == [
        ("first", ("a", None)),
        ("later", ("b", None)),
        ("first", ("b", None)),
        ("later", ("c", None)),
    ]
