"""With ``detach = true``, the ``local`` executor's tasks outlive a host killed by SIGKILL, and a
new host adopts them through the journal: each task's work happens exactly once (real processes,
a real SIGKILL, the real journal)."""

from __future__ import annotations

import collections
import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import exechost
import pytest
from exechost import Attempt, TaskKey, TaskState
from exechost.executors.detached import ATTEMPTS_DIR
from exechost.journal import Journal, JournalError, open_journal
from exechost.testing import processes_with, wait_until_gone

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


def hermetic_env(marker: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("EXECHOST_")}
    env["EXECHOST_TEST_MARKER"] = marker
    return env


def start_host(folder: Path, count: int, script: list[str], marker: str) -> subprocess.Popen[bytes]:
    arguments = [str(folder / "logs"), str(folder / "journal.sqlite"), str(count), *script]
    return subprocess.Popen(
        [sys.executable, "-c", HOST, *arguments], cwd=folder, env=hermetic_env(marker)
    )


def kill_host_after(host: subprocess.Popen[bytes], seconds: float) -> None:
    try:
        host.wait(seconds)
    except subprocess.TimeoutExpired:
        os.kill(host.pid, signal.SIGKILL)
        host.wait()


@dataclasses.dataclass
class Resumed:
    """What a new host did with the journal of a killed one."""

    skipped: int
    adopted: int
    not_adopted: int
    rerun: int
    seconds: float
    events: dict[TaskKey, exechost.Event]


def open_released_journal(path: Path, timeout: float = 5.0) -> Journal:
    """Open the journal of a host just killed: a child it was forking when it died may hold the
    journal's lock for a moment, until the child closes its inherited descriptors."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            journal = open_journal(path)
        except JournalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
        else:
            return journal


def resume(folder: Path, script: list[str], count: int) -> Resumed:
    """Open the journal of the killed host's run in a new host: adopt its unfinished attempts, run
    again the tasks that were never started or could not be adopted, skip those that succeeded."""
    began = time.monotonic()
    journal = open_released_journal(folder / "journal.sqlite")
    try:
        runs = journal.runs(limit=1)
        tasks = journal.tasks(runs[0].id) if runs else {}  # killed before its first heartbeat
        assert not [task for task in tasks.values() if task.state is TaskState.FAILED]
        unfinished = [
            task.attempt
            for task in tasks.values()
            if task.attempt is not None and not task.state.finished
        ]
        with exechost.load_executor(
            "local",
            parallelism=PARALLELISM,
            detach=True,
            log_dir=str(folder / "logs"),
            journal=journal,
        ) as executor:
            left = executor.adopt(unfinished)
            again = [attempt.key for attempt in left]
            for number in range(count):
                name = f"task-{number}"
                if name not in tasks or tasks[name].attempt is None:
                    again.append(name)
            for key in again:
                executor.queue_command(key, [*script, str(key)])
        events = dict(executor.get_event_buffer())
    finally:
        journal.close()
    skipped = sum(task.state is TaskState.SUCCESS for task in tasks.values())
    return Resumed(
        skipped,
        len(unfinished) - len(left),
        len(left),
        len(again),
        time.monotonic() - began,
        events,
    )


def test_killed_host_mid_batch_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """300 tasks, the host killed at a random moment, ten times: every marker exactly once."""
    count, rounds = 300, 10
    seed = random.randrange(2**32)
    chance = random.Random(seed)
    print(f"\nseed {seed}")
    for round_number in range(rounds):
        folder = tmp_path / f"round-{round_number}"
        folder.mkdir()
        markers = folder / "markers"
        marker = uuid.uuid4().hex
        script = task_script(markers, 0.1)
        host = start_host(folder, count, script, marker)
        deadline = time.monotonic() + 60
        while not markers.exists():  # the batch has begun
            assert time.monotonic() < deadline, "no task ran within 60s"
            time.sleep(0.01)
        kill_at = chance.uniform(0, count * 0.1 / PARALLELISM)
        kill_host_after(host, kill_at)
        resumed = resume(folder, script, count)
        wait_until_gone(marker, timeout=30)
        written = collections.Counter(markers.read_text().split())
        expected = {f"task-{number}" for number in range(count)}
        print(
            f"round {round_number}: killed {kill_at:.2f}s into the batch (exit "
            f"{host.returncode}); skipped {resumed.skipped}, adopted {resumed.adopted}, re-run "
            f"{resumed.rerun} ({resumed.not_adopted} of them started before); "
            f"resumed in {resumed.seconds:.2f}s"
        )
        assert set(written) == expected, sorted(expected ^ set(written))[:10]
        assert {key: n for key, n in written.items() if n != 1} == {}
        assert resumed.skipped + len(resumed.events) == count
        assert all(event.state is TaskState.SUCCESS for event in resumed.events.values())
        assert resumed.skipped + resumed.adopted + resumed.rerun == count


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
