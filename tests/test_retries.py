"""Retries: per executor and per task, each attempt with an id of its own, all in the history."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import exechost
import pytest
from exechost import TaskState, hookimpl
from exechost.errors import InvalidTaskError, SettingsError
from exechost.journal import open_journal


class FlakyBackend:
    """Fails each task's first ``failures[key]`` attempts, then succeeds; keeps the attempt ids."""

    def __init__(self, failures: dict[Any, int]) -> None:
        self.failures = failures
        self.attempts: dict[Any, list[str]] = {}

    @hookimpl
    def executor_execute_async(
        self, executor: exechost.Executor, key: Any, attempt_id: str
    ) -> None:
        seen = self.attempts.setdefault(key, [])
        seen.append(attempt_id)
        if len(seen) <= self.failures.get(key, 0):
            executor.fail(key, exechost.TaskInfo(returncode=1, error=f"attempt {len(seen)}"))
        else:
            executor.success(key, exechost.TaskInfo(returncode=0))


def _run(
    backend: FlakyBackend,
    journal_path: Path,
    *,
    retries: int = 0,
    retry_delay: float = 0.0,
    **tasks: dict[str, Any],
) -> exechost.EventBatch:
    executor = exechost.Executor(
        backend, name="flaky", parallelism=4, retries=retries, retry_delay=retry_delay
    )
    executor.journal = open_journal(journal_path)
    executor.owns_journal = True
    with executor:
        for key, options in tasks.items():
            executor.queue_command(key, ["true"], **options)
    return executor.get_event_buffer()


def _ends(history: list[exechost.Event]) -> list[exechost.Event]:
    """The attempts' ends: each attempt's ``running`` left out."""
    return [event for event in history if event.state is not TaskState.RUNNING]


def test_executor_retries_until_success_each_attempt_its_own_id(tmp_path: Path) -> None:
    backend = FlakyBackend({"twice": 2, "never": 5, "fine": 0})
    events = _run(backend, tmp_path / "j.sqlite", retries=2, twice={}, never={}, fine={})
    running, retry = TaskState.RUNNING, TaskState.UP_FOR_RETRY
    assert [e.state for e in events.history("twice")] == [
        *(running, retry) * 2,
        running,
        TaskState.SUCCESS,
    ]
    assert [e.state for e in events.history("never")] == [
        *(running, retry) * 2,
        running,
        TaskState.FAILED,
    ]
    assert [e.state for e in events.history("fine")] == [running, TaskState.SUCCESS]
    for key in ("twice", "never"):
        ids = backend.attempts[key]
        assert len(ids) == 3 and len(set(ids)) == 3
        assert [e.info.attempt_id for e in events.history(key)] == [i for i in ids for _ in "se"]
        assert [e.info.attempt for e in events.history(key)] == [1, 1, 2, 2, 3, 3]
    assert events["never"].info.error == "attempt 3"
    with open_journal(tmp_path / "j.sqlite") as journal:
        run = journal.runs()[0]
        assert journal.attempt_ids(run.id, "twice") == backend.attempts["twice"]
        histories = [journal.history(a) for a in backend.attempts["twice"]]
        tasks = journal.tasks(run.id)
    assert [[state for state, _ in h] for h in histories] == [
        [TaskState.RUNNING, TaskState.FAILED],
        [TaskState.RUNNING, TaskState.FAILED],
        [TaskState.RUNNING, TaskState.SUCCESS],
    ]
    assert tasks["twice"].info.attempt_id == backend.attempts["twice"][-1]
    assert tasks["twice"].info.attempt == 3
    assert tasks["never"].state is TaskState.FAILED
    assert run.counts == {"success": 2, "failed": 1}


def test_task_settings_override_the_executor(tmp_path: Path) -> None:
    backend = FlakyBackend({"own": 1, "none": 1, "delayed": 1})
    events = _run(
        backend,
        tmp_path / "j.sqlite",
        retries=3,
        own={"retries": 1},
        none={"retries": 0},
        delayed={"retry_delay": 0.3},
    )
    assert events["own"].state is TaskState.SUCCESS
    assert [e.state for e in events.history("none")] == [TaskState.RUNNING, TaskState.FAILED]
    first, second = _ends(events.history("delayed"))
    assert second.info.started_at is not None and first.info.ended_at is not None
    assert second.info.started_at - first.info.ended_at >= 0.3


def test_executor_retry_delay_applies(tmp_path: Path) -> None:
    backend = FlakyBackend({"k": 1})
    events = _run(backend, tmp_path / "j.sqlite", retries=1, retry_delay=0.25, k={})
    first, second = _ends(events.history("k"))
    assert second.info.started_at is not None and first.info.ended_at is not None
    assert second.info.started_at - first.info.ended_at >= 0.25


BAD_RETRIES = [-1, 1.5, 0.0, "2", "", True]
BAD_DELAYS = [-0.1, math.inf, math.nan, "1", True, []]


@pytest.mark.parametrize("retries", BAD_RETRIES)
def test_bad_task_retries_are_refused(retries: object) -> None:
    executor = exechost.Executor(FlakyBackend({}), name="flaky", parallelism=1)
    with pytest.raises(InvalidTaskError, match="retries must be an int >= 0"):
        executor.queue_command("k", ["true"], retries=retries)  # type: ignore[arg-type]
    assert not executor.queued_tasks


@pytest.mark.parametrize("delay", BAD_DELAYS)
def test_bad_task_retry_delays_are_refused(delay: object) -> None:
    executor = exechost.Executor(FlakyBackend({}), name="flaky", parallelism=1, retries=1)
    with pytest.raises(InvalidTaskError, match="retry_delay must be a finite number"):
        executor.queue_command("k", ["true"], retry_delay=delay)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("retries", "delay"), [(r, 0.0) for r in BAD_RETRIES] + [(0, d) for d in BAD_DELAYS]
)
def test_bad_executor_retry_policy_is_refused(retries: object, delay: object) -> None:
    with pytest.raises(SettingsError, match="executor 'flaky': retr"):
        exechost.Executor(
            FlakyBackend({}),
            name="flaky",
            parallelism=1,
            retries=retries,  # type: ignore[arg-type]
            retry_delay=delay,  # type: ignore[arg-type]
        )
