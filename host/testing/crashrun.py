"""Kill ``exechost run`` with SIGKILL at a random moment, then ``exechost run --resume``: the
fault test of issue-8's promise (nothing lost, nothing run twice), through the real command.

Each task appends one line to its own marker file when its command ends, so the markers tell
how many times each task's side effect happened. :func:`crash_and_resume` runs one round;
a test runs several at random kill moments and checks the figures.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from exechost.testing.processes import processes_with

RUN_DEADLINE = 300.0
"""The longest a run or a resumed run may take before the round fails, in seconds."""


@dataclass
class CrashRound:
    """What one round saw."""

    killed_at: float | None
    """Seconds after the start when the host was killed; ``None`` if the run ended first."""
    before_kill: dict[str, str]
    """Each task's state in the journal of the killed run (``exechost runs 1 --json``)."""
    resumed: dict[str, object]
    """The ``resume`` part of the resumed run's ``--json`` output."""
    side_effects: dict[str, int] = field(default_factory=dict)
    """How many times each task's command ended (marker lines), by key."""
    survivor_seconds: float = 0.0
    """How long the last task process outlived the killed host."""
    resumed_status: int = 0
    resume_output: str = ""


def write_tasks(folder: Path, count: int, marker: str | None, max_sleep: float) -> Path:
    """A JSON task file of ``count`` tasks ``t0``... in ``folder``; each sleeps up to
    ``max_sleep`` seconds, then appends a line to ``folder/marks/<key>``. With a ``marker``,
    their processes carry the variable ``CRASH_MARKER=<marker>``, for :func:`processes_with`."""
    marks = folder / "marks"
    marks.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count)
    tasks: list[dict[str, object]] = [
        {
            "key": f"t{number}",
            "command": [
                "sh",
                "-c",
                f"sleep {rng.uniform(0, max_sleep):.3f}; echo x >> {marks}/t{number}",
            ],
        }
        for number in range(count)
    ]
    if marker is not None:
        for task in tasks:
            task["executor_config"] = {"env": {"CRASH_MARKER": marker}}
    path = folder / "tasks.json"
    path.write_text(json.dumps({"tasks": tasks}))
    return path


def crash_and_resume(
    folder: Path,
    *,
    tasks: int,
    kill_after: float,
    config: str,
    env: Mapping[str, str] | None = None,
    max_sleep: float = 0.05,
    task_env: bool = True,
) -> CrashRound:
    """Run ``tasks`` tasks with ``exechost run`` in ``folder`` on the configuration ``config``
    (the text of an ``exechost.toml``), SIGKILL the host ``kill_after`` seconds in, wait until
    no task process is left (or the deadline), then ``exechost run --resume`` to the end.

    :param env: variables for both commands, over the caller's environment without its
        ``EXECHOST_*`` ones.
    :param task_env: whether the tasks' backend takes ``executor_config = {env = ...}`` (the
        survivor check needs it).
    """
    marker = f"crash-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir(parents=True, exist_ok=True)
    write_tasks(folder, tasks, marker if task_env else None, max_sleep)
    (folder / "exechost.toml").write_text(config)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EXECHOST_")}
    environment.update(env or {})
    command = [sys.executable, "-m", "exechost", "run", "--config", "exechost.toml"]
    started = time.monotonic()
    with open(folder / "killed-run.log", "wb") as log:
        host = subprocess.Popen(
            [*command, "tasks.json"], cwd=folder, env=environment, stdout=log, stderr=log
        )
        try:
            host.wait(kill_after)
            killed_at = None
        except subprocess.TimeoutExpired:
            host.send_signal(signal.SIGKILL)
            host.wait(RUN_DEADLINE)
            killed_at = time.monotonic() - started
    died = time.monotonic()
    survivor = 0.0
    while task_env and processes_with(marker) and time.monotonic() - died < 10.0:
        time.sleep(0.02)
        survivor = time.monotonic() - died
    before = _states(folder, environment)
    resumed = subprocess.run(
        [*command, "--resume", "--json", "tasks.json"],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE,
    )
    try:
        outcome = json.loads(resumed.stdout).get("resume", {})
    except json.JSONDecodeError:
        outcome = {}
    marks = folder / "marks"
    return CrashRound(
        killed_at=killed_at,
        before_kill=before,
        resumed=outcome,
        side_effects={f"t{n}": _lines(marks / f"t{n}") for n in range(tasks)},
        survivor_seconds=survivor,
        resumed_status=resumed.returncode,
        resume_output=resumed.stderr[-4000:],
    )


def _states(folder: Path, environment: Mapping[str, str]) -> dict[str, str]:
    shown = subprocess.run(
        [sys.executable, "-m", "exechost", "runs", "--config", "exechost.toml", "1", "--json"],
        cwd=folder,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if shown.returncode:
        return {}
    return {str(t["key"]): str(t["state"]) for t in json.loads(shown.stdout)["task_list"]}


def _lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0
