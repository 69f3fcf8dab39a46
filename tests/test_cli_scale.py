"""`exechost run` at scale: what it does per task must not grow with the batch.

Speed itself is measured by benchmarks/cli_overhead.py; these tests count work, not time.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import exechost
from conftest import InstantBackend
from exechost.cli.batch import Batch
from exechost.cli.display import print_summary
from exechost.cli.run import run_batch
from exechost.cli.taskfile import NO_CONFIG, TaskSpec, read_json_lines, read_task_file
from exechost.events import EventBatch
from exechost.multi import MultiExecutor
from exechost.states import Event, TaskInfo, TaskState
from rich.console import Console


def calls_to_run(count: int) -> int:
    """The Python and C function calls of running ``count`` tasks through the CLI's loop."""
    executor = exechost.Executor(InstantBackend(), name="instant", parallelism=2)
    executors = MultiExecutor({"instant": executor}, default="instant", parallelism=2)
    tasks = [TaskSpec(key=("t", n), command=("true",)) for n in range(count)]
    calls = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    console = Console(file=io.StringIO())
    sys.setprofile(profile)
    try:
        status = run_batch(tasks, executors, console, json_output=False)
    finally:
        sys.setprofile(None)
    assert status == 0
    assert f"{count} tasks: {count} succeeded" in console.file.getvalue()  # type: ignore[attr-defined]
    return calls


def test_the_calls_per_task_do_not_grow_with_the_batch():
    small, large = calls_to_run(200), calls_to_run(2000)
    # a walk over the batch on each pass (the counts, as before) made this ~10x; the fixed cost
    # of a run (start, summary) makes the small batch's calls per task the larger
    assert large / 2000 <= small / 200 * 1.05, (small, large)


def event(key: str, state: TaskState, **info: object) -> EventBatch:
    return EventBatch([(key, Event(state, TaskInfo(**info)))])  # type: ignore[arg-type]


def test_counts_come_from_the_events_and_a_task_up_for_retry_counts_as_queued():
    batch = Batch(keep_outcomes=True, slowest=2)
    for key in "abcd":
        batch.add(key)
    assert batch.counts(running=2) == batch.counts(2)
    assert (batch.counts(2).queued, batch.counts(2).running) == (2, 2)
    batch.apply("local", event("a", TaskState.UP_FOR_RETRY, error="exit status 1"))
    batch.apply("local", event("b", TaskState.RUNNING))
    counts = batch.counts(running=1)  # b runs; a waits for its retry
    assert (counts.queued, counts.running, counts.finished) == (3, 1, 0)
    finished = batch.apply("local", event("b", TaskState.SUCCESS, started_at=1.0, ended_at=4.0))
    finished += batch.apply("gpu", event("c", TaskState.FAILED, error="exit status 2"))
    finished += batch.apply("local", event("d", TaskState.SUCCESS, started_at=1.0, ended_at=2.0))
    assert [(o.key, o.executor) for o in finished] == [("b", "local"), ("c", "gpu"), ("d", "local")]
    counts = batch.counts(running=1)  # a's retry runs
    assert (counts.total, counts.queued, counts.running) == (4, 0, 1)
    assert (counts.succeeded, counts.failed) == (2, 1)
    assert [o.key for o in batch.failures] == ["c"]
    assert [o.key for o in batch.slowest()] == ["b", "d"]
    assert [t["key"] for t in batch.as_json()] == ["b", "c", "d"]  # the order queued


def test_only_the_slowest_are_kept_without_json():
    batch = Batch(slowest=3)
    for n in range(100):
        batch.add(f"t{n}")
        batch.apply("local", event(f"t{n}", TaskState.SUCCESS, started_at=0.0, ended_at=n % 17))
    assert [o.info.duration for o in batch.slowest()] == [16.0, 16.0, 16.0]
    assert batch.outcomes is None and batch.as_json() == []


def test_a_jsonl_task_file_is_read_as_json_lines(tmp_path: Path):
    text = "".join(json.dumps({"key": ["t", n], "command": ["true"]}) + "\n" for n in range(5))
    (tmp_path / "tasks.jsonl").write_text(text + "\n")
    assert [task.key for task in read_task_file(str(tmp_path / "tasks.jsonl"))] == [
        ("t", n) for n in range(5)
    ]
    (tmp_path / "tasks.jsonl").write_text(text + '{"key": "x"}\n')
    try:
        read_task_file(str(tmp_path / "tasks.jsonl"))
    except exechost.ExecHostError as exc:
        assert f"{tmp_path / 'tasks.jsonl'}, line 6: 'command' is required" in str(exc)
    else:
        raise AssertionError("a task without a command was accepted")


def test_a_task_takes_little_memory():
    text = "".join(json.dumps({"key": ["group", n], "command": ["true"]}) + "\n" for n in range(3))
    first, second, _ = read_json_lines(io.StringIO(text))
    assert not hasattr(first, "__dict__")  # slots
    assert first.executor_config is NO_CONFIG is second.executor_config
    assert first.command[0] is second.command[0] and first.key[0] is second.key[0]


def test_the_summary_of_many_failures_lists_the_first_fifty():
    batch = Batch()
    for n in range(1000):
        batch.add(f"t{n}")
        batch.apply("local", event(f"t{n}", TaskState.FAILED, error="exit status 1"))
    console = Console(file=io.StringIO(), width=200)
    print_summary(console, batch, 1.0, None, "logs: /somewhere")
    shown = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert shown[0] == "1000 tasks: 0 succeeded, 1000 failed in 1.0s"
    assert sum(line.startswith("  failed t") for line in shown) == 50
    assert shown[-2:] == [
        "  ... and 950 more (each is in the progress lines and in --json)",
        "logs: /somewhere",
    ]
