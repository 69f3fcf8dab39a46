"""The host's bookkeeping, through the public API: queue, priorities, slots, states."""

from __future__ import annotations

import sys

import exechost
import pytest
from conftest import HoldingBackend, ThreadedBackend
from exechost import (
    DuplicateTaskError,
    ExecutorStateError,
    InvalidTaskError,
    SettingsError,
    TaskState,
)


def test_heartbeat_starts_highest_priority_first_then_in_queued_order(instant):
    executor = exechost.load_executor(instant, parallelism=0)
    for key, priority in [("low", 1), ("high-a", 5), ("mid", 3), ("high-b", 5), ("low-b", 1)]:
        executor.queue_command(key, ["true"], priority=priority)
    with executor:
        executor.heartbeat()
    assert instant.started == ["high-a", "high-b", "mid", "low", "low-b"]


def test_heartbeat_fills_only_the_open_slots(holding):
    executor = exechost.load_executor(holding, parallelism=2)
    with executor:
        for number in range(5):
            executor.queue_command(str(number), ["true"])
        executor.heartbeat()
        assert holding.started == ["0", "1"]
        assert executor.open_slots == 0
        assert set(executor.running) == {"0", "1"}
        assert list(executor.queued_tasks) == ["2", "3", "4"]
        executor.heartbeat()
        assert holding.started == ["0", "1"]
        holding.finish("1")
        assert executor.open_slots == 1
        executor.heartbeat()
        assert holding.started == ["0", "1", "2"]
        for key in ("0", "2"):
            holding.finish(key)
        executor.heartbeat()
        for key in ("3", "4"):
            holding.finish(key)


def test_open_slots_is_parallelism_minus_running_and_unlimited_for_zero(holding):
    with exechost.load_executor(holding, parallelism=3) as executor:
        assert executor.open_slots == 3
        executor.queue_command("a", ["true"])
        assert executor.open_slots == 3  # queued tasks take no slot
        executor.heartbeat()
        assert executor.open_slots == 2
        holding.finish("a")
    unlimited = exechost.load_executor(HoldingBackend(), parallelism=0)
    assert unlimited.open_slots == exechost.UNLIMITED == sys.maxsize


def test_parallelism_is_never_exceeded_as_the_backend_sees_it():
    backend = ThreadedBackend()
    with exechost.load_executor(backend, parallelism=3) as executor:
        for number in range(120):
            executor.queue_command(("batch", number), ["true"], priority=number % 4)
    assert backend.most == 3
    events = executor.get_event_buffer()
    assert len(events) == 120
    assert {event.state for event in events.values()} == {TaskState.SUCCESS}


def test_a_key_queued_or_running_is_refused_loudly(holding):
    with exechost.load_executor(holding, parallelism=1) as executor:
        executor.queue_command("a", ["true"])
        with pytest.raises(DuplicateTaskError, match="'a' is already queued"):
            executor.queue_command("a", ["false"])
        executor.heartbeat()
        with pytest.raises(DuplicateTaskError, match="'a' is already running"):
            executor.queue_command("a", ["false"])
        assert executor.has_task("a")
        holding.finish("a")
        assert not executor.has_task("a")
        executor.queue_command("a", ["true"])  # finished keys may come back
        executor.heartbeat()
        holding.finish("a")
    assert [event.state for event in executor.get_event_buffer().history("a")] == [
        "running",
        "success",
        "running",
        "success",
    ]


@pytest.mark.parametrize(
    "key",
    [None, 3, 1.5, b"bytes", (), ("a", 1.5), ("a", ("nested",)), ("a", True), ["list"], True],
)
def test_invalid_keys_are_refused(instant, key):
    executor = exechost.load_executor(instant)
    with pytest.raises(InvalidTaskError, match=r"task key .* is not valid"):
        executor.queue_command(key, ["true"])
    assert not executor.queued_tasks


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo hello", r"never run through a shell.*\['sh', '-c', 'echo hello'\]"),
        (b"echo", "not a bytes"),
        ([], "non-empty list of strings"),
        (["echo", 3], "non-empty list of strings"),
        (None, "non-empty list of strings"),
    ],
)
def test_invalid_commands_are_refused(instant, command, message):
    executor = exechost.load_executor(instant)
    with pytest.raises(InvalidTaskError, match=message):
        executor.queue_command("a", command)
    assert not executor.has_task("a")


