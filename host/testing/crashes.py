"""Killing hosts at random moments, resuming them, and checking each task ran exactly once.

The fault test of the journal's promise (nothing lost, nothing run twice), for any backend:
:func:`write_tasks` writes a task file whose tasks append their key to one marker file,
:class:`CliHosts` starts ``exechost run`` on it (``--resume`` once the journal holds a run of it),
and :func:`crash_repeatedly` SIGKILLs hosts at random moments until the last one finishes;
:func:`exactly_once` then reads the marker. A host may be anything with ``pid`` and ``poll()``.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from exechost.errors import ExecHostError
from exechost.journal import read_journal
from exechost.testing.environment import hermetic_environment

__all__ = [
    "CliHosts",
    "CrashFigures",
    "CrashSeries",
    "crash_repeatedly",
    "crash_series",
    "exactly_once",
    "marker_counts",
    "task_command",
    "write_tasks",
]


class Host(Protocol):
    """A running host process, such as a ``subprocess.Popen``."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


def marker_counts(marker: Path) -> Counter[str]:
    """How many times each key was written to ``marker`` (complete lines only)."""
    try:
        text = marker.read_text()
    except FileNotFoundError:
        return Counter()
    lines = text.split("\n")
    return Counter(line for line in lines[:-1] if line)  # the last one may be half-written


def exactly_once(marker: Path, keys: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """The keys written more than once (with their counts) and the keys never written."""
    counts = marker_counts(marker)
    duplicated = {key: count for key, count in counts.items() if count > 1}
    missing = [key for key in keys if key not in counts]
    return duplicated, missing


def task_command(key: str, marker: Path, seconds: float = 0.05) -> list[str]:
    """The task ``key``: append the key to ``marker`` first, then take ``seconds``."""
    return ["sh", "-c", f'echo "$1" >> "$2"; sleep {seconds}', "sh", key, str(marker)]


def write_tasks(
    path: Path, total: int, marker: Path, executor_config: dict[str, Any] | None = None
) -> list[str]:
    """Write a JSON task file of ``total`` tasks ``t000``...; each runs :func:`task_command`.

    :returns: the keys.
    """
    keys = [f"t{n:03d}" for n in range(total)]
    tasks = [
        {"key": key, "command": task_command(key, marker), "executor_config": executor_config or {}}
        for key in keys
    ]
    path.write_text(json.dumps({"tasks": tasks}))
    return keys


class CliHosts:
    """Starts ``exechost run --json [ARGS] TASKFILE`` in ``folder``, adding ``--resume`` when
    the journal holds a run of the task file; each host's output goes to a file of its own."""

    def __init__(
        self,
        folder: Path,
        taskfile: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        journal: Path | None = None,
    ) -> None:
        self.folder, self.taskfile, self.args = folder, taskfile.absolute(), list(args)
        self.journal = journal or folder / ".exechost" / "journal.sqlite"
        self.env = hermetic_environment(**(env or {}))
        self.outputs: list[Path] = []

    def __call__(self) -> subprocess.Popen[bytes]:
        output = self.folder / f"host-{len(self.outputs)}.json"
        self.outputs.append(output)
        resume = ["--resume"] if self._has_run() else []
        command = [sys.executable, "-m", "exechost", "run", "--json", *resume, *self.args]
        with open(output, "wb") as out, open(output.with_suffix(".log"), "wb") as err:
            return subprocess.Popen(
                [*command, str(self.taskfile)],
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=err,
            )

    def _has_run(self) -> bool:
        try:
            journal, _ = read_journal(self.journal)
        except ExecHostError:
            return False
        try:
            return journal.last_run(str(self.taskfile)) is not None
        finally:
            journal.close()

    def results(self) -> list[dict[str, Any]]:
        """The ``--json`` documents of the hosts that finished (a killed host printed none)."""
        return read_figures(*self.outputs)

    def describe(self) -> str:
        """The command lines and the last host's standard error, for a failing assertion."""
        log = self.outputs[-1].with_suffix(".log") if self.outputs else None
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        return f"{shlex.join(self.args)} in {self.folder}: {tail}"


@dataclass
class CrashFigures:
    """What a series of killed and resumed hosts did."""

    kills: int = 0
    kill_points: list[int] = field(default_factory=list)
    """How many tasks had written their marker at each kill."""
    seconds: float = 0.0


def _kill(host: Host) -> None:
    os.kill(host.pid, signal.SIGKILL)
    _wait(host, 10.0, "a killed host to exit")


def _wait(host: Host, timeout: float, what: str) -> int:
    deadline = time.monotonic() + timeout
    while (status := host.poll()) is None:
        if time.monotonic() > deadline:
            os.kill(host.pid, signal.SIGKILL)
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.01)
    return status


