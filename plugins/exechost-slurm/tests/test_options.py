"""Typed options: refused when a task is queued (or the executor loaded), naming the valid keys;
and what they become on the ``sbatch`` command line and in the batch script."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import load_slurm, slurm_settings
from exechost import InvalidTaskError, SettingsError
from exechost_slurm import SlurmResources, SlurmSettings, SlurmTaskOptions
from exechost_slurm.script import batch_script

OPTION_KEYS = [field.name for field in dataclasses.fields(SlurmTaskOptions)]


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"cpus": 0}, "cpus must be at least 1"),
        ({"cpus": "2"}, "cpus"),
        ({"memory": "lots"}, "memory must be in Slurm's syntax"),
        ({"memory": 512}, "memory"),
        ({"time_limit": "10 minutes"}, "time_limit must be in Slurm's syntax"),
        ({"partition": "a b"}, "partition must be a non-empty string"),
        ({"qos": ""}, "qos must be a non-empty string"),
        ({"sbatch_args": "--exclusive"}, "sbatch_args"),
        ({"sbatch_args": ["--output=/elsewhere"]}, "'--output=/elsewhere' is set by the executor"),
        ({"sbatch_args": ["-Jname"]}, "is set by the executor"),
        ({"env": {"NOT A NAME": "x"}}, "is not a variable name"),
        ({"mem": "1G"}, "unknown setting 'mem'"),
    ],
)
def test_bad_options_are_refused_when_queued(
    tmp_path: Path, options: dict[str, Any], complaint: str
) -> None:
    executor = load_slurm(**slurm_settings(tmp_path / "logs"))
    with pytest.raises(InvalidTaskError) as refused:
        executor.queue_command("task", ["true"], executor_config=options)
    assert complaint in str(refused.value)
    if "unknown" in complaint:
        assert all(key in str(refused.value) for key in OPTION_KEYS), str(refused.value)
    assert not executor.has_task("task")


def test_good_options_are_accepted(tmp_path: Path) -> None:
    executor = load_slurm(**slurm_settings(tmp_path / "logs"))
    executor.queue_command(
        "task",
        ["true"],
        executor_config={
            "cpus": 2,
            "memory": "512M",
            "time_limit": "1-00:10:00",
            "partition": "debug",
            "gres": "gpu:1",
            "constraint": "intel&avx2",
            "sbatch_args": ["--nice=10"],
            "env": {"A_NAME": "a value; rm -rf /"},
        },
    )
    assert executor.has_task("task")


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"memory": "1X"}, "memory must be in Slurm's syntax"),
        ({"poll_interval": -1.0}, "poll_interval"),
        ({"command_timeout": 0.0}, "command_timeout"),
        ({"sbatch_args": ["--wrap=true"]}, "is set by the executor"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        load_slurm(**settings)


def test_task_options_override_the_executor_defaults() -> None:
    defaults = SlurmSettings(memory="1G", partition="debug", sbatch_args=["--nice=5"])
    task = SlurmResources(memory="2G", sbatch_args=["--exclusive"])
    assert task.over(defaults).sbatch_arguments() == [
        "--mem=2G",
        "--partition=debug",
        "--nice=5",
        "--exclusive",
    ]


def test_the_batch_script_never_lets_an_argument_become_shell_syntax(tmp_path: Path) -> None:
    hostile = ["sh", "-c", 'printf "%s|" "$@" > "$0"', str(tmp_path / "out"), "$(id)", "a;b", "'"]
    script = batch_script(hostile, {"VALUE": "$(touch x) `y`"}, str(tmp_path))
    subprocess.run(["sh", "-c", script], check=True)
    assert (tmp_path / "out").read_text() == "$(id)|a;b|'|"
    assert not (tmp_path / "x").exists()
