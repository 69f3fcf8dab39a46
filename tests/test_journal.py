"""The journal: what it records, the files it refuses, its permissions, and crashes mid-commit."""

from __future__ import annotations

import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import exechost
import pytest
from conftest import HoldingBackend, InstantBackend
from exechost import hookimpl
from exechost.errors import BackendError
from exechost.journal import SCHEMA_VERSION, JournalError, open_journal
from exechost.testing import hermetic_environment


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.sqlite"


def test_records_every_task_attempt_and_state(path: Path) -> None:
    with open_journal(path) as journal:
        with exechost.load_executor(InstantBackend(), journal=journal) as executor:
            executor.queue_command(("group", 1), ["true"], priority=3, queue="q")
            executor.queue_command("plain", ["echo", "a b"], executor_config={"timeout": 5})
        run = journal.runs()[0]
        tasks = journal.tasks(run.id)
    assert run.counts == {"success": 2}
    assert set(tasks) == {("group", 1), "plain"}
    task = tasks["plain"]
    assert task.state is exechost.TaskState.SUCCESS
    assert task.attempt is not None
    assert task.attempt.command == ("echo", "a b")
    assert task.attempt.executor_config == {"timeout": 5}
    # the backend reported success before it returned its id: the id is kept, the state too
    assert task.info.external_id == "id-plain"
    assert task.info.ended_at is not None
    assert tasks[("group", 1)].attempt is not None
    assert tasks[("group", 1)].attempt.queue == "q"


def test_external_id_reaches_the_attempt_row_of_a_running_task(path: Path) -> None:
    class Identified(HoldingBackend):
        @hookimpl
        def executor_execute_async(self, key: object) -> str:
            self.started.append(key)
            return "engine-42"

    backend = Identified()
    with open_journal(path) as journal:
        executor = exechost.load_executor(backend, journal=journal)
        executor.start()
        executor.queue_command("k", ["true"])
        executor.heartbeat()
        executor.heartbeat()  # commits what the previous one learnt after its commit
        assert journal.run_id is not None
        running = journal.tasks(journal.run_id)["k"]
        assert running.state is exechost.TaskState.RUNNING
        assert running.info.external_id == "engine-42"
        backend.finish("k")
        executor.end()
        ended = journal.tasks(journal.run_id)["k"]
        assert ended.state is exechost.TaskState.SUCCESS
        assert ended.info.external_id == "engine-42"
        assert running.attempt is not None
        history = journal.history(running.attempt.attempt_id)
    assert [state for state, _ in history] == [
        exechost.TaskState.RUNNING,
        exechost.TaskState.SUCCESS,
    ]
    assert history[0][1] <= history[1][1]


