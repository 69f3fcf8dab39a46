"""`exechost run` on a real terminal (a pseudo-terminal) and when stopped by a signal."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli_environment, process_gone

SLEEPERS = """
[[tasks]]
key = "with-grandchild"
command = ["sh", "-c", "sleep 60 & echo $! >> pids; echo $$ >> pids; wait"]

[[tasks]]
key = "plain"
command = ["sh", "-c", "echo $$ >> pids; exec sleep 60"]

[[tasks]]
key = "quick"
command = ["true"]
priority = 10

[[tasks]]
key = "never-started"
command = ["sleep", "60"]
priority = -1
"""


def spawn_on_terminal(args: list[str], cwd: Path) -> tuple[int, int]:
    """Start ``python -m exechost ARGS`` on a new pseudo-terminal; its pid and the master fd."""
    env = cli_environment({"COLUMNS": "120", "TERM": "xterm-256color"})
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the CLI, its terminal the pty
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "exechost", *args], env)
    return pid, fd


def read_until(fd: int, pattern: str, timeout: float = 30.0) -> str:
    """What the terminal shows until ``pattern`` (a regex) appears or the output ends."""
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, output.decode(errors="replace")):
            break
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    return output.decode(errors="replace")


def wait_for_pids(path: Path, count: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists():
            pids = [int(line) for line in path.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.05)
    raise AssertionError(f"the tasks did not write {count} pids to {path}")


def exit_status(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_live_progress_bar_on_a_terminal(tmp_path):
    (tmp_path / "tasks.toml").write_text(
        "".join(f'[[tasks]]\nkey = ["t", {n}]\ncommand = ["sleep", "0.{n}"]\n' for n in range(1, 7))
        + '[[tasks]]\nkey = "bad"\ncommand = ["sh", "-c", "exit 2"]\n'
    )
    pid, fd = spawn_on_terminal(["run", "--parallelism", "2", "tasks.toml"], tmp_path)
    try:
        screen = read_until(fd, r"slowest tasks:(.|\n)*failed tasks:(.|\n)*bad on local")
    finally:
        status = exit_status(pid)
        os.close(fd)
    assert status == 1
    assert "\x1b[" in screen  # drawn with escape codes, redrawn in place
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert re.search(r"\d+ done \d+ failed \d+ running \d+ queued", plain)
    assert re.search(r"[1-6] running", plain)  # seen while tasks ran
    assert "━" in plain and "7/7" in plain and "ETA" in plain and "/s" in plain
    assert "failed bad on local: exit status 2" in plain  # printed above the bar as it fails
    assert "7 tasks: 6 succeeded, 1 failed" in plain


def test_ctrl_c_on_the_terminal_stops_every_task_and_prints_the_partial_summary(tmp_path):
    (tmp_path / "tasks.toml").write_text(SLEEPERS)
    pid, fd = spawn_on_terminal(["run", "--parallelism", "2", "tasks.toml"], tmp_path)
    try:
        pids = wait_for_pids(tmp_path / "pids", 3)
        read_until(fd, r"running")
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the CLI
        screen = read_until(fd, r"never-started on local: terminated before it started")
    finally:
        status = exit_status(pid)
        os.close(fd)
    assert status == 130
    assert "interrupted by SIGINT" in screen
    assert "with-grandchild on local: terminated" in screen
    assert all(process_gone(task_pid) for task_pid in pids), "a task process outlived the CLI"


def test_sigterm_stops_every_task_and_prints_the_partial_summary(tmp_path):
    (tmp_path / "tasks.toml").write_text(SLEEPERS)
    cli = subprocess.Popen(
        [sys.executable, "-m", "exechost", "run", "--parallelism", "2", "tasks.toml"],
        cwd=tmp_path,
        env=cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids = wait_for_pids(tmp_path / "pids", 3)
        cli.send_signal(signal.SIGTERM)
        out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 128 + signal.SIGTERM, err
    assert "interrupted by SIGTERM, 2 running tasks were stopped: 4 tasks: 1 succeeded" in out
    assert "failed plain on local: terminated" in out
    assert "failed never-started on local: terminated before it started" in out
    assert all(process_gone(task_pid) for task_pid in pids), "a task process outlived the CLI"


def test_a_second_signal_stops_a_sequential_task_at_once(tmp_path):
    (tmp_path / "tasks.toml").write_text(
        '[[tasks]]\nkey = "long"\ncommand = ["sh", "-c", "echo $$ >> pids; exec sleep 60"]\n'
    )
    cli = subprocess.Popen(
        [sys.executable, "-m", "exechost", "run", "--executor", "sequential", "tasks.toml"],
        cwd=tmp_path,
        env=cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pids = wait_for_pids(tmp_path / "pids", 1)
        cli.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert cli.poll() is None  # the first waits for the end of the step: the task
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, err
    assert "interrupted by SIGINT" in out
    assert "failed long on sequential: terminated" in out
    assert process_gone(pids[0])
