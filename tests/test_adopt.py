"""Adoption: a restarted host offers the journal's unfinished attempts to an in-process backend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import exechost
import pytest
from conftest import HoldingBackend
from exechost import Attempt, TaskState, hookimpl
from exechost.errors import DuplicateTaskError
from exechost.journal import open_journal


class AdoptingBackend(HoldingBackend):
    """Holds tasks like :class:`HoldingBackend`; adopts the attempts whose keys it still runs."""

    def __init__(self, alive: set[Any]) -> None:
        super().__init__()
        self.alive = alive
        self.offered: list[Attempt] = []
        self.attempt_ids: dict[Any, str] = {}

    @hookimpl
    def executor_execute_async(self, key: Any, attempt_id: str) -> str:
        self.started.append(key)
        self.attempt_ids[key] = attempt_id
        return f"engine-{key}"

    @hookimpl
    def executor_adopt(self, tasks: Sequence[Attempt]) -> list[Any]:
        self.offered += tasks
        return [attempt.key for attempt in tasks if attempt.key in self.alive]


def _crashed_run(path: Path) -> tuple[int, dict[Any, str]]:
    """A host that handed three tasks to its backend and died: its journal, never ended."""
    backend = AdoptingBackend(set())
    executor = exechost.load_executor(backend, journal=open_journal(path))
    executor.start()
    for key in ("a", "b", "c"):
        executor.queue_command(key, ["work", key], queue="q", executor_config={"timeout": 9})
    executor.heartbeat()
    executor.heartbeat()  # the external ids reach the journal
    journal = executor.journal
    assert journal is not None and journal.run_id is not None
    journal.close()  # as a killed host leaves it: the run still "running"
    executor.journal = None
    executor.terminate()
    return journal.run_id, backend.attempt_ids


def _unfinished(journal: exechost.journal.Journal, run_id: int) -> dict[str, list[Attempt]]:
    offered: dict[str, list[Attempt]] = {}
    for task in journal.tasks(run_id).values():
        if not task.state.finished and task.attempt is not None:
            offered.setdefault(task.executor, []).append(task.attempt)
    return offered


def test_adopted_tasks_run_to_their_end_in_the_new_run(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    old_run, first_ids = _crashed_run(path)
    backend = AdoptingBackend(alive={"a", "b"})
    with open_journal(path) as journal:
        assert journal.runs()[0].status == "running"
        offered = _unfinished(journal, old_run)
        new_run = journal.begin_run(resumed_from=old_run)
        executor = exechost.load_executor(backend, journal=journal)
        executor.start()
        left = executor.adopt(offered["AdoptingBackend"])
        assert [attempt.key for attempt in left] == ["c"]
        assert set(executor.running) == {"a", "b"}
        assert executor.running["a"].attempt_id == first_ids["a"]
        assert executor.running["a"].external_id == "engine-a"
        executor.queue_command("c", left[0].command)  # the documented policy: run it again
        executor.heartbeat()
        backend.finish("a")
        backend.finish("b", ok=False)
        backend.finish("c")
        executor.end()
        events = executor.get_event_buffer()
        tasks = journal.tasks(new_run)
        runs = {run.id: run for run in journal.runs()}
    offered_attempt = next(a for a in backend.offered if a.key == "a")
    assert offered_attempt.command == ("work", "a")
    assert offered_attempt.queue == "q"
    assert offered_attempt.executor_config == {"timeout": 9}
    assert {key: event.state for key, event in events.items()} == {
        "a": TaskState.SUCCESS,
        "b": TaskState.FAILED,
        "c": TaskState.SUCCESS,
    }
    assert events["a"].info.attempt_id == first_ids["a"]
    # the new run has a row for every task, adopted ones pointing at the earlier attempt
    assert {key: t.state for key, t in tasks.items()} == {
        "a": TaskState.SUCCESS,
        "b": TaskState.FAILED,
        "c": TaskState.SUCCESS,
    }
    assert tasks["a"].info.attempt_id == first_ids["a"]
    assert tasks["a"].info.external_id == "engine-a"
    assert tasks["c"].info.attempt_id == backend.attempt_ids["c"] != first_ids["c"]
    assert runs[new_run].counts == {"success": 2, "failed": 1}
    assert runs[new_run].resumed_from == old_run


def test_a_backend_without_the_hook_adopts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    old_run, _ = _crashed_run(path)
    with open_journal(path) as journal:
        offered = _unfinished(journal, old_run)["AdoptingBackend"]
        journal.begin_run(resumed_from=old_run)
        with exechost.load_executor(HoldingBackend(), journal=journal) as executor:
            assert executor.adopt(offered) == offered
            assert not executor.running


def test_a_backend_that_raises_adopts_nothing(tmp_path: Path) -> None:
    class Raising(AdoptingBackend):
        @hookimpl
        def executor_adopt(self, tasks: Sequence[Attempt]) -> list[Any]:
            raise RuntimeError("engine unreachable")

    path = tmp_path / "journal.sqlite"
    old_run, _ = _crashed_run(path)
    with open_journal(path) as journal:
        offered = _unfinished(journal, old_run)["AdoptingBackend"]
        with exechost.load_executor(Raising({"a"}), journal=journal) as executor:
            assert executor.adopt(offered) == offered
            assert not executor.running


def test_a_key_already_here_cannot_be_adopted(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    old_run, _ = _crashed_run(path)
    with open_journal(path) as journal:
        offered = _unfinished(journal, old_run)["AdoptingBackend"]
        executor = exechost.load_executor(AdoptingBackend({"a"}), journal=journal)
        executor.start()
        executor.queue_command("a", ["true"])
        with pytest.raises(DuplicateTaskError, match="cannot be adopted"):
            executor.adopt(offered)
        executor.terminate()
