"""Property-based tests: whatever task file, configuration or task it is given, the CLI answers
with exit status 0, 1 or 2 and a message, never a traceback; ``queue_command`` accepts a task or
refuses it with an :class:`exechost.ExecHostError`."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import exechost
import pytest
from exechost.cli.main import main
from exechost.config.schema import TOP_KEYS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SAFE_COMMANDS = st.sampled_from([["true"], ["false"], ["echo", "hi"], ["sh", "-c", "exit 3"]])
"""Commands a generated task may run: never anything generated (it could name a real program)."""

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
task_keys = st.text(max_size=10) | st.lists(st.text(max_size=4) | st.integers(), max_size=3)
option_names = st.sampled_from(["env", "cwd", "timeout", "bogus"]) | st.text(max_size=6)
tasks = st.fixed_dictionaries(
    {"key": task_keys | json_values, "command": SAFE_COMMANDS | json_values},
    optional={
        "priority": st.integers() | json_values,
        "queue": st.text(max_size=6) | json_values,
        "executor": st.sampled_from(["local", "sequential", "nope"]) | json_values,
        "executor_config": st.dictionaries(option_names, json_values, max_size=3) | json_values,
        "extra": json_values,
    },
)
task_documents = st.fixed_dictionaries({"tasks": st.lists(tasks, max_size=4)}) | json_values


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path`` as the working directory, with no ``EXECHOST_*`` variable set."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("EXECHOST_")}
    cwd = Path.cwd()
    os.chdir(tmp_path)
    (tmp_path / "empty.toml").write_text("")
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)
        os.environ.update(saved)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> None:
    """Run the CLI in this process: it must end with 0, 1 or 2, saying something."""
    status = main(list(args))
    out, err = capsys.readouterr()
    assert status in (0, 1, 2), (status, out, err)
    assert out or err
    assert "Traceback" not in out + err


@SETTINGS
@given(document=task_documents)
def test_any_json_task_file(workdir, capsys, document):
    (workdir / "tasks.json").write_text(json.dumps(document))
    cli(capsys, "run", "--log-dir", "logs", "--config", "empty.toml", "tasks.json")


@SETTINGS
@given(text=st.text(max_size=200), suffix=st.sampled_from([".toml", ".json"]))
def test_any_text_as_a_task_file(workdir, capsys, text, suffix):
    (workdir / f"tasks{suffix}").write_text(text)
    cli(capsys, "run", "--log-dir", "logs", "--config", "empty.toml", f"tasks{suffix}")


toml_values = st.sampled_from(
    ['"local"', '"sequential"', '"nope"', "0", "-1", "2", "1.5", "nan", "inf", "true", "[]",
     '["a"]', "{}", '{ x = 1 }', '""', '"logs"']
)  # fmt: skip
config_keys = st.sampled_from(
    [*TOP_KEYS, "backend", "log_dir", "queues", "retries", "retry_delay", "queued_timeout", "x"]
)
config_lines = st.one_of(
    st.builds("{} = {}".format, config_keys, toml_values),
    st.sampled_from(["[executors.local]", "[executors.b]", "[plugins]", "[executors]", "[x]"]),
    st.text(max_size=20),
)


@settings(SETTINGS, max_examples=8)
@given(lines=st.lists(config_lines, max_size=8))
def test_any_configuration_file(workdir, capsys, lines):
    (workdir / "exechost.toml").write_text("\n".join(lines) + "\n")
    cli(capsys, "check")
    cli(capsys, "run", "--log-dir", "logs", "--", "true")


@pytest.fixture(scope="module")
def unstarted(tmp_path_factory: pytest.TempPathFactory) -> exechost.Executor:
    """A ``local`` executor that is never started: queueing checks a task, nothing runs."""
    config = tmp_path_factory.mktemp("config") / "empty.toml"
    config.write_text("")
    return exechost.load_executor("local", config=config, log_dir=str(config.parent))


@settings(SETTINGS, max_examples=60)
@given(
    key=task_keys | json_values,
    command=st.lists(st.text(max_size=5), max_size=3) | json_values,
    priority=st.integers() | json_values,
    queue=st.none() | st.text(max_size=5) | json_values,
    executor_config=st.none() | st.dictionaries(option_names, json_values) | json_values,
)
def test_any_queue_command_arguments(unstarted, key, command, priority, queue, executor_config):
    args: dict[str, Any] = {"priority": priority, "queue": queue}
    with contextlib.suppress(exechost.ExecHostError):
        unstarted.queue_command(
            tuple(key) if isinstance(key, list) else key, command, executor_config=executor_config,
            **args,
        )  # fmt: skip
