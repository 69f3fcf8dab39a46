"""Outages of a whole service: Redis (broker and result backend) restarted mid-run.

A worker killed mid-task (SIGKILL to a pool process, or to the whole worker) is covered by
``test_faults.py``. Redis is restarted here on a server of the test's own, on a free port, never
the machine's shared one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import exechost
import pytest
import redis
from conftest import free_port, unique_queue
from exechost import TaskState
from exechost_celery.workerprocess import WorkerProcess
from test_faults import wait_until

START_TIMEOUT = 10.0
"""Seconds a Redis server of the test's own may take to answer, or to exit."""


class RedisServer:
    """A ``redis-server`` child process on a loopback port, without persistence."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            message = "redis-server is not installed: this test restarts a Redis of its own"
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true: {message}", pytrace=False)
            pytest.skip(message)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            wait_until(
                lambda: self._answers(client), "the test's redis-server answering", START_TIMEOUT
            )
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it has not exited in time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(START_TIMEOUT)

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        with contextlib.suppress(redis.RedisError):
            return bool(client.ping())
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_worker(own_redis: RedisServer, tmp_path: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(
        own_redis.url,
        own_redis.url,
        unique_queue("outage"),
        log_path=tmp_path / "worker.log",
        concurrency=2,
    )
    worker.start()
    yield worker
    worker.stop()


def test_a_redis_restart_mid_run_ends_every_task(
    own_redis: RedisServer, redis_worker: WorkerProcess, tmp_path: Path
) -> None:
    tasks = 12
    settings = {
        "broker_url": own_redis.url,
        "result_backend": own_redis.url,
        "queue": redis_worker.queue,
        "operation_timeout": 10.0,
        "sync_interval": 0.05,
        "task_heartbeat_interval": 0.3,
        "worker_lost_timeout": 2.0,
        "log_dir": str(tmp_path / "logs"),
    }
    executor = exechost.load_executor("celery", **settings)
    executor.start()
    for number in range(tasks):
        executor.queue_command(("task", number), ["sleep", "0.4"])
    events: dict[Any, Any] = {}

    def beat() -> None:
        executor.heartbeat()
        events.update(executor.get_event_buffer())
        executor.wait(0.05)

    # some tasks done, some running, the rest waiting in the broker: restart Redis
    deadline = time.monotonic() + 30
    while len(events) < 2:
        assert time.monotonic() < deadline, "the first 2 tasks did not end within 30s"
        beat()
    own_redis.stop()
    own_redis.start()
    restarted = time.monotonic()
    deadline = restarted + 60
    while executor.running or executor.queued_tasks:
        assert time.monotonic() < deadline, (
            f"tasks still unfinished 60s after the Redis restart: {executor!r}"
        )
        beat()
    ended_in = time.monotonic() - restarted
    executor.end()
    events.update(executor.get_event_buffer())
    assert sorted(events) == [("task", number) for number in range(tasks)]
    for event in events.values():
        assert event.state in (TaskState.SUCCESS, TaskState.FAILED)
        if event.state is TaskState.FAILED:  # lost from the broker, or its result lost
            assert event.info.error is not None
            assert event.info.error.startswith("state lost: the result backend at "), event
    states = Counter(event.state.value for event in events.values())
    print(f"\nRedis restarted mid-run: {dict(states)}, all ended {ended_in:.1f}s after the restart")
    for key, event in sorted(events.items()):
        if event.state is TaskState.FAILED:
            print(f"  {key}: {event.info.error}")