def read_figures(*paths: Path) -> list[dict[str, Any]]:
    """The JSON objects in the files (a document cut short by a kill, or none, skipped)."""
    found = []
    for path in paths:
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


START_KILL_WINDOW = 0.1
"""Seconds after its start within which a host resuming a batch whose tasks all ran is killed:
before it can finish (its interpreter alone takes longer to start)."""


def crash_repeatedly(
    start_host: Callable[[], Host],
    marker: Path,
    total: int,
    kills: int,
    rng: random.Random,
    host_timeout: float = 60.0,
) -> CrashFigures:
    """Start hosts one after the other, SIGKILL ``kills`` of them, let the last one finish.

    Each host resumes where the one before died. A kill comes either at a random moment of the
    host's first half second (start, journal, adoption: one kill in five), or once a random
    number of further tasks has written its marker, spread so that the kills cover the batch.

    Once every task has written its marker, the kills left come within a host's first
    :data:`START_KILL_WINDOW` seconds, while it resumes. Stops killing when a host finishes the
    batch before its kill comes (``kills`` then says how many were made).

    :raises AssertionError: when a host exits non-zero or outlives ``host_timeout``.
    """
    figures = CrashFigures()
    started = time.monotonic()
    while figures.kills < kills:
        done = len(marker_counts(marker))
        left = kills - figures.kills
        target = done + rng.randint(1, max(1, 2 * (total - done) // (left + 1)))
        if done >= total:  # every task ran: what is left to kill is a host resuming the batch
            early: float | None = rng.uniform(0.0, START_KILL_WINDOW)
        else:
            early = rng.uniform(0.0, 0.5) if rng.random() < 0.2 else None
        host = start_host()
        begun = time.monotonic()
        while host.poll() is None:
            elapsed = time.monotonic() - begun
            assert elapsed < host_timeout, f"a host did not finish within {host_timeout}s"
            due = elapsed >= early if early is not None else len(marker_counts(marker)) >= target
            if due:
                _kill(host)
                figures.kills += 1
                figures.kill_points.append(len(marker_counts(marker)))
                break
            time.sleep(0.002)
        else:  # the host ended before its kill came: the batch is done, or it failed
            assert host.poll() == 0, f"a host exited with status {host.poll()}"
            break
    status = _wait(start_host(), host_timeout, "the last host finishing")
    assert status == 0, f"the last host exited with status {status}"
    figures.seconds = time.monotonic() - started
    return figures


@dataclass
class CrashSeries:
    """What :func:`crash_series` saw: the figures, the marker's verdict, the hosts' results."""

    seed: int
    tasks: int
    figures: CrashFigures
    duplicated: dict[str, int]
    missing: list[str]
    results: list[dict[str, Any]]

    def summary(self, label: str) -> str:
        """One line of figures, to print."""
        resumes = [result["resume"] for result in self.results if "resume" in result]
        return (
            f"{label}, seed {self.seed}: {self.tasks} tasks, {self.figures.kills} hosts killed "
            f"(at {self.figures.kill_points} markers), {self.figures.seconds:.1f}s; "
            f"the finishing host: {resumes[-1] if resumes else 'no resume'}"
        )

    def check(self, kills: int) -> None:
        """Assert that every task ran exactly once, ``kills`` hosts were killed and the last
        host reported every task succeeded."""
        seed = f"(seed {self.seed})"
        assert not self.duplicated, f"tasks run more than once: {self.duplicated} {seed}"
        assert not self.missing, f"tasks never run: {self.missing} {seed}"
        assert self.figures.kills == kills, f"the batch ended after {self.figures.kills} kills"
        assert self.results and self.results[-1]["succeeded"] == self.tasks, seed


def crash_series(
    folder: Path, config: str, *, tasks: int, kills: int, seed: int | None = None
) -> CrashSeries:
    """Run ``tasks`` tasks with ``exechost run`` in ``folder`` on the configuration ``config``
    (the text of an ``exechost.toml``), SIGKILL ``kills`` hosts at random moments
    (:func:`crash_repeatedly`), each followed by ``exechost run --resume``, and read the marker."""
    seed = random.randrange(1 << 32) if seed is None else seed
    marker, taskfile = folder / "marker", folder / "tasks.json"
    (folder / "exechost.toml").write_text(config)
    keys = write_tasks(taskfile, tasks, marker)
    hosts = CliHosts(folder, taskfile, ["--config", "exechost.toml"])
    figures = crash_repeatedly(hosts, marker, tasks, kills, random.Random(seed))
    duplicated, missing = exactly_once(marker, keys)
    return CrashSeries(seed, tasks, figures, duplicated, missing, hosts.results())
