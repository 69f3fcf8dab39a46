"""What testing as a new user and as an attacker broke (issue 9), each kept fixed by a test."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import exechost
import pytest
from conftest import cli_environment, wait_until
from exechost.cli.main import RUN_HELP
from exechost.errors import InvalidTaskError
from exechost.process import LONGEST_TIMEOUT, run, spawn
from test_cli_terminal import exit_status, read_until, spawn_on_terminal, wait_for_pids

ROOT = Path(__file__).parent.parent


def error_of(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def tasks_json(tmp_path: Path, *tasks: object, name: str = "tasks.json") -> str:
    (tmp_path / name).write_text(json.dumps({"tasks": list(tasks)}))
    return name


# -- timeouts --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "sequential"])
def test_the_longest_timeout_accepted_works(tmp_path, backend):
    executor = exechost.load_executor(backend, log_dir=str(tmp_path))
    executor.start()
    try:
        executor.queue_command("month", ["true"], executor_config={"timeout": 2_592_000})
        executor.queue_command("year", ["true"], executor_config={"timeout": LONGEST_TIMEOUT})

        def ended() -> bool:
            executor.heartbeat()
            executor.wait(0.1)
            return not executor.has_task("month") and not executor.has_task("year")

        wait_until(ended)  # the reaper died of an OverflowError from epoll: never reported
    finally:
        executor.end()
    events = executor.get_event_buffer()
    assert events["month"].state == events["year"].state == "success"


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, -1, 0, LONGEST_TIMEOUT + 1])
@pytest.mark.parametrize("backend", ["local", "sequential"])
def test_a_timeout_no_wait_can_keep_is_refused_when_queued(tmp_path, backend, timeout):
    executor = exechost.load_executor(backend, log_dir=str(tmp_path))
    with pytest.raises(InvalidTaskError, match="timeout"):
        executor.queue_command("t", ["true"], executor_config={"timeout": timeout})


# -- parallelism 0 ---------------------------------------------------------------------------


def test_parallelism_0_means_no_limit_for_every_executor_that_sets_none(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text(
        'parallelism = 0\n[executors.capped]\nbackend = "local"\nparallelism = 3\n'
    )
    executors = exechost.load_executors(tmp_path / "exechost.toml")
    assert executors.parallelism == 0
    assert executors.executors["local"].parallelism == 0  # was the CPU count
    assert executors.executors["capped"].parallelism == 3
    assert exechost.load_executors(tmp_path / "exechost.toml", parallelism=0).parallelism == 0
    checked = cli("check")
    assert "executor local (default): backend local, parallelism unlimited" in checked.stdout
    # more tasks than CPUs, each waiting until all have started: only without a limit do they end
    count = (os.cpu_count() or 1) + 2
    barrier = (
        f"touch started.$$; for i in $(seq 200); do "
        f'[ "$(ls started.* | wc -l)" -ge {count} ] && exit 0; sleep 0.05; done; exit 1'
    )
    tasks = ({"key": f"t{n}", "command": ["sh", "-c", barrier]} for n in range(count))
    name = tasks_json(tmp_path, *tasks)
    (tmp_path / "empty.toml").write_text("")
    result = cli("run", "--config", "empty.toml", "--parallelism", "0", name)
    assert result.returncode == 0, result.stdout + result.stderr


# -- escapes ---------------------------------------------------------------------------------

EVIL_KEY = "x\u001b[2J\u001b[32mALL OK\u001b[0m"


def test_escape_sequences_in_keys_and_errors_are_shown_escaped_in_a_pipe(tmp_path, cli):
    name = tasks_json(
        tmp_path,
        {"key": EVIL_KEY, "command": ["sh", "-c", "exit 1"]},
        {"key": "1", "command": ["true"]},
        {"key": [1], "command": ["true"]},
        {"key": "a/b", "command": ["true"]},
        {"key": ["a", "b"], "command": ["true"]},
        {"key": "\u202eevil", "command": ["no-such-command-\u001b[2J"]},
    )
    result = cli("run", name)
    assert result.returncode == 1
    assert "\u001b" not in result.stdout + result.stderr
    assert "\u202e" not in result.stdout + result.stderr
    assert r'"x\u001b[2J\u001b[32mALL OK\u001b[0m"' in result.stdout
    assert r"\x1b[2J" in result.stdout  # the error of the command that could not start
    finished = {line.split()[2] for line in result.stdout.splitlines() if "success" in line}
    assert {"1", "[1]", '"a/b"', '["a",'} <= finished  # no two keys look the same


def test_escape_sequences_in_keys_are_shown_escaped_on_a_terminal(tmp_path):
    name = tasks_json(tmp_path, {"key": EVIL_KEY, "command": ["sh", "-c", "exit 1"]})
    pid, fd = spawn_on_terminal(["run", name], tmp_path)
    try:
        screen = read_until(fd, r"failed tasks:(.|\n)*ALL OK")
    finally:
        status = exit_status(pid)
        os.close(fd)
    assert status == 1
    assert "\u001b[2J" not in screen and "\u001b[32mALL" not in screen
    assert r"\u001b[2J\u001b[32mALL OK\u001b[0m" in screen


def test_emoji_codes_in_keys_and_errors_are_shown_as_written(tmp_path, cli):
    """rich turns ``:thumbs_up:`` into an emoji unless told not to: a key is shown as written."""
    name = tasks_json(tmp_path, {"key": ":thumbs_up:", "command": ["no-such-command-:fire:"]})
    result = cli("run", name)
    assert result.returncode == 1
    assert "\U0001f44d" not in result.stdout and "\U0001f525" not in result.stdout
    assert "failed tasks:" in result.stdout
    assert "failed :thumbs_up: on local" in result.stdout.split("failed tasks:")[1]
    assert "no-such-command-:fire:" in result.stdout


# -- files that never end, or nest too deep ------------------------------------------------


def test_deeply_nested_task_and_configuration_files_are_usage_errors(tmp_path, cli):
    # JSON deep enough for the C parser of every Python (3.12 takes 1,000 levels in its stride)
    deep = 100_000
    (tmp_path / "deep.json").write_text('{"tasks": ' + "[" * deep + "]" * deep + "}")
    assert "deep.json: invalid JSON: nested too deeply" in error_of(cli("run", "deep.json"))
    (tmp_path / "deep.toml").write_text("tasks = " + "[" * 1000 + "]" * 1000 + "\n")
    assert "deep.toml: invalid TOML: nested too deeply" in error_of(cli("run", "deep.toml"))
    deep_line = '{"key": "a", "command": ' + "[" * deep + "]" * deep + "}\n"
    assert "<stdin>:1: invalid JSON: nested too deeply" in error_of(
        cli("run", "-", stdin=deep_line)
    )
    (tmp_path / "exechost.toml").write_text("x = " + "[" * 1000 + "]" * 1000 + "\n")
    assert "exechost.toml: invalid TOML: nested too deeply" in error_of(cli("run", "--", "true"))


def test_a_task_file_or_configuration_that_never_ends_is_a_usage_error(tmp_path, cli):
    started = time.monotonic()
    message = error_of(cli("run", "/dev/zero"))
    assert "cannot read task file /dev/zero: larger than the limit of 268435456 bytes" in message
    (tmp_path / "big.toml").write_text("#\n" * (1 << 19) + "x = 1\n")
    message = error_of(cli("run", "--config", "big.toml", "--", "true"))
    assert "big.toml: larger than the limit of 1048576 bytes" in message
    message = error_of(cli("run", "-", stdin="x" * (1 << 21)))
    assert "<stdin>:1: longer than 1048576 characters" in message
    assert time.monotonic() - started < 30


# -- task file errors ------------------------------------------------------------------------


def test_every_bad_executor_config_is_reported_with_its_place_before_anything_starts(tmp_path, cli):
    name = tasks_json(
        tmp_path,
        {"key": "good", "command": ["touch", "ran"]},
        {"key": "a", "command": ["true"], "executor_config": {"env": 1, "timeout": "x"}},
        {"key": "b", "command": ["true"], "executor_config": {"bogus": 1}},
    )
    message = error_of(cli("run", "--log-dir", "logs", name))
    assert "tasks.json, task 2: invalid settings for task 'a'" in message
    assert "setting 'env' must be dict[str, str] | None, got int 1" in message
    assert "setting 'timeout' must be float | None, got str 'x'" in message
    assert "tasks.json, task 3: invalid settings for task 'b'" in message
    assert "unknown setting 'bogus'" in message
    assert not (tmp_path / "logs").exists() and not (tmp_path / "ran").exists()


def test_duplicate_keys_in_a_json_task_object_are_refused(tmp_path, cli):
    (tmp_path / "tasks.json").write_text(
        '{"tasks": [{"key": "a", "command": ["touch", "ran"], "command": ["true"]}]}'
    )
    message = error_of(cli("run", "tasks.json"))
    assert "tasks.json: invalid JSON: key 'command' appears twice in one object" in message
    line = '{"key": "a", "command": ["touch", "ran"]}\n{"key": "b", "key": "c", "command": []}\n'
    message = error_of(cli("run", "-", stdin=line))
    assert "<stdin>:2: invalid JSON: key 'key' appears twice in one object" in message
    assert not (tmp_path / "ran").exists()


# -- pipes, help, check ----------------------------------------------------------------------


def test_a_closed_pipe_stops_the_run_quietly_with_status_141(tmp_path):
    name = tasks_json(
        tmp_path,
        {"key": "first", "command": ["true"], "priority": 2},
        *({"key": f"later{n}", "command": ["sleep", "0.3"]} for n in range(3)),
    )
    cli = subprocess.Popen(
        [sys.executable, "-m", "exechost", "run", "--parallelism", "1", name],
        cwd=tmp_path,
        env=cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert cli.stdout is not None and cli.stderr is not None
        assert b"first" in cli.stdout.readline()
        cli.stdout.close()  # as `| head -1` does
        assert cli.wait(timeout=30) == 128 + signal.SIGPIPE
        assert cli.stderr.read() == b""
    finally:
        if cli.poll() is None:
            cli.kill()


def test_the_run_help_examples_work_from_the_repository_root(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    examples = RUN_HELP.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    first = examples.splitlines()[0].split()
    assert first[:2] == ["exechost", "run"]
    result = subprocess.run(
        [sys.executable, "-m", "exechost", *first[1:]],
        cwd=tmp_path,
        env=cli_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr  # examples/tasks.toml has one failing task
    assert "Traceback" not in result.stderr and "error" not in result.stderr


# -- the sequential executor and Ctrl-C ------------------------------------------------------


def test_ctrl_c_during_a_sequential_task_lets_it_finish_and_says_so(tmp_path):
    name = tasks_json(
        tmp_path,
        {"key": "long", "command": ["sh", "-c", "echo $$ >> pids; sleep 1.5"]},
        {"key": "next", "command": ["true"], "priority": -1},
    )
    pid, fd = spawn_on_terminal(["run", "--executor", "sequential", name], tmp_path)
    try:
        wait_for_pids(tmp_path / "pids", 1)
        running = read_until(fd, r"1 running")
        os.kill(pid, signal.SIGINT)
        screen = read_until(fd, r"interrupted by SIGINT.*\n")
        screen += read_until(fd, r"failed tasks:(.|\n)*next")
    finally:
        status = exit_status(pid)
        os.close(fd)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", running + screen)
    assert "0 done 0 failed 1 running 1 queued" in plain  # while the task ran in the heartbeat
    assert status == 130
    assert "interrupted by SIGINT: 2 tasks: 1 succeeded, 1 failed" in plain
    assert "running task" not in plain  # none was stopped: "long" ran to its end
    assert "next on sequential: terminated before it started" in plain


# -- logs: private, and never through a planted symlink -------------------------------------


@pytest.mark.parametrize("backend", ["local", "sequential"])
def test_logs_are_private_by_default(tmp_path, backend):
    logs = tmp_path / "new" / "logs"
    with exechost.load_executor(backend, log_dir=str(logs)) as executor:
        executor.queue_command("secret", ["echo", "token"])
    log = Path(executor.get_event_buffer()["secret"].info.log or "")
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.read_text() == "token\n"


def test_a_log_replaced_by_a_symlink_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = tmp_path / "task.log"
    planted.symlink_to(victim)
    info = run(["echo", "leaked"], planted)
    assert info.error is not None and info.returncode is None
    with pytest.raises(OSError):
        spawn(["echo", "leaked"], planted)
    assert victim.read_text() == "precious\n"
