"""Finding the processes a task left behind, for tests that promise none outlive their task."""

from __future__ import annotations

import os
import time


def processes_with(value: str) -> list[int]:
    """The live (not zombie) processes with an environment variable whose value is ``value``.

    Give each test's tasks a variable with a value unique to the test (``executor_config={"env":
    {"MARKER": value}}``); the processes they start inherit it, however deep the tree. Linux only:
    it reads ``/proc``.
    """
    wanted = value.encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                if stat.read().rpartition(b")")[2].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if any(variable.partition(b"=")[2] == wanted for variable in variables):
            found.append(int(entry.name))
    return found


def wait_until_gone(value: str, timeout: float) -> float:
    """Wait until no live process has ``value`` in its environment (see :func:`processes_with`);
    return how many seconds that took.

    :raises AssertionError: naming the survivors when some are still alive after ``timeout``.
    """
    began = time.monotonic()
    while survivors := processes_with(value):
        if time.monotonic() - began > timeout:
            raise AssertionError(
                f"processes {survivors} still alive after {timeout:g}s of waiting for them to end"
            )
        time.sleep(0.01)
    return time.monotonic() - began