def test_invalid_priority_queue_and_executor_config_are_refused(instant):
    executor = exechost.load_executor(instant)
    with pytest.raises(InvalidTaskError, match="priority must be an int"):
        executor.queue_command("a", ["true"], priority="high")  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskError, match="queue must be a str"):
        executor.queue_command("a", ["true"], queue=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskError, match="executor_config must be a mapping"):
        executor.queue_command("a", ["true"], executor_config=["timeout"])  # type: ignore[arg-type]


def test_tuple_keys_of_strings_and_ints_are_accepted(instant):
    with exechost.load_executor(instant) as executor:
        executor.queue_command(("dag", "task", 3), ["true"])
        executor.queue_command("plain", ["true"])
    assert set(executor.get_event_buffer()) == {("dag", "task", 3), "plain"}


def test_queued_tasks_hold_what_was_queued(instant):
    executor = exechost.load_executor(instant)
    executor.queue_command(
        "a", ["echo", "x"], priority=7, queue="fast", executor_config={"timeout": 3}
    )
    task = executor.queued_tasks["a"]
    assert (task.command, task.priority, task.queue) == (("echo", "x"), 7, "fast")
    assert task.executor_config == {"timeout": 3}
    with pytest.raises(TypeError):
        executor.queued_tasks["b"] = task  # type: ignore[index]


def test_bad_parallelism_is_a_settings_error(instant):
    with pytest.raises(SettingsError, match="parallelism must be an int >= 0, got -1"):
        exechost.load_executor(instant, parallelism=-1)


def test_end_waits_for_every_task_then_ends_the_backend(instant):
    with exechost.load_executor(instant, parallelism=2) as executor:
        for number in range(7):
            executor.queue_command(str(number), ["true"])
    assert instant.started == [str(number) for number in range(7)]
    assert instant.calls[-1] == ("end", None)
    assert not executor.running and not executor.queued_tasks
    with pytest.raises(ExecutorStateError, match="has ended"):
        executor.queue_command("late", ["true"])
    with pytest.raises(ExecutorStateError, match="needs a started executor"):
        executor.heartbeat()


def test_terminate_fails_running_and_queued_tasks(holding):
    executor = exechost.load_executor(holding, parallelism=1)
    executor.start()
    executor.queue_command("running", ["true"])
    executor.queue_command("waiting", ["true"])
    executor.heartbeat()
    executor.terminate()
    events = executor.get_event_buffer()
    assert events["running"].state == "failed"
    assert events["running"].info.error == "terminated"
    assert events["waiting"].state == "failed"
    assert events["waiting"].info.error == "terminated before it started"
    holding.finish("running")  # a late report from the backend is ignored
    assert not executor.get_event_buffer()
    executor.terminate()  # a second terminate does nothing


def test_reports_for_unknown_keys_are_ignored(holding, caplog):
    with exechost.load_executor(holding) as executor:
        executor.success("never-queued")
    assert "not running here; ignored" in caplog.text
    assert not executor.get_event_buffer()


def test_states_equal_their_strings():
    assert [state.value for state in TaskState] == [
        "queued",
        "running",
        "success",
        "failed",
        "up_for_retry",
    ]
    assert TaskState.SUCCESS == "success" and str(TaskState.FAILED) == "failed"
    assert TaskState("running") is TaskState.RUNNING


def test_backend_may_report_running_then_a_result_with_its_info(holding):
    with exechost.load_executor(holding) as executor:
        executor.queue_command("a", ["true"])
        executor.heartbeat()
        executor.change_state("a", "running", exechost.TaskInfo(external_id="job-1", log="url"))
        assert executor.running["a"].external_id == "job-1"
        executor.change_state("a", TaskState.FAILED, exechost.TaskInfo(error="lost", returncode=2))
    history = executor.get_event_buffer().history("a")
    assert [event.state for event in history] == ["running", "running", "failed"]
    assert history[0].info.external_id is None  # the host's own, before the backend's report
    final = history[-1].info
    assert (final.error, final.returncode, final.log, final.external_id) == (
        "lost",
        2,
        "url",
        "job-1",
    )
    assert final.started_at is not None and final.ended_at is not None
    assert final.duration is not None and final.duration >= 0
    with pytest.raises(ValueError, match="not a valid TaskState"):
        executor.change_state("a", "exploded")
