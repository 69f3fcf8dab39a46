"""A backend that never returns from a hook cannot hang the host: ``sync_timeout``."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import exechost
import pytest
from conftest import Distributions, run_cli
from exechost import TaskState

HANGING_MODULE = """
import threading

from exechost import hookimpl

RELEASE = threading.Event()  # set by the test at its end, so that no thread is left blocked
calls = []


class Backend:
    hang_in = "executor_sync"

    @hookimpl
    def executor_execute_async(self, key):
        calls.append(("execute_async", key))

    @hookimpl
    def executor_sync(self):
        self._maybe_hang("executor_sync")

    @hookimpl
    def executor_end(self):
        self._maybe_hang("executor_end")

    @hookimpl
    def executor_terminate(self):
        self._maybe_hang("executor_terminate")

    def _maybe_hang(self, hook):
        calls.append((hook, None))
        if hook == self.hang_in:
            RELEASE.wait()


class HangsInEnd(Backend):
    hang_in = "executor_end"

    @hookimpl
    def executor_execute_async(self, executor, key):
        executor.success(key)


class HangsInTerminate(Backend):
    hang_in = "executor_terminate"
"""

TIMEOUT = 0.5
DEADLINE = 10.0
"""Seconds the test waits for what must end after about TIMEOUT (or twice it)."""


@pytest.fixture
def hanging(distributions: Distributions, tmp_path: Path) -> Iterator[ModuleType]:
    """The installed distribution ``exechost-hanging``: executors ``hang-sync``, ``hang-end``,
    ``hang-terminate``, each configured with ``sync_timeout = TIMEOUT`` in ``exechost.toml``."""
    name = distributions.add(
        "exechost-hanging",
        HANGING_MODULE,
        executors={
            "hang-sync": "Backend",
            "hang-end": "HangsInEnd",
            "hang-terminate": "HangsInTerminate",
        },
    )
    (tmp_path / "exechost.toml").write_text(
        "".join(
            f"[executors.{n}]\nsync_timeout = {TIMEOUT}\n"
            for n in ("hang-sync", "hang-end", "hang-terminate")
        )
    )
    __import__(name)
    module = sys.modules[name]
    yield module
    module.RELEASE.set()


def within(seconds: float, what: str, action: Callable[[], None]) -> None:
    """Run ``action`` on a thread; fail the test unless it returns within ``seconds``."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} did not return within {seconds}s")


def load(name: str, tmp_path: Path) -> exechost.Executor:
    return exechost.load_executor(name, config=tmp_path / "exechost.toml", parallelism=2)


def test_a_sync_that_never_returns_fails_the_running_tasks_and_the_run_ends(hanging, tmp_path):
    executor = load("hang-sync", tmp_path)
    assert executor.sync_timeout == TIMEOUT
    executor.start()
    for number in range(4):
        executor.queue_command(("task", number), ["true"])
    # at most the hung sync, then the terminate hook of a broken backend: 2 * TIMEOUT
    within(DEADLINE, "end() with a backend hanging in executor_sync", executor.end)
    reason = (
        "backend 'hang-sync' (distribution exechost-hanging 1.0) did not return from "
        f"executor_sync within {TIMEOUT:g} s (setting sync_timeout)"
    )
    assert executor.broken == reason
    events = executor.get_event_buffer()
    assert sorted(events) == [("task", number) for number in range(4)]
    for event in events.values():
        assert event.state is TaskState.FAILED
        assert event.info.error == reason
    # two ran and hung the sync; two waited in the queue and never reached the backend
    assert [call for call in hanging.calls if call[0] == "execute_async"] == [
        ("execute_async", ("task", 0)),
        ("execute_async", ("task", 1)),
    ]
    # a broken backend may still run what it was handed: it is terminated, not ended
    assert ("executor_terminate", None) in hanging.calls
    assert ("executor_end", None) not in hanging.calls


def test_an_end_that_never_returns_lets_end_return(hanging, tmp_path):
    executor = load("hang-end", tmp_path)
    executor.start()
    executor.queue_command("a", ["true"])
    within(DEADLINE, "end() with a backend hanging in executor_end", executor.end)
    assert executor.get_event_buffer()["a"].state is TaskState.SUCCESS
    assert executor.broken is not None
    assert "did not return from executor_end within 0.5 s" in executor.broken


def test_a_terminate_that_never_returns_fails_the_running_tasks_with_the_reason(hanging, tmp_path):
    executor = load("hang-terminate", tmp_path)
    executor.start()
    executor.queue_command("a", ["true"])
    executor.heartbeat()
    within(DEADLINE, "terminate() with a backend hanging in executor_terminate", executor.terminate)
    event = executor.get_event_buffer()["a"]
    assert event.state is TaskState.FAILED
    assert event.info.error == executor.broken
    assert "did not return from executor_terminate within 0.5 s" in event.info.error


def test_the_real_command_ends_with_the_reason(hanging, distributions, tmp_path):
    (tmp_path / "tasks.toml").write_text('[[tasks]]\nkey = "a"\ncommand = ["true"]\n')
    result = run_cli(
        "run",
        "--executor",
        "hang-sync",
        "tasks.toml",
        cwd=tmp_path,
        env={"PYTHONPATH": str(distributions.root)},
    )
    assert result.returncode == 1, result.stderr
    assert "did not return from executor_sync within 0.5 s" in result.stdout + result.stderr


def test_without_a_limit_sync_runs_on_the_hosts_thread(instant):
    threads = []

    class Observer:
        @exechost.hookimpl(wrapper=True)
        def executor_sync(self):  # type: ignore[no-untyped-def]
            threads.append(threading.get_ident())
            return (yield)

    for sync_timeout in (0, 5):
        executor = exechost.Executor(
            instant, name="instant", parallelism=1, sync_timeout=sync_timeout
        )
        executor.hooks.register_observer(Observer())
        with executor:
            executor.queue_command("a", ["true"])
    assert threads[0] == threading.get_ident()
    assert threads[-1] != threading.get_ident()


@pytest.mark.parametrize("value", [-1, "1", float("inf")])
def test_a_bad_sync_timeout_is_refused(value, instant):
    with pytest.raises(exechost.SettingsError, match="sync_timeout must be a finite number"):
        exechost.Executor(instant, name="x", parallelism=1, sync_timeout=value)
