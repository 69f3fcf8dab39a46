"""Nothing lost, nothing run twice: claims, adoption, and hosts killed with SIGKILL mid-batch."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import exechost
import pytest
import redis
from conftest import BROKERS, REDIS, REDIS_URL, settings_for, start_worker
from exechost import Attempt, TaskState
from exechost.testing.crashes import crash_series, marker_counts, task_command
from exechost_celery.task import TASK_NAME
from exechost_celery.workerprocess import WorkerProcess
from tcpproxy import TcpProxy
from test_faults import drive, proxied, started_meta, wait_until

REFUSED = "not run: the attempt was"
"""The worker's log line for a message it drops because its attempt is claimed already."""


def refusals(worker: WorkerProcess, task_id: str | None = None) -> int:
    """How many messages ``worker`` dropped as claimed already (of ``task_id``, if given)."""
    lines = worker.log_path.read_text(errors="replace").splitlines()
    return sum(1 for line in lines if REFUSED in line and (task_id is None or task_id in line))


def send(
    executor: exechost.Executor, worker: WorkerProcess, task_id: str, key: str, argv: list[str]
) -> None:
    """Publish the exechost task ``key`` under ``task_id`` as a host would, bypassing the host."""
    app = executor.backend.app  # type: ignore[attr-defined]
    args = [argv, key, {}, 5.0, 1 << 20]
    app.send_task(TASK_NAME, args=args, task_id=task_id, queue=worker.queue)


def attempt(key: str, attempt_id: str, argv: list[str]) -> Attempt:
    return Attempt(key, attempt_id, 1, tuple(argv), None, {}, attempt_id, time.time())


def result_state(redis_client: redis.Redis, task_id: str) -> str | None:
    raw = redis_client.get(f"celery-task-meta-{task_id}")
    return json.loads(raw)["status"] if raw else None


@pytest.fixture(scope="module", params=sorted(BROKERS))
def batch_worker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A worker of this module's own on each broker, running 8 tasks at a time."""
    worker = start_worker(tmp_path_factory, request.param, concurrency=8)
    yield worker
    worker.stop()


@pytest.fixture
def started(batch_worker: WorkerProcess, tmp_path: Path) -> Iterator[exechost.Executor]:
    executor = exechost.load_executor("celery", **settings_for(batch_worker, log_dir=str(tmp_path)))
    executor.start()
    yield executor
    executor.terminate()


# -- claims ------------------------------------------------------------------------------------


