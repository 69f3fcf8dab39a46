"""What `exechost run` shows of the tasks' output, and where it leaves their logs."""

from __future__ import annotations

import json
import os
import re
import sys

import exechost
from conftest import run_cli
from test_cli_terminal import exit_status, read_until, spawn_on_terminal

ESC = "\x1b"


def test_one_command_prints_its_output_and_the_summary_goes_to_stderr(cli):
    result = cli("run", "--", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"
    assert "1 task: 1 succeeded, 0 failed" in result.stderr


def test_quiet_output_prints_no_task_output(cli):
    result = cli("run", "--output", "quiet", "--", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert "hi\n" not in result.stdout
    assert "1 task: 1 succeeded" in result.stdout


def test_a_task_file_is_quiet_unless_grouped_output_is_asked_for(tmp_path, cli):
    tasks = [
        {
            "key": f"t{n}",
            "command": ["sh", "-c", f"echo t{n}-a; sleep 0.2; echo t{n}-b; printf end"],
        }
        for n in range(3)
    ]
    (tmp_path / "tasks.json").write_text(json.dumps({"tasks": tasks}))
    quiet = cli("run", "--parallelism", "3", "--log-dir", "logs", "tasks.json")
    assert quiet.returncode == 0, quiet.stderr
    assert "t0-a" not in quiet.stdout
    grouped = cli(
        "run", "--parallelism", "3", "--log-dir", "logs", "--output", "grouped", "tasks.json"
    )
    assert grouped.returncode == 0, grouped.stderr
    # the three ran at once, yet each output is printed whole, a newline added after the last line
    blocks = re.findall(r"(t\d)-a\n(t\d)-b\nend\n", grouped.stdout)
    assert len(blocks) == 3 and all(first == second for first, second in blocks)
    assert len(grouped.stdout) == sum(len(f"{a}-a\n{a}-b\nend\n") for a, _ in blocks)
    assert "[3/3] success" in grouped.stderr


def test_control_characters_in_output_and_keys_are_shown_escaped(tmp_path, cli):
    printed = cli("run", "--", "printf", "\\033[2J\\033[32mALL OK\\033[0m\\r\\n")
    assert printed.returncode == 0, printed.stderr
    assert ESC not in printed.stdout and "\r" not in printed.stdout
    assert printed.stdout == "\\x1b[2J\\x1b[32mALL OK\\x1b[0m\\x0d\n"
    key = f"x{ESC}[2J{ESC}[32mALL OK{ESC}[0m"
    (tmp_path / "tasks.json").write_text(
        json.dumps({"tasks": [{"key": key, "command": ["false"]}]})
    )
    failed = cli("run", "--log-dir", "logs", "tasks.json")
    assert failed.returncode == 1
    assert ESC not in failed.stdout + failed.stderr
    assert '"x\\u001b[2J\\u001b[32mALL OK\\u001b[0m"' in failed.stdout


def test_grouped_output_with_json_is_a_usage_error(cli):
    result = cli("run", "--json", "--output", "grouped", "--", "true")
    assert result.returncode == 2
    assert "--json and --output grouped both write to standard output" in result.stderr


def test_a_run_without_log_dir_keeps_its_logs_beside_the_journal(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    (tmp_path / "work").mkdir()
    env = {"TMPDIR": str(temp)}
    ok = run_cli("run", "--", "echo", "hi", cwd=tmp_path / "work", env=env)
    assert ok.returncode == 0, ok.stderr
    logs = tmp_path / "work" / ".exechost" / "logs"
    assert (logs / "echo.log").read_text() == "hi\n"
    assert logs.stat().st_mode & 0o777 == 0o700
    assert f"logs: {logs}" in ok.stderr
    assert list(temp.iterdir()) == []


def test_a_run_without_log_dir_nor_journal_removes_its_logs_when_every_task_succeeded(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    (tmp_path / "work").mkdir()
    env = {"TMPDIR": str(temp)}
    ok = run_cli("run", "--no-journal", "--", "echo", "hi", cwd=tmp_path / "work", env=env)
    assert ok.returncode == 0, ok.stderr
    assert list(temp.iterdir()) == []
    assert "logs: removed, every task succeeded" in ok.stderr
    failed = run_cli(
        "run", "--no-journal", "--", "sh", "-c", "echo oops; exit 3", cwd=tmp_path / "work", env=env
    )
    assert failed.returncode == 1
    [kept] = temp.iterdir()
    assert kept.name.startswith("exechost-logs-")
    assert (kept / "sh.log").read_text() == "oops\n"
    assert f"logs: {kept}" in failed.stderr
    assert list((tmp_path / "work").iterdir()) == []  # nothing left in the working directory


def test_a_rerun_into_the_same_log_folder_keeps_the_newest_log_without_a_number(tmp_path, cli):
    for word in ("first", "second", "third"):
        result = cli("run", "--log-dir", "logs", "--", "sh", "-c", f"echo {word}; exit 1")
        assert result.returncode == 1
    logs = tmp_path / "logs"
    assert (logs / "sh.log").read_text() == "third\n"
    assert (logs / "sh.1.log").read_text() == "first\n"
    assert (logs / "sh.2.log").read_text() == "second\n"
    assert f"(log: {logs / 'sh.log'})" in result.stderr  # absolute, and the newest
    assert f"logs: {logs}" in result.stderr


def test_the_api_and_the_cli_report_the_same_absolute_log_path(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with exechost.load_executor("local", log_dir="api-logs") as executor:
        executor.queue_command("k", ["true"])
    api_log = executor.get_event_buffer()["k"].info.log
    assert api_log == str(tmp_path / "api-logs" / "k.log")
    (tmp_path / "tasks.json").write_text('{"tasks": [{"key": "k", "command": ["true"]}]}')
    result = cli("run", "--json", "--log-dir", "cli-logs", "tasks.json")
    assert json.loads(result.stdout)["tasks"][0]["log"] == str(tmp_path / "cli-logs" / "k.log")


def test_grouped_output_is_printed_above_the_bar_on_a_terminal(tmp_path):
    pid, fd = spawn_on_terminal(
        ["run", "--log-dir", "logs", "--", sys.executable, "-c", "print('from the task')"], tmp_path
    )
    try:
        screen = read_until(fd, r"1 task: 1 succeeded(.|\n)*logs: ")
    finally:
        status = exit_status(pid)
        os.close(fd)
    assert status == 0
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "from the task" in plain and "1/1" in plain
