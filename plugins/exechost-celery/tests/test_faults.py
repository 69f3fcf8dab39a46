"""Faults with real services: brokers unreachable or lost, workers killed, tasks terminated."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import exechost
import pytest
import redis
from conftest import BROKERS, RABBITMQ, REDIS, REDIS_URL, free_port, require, settings_for
from exechost import BackendError, ExecutorStateError, TaskState
from exechost_celery.workerprocess import WorkerProcess
from tcpproxy import TcpProxy


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s")
        time.sleep(0.05)
    return result


def drive(executor: exechost.Executor, done: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done within {timeout}s: {executor!r}"
        executor.heartbeat()
        executor.wait(0.05)


def started_meta(redis_client: redis.Redis, task_id: str) -> dict[str, Any] | None:
    """The task's STARTED stamp (worker hostname, pool process pid, beat), once it runs."""
    raw = redis_client.get(f"celery-task-meta-{task_id}")
    meta = json.loads(raw) if raw else None
    return meta["result"] if meta and meta["status"] == "STARTED" else None


def written_pid(path: Path) -> int | None:
    """The pid a command wrote to ``path``, once it has written it whole."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def leftover_pids() -> Iterator[list[int]]:
    """Processes a test must not leave behind, killed at teardown whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- unreachable at start --------------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(BROKERS))
def test_unreachable_broker_is_a_clear_error_at_start(scheme: str) -> None:
    port = free_port()
    url = {"redis": f"redis://127.0.0.1:{port}/9", "amqp": f"amqp://guest:pw@127.0.0.1:{port}//"}
    executor = exechost.load_executor(
        "celery", broker_url=url[scheme], result_backend=REDIS_URL, operation_timeout=1.0
    )
    started = time.monotonic()
    with pytest.raises(BackendError) as error:
        executor.start()
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert f"cannot reach the Celery broker at {scheme}://" in message
    assert f"127.0.0.1:{port}" in message and "pw" not in message  # the password is masked
    assert "setting broker_url" in message and "within 1s" in message
    with pytest.raises(ExecutorStateError):
        executor.queue_command("never", ["true"])


def test_unreachable_result_backend_is_a_clear_error_at_start() -> None:
    require("Redis", REDIS)
    backend = f"redis://127.0.0.1:{free_port()}/9"
    executor = exechost.load_executor(
        "celery", broker_url=REDIS_URL, result_backend=backend, operation_timeout=1.0
    )
    with pytest.raises(BackendError, match="cannot reach the Celery result backend at redis://"):
        executor.start()


def test_result_backend_without_bulk_reads_is_refused() -> None:
    require("Redis", REDIS)
    executor = exechost.load_executor("celery", result_backend="rpc://")
    with pytest.raises(BackendError, match="needs a Redis result backend"):
        executor.start()


# -- lost mid-run ------------------------------------------------------------------------------


def proxied(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.replace(str(parts.port), str(proxy.port))).geturl()


@pytest.fixture
def broker_proxy(worker: WorkerProcess) -> Iterator[TcpProxy]:
    """A relay between the host and ``worker``'s broker; the worker itself connects directly."""
    upstream = REDIS if worker.broker_url.startswith("redis") else RABBITMQ
    with TcpProxy(upstream) as proxy:
        yield proxy


def proxied_settings(worker: WorkerProcess, proxy: TcpProxy, **overrides: Any) -> dict[str, Any]:
    settings = settings_for(worker, **overrides)
    settings["broker_url"] = proxied(settings["broker_url"], proxy)
    if worker.broker_url == REDIS_URL:  # one Redis, reached through the relay for both roles
        settings["result_backend"] = proxied(settings["result_backend"], proxy)
    return settings


def test_broker_lost_briefly_is_retried(worker: WorkerProcess, broker_proxy: TcpProxy) -> None:
    executor = exechost.load_executor(
        "celery", **proxied_settings(worker, broker_proxy, operation_timeout=10.0)
    )
    executor.start()
    executor.queue_command("before", ["true"])
    drive(executor, lambda: not executor.has_task("before"))
    broker_proxy.cut()
    for n in range(5):
        executor.queue_command(("during", n), ["echo", str(n)])
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        executor.heartbeat()
        executor.wait(0.05)
    assert len(executor.running) == 5  # handed over, not given up
    broker_proxy.restore()
    executor.end()
    events = executor.get_event_buffer()
    assert {key: event.state for key, event in events.items()} == {
        "before": TaskState.SUCCESS,
        **{("during", n): TaskState.SUCCESS for n in range(5)},
    }
    assert Path(events[("during", 3)].info.log).read_text() == "3\n"


