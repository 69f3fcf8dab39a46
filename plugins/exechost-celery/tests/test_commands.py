"""The command lines: `exechost run` on the celery executor (its example), and the worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REDIS, REDIS_URL, free_port, require
from exechost.testing import hermetic_environment
from exechost_celery.workerprocess import WorkerProcess

EXAMPLE = Path(__file__).parents[3] / "examples" / "celery"


def test_exechost_run_runs_the_example_batch_on_a_worker(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    # the example's two-line exechost.toml, pointed at this session's broker, database and queue
    env = {
        **hermetic_environment(),
        "EXECHOST_EXECUTORS__CELERY__BROKER_URL": worker.broker_url,
        "EXECHOST_EXECUTORS__CELERY__RESULT_BACKEND": REDIS_URL,
        "EXECHOST_EXECUTORS__CELERY__QUEUE": worker.queue,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exechost",
            "run",
            "--config",
            str(EXAMPLE / "exechost.toml"),
            "--log-dir",
            str(tmp_path / "logs"),
            str(EXAMPLE / "tasks.toml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr  # the example's timeout task fails on purpose
    output = result.stdout + result.stderr
    assert "4 tasks: 3 succeeded, 1 failed" in output
    assert 'failed ["celery", "timeout"] on celery: timeout' in output
    hello = (tmp_path / "logs" / "celery__hello.log").read_text()
    assert hello == "hello from a Celery worker\n"
    assert "GREETING=hi" in (tmp_path / "logs" / "celery__where.log").read_text()


def test_example_configuration_is_two_lines() -> None:
    lines = (EXAMPLE / "exechost.toml").read_text().splitlines()
    assert lines == [
        'executor = "celery"',
        'executors.celery.broker_url = "redis://127.0.0.1:6379/0"',
    ]


def run_worker_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exechost_celery", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_help_explains_the_command() -> None:
    result = run_worker_command("worker", "--help")
    assert result.returncode == 0
    for option in ("--broker-url", "--result-backend", "--queues", "--concurrency", "--log-dir"):
        assert option in result.stdout
    assert "exechost-celery worker --broker-url redis://127.0.0.1:6379/0" in result.stdout


def test_worker_refuses_bad_options() -> None:
    no_queue = run_worker_command("worker", "-Q", ",")
    assert no_queue.returncode == 2
    assert "name at least one queue" in no_queue.stderr
    no_command = run_worker_command()
    assert no_command.returncode == 2
    assert "COMMAND" in no_command.stderr


def test_exechost_check_reports_a_broker_that_does_not_answer(tmp_path: Path) -> None:
    require("Redis", REDIS)  # the result backend answers: only the broker is missing
    port = free_port()
    (tmp_path / "exechost.toml").write_text(
        'executor = "celery"\n[executors.celery]\n'
        f'broker_url = "redis://127.0.0.1:{port}/0"\nresult_backend = "{REDIS_URL}"\n'
        "operation_timeout = 1\n"
    )
    env = hermetic_environment()
    result = subprocess.run(
        [sys.executable, "-m", "exechost", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "everything is ready" not in result.stdout
    assert "problem executor celery: executor 'celery' could not start" in result.stdout
    assert f"cannot reach the Celery broker at redis://127.0.0.1:{port}/0" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