def _unchanged_refusal(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(JournalError, match=match):
        open_journal(path)
    assert path.read_bytes() == before


def test_corrupt_file_is_refused_and_left_alone(path: Path) -> None:
    path.parent.mkdir()
    path.write_bytes(b"not a database, " * 512)
    _unchanged_refusal(path, "cannot be read")


@pytest.mark.parametrize(("version", "message"), [(1, "newer exechost"), (-1, "older exechost")])
def test_journal_of_another_schema_is_refused(path: Path, version: int, message: str) -> None:
    with open_journal(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + version}")
    db.close()
    _unchanged_refusal(path, message)


def test_foreign_database_is_refused(path: Path) -> None:
    path.parent.mkdir()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE mine (x)")
    db.close()
    _unchanged_refusal(path, "did not make")


def test_journal_held_by_another_live_process_is_refused(path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, exechost.journal as j; h = j.open_journal(sys.argv[1]); "
            "print('held', flush=True); sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=hermetic_environment(),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        _unchanged_refusal(path, f"in use by another exechost \\(pid {holder.pid}\\)")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    with open_journal(path):  # released with its holder
        pass


def test_second_open_in_one_process_is_refused_until_closed(path: Path) -> None:
    first = open_journal(path)
    with pytest.raises(JournalError, match="in use"):
        open_journal(path)
    first.close()
    first.close()  # closing twice does nothing
    with open_journal(path):
        pass


def test_symlink_is_refused(path: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.sqlite"
    path.parent.mkdir()
    path.symlink_to(target)
    with pytest.raises(JournalError, match="symbolic link"):
        open_journal(path)
    assert not target.exists()


def test_folder_and_files_are_private(path: Path) -> None:
    with exechost.load_executor(InstantBackend(), journal=path) as executor:
        executor.queue_command("k", ["true"])
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for made in path.parent.iterdir():
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made


class CannotStart:
    @hookimpl
    def executor_start(self) -> None:
        raise RuntimeError("no engine")


def test_failed_start_releases_the_journal_it_opened(path: Path) -> None:
    executor = exechost.load_executor(CannotStart(), journal=path)
    with pytest.raises(BackendError, match="no engine"):
        executor.start()
    with open_journal(path):  # not left locked
        pass


def test_failed_start_of_several_executors_releases_the_journal(path: Path) -> None:
    executors = exechost.MultiExecutor(
        {
            "fine": exechost.Executor(InstantBackend(), name="fine", parallelism=1),
            "broken": exechost.Executor(CannotStart(), name="broken", parallelism=1),
        },
        default="fine",
        journal=open_journal(path),
    )
    executors.owns_journal = True
    with pytest.raises(BackendError, match="no engine"):
        executors.start()
    with open_journal(path) as journal:
        assert journal.runs()[0].status == "not started"


_WRITER = textwrap.dedent(
    """
    import sys, time
    from exechost.journal import open_journal
    from exechost.states import TaskInfo, TaskState
    from exechost.tasks import QueuedTask

    journal = open_journal(sys.argv[1])
    journal.begin_run()
    for batch in range(1_000_000):
        tasks = [QueuedTask(("task", batch, n), ("true",), 1, None, {}, 0, 0.0) for n in range(50)]
        for task in tasks:
            journal.record_task("local", task)
        ids = [(task.key, journal.begin_attempt(task, time.time())) for task in tasks]
        journal.commit()
        for key, attempt_id in ids:
            journal.record_external_id(attempt_id, "x" * 40)
            journal.record_state(
                attempt_id, TaskState.SUCCESS, TaskInfo(returncode=0, ended_at=time.time()),
                time.time(),
            )
        journal.commit()
        print(batch, flush=True)
    """
)


def test_a_writer_killed_at_any_instant_leaves_a_consistent_journal(path: Path) -> None:
    """kill -9 a process writing the journal, at random moments, and reopen it each time."""
    env = hermetic_environment()
    seen_batches = 0
    for round_ in range(8):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
        )
        assert writer.stdout is not None
        committed = int(writer.stdout.readline())  # a whole batch is written: mid-run now
        time.sleep(random.uniform(0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        committed = max([committed, *(int(line) for line in writer.stdout)])
        writer.stdout.close()
        with open_journal(path) as journal:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                orphans = db.execute(
                    "SELECT count(*) FROM attempts WHERE task_id NOT IN (SELECT id FROM tasks)"
                ).fetchone()[0]
                dangling = db.execute(
                    "SELECT count(*) FROM tasks WHERE attempt_id IS NOT NULL AND attempt_id NOT IN "
                    "(SELECT id FROM attempts)"
                ).fetchone()[0]
            db.close()
            assert (orphans, dangling) == (0, 0)
            run = journal.runs(limit=1)[0]
            tasks = journal.tasks(run.id)
            # every batch the writer saw committed is there whole; at most one more, partly done
            assert len(tasks) in (50 * (committed + 1), 50 * (committed + 2))
            done = sum(t.state is exechost.TaskState.SUCCESS for t in tasks.values())
            assert done in (50 * (committed + 1), 50 * (committed + 2)), (round_, committed, done)
            for task in tasks.values():
                assert task.state in (exechost.TaskState.SUCCESS, exechost.TaskState.RUNNING)
                assert task.attempt is not None
                if task.state is exechost.TaskState.SUCCESS:
                    assert task.info.external_id == "x" * 40
        seen_batches += committed + 1
    assert seen_batches >= 8


def test_a_first_attempt_is_handed_over_under_the_id_its_task_row_was_written_with(
    path: Path,
) -> None:
    """Launching a queued task inserts its attempt and rewrites no task row."""
    handed: dict[object, str] = {}

    class Recording(HoldingBackend):
        @hookimpl
        def executor_execute_async(self, key: object, attempt_id: str) -> None:
            handed[key] = attempt_id

    with open_journal(path) as journal:
        executor = exechost.load_executor(Recording(), journal=journal, parallelism=2)
        executor.start()
        for number in range(3):
            executor.queue_command(("t", number), ["true"])
        journal.commit()
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            written = dict(db.execute("SELECT key, attempt_id FROM tasks"))
        db.close()
        statements: list[str] = []
        journal._db.set_trace_callback(statements.append)
        executor.heartbeat()  # hands two of them over
        journal._db.set_trace_callback(None)
        assert len(handed) == 2
        assert {written[f'["t",{key[1]}]'] for key in handed} == set(handed.values())  # type: ignore[index]
        assert not [s for s in statements if s.startswith("UPDATE tasks")], statements
        executor.terminate()
        task = journal.tasks(journal.runs()[0].id)[("t", 0)]
        assert task.attempt is not None and task.attempt.attempt_id == handed[("t", 0)]
        # the third never started: its row names the id it would have had, no attempt has it
        assert journal.tasks(journal.runs()[0].id)[("t", 2)].attempt is None


def test_an_ended_attempt_and_the_next_go_in_one_statement(path: Path) -> None:
    """The heartbeat after a task ended writes its end and the next task's attempt together."""
    backend = HoldingBackend()
    with open_journal(path) as journal:
        executor = exechost.load_executor(backend, journal=journal, parallelism=1)
        executor.start()
        executor.queue_command("first", ["true"])
        executor.queue_command("second", ["true"])
        executor.heartbeat()  # hands "first" over
        backend.finish("first")
        statements: list[str] = []
        journal._db.set_trace_callback(statements.append)
        executor.heartbeat()  # its end, and "second" handed over
        journal._db.set_trace_callback(None)
        writes = [s.split(" (")[0] for s in statements if not s.startswith(("BEGIN", "COMMIT"))]
        assert writes == ["INSERT OR REPLACE INTO attempts VALUES"] * 2, statements  # a row each
        backend.finish("second")
        executor.end()
        tasks = journal.tasks(journal.runs()[0].id)
    assert [tasks[key].state for key in ("first", "second")] == [exechost.TaskState.SUCCESS] * 2
    assert tasks["first"].info.ended_at is not None
