"""Fixtures: the real Redis and RabbitMQ on this machine, and real workers started per session.

A test that needs a service skips when the service is down, but fails when ``CI=true``.
Everything lives in Redis database 9 (``EXECHOST_CELERY_TEST_REDIS_DB``) under queue names unique
to this test session, so developers sharing the machine do not collide.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from exechost_celery.workerprocess import WorkerProcess

REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)
REDIS_DB = int(os.environ.get("EXECHOST_CELERY_TEST_REDIS_DB", "9"))
REDIS_URL = f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}"
AMQP_URL = f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}//"
SESSION = f"exechost-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
BROKERS = {"redis": REDIS_URL, "amqp": AMQP_URL}


def require(name: str, address: tuple[str, int]) -> None:
    """Skip the test when ``address`` does not answer; fail instead under ``CI=true``."""
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError as exc:
        message = (
            f"{name} is not reachable at {address[0]}:{address[1]} ({exc}); "
            "start it with `bash ../shared/ci/services.sh`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)


def unique_queue(label: str) -> str:
    return f"{SESSION}-{label}-{uuid.uuid4().hex[:6]}"


def free_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    require("Redis", REDIS)
    client = redis.Redis(*REDIS, db=REDIS_DB)
    yield client
    client.close()


def start_worker(
    tmp_path_factory: pytest.TempPathFactory, broker: str, **options: Any
) -> WorkerProcess:
    """A started worker of a queue of its own on ``broker`` (``"redis"`` or ``"amqp"``)."""
    require("Redis", REDIS)
    if broker == "amqp":
        require("RabbitMQ", RABBITMQ)
    queue = unique_queue(broker)
    log_path = tmp_path_factory.mktemp("worker") / f"{queue}.log"
    worker = WorkerProcess(BROKERS[broker], REDIS_URL, queue, log_path=log_path, **options)
    worker.start()
    return worker


@pytest.fixture(scope="session", params=sorted(BROKERS))
def worker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A worker of the session on each broker (Redis results either way), concurrency 2."""
    started = start_worker(tmp_path_factory, request.param)
    yield started
    started.stop()


@pytest.fixture
def own_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """A worker of one test's own (Redis broker), for tests that kill it."""
    started = start_worker(tmp_path_factory, "redis", concurrency=1)
    yield started
    started.stop()


def settings_for(worker: WorkerProcess, **overrides: Any) -> dict[str, Any]:
    """The executor settings that reach ``worker``."""
    return {
        "broker_url": worker.broker_url,
        "result_backend": worker.result_backend,
        "queue": worker.queue,
        "operation_timeout": 5.0,
        "sync_interval": 0.05,
        **overrides,
    }


@pytest.fixture
def celery_settings(worker: WorkerProcess, tmp_path: Path) -> dict[str, Any]:
    return settings_for(worker, log_dir=str(tmp_path / "logs"))
