"""Executor.cancel and Executor.fetch_log on real Dask workers."""

from __future__ import annotations

from pathlib import Path

from distributed import Client, LocalCluster
from exechost import CANCELLED_ERROR, TaskState
from exechost.testing import processes_with
from exechost_dask.worker import read_task_log
from test_dask_executor import kill_marked, load, wait_until


def test_a_running_task_is_cancelled_and_its_processes_killed(
    cluster: LocalCluster, tmp_path: Path, marker: str
) -> None:
    try:
        with load(cluster, tmp_path) as executor:
            executor.queue_command(
                "long",
                ["sh", "-c", "echo started; sleep 60 & wait"],
                executor_config={"env": {"MARKER": marker}},
                retries=2,
            )
            executor.queue_command("other", ["sh", "-c", "echo other"])
            executor.heartbeat()
            wait_until(lambda: len(processes_with(marker)) == 2)
            assert executor.fetch_log("long") == "started\n"  # running: read on its worker
            assert executor.cancel("long") is True
        events = executor.get_event_buffer()
        assert events["long"].state is TaskState.FAILED
        assert events["long"].info.error == CANCELLED_ERROR
        assert TaskState.UP_FOR_RETRY not in [e.state for e in events.history("long")]
        assert events["other"].state is TaskState.SUCCESS
        wait_until(lambda: not processes_with(marker), timeout=5)
        assert executor.fetch_log("other") == "other\n"
    finally:
        kill_marked(marker)


def test_finished_tasks_logs_are_read_back_from_their_workers(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    with load(cluster, tmp_path) as executor:
        executor.queue_command("ok", ["sh", "-c", "echo hello; echo oops >&2"])
        executor.queue_command("bad", ["sh", "-c", "echo failing; exit 3"])
    events = executor.get_event_buffer()
    assert executor.fetch_log("ok") == "hello\noops\n"
    assert executor.fetch_log("bad") == "failing\n"
    task_id = events["ok"].info.external_id
    assert task_id is not None
    answers = worker_answers(cluster, task_id)
    assert sorted(answers, key=str) == sorted([None, "hello\noops\n"], key=str), answers
    assert executor.fetch_log("never queued") is None


def worker_answers(cluster: LocalCluster, task_id: str) -> list[str | None]:
    """What each worker of ``cluster`` answers for ``task_id``: only the one that ran it has it."""
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        return list(client.run(read_task_log, task_id).values())


def test_a_queued_task_is_cancelled_before_dask_sees_it(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    with load(cluster, tmp_path, parallelism=1) as executor:
        executor.queue_command("first", ["sh", "-c", "sleep 0.5"])
        executor.queue_command("second", ["sh", "-c", f"touch {tmp_path}/ran"])
        executor.heartbeat()
        assert executor.cancel("second") is True
    assert executor.get_event_buffer()["second"].info.error == CANCELLED_ERROR
    assert not (tmp_path / "ran").exists()
