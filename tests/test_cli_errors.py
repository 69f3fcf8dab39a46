"""Every kind of bad input gets a message a person can act on, exit status 2, and runs nothing."""

from __future__ import annotations

import json
import re
from importlib import metadata

import pytest

MARKER_TASK = """
[[tasks]]
key = "marker"
command = ["touch", "ran"]
"""


def error_of(result):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_toml_syntax_error_names_file_line_and_column(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text('executor = "local"\nparallelism = \n')
    (tmp_path / "tasks.toml").write_text(MARKER_TASK)
    message = error_of(cli("run", "tasks.toml"))
    assert f"{tmp_path / 'exechost.toml'}:2:15: invalid TOML: Invalid value" in message
    assert not (tmp_path / "ran").exists()


def test_unknown_key_names_table_suggests_and_lists_valid_keys(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text(
        'paralelism = 2\n[executors.gpu]\nbackend = "local"\nlog_dri = "x"\n[plugins]\nblok = []\n'
    )
    (tmp_path / "tasks.toml").write_text(MARKER_TASK)
    message = error_of(cli("run", "tasks.toml"))
    file = tmp_path / "exechost.toml"
    assert (
        f"{file}:1, top level: unknown key 'paralelism' (did you mean 'parallelism'?); "
        "valid keys: executor, executors, journal, parallelism, plugins"
    ) in message
    assert f"{file}:6, [plugins]: unknown key 'blok' (did you mean 'block'?)" in message
    assert not (tmp_path / "ran").exists()
    # a backend's own settings are only known once it is loaded: the same message, with them
    (tmp_path / "exechost.toml").write_text('[executors.gpu]\nbackend = "local"\nlog_dri = "x"\n')
    message = error_of(cli("run", "tasks.toml"))
    assert (
        f"{file}:3, [executors.gpu]: unknown key 'log_dri' (did you mean 'log_dir'?); "
        "valid keys: backend, detach, log_dir, parallelism, queued_timeout, queues, retries, "
        "retry_delay, sync_timeout"
    ) in message


def test_wrong_type_says_the_expected_type(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text(
        '[executors.gpu]\nbackend = "local"\nparallelism = "one"\nqueues = "gpu"\nlog_dir = 3\n'
    )
    (tmp_path / "tasks.toml").write_text(MARKER_TASK)
    message = error_of(cli("run", "tasks.toml"))
    file = tmp_path / "exechost.toml"
    assert (
        f"{file}:3, [executors.gpu]: parallelism must be an integer >= 0 (0 for no limit), "
        "got a string 'one'"
    ) in message
    assert f"{file}:4, [executors.gpu]: queues must be an array of strings, got a string 'gpu'" in (
        message
    )
    (tmp_path / "exechost.toml").write_text('[executors.gpu]\nbackend = "local"\nlog_dir = 3\n')
    message = error_of(cli("run", "tasks.toml"))
    assert f"{file}, [executors.gpu]: invalid settings for executor 'gpu': setting 'log_dir'" in (
        message
    )
    assert "got int 3" in message
    assert not (tmp_path / "ran").exists()


def test_environment_variable_errors_name_the_variable(tmp_path, cli):
    (tmp_path / "tasks.toml").write_text(MARKER_TASK)
    message = error_of(cli("run", "tasks.toml", env={"EXECHOST_PARALLELISM": "many"}))
    assert "environment variable EXECHOST_PARALLELISM: parallelism must be an integer" in message
    message = error_of(cli("run", "tasks.toml", env={"EXECHOST_PARALELISM": "2"}))
    assert "environment variable EXECHOST_PARALELISM: unknown key 'paralelism'" in message
    assert "did you mean 'parallelism'?" in message


@pytest.mark.parametrize(
    ("setting", "hint"),
    [
        ('executor = "dask"', "; to add it: pip install exechost-dask"),
        ('executor = "celery"', "; to add it: pip install exechost-celery"),
        ('executor = "slurm"', "; to add it: pip install exechost-slurm"),
        ('executor = "locl"', " (did you mean 'local'?)"),
        ('[executors.gpu]\nbackend = "dask"', "; to add it: pip install exechost-dask"),
    ],
)
def test_executor_not_installed_lists_installed_ones_and_pip_command(tmp_path, cli, setting, hint):
    installed = sorted(ep.name for ep in metadata.entry_points(group="exechost.executors"))
    missing = setting.split('"')[1]
    if missing in installed:  # the nox tests session installs every plugin of plugins/
        pytest.skip(f"executor {missing!r} is installed here; the core sessions check this hint")
    (tmp_path / "exechost.toml").write_text(setting + "\n")
    (tmp_path / "tasks.toml").write_text(MARKER_TASK)
    message = error_of(cli("run", "tasks.toml"))
    assert "is installed" in message
    assert f"installed executors: {', '.join(installed)}" in message
    assert hint in message
    assert str(tmp_path / "exechost.toml") in message
    assert not (tmp_path / "ran").exists()


def test_unknown_executor_on_a_task_is_refused_before_anything_runs(tmp_path, cli):
    (tmp_path / "tasks.toml").write_text(
        MARKER_TASK + '[[tasks]]\nkey = "gpu-job"\ncommand = ["true"]\nexecutor = "gpu"\n'
    )
    message = error_of(cli("run", "tasks.toml"))
    assert "tasks.toml, task 2: no executor named 'gpu' is configured" in message
    assert "configured executors: local" in message
    assert "[executors.gpu]" in message
    assert not (tmp_path / "ran").exists()


def test_nothing_half_starts_when_one_of_two_executors_is_bad(tmp_path, cli):
    (tmp_path / "exechost.toml").write_text(
        '[executors.good]\nbackend = "local"\n[executors.bad]\nbackend = "local"\nlog_dir = []\n'
    )
    (tmp_path / "tasks.toml").write_text(MARKER_TASK)
    error_of(cli("run", "tasks.toml"))
    assert not (tmp_path / "ran").exists()


def test_bad_task_files_list_every_problem_with_its_place(tmp_path, cli):
    (tmp_path / "tasks.toml").write_text(
        '[[tasks]]\nkey = "a"\ncomand = ["true"]\n'
        '[[tasks]]\nkey = "b"\ncommand = "echo hi"\n'
        '[[tasks]]\nkey = ["x", 1.5]\ncommand = ["true"]\n'
        '[[tasks]]\nkey = "c"\ncommand = ["true"]\npriority = "high"\n'
        '[[tasks]]\nkey = "d"\ncommand = ["true"]\n'
        '[[tasks]]\nkey = "d"\ncommand = ["true"]\n'
    )
    message = error_of(cli("run", "tasks.toml"))
    assert (
        "tasks.toml, task 1: unknown key 'comand' (did you mean 'command'?); valid keys: "
        "command, executor, executor_config, key, priority, queue"
    ) in message
    assert "tasks.toml, task 1: 'command' is required" in message
    assert "tasks.toml, task 2: task 'b': command must be a list of strings (argv)" in message
    assert "Write ['sh', '-c', 'echo hi'] for shell syntax" in message
    assert "tasks.toml, task 3: task key ('x', 1.5) is not valid" in message
    assert "tasks.toml, task 4: priority must be an integer, got 'high'" in message
    assert "tasks.toml, task 6: key 'd' is used by task 5 already" in message


def test_task_file_syntax_errors_and_formats(tmp_path, cli):
    (tmp_path / "tasks.json").write_text('{"tasks": [\n  {"key": "a",}\n]}')
    # the column of a trailing comma differs between Python versions
    assert re.search(r"tasks\.json:2:1[45]: invalid JSON", error_of(cli("run", "tasks.json")))
    (tmp_path / "tasks.toml").write_text("[[tasks]\n")
    assert "tasks.toml:1:8: invalid TOML" in error_of(cli("run", "tasks.toml"))
    (tmp_path / "tasks.yaml").write_text("")
    assert "name it .toml" in error_of(cli("run", "tasks.yaml"))
    assert "cannot read task file missing.toml" in error_of(cli("run", "missing.toml"))
    stdin = json.dumps({"key": "a", "command": ["true"]}) + "\n{oops\n"
    assert "<stdin>:2:2: invalid JSON" in error_of(cli("run", "-", stdin=stdin))
    (tmp_path / "tasks.toml").write_text('[[task]]\nkey = "a"\n')
    assert "expected only a list of tasks under 'tasks'" in error_of(cli("run", "tasks.toml"))


def test_usage_errors(cli):
    assert "give a TASKFILE" in error_of(cli("run"))
    assert "must be an integer >= 0" in error_of(cli("run", "--parallelism", "-2", "t.toml"))
    assert "does not exist" in error_of(cli("run", "--config", "nope.toml", "--", "true"))
