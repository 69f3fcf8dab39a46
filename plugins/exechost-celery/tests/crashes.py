"""Killing hosts at random moments, resuming them, and checking each task ran exactly once.

Reusable by any durability test whose host is a process -- forked from the test
(:class:`ForkedHost`, which starts at once) or started as a program (``subprocess.Popen`` of
``exechost run --resume`` or of ``resume_host.py``) -- whose tasks append their key to one marker
file, and which appends JSON lines of figures to a figures file.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Host(Protocol):
    """A running host process: ``subprocess.Popen`` or :class:`ForkedHost`."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...


class ForkedHost:
    """``target(*args)`` run in a child forked from this process; its result is the exit status.

    The child has every module the test imported already, so it starts in milliseconds.
    """

    def __init__(self, target: Callable[..., int], *args: Any) -> None:
        pid = os.fork()
        if pid == 0:  # the child: never return into the test
            status = 70
            try:
                status = target(*args)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


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


@dataclass
class CrashFigures:
    """What a series of killed and resumed hosts did."""

    kills: int = 0
    kill_points: list[int] = field(default_factory=list)
    """How many tasks had written their marker at each kill."""
    hosts: list[dict[str, Any]] = field(default_factory=list)
    """The JSON figures the hosts wrote (a host killed before writing them wrote none)."""
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(int(host.get(name, 0)) for host in self.hosts)


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


def read_figures(path: Path) -> list[dict[str, Any]]:
    """The JSON objects written one per line to ``path`` (a line cut short by a kill skipped)."""
    found = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def crash_repeatedly(
    start_host: Callable[[], Host],
    marker: Path,
    figures_path: Path,
    total: int,
    kills: int,
    rng: random.Random,
    host_timeout: float = 60.0,
) -> CrashFigures:
    """Start hosts one after the other, SIGKILL ``kills`` of them, let the last one finish.

    Each host resumes where the one before died. A kill comes either at a random moment of the
    host's first half second (start, journal, adoption: one kill in five), or once a random
    number of further tasks has written its marker, spread so that the kills cover the batch.

    :raises AssertionError: when the last host exits non-zero or a host outlives ``host_timeout``.
    """
    figures = CrashFigures()
    started = time.monotonic()
    while figures.kills < kills:
        done = len(marker_counts(marker))
        left = kills - figures.kills
        target = done + rng.randint(1, max(1, 2 * (total - done) // (left + 1)))
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
    status = _wait(start_host(), host_timeout, "the last host finishing")
    assert status == 0, f"the last host exited with status {status}"
    figures.hosts = read_figures(figures_path)
    figures.seconds = time.monotonic() - started
    return figures
