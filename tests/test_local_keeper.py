"""Without ``detach``, the ``local`` executor's tasks die with their host, even one killed by
SIGKILL: its keeper kills their process groups (real processes, a real SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from exechost.testing import hermetic_environment, processes_with, wait_until_gone

TASKS = 50
HOST = """
import sys

import exechost

log_dir, journal, tasks, command = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
with exechost.load_executor("local", parallelism=0, log_dir=log_dir, journal=journal) as executor:
    for number in range(tasks):
        executor.queue_command(f"task-{number}", command, executor_config={"timeout": 20})
"""


def start_host(tmp_path: Path, marker: str, command: list[str]) -> subprocess.Popen[bytes]:
    """A host process running ``TASKS`` tasks of ``command``; everything it starts inherits
    ``marker`` in its environment."""
    env = hermetic_environment(EXECHOST_TEST_MARKER=marker)
    arguments = [str(tmp_path / "logs"), str(tmp_path / "journal.sqlite"), str(TASKS), *command]
    return subprocess.Popen(
        [sys.executable, "-c", HOST, *arguments],
        cwd=tmp_path,
        env=env,
    )


def wait_for_processes(marker: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(processes_with(marker)) < count:
        assert time.monotonic() < deadline, f"{count} processes not started after {timeout}s"
        time.sleep(0.05)


def test_sigkilled_host_takes_every_task_tree_with_it(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    # each task a tree: the shell and two sleeps, one of them in the background
    host = start_host(tmp_path, marker, ["sh", "-c", "sleep 30 & sleep 30; wait"])
    try:
        wait_for_processes(marker, 1 + 1 + TASKS * 3, timeout=60)  # host, keeper, trees
        os.kill(host.pid, signal.SIGKILL)
        host.wait()
        seconds = wait_until_gone(marker, timeout=10)
    finally:
        host.kill()
        host.wait()
    print(f"\n{TASKS} task trees (3 processes each) gone {seconds:.3f}s after the host's SIGKILL")
    assert seconds < 2.0


def test_keeper_exits_with_a_host_that_ends(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    host = start_host(tmp_path, marker, ["true"])
    assert host.wait(60) == 0
    wait_until_gone(marker, timeout=10)


def test_a_task_started_as_its_host_dies_dies_too(tmp_path: Path) -> None:
    """The host announces a task's log file before it starts the task and its group after: a
    host that dies between the two (a SIGKILL during the fork) never told the keeper the task's
    id, and the keeper finds the task by its output instead."""
    from exechost.executors.keeper import Keeper

    marker = uuid.uuid4().hex
    keeper = Keeper()
    log = tmp_path / "task.log"
    with open(log, "wb") as output:
        keeper.starting(output.fileno())
        task = subprocess.Popen(
            ["sh", "-c", "sleep 30 & sleep 30; wait"],
            stdout=output,
            start_new_session=True,
            env={**os.environ, "EXECHOST_TEST_MARKER": marker},
        )
    try:
        wait_for_processes(marker, 3, timeout=10)
        keeper.close()  # as the kernel closes the pipe of a host killed before its "+PGID"
        seconds = wait_until_gone(marker, timeout=2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(task.pid, signal.SIGKILL)
        task.wait()
    print(f"\nthe task started as its host died was gone {seconds:.2f} s after")
