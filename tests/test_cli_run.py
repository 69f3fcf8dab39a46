"""`exechost run` as a user runs it: a config file, a task file, routing, exit status, summary."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import cli_environment

TWO_EXECUTORS = """
parallelism = 4

[executors.local]
log_dir = "logs/local"

[executors.gpu]
backend = "local"
parallelism = 1
queues = ["gpu"]
log_dir = "logs/gpu"
"""

ROUTED_TASKS = """
[[tasks]]
key = ["train", 1]
command = ["sh", "-c", "echo training 1; sleep 0.3"]
queue = "gpu"

[[tasks]]
key = ["train", 2]
command = ["sh", "-c", "echo training 2; sleep 0.3"]
queue = "gpu"

[[tasks]]
key = ["train", 3]
command = ["sh", "-c", "echo training 3; sleep 0.3"]
executor = "gpu"

[[tasks]]
key = "report"
command = ["sh", "-c", "echo report"]
priority = 5

[[tasks]]
key = "cpu-queue"
command = ["true"]
queue = "not-routed"
"""


def test_routes_tasks_between_two_executors_of_the_same_backend(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text(TWO_EXECUTORS)
    (tmp_path / "tasks.toml").write_text(ROUTED_TASKS)

    result = cli("run", "--json", "tasks.toml")

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    tasks = {
        tuple(t["key"]) if isinstance(t["key"], list) else t["key"]: t for t in outcome["tasks"]
    }
    assert {key: t["executor"] for key, t in tasks.items()} == {
        ("train", 1): "gpu",
        ("train", 2): "gpu",
        ("train", 3): "gpu",
        "report": "local",
        "cpu-queue": "local",
    }
    assert all(t["state"] == "success" for t in tasks.values())
    assert (tmp_path / "logs/gpu/train__2.log").read_text() == "training 2\n"
    assert (tmp_path / "logs/local/report.log").read_text() == "report\n"
    # the gpu executor has parallelism 1: its tasks ran one after the other
    gpu = sorted((t["started_at"], t["ended_at"]) for t in tasks.values() if t["executor"] == "gpu")
    assert all(previous[1] <= following[0] for previous, following in itertools.pairwise(gpu))
    assert "5 tasks: 5 succeeded, 0 failed" in result.stderr  # human output goes to stderr


def test_failed_task_gives_exit_status_1_and_its_log_in_the_summary(tmp_path, cli):
    (tmp_path / "tasks.json").write_text(
        json.dumps(
            {
                "tasks": [
                    {"key": "ok", "command": ["true"]},
                    {"key": ["etl", "load"], "command": ["sh", "-c", "echo disk full >&2; exit 3"]},
                ]
            }
        )
    )

    result = cli("run", "--log-dir", "logs", "tasks.json")

    assert result.returncode == 1
    out = result.stdout
    assert "2 tasks: 1 succeeded, 1 failed" in out
    assert "slowest tasks:" in out
    log = tmp_path / "logs" / "etl__load.log"
    assert f'failed ["etl", "load"] on local: exit status 3 (log: {log})' in out
    assert log.read_text() == "disk full\n"


def test_plain_progress_lines_when_not_a_terminal(tmp_path, cli):
    (tmp_path / "tasks.toml").write_text(
        '[[tasks]]\nkey = "a"\ncommand = ["true"]\n[[tasks]]\nkey = "b"\ncommand = ["false"]\n'
    )
    result = cli("run", "--parallelism", "1", "tasks.toml")  # one at a time: a, then b
    lines = result.stdout.splitlines()
    assert any(line.startswith("[1/2] ") for line in lines)
    assert any(line.startswith("[2/2] failed  b (local)") for line in lines)
    assert "\x1b[" not in result.stdout  # no escape codes in a pipe


def test_json_lines_on_stdin(cli):
    lines = "\n".join(
        json.dumps({"key": key, "command": ["sh", "-c", f"echo {key}"], "priority": n})
        for n, key in enumerate(["a", "b", "c"])
    )
    result = cli("run", "--json", "--executor", "sequential", "-", stdin=lines + "\n\n")
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert [t["key"] for t in outcome["tasks"]] == ["a", "b", "c"]
    assert {t["executor"] for t in outcome["tasks"]} == {"sequential"}
    # sequential runs one at a time, highest priority first
    order = sorted(outcome["tasks"], key=lambda t: t["started_at"])
    assert [t["key"] for t in order] == ["c", "b", "a"]


def test_one_ad_hoc_command_after_double_dash(tmp_path, cli):
    result = cli("run", "--log-dir", "out", "--", sys.executable, "-c", "print('adhoc')")
    assert result.returncode == 0, result.stderr
    logs = list((tmp_path / "out").iterdir())
    assert [log.read_text() for log in logs] == ["adhoc\n"]
    assert result.stdout == "adhoc\n"  # grouped output: the command's, on standard output
    failing = cli("run", "--log-dir", "out", "--", "sh", "-c", "exit 4")
    assert failing.returncode == 1
    assert "exit status 4" in failing.stderr  # the summary, on standard error


def test_config_file_and_environment_and_options_in_precedence(tmp_path, cli):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.exechost]\nexecutor = "sequential"\nparallelism = 3\n'
    )
    tasks = tmp_path / "tasks.toml"
    tasks.write_text('[[tasks]]\nkey = "a"\ncommand = ["true"]\n')

    def executor_of_run(*options: str, env: dict[str, str] | None = None) -> str:
        result = cli("run", "--json", *options, "tasks.toml", env=env)
        assert result.returncode == 0, result.stderr
        executor: str = json.loads(result.stdout)["tasks"][0]["executor"]
        return executor

    assert executor_of_run() == "sequential"  # [tool.exechost] in pyproject.toml
    assert executor_of_run(env={"EXECHOST_EXECUTOR": "local"}) == "local"  # env over file
    assert executor_of_run("--executor", "sequential", env={"EXECHOST_EXECUTOR": "local"}) == (
        "sequential"  # option over env
    )
    (tmp_path / "exechost.toml").write_text('executor = "local"\n')  # exechost.toml first
    assert executor_of_run() == "local"
    (tmp_path / "other.toml").write_text('executor = "sequential"\n')
    assert executor_of_run(env={"EXECHOST_CONFIG": "other.toml"}) == "sequential"
    assert executor_of_run("--config", "exechost.toml", env={"EXECHOST_CONFIG": "other.toml"}) == (
        "local"
    )


def test_exechost_config_shows_each_value_and_its_source(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text(TWO_EXECUTORS)
    env = {"EXECHOST_EXECUTORS__GPU__PARALLELISM": "2", "EXECHOST_TEST_MARKER": "not ours"}

    shown = cli("config", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout)["values"]
    assert values["parallelism"] == {
        "value": 4,
        "source": f"{tmp_path / 'exechost.toml'}:2",  # the file and the line
        "env": "EXECHOST_PARALLELISM",
    }
    assert values["executors.gpu.parallelism"]["value"] == 2
    assert values["executors.gpu.parallelism"]["source"] == (
        "environment variable EXECHOST_EXECUTORS__GPU__PARALLELISM"
    )
    assert values["executor"]["source"] == "default"
    assert json.loads(shown.stdout)["ignored_variables"] == ["EXECHOST_TEST_MARKER"]

    text = cli("config", env=env).stdout
    assert f"# configuration file: {tmp_path / 'exechost.toml'}" in text
    assert "[executors.gpu]" in text
    assert "parallelism = 2" in text and "# environment variable" in text
    assert "# ignored: EXECHOST_TEST_MARKER (names no configuration key)" in text


def test_help_on_every_command_and_version(cli):
    top = cli("--help")
    assert top.returncode == 0
    for command in ("run", "config", "check", "plugins"):
        assert command in top.stdout
        helped = cli(command, "--help")
        assert helped.returncode == 0
        assert "--config PATH" in helped.stdout
        assert "EXECHOST_CONFIG" in helped.stdout  # where the configuration comes from
    run_help = cli("run", "--help").stdout
    for promise in ("[[tasks]]", "exit status", "130 Ctrl-C", "-- CMD ARG...", "queues"):
        assert promise in run_help
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("exechost 0.")


def test_the_installed_console_script_runs_the_readme_example(tmp_path):
    script = shutil.which("exechost", path=os.path.dirname(sys.executable))
    assert script is not None, "the exechost console script is not installed"
    examples = Path(__file__).parent.parent / "examples"
    shutil.copy(examples / "tasks.toml", tmp_path)
    shutil.copy(examples / "exechost.toml", tmp_path)
    result = subprocess.run(
        [script, "run", "tasks.toml"],
        cwd=tmp_path,
        env=cli_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 tasks: 6 succeeded, 0 failed" in result.stdout
    assert (tmp_path / "exechost-logs/heavy/demo__heavy.log").read_text() == "crunching\n"
