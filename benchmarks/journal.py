"""What the journal costs: local throughput with it on and off, host overhead per task with it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import bookkeeping
import throughput
from exechost.journal import open_journal


def local_rates(tasks: int, parallelism: int, rounds: int) -> dict[bool, list[float]]:
    """The local executor's tasks per second with the journal off (False) and on (True), the two
    interleaved in each of ``rounds`` rounds."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for journal in (False, True):
            with tempfile.TemporaryDirectory(prefix="exechost-bench-") as scratch:
                log_dir = Path(scratch) / "logs"
                began = time.perf_counter()
                throughput.run_local_executor(
                    tasks,
                    parallelism,
                    log_dir,
                    journal=Path(scratch) / "journal.sqlite" if journal else False,
                )
                rates[journal].append(tasks / (time.perf_counter() - began))
    return rates


def seconds_per_task(tasks: int, journal: bool) -> float:
    """Host overhead per task (as :func:`bookkeeping.seconds_per_task`), journal on or off."""
    if not journal:
        return bookkeeping.seconds_per_task(tasks)
    with (
        tempfile.TemporaryDirectory(prefix="exechost-bench-") as scratch,
        open_journal(Path(scratch) / "journal.sqlite") as opened,
    ):
        return bookkeeping.seconds_per_task(tasks, journal=opened)
