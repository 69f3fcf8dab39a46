"""Executor.fetch_log: a task's output read back through the API, running or finished, with the
file read safely (no symbolic link followed, only the last LOG_FETCH_LIMIT bytes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import exechost
import pytest
from conftest import wait_until
from exechost import TaskState, hookimpl
from exechost.executor import ENDED_KEPT
from exechost.process import LOG_FETCH_LIMIT, read_log


def _finish(executor: exechost.Executor, *keys: exechost.TaskKey) -> exechost.EventBatch:
    executor.end()
    events = executor.get_event_buffer()
    assert all(events[key].state is TaskState.SUCCESS for key in keys)
    return events


@pytest.mark.parametrize("backend", ["local", "sequential"])
def test_finished_tasks_log_is_fetched(tmp_path: Path, backend: str) -> None:
    executor = exechost.load_executor(backend, log_dir=str(tmp_path / "logs"))
    executor.start()
    executor.queue_command(
        "a", [sys.executable, "-c", "print('out a'); import sys; print('err', file=sys.stderr)"]
    )
    executor.queue_command(("b", 2), [sys.executable, "-c", "print('out b')"])
    assert executor.fetch_log("a") is None  # queued: no output yet
    _finish(executor, "a", ("b", 2))
    assert executor.fetch_log("a") == "out a\nerr\n"
    assert executor.fetch_log(("b", 2)) == "out b\n"
    assert executor.fetch_log("never ran") is None


def test_a_running_tasks_log_is_fetched(tmp_path: Path) -> None:
    script = "import time; print('started', flush=True); time.sleep(60)"
    with exechost.load_executor("local", log_dir=str(tmp_path / "logs")) as executor:
        executor.queue_command("slow", [sys.executable, "-c", script])
        executor.heartbeat()
        assert wait_until(lambda: executor.fetch_log("slow")) == "started\n"
        executor.cancel("slow")


def ended(executor: exechost.Executor, key: str) -> bool:
    """Whether ``key`` has ended, after a heartbeat (where the local executor reaps)."""
    executor.heartbeat()
    return not executor.has_task(key)


def test_the_latest_attempts_log_is_fetched(tmp_path: Path) -> None:
    with exechost.load_executor("local", log_dir=str(tmp_path / "logs")) as executor:
        executor.queue_command("k", [sys.executable, "-c", "print('first')"])
        wait_until(lambda: ended(executor, "k"))
        assert executor.fetch_log("k") == "first\n"
        executor.queue_command("k", [sys.executable, "-c", "print('second')"])
    assert executor.fetch_log("k") == "second\n"


def test_a_big_log_is_cut_to_its_tail(tmp_path: Path) -> None:
    script = f"import sys; sys.stdout.write('x' * {LOG_FETCH_LIMIT} + 'THE END')"
    with exechost.load_executor("local", log_dir=str(tmp_path / "logs")) as executor:
        executor.queue_command("big", [sys.executable, "-c", script])
    log = executor.fetch_log("big")
    assert log is not None and len(log) == LOG_FETCH_LIMIT and log.endswith("xTHE END")


def test_a_planted_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not for the host")
    link = tmp_path / "task.log"
    link.symlink_to(secret)
    with pytest.raises(OSError):
        read_log(link)
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_log(fifo)
    assert read_log(tmp_path / "missing.log") is None


def test_a_replaced_log_file_reports_a_backend_error(tmp_path: Path) -> None:
    with exechost.load_executor("local", log_dir=str(tmp_path / "logs")) as executor:
        executor.queue_command("t", [sys.executable, "-c", "print('real')"])
    log = executor.get_event_buffer()["t"].info.log
    assert log is not None
    os.unlink(log)
    os.symlink(tmp_path / "elsewhere", log)
    with pytest.raises(exechost.BackendError, match="could not fetch the log of task 't'"):
        executor.fetch_log("t")


class LogNamingBackend:
    """Succeeds each task at once; its log is the key's name, which fetch_log returns."""

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: str) -> None:
        executor.success(key, exechost.TaskInfo(log=f"log of {key}"))

    @hookimpl
    def executor_fetch_log(self, info: exechost.TaskInfo) -> str | None:
        return info.log


def test_an_executor_keeps_the_latest_ends_only() -> None:
    with exechost.load_executor(LogNamingBackend(), parallelism=0) as executor:
        for index in range(ENDED_KEPT + 1):
            executor.queue_command(f"t{index}", ["true"])
    assert executor.fetch_log("t0") is None  # the oldest end was forgotten...
    assert (
        executor.fetch_log("t0", exechost.TaskInfo(log="log of t0")) == "log of t0"
    )  # ...not its info
    assert executor.fetch_log("t1") == "log of t1"
    assert executor.fetch_log(f"t{ENDED_KEPT}") == f"log of t{ENDED_KEPT}"


def test_multi_executor_fetches_from_the_executor_that_ran_the_task(tmp_path: Path) -> None:
    config = tmp_path / "exechost.toml"
    config.write_text(
        "executor = 'one'\n[executors.one]\nbackend = 'local'\n"
        "[executors.two]\nbackend = 'sequential'\n"
    )
    with exechost.load_executors(config, log_dir=str(tmp_path / "logs"), journal=False) as multi:
        multi.queue_command("here", [sys.executable, "-c", "print('on one')"])
        multi.queue_command("there", [sys.executable, "-c", "print('on two')"], executor="two")
    assert multi.fetch_log("here") == "on one\n"
    assert multi.fetch_log("there") == "on two\n"
    assert multi.fetch_log("nowhere") is None