def test_a_message_delivered_twice_runs_once(
    batch_worker: WorkerProcess,
    started: exechost.Executor,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    task_id = str(uuid.uuid4())
    for _ in range(2):  # a publish retried after the broker had it, or a redelivery
        send(started, batch_worker, task_id, "twice", task_command("twice", marker))
    wait_until(lambda: refusals(batch_worker, task_id) == 1, "the second delivery refused")
    wait_until(lambda: result_state(redis_client, task_id) == "SUCCESS", "the task finishing")
    assert marker_counts(marker) == {"twice": 1}
    assert "claimed already by worker" in batch_worker.log_path.read_text()


def test_an_attempt_not_found_is_abandoned_and_never_runs(
    batch_worker: WorkerProcess,
    started: exechost.Executor,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    late = attempt("late", str(uuid.uuid4()), task_command("late", marker))
    assert started.adopt([late]) == [late]  # not found: the host runs the task again
    # its message was in flight after all (published but not yet visible): it must not run
    send(started, batch_worker, late.attempt_id, "late", list(late.command))
    wait_until(
        lambda: refusals(batch_worker, late.attempt_id) == 1, "the abandoned attempt refused"
    )
    assert "abandoned by a restarted host" in batch_worker.log_path.read_text()
    assert result_state(redis_client, late.attempt_id) is None
    assert not marker.exists()


def test_finished_and_running_attempts_are_adopted(
    batch_worker: WorkerProcess,
    started: exechost.Executor,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    quick = attempt("quick", str(uuid.uuid4()), ["sh", "-c", "echo quick"])
    slow = attempt("slow", str(uuid.uuid4()), ["sh", "-c", "sleep 1; echo slow"])
    lost = attempt("lost", str(uuid.uuid4()), task_command("lost", marker))
    for offered in (quick, slow):  # what a host published before it died
        send(started, batch_worker, offered.attempt_id, str(offered.key), list(offered.command))
    wait_until(lambda: result_state(redis_client, quick.attempt_id) == "SUCCESS", "quick ended")
    wait_until(lambda: started_meta(redis_client, slow.attempt_id), "slow started")
    assert started.adopt([quick, slow, lost]) == [lost]
    assert set(started.running) == {"slow"}  # quick was reported from inside the hook
    drive(started, lambda: not started.running)
    batch = started.get_event_buffer()
    assert batch["quick"].state is TaskState.SUCCESS
    assert Path(batch["quick"].info.log).read_text() == "quick\n"
    assert batch["slow"].state is TaskState.SUCCESS
    assert Path(batch["slow"].info.log).read_text() == "slow\n"
    slow_states = [event.state for key, event in batch.transitions if key == "slow"]
    assert slow_states == [TaskState.RUNNING, TaskState.SUCCESS]  # reports_running
    assert batch["slow"].info.attempt_id == slow.attempt_id


def test_adopted_attempt_of_a_killed_worker_fails_as_lost(
    own_worker: WorkerProcess, redis_client: redis.Redis, tmp_path: Path
) -> None:
    settings = settings_for(own_worker, task_heartbeat_interval=0.3, worker_lost_timeout=2.0)
    executor = exechost.load_executor("celery", log_dir=str(tmp_path), **settings)
    executor.start()
    victim = attempt("victim", str(uuid.uuid4()), ["sleep", "60"])
    app = executor.backend.app  # type: ignore[attr-defined]
    args = [list(victim.command), "victim", {}, 0.3, 1024]
    app.send_task(TASK_NAME, args=args, task_id=victim.attempt_id, queue=own_worker.queue)
    wait_until(lambda: started_meta(redis_client, victim.attempt_id), "the victim starting")
    own_worker.kill()  # main process and pool: nobody records anything, nothing is redelivered
    killed = time.monotonic()
    assert executor.adopt([victim]) == []  # claimed by a worker: adopted, tracked to its end
    drive(executor, lambda: not executor.running, timeout=20)
    assert time.monotonic() - killed < 10
    executor.end()
    event = executor.get_event_buffer()["victim"]
    assert event.state is TaskState.FAILED
    assert (event.info.error or "").startswith(f"worker lost: {own_worker.hostname} (pid ")


def test_adoption_with_the_result_backend_unreachable_never_runs_twice(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    with TcpProxy(REDIS) as proxy:
        settings = {
            "broker_url": REDIS_URL,
            "result_backend": proxied(REDIS_URL, proxy),
            "operation_timeout": 1.0,
            "log_dir": str(tmp_path),
        }
        executor = exechost.load_executor("celery", **settings)
        executor.start()
        proxy.cut()
        offered = attempt("unknown", str(uuid.uuid4()), ["true"])
        assert executor.adopt([offered]) == []  # adopted, and failed: it may have run
        proxy.restore()
        executor.end()
    event = executor.get_event_buffer()["unknown"]
    assert event.state is TaskState.FAILED
    assert (event.info.error or "").startswith("not adopted: the Celery result backend at")
    assert "the attempt may have run, so it is not run again" in (event.info.error or "")


# -- hosts killed at random moments ------------------------------------------------------------

TASKS = 300
KILLS = 10


def test_exechost_run_killed_at_random_moments_runs_every_task_once(
    batch_worker: WorkerProcess, tmp_path: Path
) -> None:
    """Issue 8's fault test: ``exechost run`` SIGKILLed 10 times during 300 tasks, each time
    followed by ``exechost run --resume``: every task's side effect happened exactly once."""
    settings = settings_for(batch_worker, log_dir=str(tmp_path / "logs"))
    config = "executor = 'celery'\n[executors.celery]\nparallelism = 64\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
    )
    refused_before = refusals(batch_worker)
    series = crash_series(tmp_path, config, tasks=TASKS, kills=KILLS)
    refused = refusals(batch_worker) - refused_before
    broker = batch_worker.broker_url.split(":")[0]
    print(f"\n{series.summary(f'{broker} broker')}; duplicate deliveries refused {refused}")
    series.check(KILLS)
