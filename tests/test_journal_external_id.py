"""The journal keeps an attempt's end when its external id is recorded after it."""

from __future__ import annotations

from pathlib import Path

from exechost import Executor, TaskKey, TaskState
from exechost.hookspecs import hookimpl
from exechost.journal import open_journal


class _EndsBeforeReturning:
    """A synchronous backend: it reports each task's end, then returns its external id."""

    @hookimpl
    def executor_execute_async(self, executor: Executor, key: TaskKey) -> str:
        executor.success(key)
        return f"id-{key}"


def test_external_id_recorded_after_the_end_keeps_the_end(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "journal.sqlite")
    with Executor(_EndsBeforeReturning(), name="sync", parallelism=1, journal=journal) as executor:
        executor.queue_command("a", ["true"])
    assert journal.run_id is not None
    task = journal.tasks(journal.run_id)["a"]
    journal.close()
    assert task.state is TaskState.SUCCESS, task
    assert task.info.external_id == "id-a", task