def test_broker_lost_for_longer_than_the_timeout_fails_the_tasks(
    worker: WorkerProcess, broker_proxy: TcpProxy
) -> None:
    timeout = 1.5
    executor = exechost.load_executor(
        "celery", **proxied_settings(worker, broker_proxy, operation_timeout=timeout)
    )
    executor.start()
    executor.queue_command("published", ["sleep", "2"])
    executor.heartbeat()
    broker_proxy.cut()
    executor.queue_command("unpublished", ["true"])
    started = time.monotonic()
    drive(executor, lambda: not executor.has_task("unpublished"), timeout=15)
    assert time.monotonic() - started >= timeout
    events = executor.get_event_buffer()
    unpublished = events["unpublished"]
    assert unpublished.state is TaskState.FAILED
    assert unpublished.info.error is not None
    assert "the Celery broker at" in unpublished.info.error
    assert f"stayed unreachable for {timeout:g}s (setting operation_timeout)" in (
        unpublished.info.error
    )
    if worker.broker_url == REDIS_URL:
        # the result backend was behind the relay too: the running task's fate is unknown
        drive(executor, lambda: not executor.running, timeout=15)
        events.update(executor.get_event_buffer())  # it may have ended with the first read
        published = events["published"]
        assert published.state is TaskState.FAILED
        assert "the Celery result backend at" in (published.info.error or "")
        broker_proxy.restore()
        executor.end()
    else:
        # RabbitMQ lost, Redis results still there: the published task ends as it ran
        broker_proxy.restore()
        executor.end()
        assert executor.get_event_buffer()["published"].state is TaskState.SUCCESS


# -- workers killed --------------------------------------------------------------------------


def test_pool_process_killed_mid_task_fails_the_task(
    worker: WorkerProcess,
    redis_client: redis.Redis,
    tmp_path: Path,
    leftover_pids: list[int],
) -> None:
    pidfile = tmp_path / "pid"
    executor = exechost.load_executor("celery", **settings_for(worker))
    executor.start()
    executor.queue_command("victim", ["sh", "-c", f'echo $$ > "{pidfile}"; exec sleep 60'])
    executor.heartbeat()
    task_id = executor.running["victim"].external_id
    assert task_id is not None
    stamp = wait_until(lambda: started_meta(redis_client, task_id), "the task starting")
    leftover_pids.append(wait_until(lambda: written_pid(pidfile), "the command starting"))
    os.kill(stamp["pid"], signal.SIGKILL)
    drive(executor, lambda: not executor.running)
    executor.end()
    event = executor.get_event_buffer()["victim"]
    assert event.state is TaskState.FAILED
    assert event.info.error is not None
    assert "WorkerLostError" in event.info.error and "SIGKILL" in event.info.error, event
    # the worker's main process killed the command its dead pool process had started
    wait_until(lambda: not pid_alive(leftover_pids[0]), "the orphaned command killed", 10)


def test_whole_worker_killed_mid_task_fails_the_task_after_the_lost_timeout(
    own_worker: WorkerProcess,
    redis_client: redis.Redis,
    tmp_path: Path,
    leftover_pids: list[int],
) -> None:
    pidfile = tmp_path / "pid"
    settings = settings_for(own_worker, task_heartbeat_interval=0.3, worker_lost_timeout=2.0)
    executor = exechost.load_executor("celery", **settings)
    executor.start()
    executor.queue_command("victim", ["sh", "-c", f'echo $$ > "{pidfile}"; exec sleep 60'])
    executor.heartbeat()
    task_id = executor.running["victim"].external_id
    assert task_id is not None
    wait_until(lambda: (started_meta(redis_client, task_id) or {}).get("beat", 0) >= 2, "beats")
    leftover_pids.append(wait_until(lambda: written_pid(pidfile), "the command starting"))
    own_worker.kill()  # main process and pool processes, SIGKILL: nobody records anything
    killed = time.monotonic()
    drive(executor, lambda: not executor.running, timeout=20)
    assert time.monotonic() - killed >= 2.0 - 0.3
    executor.end()
    event = executor.get_event_buffer()["victim"]
    assert event.state is TaskState.FAILED
    assert event.info.error is not None
    assert event.info.error.startswith(f"worker lost: {own_worker.hostname} (pid ")
    assert "worker_lost_timeout" in event.info.error


# -- terminate -------------------------------------------------------------------------------


def test_terminate_revokes_running_and_waiting_tasks(
    own_worker: WorkerProcess, tmp_path: Path, leftover_pids: list[int]
) -> None:
    executor = exechost.load_executor("celery", **settings_for(own_worker))
    executor.start()
    pidfiles = [tmp_path / f"pid{n}" for n in range(3)]
    for n, pidfile in enumerate(pidfiles):  # one runs (concurrency 1), two wait in the broker
        executor.queue_command(("long", n), ["sh", "-c", f'echo $$ > "{pidfile}"; sleep 60 & wait'])
    drive(executor, pidfiles[0].exists)
    running_pid = wait_until(lambda: written_pid(pidfiles[0]), "the command starting")
    leftover_pids.append(running_pid)
    executor.terminate()
    events = executor.get_event_buffer()
    assert all(events[("long", n)].state is TaskState.FAILED for n in range(3))
    wait_until(lambda: not pid_alive(running_pid), "the running command killed", timeout=10)
    # the worker lives on, discards the revoked tasks, and runs new work
    with exechost.load_executor("celery", **settings_for(own_worker)) as after:
        after.queue_command("after", ["true"])
    assert after.get_event_buffer()["after"].state is TaskState.SUCCESS
    assert not pidfiles[1].exists() and not pidfiles[2].exists()
