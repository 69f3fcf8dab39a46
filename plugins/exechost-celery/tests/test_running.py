"""Tasks run on a real worker, over a Redis broker and over a RabbitMQ broker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import exechost
import pytest
import redis
from celery.result import AsyncResult
from conftest import settings_for, unique_queue
from exechost import TaskState
from exechost_celery import CeleryBackend
from exechost_celery.workerprocess import WorkerProcess


def run_batch(
    settings: dict[str, Any], tasks: dict[Any, tuple[list[str], dict[str, Any]]], **kwargs: Any
) -> dict[Any, exechost.Event]:
    with exechost.load_executor("celery", **kwargs, **settings) as executor:
        for key, (command, config) in tasks.items():
            executor.queue_command(key, command, executor_config=config)
    return dict(executor.get_event_buffer())


def test_entry_point_selects_the_celery_backend(celery_settings: dict[str, Any]) -> None:
    executor = exechost.load_executor("celery", **celery_settings)
    assert isinstance(executor.backend, CeleryBackend)
    assert executor.parallelism == CeleryBackend.default_parallelism


def test_success_failure_and_output(celery_settings: dict[str, Any], tmp_path: Path) -> None:
    events = run_batch(
        celery_settings,
        {
            "hello": (["echo", "hello from a worker"], {}),
            ("exit", 3): (["sh", "-c", "echo to stderr >&2; exit 3"], {}),
            "missing": (["no-such-command-exechost"], {}),
            "python": ([sys.executable, "-c", "print(6 * 7)"], {}),
        },
    )
    hello, exit3, missing, python = (
        events[key] for key in ("hello", ("exit", 3), "missing", "python")
    )
    assert hello.state is TaskState.SUCCESS and hello.info.returncode == 0
    assert hello.info.error is None
    assert Path(hello.info.log).read_text() == "hello from a worker\n"
    assert Path(hello.info.log).parent == tmp_path / "logs"
    assert exit3.state is TaskState.FAILED and exit3.info.returncode == 3
    assert exit3.info.error == "exit status 3"
    assert Path(exit3.info.log).read_text() == "to stderr\n"
    assert missing.state is TaskState.FAILED and missing.info.returncode is None
    assert "No such file or directory" in (missing.info.error or "")
    assert Path(python.info.log).read_text() == "42\n"
    for event in events.values():
        assert event.info.started_at is not None and event.info.ended_at is not None


def test_env_cwd_and_timeout(celery_settings: dict[str, Any], tmp_path: Path) -> None:
    events = run_batch(
        celery_settings,
        {
            "env": (["sh", "-c", 'echo "$GREETING"'], {"env": {"GREETING": "hi there"}}),
            "cwd": (["pwd"], {"cwd": str(tmp_path)}),
            "timeout": (["sleep", "30"], {"timeout": 0.5}),
        },
    )
    assert Path(events["env"].info.log).read_text() == "hi there\n"
    assert Path(events["cwd"].info.log).read_text() == f"{tmp_path}\n"
    timed_out = events["timeout"]
    assert timed_out.state is TaskState.FAILED and timed_out.info.error == "timeout"
    assert timed_out.info.duration is not None and timed_out.info.duration < 20


def test_external_id_is_the_attempt_id_and_celery_task_id(celery_settings: dict[str, Any]) -> None:
    executor = exechost.load_executor("celery", **celery_settings)
    executor.start()
    executor.queue_command("job", ["sleep", "0.5"])  # still running after the first heartbeat
    executor.heartbeat()
    external_id = executor.running["job"].external_id
    assert external_id is not None
    assert external_id == executor.running["job"].attempt_id  # the host's id for the attempt
    executor.end()
    (event,) = executor.get_event_buffer().values()
    assert event.info.external_id == external_id
    result = AsyncResult(external_id, app=executor.backend.app)  # type: ignore[attr-defined]
    assert result.state == "SUCCESS"
    assert result.result["returncode"] == 0


def test_output_tail_is_returned_when_output_is_long(celery_settings: dict[str, Any]) -> None:
    events = run_batch(
        {**celery_settings, "max_output_bytes": 10},
        {"long": (["sh", "-c", "printf 'aaaaaaaaaa0123456789'"], {})},
    )
    log = Path(events["long"].info.log).read_text()
    assert log.endswith("]\n0123456789")
    assert "only the last 10 bytes" in log


def test_many_tasks_through_a_small_parallelism(celery_settings: dict[str, Any]) -> None:
    tasks = {("many", n): (["sh", "-c", f"exit {n % 2}"], {}) for n in range(40)}
    events = run_batch(celery_settings, tasks, parallelism=3)
    assert len(events) == 40
    for (_, n), event in events.items():
        assert event.state is (TaskState.FAILED if n % 2 else TaskState.SUCCESS)


def test_bad_executor_config_is_refused_when_queued(celery_settings: dict[str, Any]) -> None:
    executor = exechost.load_executor("celery", **celery_settings)
    with pytest.raises(exechost.InvalidTaskError, match="did you mean 'timeout'"):
        executor.queue_command("bad-config", ["true"], executor_config={"tiemout": 1})
    assert not executor.has_task("bad-config")


def test_a_task_queue_is_its_celery_queue(
    worker: WorkerProcess, tmp_path: Path, redis_client: redis.Redis
) -> None:
    settings = settings_for(worker, queue=unique_queue("unused"))
    with exechost.load_executor("celery", **settings) as executor:
        executor.queue_command("routed", ["echo", "routed"], queue=worker.queue)
    event = executor.get_event_buffer()["routed"]
    assert event.state is TaskState.SUCCESS
    assert Path(event.info.log).read_text() == "routed\n"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"brokr_url": "redis://"}, "unknown setting 'brokr_url' (did you mean 'broker_url'?)"),
        ({"operation_timeout": "10"}, "setting 'operation_timeout' must be float"),
        ({"worker_lost_timeout": 4.0}, "more than twice task_heartbeat_interval"),
        ({"sync_interval": -1}, "sync_interval must be 0 or more seconds"),
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(exechost.SettingsError) as error:
        exechost.load_executor("celery", **settings)
    assert message in str(error.value)
