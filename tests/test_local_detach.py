"""With ``detach = true``, the ``local`` executor's tasks outlive a host killed by SIGKILL, and a
new host adopts them through the journal: each task's work happens exactly once (real processes,
a real SIGKILL, the real journal)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import exechost
import pytest
from exechost import Attempt, TaskState
from exechost.executors.detached import ATTEMPTS_DIR
from exechost.journal import open_journal
from exechost.testing import hermetic_environment, processes_with, wait_until_gone
from exechost.testing.crashes import crash_series

PARALLELISM = 16

HOST = """
import sys

import exechost

log_dir, journal, count, script = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
with exechost.load_executor(
    "local", parallelism=16, detach=True, log_dir=log_dir, journal=journal
) as executor:
    for number in range(count):
        executor.queue_command(f"task-{number}", [*script, f"task-{number}"])
"""


def task_script(markers: Path, seconds: float) -> list[str]:
    """A task that sleeps, then appends its key (its last argument) to ``markers``."""
    return ["sh", "-c", f'sleep {seconds}; printf "%s\\n" "$1" >> "{markers}"', "task"]


def start_host(folder: Path, count: int, script: list[str], marker: str) -> subprocess.Popen[bytes]:
    arguments = [str(folder / "logs"), str(folder / "journal.sqlite"), str(count), *script]
    return subprocess.Popen(
        [sys.executable, "-c", HOST, *arguments],
        cwd=folder,
        env=hermetic_environment(EXECHOST_TEST_MARKER=marker),
    )


def kill_host_after(host: subprocess.Popen[bytes], seconds: float) -> None:
    try:
        host.wait(seconds)
    except subprocess.TimeoutExpired:
        os.kill(host.pid, signal.SIGKILL)
        host.wait()


def test_exechost_run_killed_at_random_moments_runs_every_task_once(tmp_path: Path) -> None:
    """Issue 8's fault test on ``detach = true``: ``exechost run`` SIGKILLed 10 times during 300
    tasks, each time followed by ``exechost run --resume``: every task's side effect happened
    exactly once, none is lost, the last host exits 0."""
    series = crash_series(
        tmp_path,
        f"[executors.local]\ndetach = true\nparallelism = {PARALLELISM}\nlog_dir = 'logs'\n",
        tasks=300,
        kills=10,
    )
    print(f"\n{series.summary('local detach')}")
    series.check(kills=10)


def killed_host_with_running_tasks(folder: Path, marker: str, count: int) -> list[Attempt]:
    """Kill a host once its ``count`` ``sleep`` tasks run; return their journaled attempts."""
    markers = folder / "markers"
    host = start_host(folder, count, task_script(markers, 3), marker)
    deadline = time.monotonic() + 30
    while len(processes_with(marker)) < 1 + count * 2:  # the host, each wrapper and its sleep
        assert time.monotonic() < deadline, "the tasks did not start within 30s"
        time.sleep(0.05)
    time.sleep(0.3)  # a heartbeat: their external ids reach the journal
    kill_host_after(host, 0)
    journal = open_journal(folder / "journal.sqlite")
    try:
        tasks = journal.tasks(journal.runs(limit=1)[0].id)
    finally:
        journal.close()
    attempts = [task.attempt for task in tasks.values() if task.attempt is not None]
    assert len(attempts) == count
    return attempts


def test_adopted_tasks_are_tracked_to_their_end(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    attempts = killed_host_with_running_tasks(tmp_path, marker, 3)
    assert all(attempt.external_id and ":" in attempt.external_id for attempt in attempts)
    with exechost.load_executor("local", detach=True, log_dir=str(tmp_path / "logs")) as executor:
        assert executor.capabilities.can_adopt
        assert executor.adopt(attempts) == []
    events = executor.get_event_buffer()
    for attempt in attempts:
        event = events[attempt.key]
        assert event.state is TaskState.SUCCESS, event
        assert event.info.returncode == 0, event
        assert event.info.external_id == attempt.external_id, event
        assert event.info.log is not None and Path(event.info.log).parent == tmp_path / "logs"
        assert event.info.ended_at is not None and event.info.ended_at > (attempt.started_at or 0)
    records = tmp_path / "logs" / ATTEMPTS_DIR
    assert records.stat().st_mode & 0o777 == 0o700
    for attempt in attempts:
        status = records / attempt.attempt_id / "status"
        assert status.read_text() == "0\n"
        assert status.stat().st_mode & 0o777 == 0o600


def test_a_pid_with_another_start_time_is_never_adopted(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    attempts = killed_host_with_running_tasks(tmp_path, marker, 2)
    impostors = []
    for attempt in attempts:
        assert attempt.external_id is not None
        wrapper, _, start = attempt.external_id.partition(":")
        impostors.append(dataclasses.replace(attempt, external_id=f"{wrapper}:{int(start) + 1}"))
    try:
        with exechost.load_executor("local", detach=True, log_dir=str(tmp_path / "logs")) as ex:
            assert ex.adopt(impostors) == impostors
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


def test_without_detach_nothing_is_adopted(tmp_path: Path) -> None:
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        assert not executor.capabilities.can_adopt
        attempt = Attempt("a", str(uuid.uuid4()), 1, ("true",), None, {}, "1:1")
        assert executor.adopt([attempt]) == [attempt]


def test_detach_is_validated() -> None:
    with pytest.raises(exechost.SettingsError, match="detach"):
        exechost.load_executor("local", detach="yes please")
    with pytest.raises(exechost.SettingsError, match="detach = true needs log_dir"):
        exechost.load_executor("local", detach=True)


def test_an_adopted_task_keeps_its_timeout(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    attempts = killed_host_with_running_tasks(tmp_path, marker, 1)
    timed = [dataclasses.replace(attempts[0], executor_config={"timeout": 0.5})]
    with exechost.load_executor("local", detach=True, log_dir=str(tmp_path / "logs")) as executor:
        assert executor.adopt(timed) == []
    event = executor.get_event_buffer()[timed[0].key]
    assert event.state is TaskState.FAILED, event
    assert event.info.error == "timeout", event
    wait_until_gone(marker, timeout=5)


def test_a_wrapper_killed_without_its_host_is_left_to_run_again(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    attempts = killed_host_with_running_tasks(tmp_path, marker, 2)
    for pid in processes_with(marker):
        os.kill(pid, signal.SIGKILL)
    wait_until_gone(marker, timeout=5)
    with exechost.load_executor("local", detach=True, log_dir=str(tmp_path / "logs")) as executor:
        assert executor.adopt(attempts) == attempts
