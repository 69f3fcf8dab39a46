"""Executor.cancel and Executor.fetch_log on a real Celery worker (its logs in a directory of its
own, which the host never reads)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import exechost
from exechost import CANCELLED_ERROR, TaskState
from exechost.testing import processes_with


def _drive(executor: exechost.Executor, key: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while executor.has_task(key):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        executor.heartbeat()
        executor.wait(0.05)


def test_running_and_queued_tasks_are_cancelled(
    celery_settings: dict[str, Any], tmp_path: Path
) -> None:
    marker = f"exechost-celery-cancel-{tmp_path.name}"
    started = tmp_path / "started"
    long = ["sh", "-c", f"touch {started}; sleep 60 & wait"]
    with exechost.load_executor("celery", parallelism=1, **celery_settings) as executor:
        executor.queue_command("long", long, executor_config={"env": {"MARK": marker}}, retries=2)
        executor.queue_command("behind", ["sh", "-c", f"touch {tmp_path}/behind"])
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the long task did not start within 30 s"
            executor.heartbeat()
            executor.wait(0.05)
        assert executor.cancel("behind") is True
        assert executor.fetch_log("long") is None  # a Celery task's output comes with its end
        assert executor.cancel("long") is True
        _drive(executor, "long", "the cancelled task's end")
    events = executor.get_event_buffer()
    for key in ("long", "behind"):
        assert events[key].state is TaskState.FAILED, events[key]
        assert events[key].info.error == CANCELLED_ERROR, events[key]
    assert TaskState.UP_FOR_RETRY not in [e.state for e in events.history("long")]
    assert not (tmp_path / "behind").exists()
    deadline = time.monotonic() + 10
    while processes_with(marker):
        assert time.monotonic() < deadline, "the cancelled task's processes outlived it"
        time.sleep(0.05)


def test_a_finished_tasks_output_is_fetched_from_its_result(
    celery_settings: dict[str, Any],
) -> None:
    with exechost.load_executor("celery", **celery_settings) as executor:
        executor.queue_command("out", ["sh", "-c", "echo from the worker; echo err >&2"])
        executor.queue_command("bad", ["sh", "-c", "echo failing; exit 2"])
    events = executor.get_event_buffer()
    assert executor.fetch_log("out") == "from the worker\nerr\n"
    assert executor.fetch_log("bad") == "failing\n"
    assert Path(events["out"].info.log or "").parent == Path(celery_settings["log_dir"])
    assert executor.fetch_log("unknown") is None
