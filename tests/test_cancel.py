"""Executor.cancel: a queued or waiting task is removed, a running one killed by its backend; each
ends failed "cancelled", journaled, never retried."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import exechost
import pytest
from conftest import HoldingBackend, InstantBackend, no_process_with, wait_until
from exechost import CANCELLED_ERROR, TaskState
from exechost.journal import open_journal
from exechost.testing import processes_with

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def _end_of(executor: exechost.Executor | exechost.MultiExecutor, key: Any) -> Any:
    """Heartbeat until ``key``'s end is in the event buffer; return its last event."""
    seen: list[Any] = []

    def ended() -> bool:
        executor.heartbeat()
        seen.extend(executor.get_event_buffer().transitions)
        return any(k == key and event.state.finished for k, event in seen)

    wait_until(ended)
    return [event for k, event in seen if k == key][-1]


def test_queued_and_running_local_tasks_are_cancelled(tmp_path: Path, marker: str) -> None:
    env = {"CANCEL_MARKER": marker}
    executor = exechost.load_executor(
        "local", parallelism=1, log_dir=str(tmp_path / "logs"), journal=tmp_path / "journal.sqlite"
    )
    with executor:
        executor.queue_command("running", SLEEP, retries=3, executor_config={"env": env})
        executor.queue_command("queued", SLEEP, executor_config={"env": env})
        executor.heartbeat()
        assert list(executor.running) == ["running"]
        assert executor.cancel("queued") is True
        assert not executor.has_task("queued")
        assert executor.cancel("running") is True
        running = _end_of(executor, "running")
        assert executor.cancel("running") is False  # finished: nothing to cancel
        assert executor.cancel("never queued") is False
    no_process_with(marker)
    assert running.state is TaskState.FAILED  # not up_for_retry, despite retries=3
    assert running.info.error == CANCELLED_ERROR
    assert running.info.returncode is not None and running.info.returncode < 0
    assert executor.get_event_buffer() == {}  # no retry came after it
    with open_journal(tmp_path / "journal.sqlite") as reread:
        runs = reread.runs()
        tasks = reread.tasks(runs[0].id)
    for key in ("running", "queued"):
        assert tasks[key].state is TaskState.FAILED
        assert tasks[key].info.error == CANCELLED_ERROR


def test_a_task_waiting_for_its_retry_is_cancelled(tmp_path: Path) -> None:
    with exechost.load_executor("local", log_dir=str(tmp_path / "logs")) as executor:
        executor.queue_command(
            "flaky", [sys.executable, "-c", "exit(3)"], retries=2, retry_delay=600
        )
        first = _end_of_state(executor, "flaky", TaskState.UP_FOR_RETRY)
        assert first.info.returncode == 3
        assert executor.cancel("flaky") is True
        events = executor.get_event_buffer()
        assert events["flaky"].state is TaskState.FAILED
        assert events["flaky"].info.error == CANCELLED_ERROR
        assert events["flaky"].info.attempt == 2
        assert executor.idle


def _end_of_state(executor: exechost.Executor, key: Any, state: TaskState) -> Any:
    def reached() -> Any:
        executor.heartbeat()
        event = executor.get_event_buffer().get(key)
        return event if event is not None and event.state is state else None

    return wait_until(reached)


def test_a_detached_task_is_cancelled(tmp_path: Path, marker: str) -> None:
    logs = str(tmp_path / "logs")
    with exechost.load_executor("local", detach=True, log_dir=logs) as executor:
        executor.queue_command("away", SLEEP, executor_config={"env": {"CANCEL_MARKER": marker}})
        executor.heartbeat()
        wait_until(lambda: processes_with(marker))
        assert executor.cancel("away") is True
        event = _end_of(executor, "away")
    assert (event.state, event.info.error) == (TaskState.FAILED, CANCELLED_ERROR)
    no_process_with(marker)


def test_sequential_cancels_queued_tasks_only(tmp_path: Path) -> None:
    executor = exechost.load_executor("sequential", log_dir=str(tmp_path / "logs"))
    assert not executor.capabilities.can_cancel_running
    with executor:
        executor.queue_command("kept", [sys.executable, "-c", "print('ran')"])
        executor.queue_command("dropped", SLEEP)
        assert executor.cancel("dropped") is True
        executor.heartbeat()
        events = executor.get_event_buffer()
    assert events["dropped"].info.error == CANCELLED_ERROR
    assert events["kept"].state is TaskState.SUCCESS


def test_a_backend_that_cannot_cancel_running_tasks_keeps_them(holding: HoldingBackend) -> None:
    with exechost.load_executor(holding) as executor:
        executor.queue_command("busy", ["work"])
        executor.heartbeat()
        assert executor.cancel("busy") is False
        assert executor.has_task("busy")
        holding.finish("busy")
    assert executor.get_event_buffer()["busy"].state is TaskState.SUCCESS


def test_multi_executor_cancels_where_the_task_is(tmp_path: Path, marker: str) -> None:
    config = tmp_path / "exechost.toml"
    config.write_text(
        "executor = 'fast'\n[executors.fast]\nbackend = 'local'\n"
        "[executors.slow]\nbackend = 'local'\n"
    )
    with exechost.load_executors(config, log_dir=str(tmp_path / "logs"), journal=False) as multi:
        env = {"env": {"CANCEL_MARKER": marker}}
        multi.queue_command("long", SLEEP, executor="slow", executor_config=env)
        multi.heartbeat()
        assert multi.cancel("long") is True
        assert multi.cancel("nowhere") is False
        event = _end_of(multi, "long")
    assert event.info.error == CANCELLED_ERROR
    no_process_with(marker)


def test_cancel_needs_a_started_executor(holding: HoldingBackend) -> None:
    with pytest.raises(exechost.ExecutorStateError, match="cancel"):
        exechost.load_executor(holding).cancel("x")


def test_a_key_queued_again_after_its_cancel_takes_its_new_place(instant: InstantBackend) -> None:
    with exechost.load_executor(instant, parallelism=1) as executor:
        for key in ("a", "b", "c"):
            executor.queue_command(key, ["work"])
        assert executor.cancel("a") is True
        executor.queue_command("a", ["work"])
        assert len(executor.queued_tasks) == 3
    assert instant.started == ["b", "c", "a"]
    events = executor.get_event_buffer()
    assert [e.state for e in events.history("a")] == [
        TaskState.FAILED,
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ]
