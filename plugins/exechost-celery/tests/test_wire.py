"""What goes over the wire: JSON only, task ids chosen before publishing, states read in bulk."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import exechost
import pytest
import redis
from celery import Celery
from conftest import REDIS_URL, settings_for, unique_queue
from exechost import TaskState
from exechost_celery.task import TASK_NAME
from exechost_celery.workerprocess import WorkerProcess


def test_task_id_is_chosen_before_publishing_and_messages_are_json(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    queue = unique_queue("idle")  # no worker consumes it: the message stays in Redis to be read
    executor = exechost.load_executor(
        "celery", broker_url=REDIS_URL, result_backend=REDIS_URL, queue=queue
    )
    executor.start()
    try:
        executor.queue_command(("wire", 1), ["echo", "x"], executor_config={"timeout": 5})
        executor.heartbeat()
        external_id = executor.running[("wire", 1)].external_id
        (raw,) = redis_client.lrange(queue, 0, -1)
    finally:
        executor.terminate()
        redis_client.delete(queue)
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["headers"]["id"] == external_id
    assert message["headers"]["task"] == TASK_NAME
    assert message["headers"]["argsrepr"] == "echo x"  # what Celery's tools show for the task
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == [["echo", "x"], ["wire", 1], {"timeout": 5.0}, 5.0, 1 << 20]
    assert kwargs == {}


def test_results_are_stored_as_json(
    celery_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    with exechost.load_executor("celery", **celery_settings) as executor:
        executor.queue_command("json-result", ["sh", "-c", "sleep 0.5; echo stored"])
        executor.heartbeat()
        external_id = executor.running["json-result"].external_id
    stored = json.loads(redis_client.get(f"celery-task-meta-{external_id}") or b"")
    assert stored["status"] == "SUCCESS"
    assert stored["result"]["output"] == "stored\n"


def test_worker_refuses_a_pickled_task(worker: WorkerProcess, tmp_path: Path) -> None:
    pickling = Celery(broker=worker.broker_url, backend=REDIS_URL, set_as_current=False)
    pickling.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])
    pickled_marker = tmp_path / "pickled-ran"
    with pickling:
        pickling.send_task(
            TASK_NAME,
            args=[["touch", str(pickled_marker)], "pickled", {}, 5.0, 1024],
            queue=worker.queue,
        )
    pickling.close()
    # a JSON task queued behind it, run to its end: the worker has seen the pickled one by then
    with exechost.load_executor("celery", **settings_for(worker)) as executor:
        executor.queue_command("after", ["true"])
    assert executor.get_event_buffer()["after"].state is TaskState.SUCCESS
    assert not pickled_marker.exists()
    log = worker.log_path.read_text(errors="replace")
    assert "ContentDisallowed" in log or "disallowed" in log


class MgetCounter:
    """Counts the tasks in each of the result backend's bulk reads (the real ones, which it passes
    on), made from any thread: Celery gives each thread a backend object of its own, and the
    executor syncs on a thread of the host's."""

    def __init__(self, executor: exechost.Executor, monkeypatch: pytest.MonkeyPatch) -> None:
        backend_class = type(executor.backend.app.backend)  # type: ignore[attr-defined]
        real_mget = backend_class.mget
        self.batches: list[int] = []

        def mget(backend: Any, keys: list[bytes | str]) -> Any:
            prefix = backend.key_t(backend.task_keyprefix)
            self.batches.append(sum(1 for key in keys if backend.key_t(key).startswith(prefix)))
            return real_mget(backend, keys)

        monkeypatch.setattr(backend_class, "mget", mget)
        monkeypatch.setattr(backend_class, "get", self.refuse)

    @staticmethod
    def refuse(backend: Any, key: bytes) -> Any:
        """One request per task is exactly what must not happen."""
        raise AssertionError(f"the executor read one result at a time ({key!r})")


def test_sync_reads_every_running_task_in_one_request(
    celery_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = exechost.load_executor("celery", **{**celery_settings, "sync_interval": 0.2})
    executor.start()
    counter = MgetCounter(executor, monkeypatch)
    for n in range(30):
        executor.queue_command(("bulk", n), ["sleep", "0.3"])
    executor.heartbeat()
    assert counter.batches == [30]
    executor.end()
    assert all(size <= 30 for size in counter.batches)
    assert len(executor.get_event_buffer()) == 30


def test_sync_is_never_faster_than_its_interval(
    celery_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = exechost.load_executor("celery", **{**celery_settings, "sync_interval": 0.25})
    executor.start()
    counter = MgetCounter(executor, monkeypatch)
    executor.queue_command("slow", ["sleep", "1.2"])
    started = time.monotonic()
    executor.heartbeat()
    heartbeats = 1
    while executor.running:
        executor.heartbeat()
        heartbeats += 1
    elapsed = time.monotonic() - started
    executor.end()
    assert heartbeats > 100  # the host heartbeated flat out...
    assert len(counter.batches) <= elapsed / 0.25 + 1  # ...but states were read every 0.25 s
