"""The HTML report: its size and the time to write it at 2,000 and 100,000 tasks, from spans and
from a journal, and what recording a run for it costs the host per task.

    python benchmarks/report_size.py            # 2,000 and 100,000 tasks (about half a minute)
    python benchmarks/report_size.py --quick    # 200 and 2,500 (a smoke test)

The spans are a simulated run (4 executors of 8 slots, log-normal durations, 2% failed with an
error and a log), so that the timeline has a shape; the journal is a real one, written through an
instant backend. Times are noisy on a shared machine: compare the ratios.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from exechost import hookimpl
from exechost.journal import open_journal, read_journal
from exechost.report import BARS_MAX, Recorder, Span, journal_spans, write_report
from exechost.states import TaskInfo, TaskState

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bookkeeping

EXECUTORS = ("local", "gpu", "celery", "dask")
SLOTS = 8


class NoOp:
    """An observer of the hooks the Recorder implements, doing nothing: pluggy's share."""

    @hookimpl
    def executor_task_queued(self) -> None:
        """Nothing."""

    @hookimpl
    def executor_task_state_changed(self) -> None:
        """Nothing."""


def simulated(tasks: int, seed: int = 1) -> list[Span]:
    """A run of ``tasks`` queued at once on :data:`EXECUTORS`, each running :data:`SLOTS` at a
    time, the next task in a free slot."""
    rng = random.Random(seed)
    free = {name: [0.0] * SLOTS for name in EXECUTORS}
    spans = []
    for number in range(tasks):
        executor = EXECUTORS[number % len(EXECUTORS)]
        slots = free[executor]
        slot = min(range(SLOTS), key=slots.__getitem__)
        started = slots[slot]
        ended = started + rng.lognormvariate(0, 1)
        slots[slot] = ended
        failed = rng.random() < 0.02
        info = TaskInfo(
            returncode=1 if failed else 0,
            error=f"exit status 1: Traceback ... ValueError: row {number}" if failed else None,
            log=f"/home/user/project/.exechost/logs/{executor}/task_{number}.log",
            started_at=1e9 + started,
            ended_at=1e9 + ended,
            attempt=1,
        )
        state = TaskState.FAILED if failed else TaskState.SUCCESS
        spans.append(Span(("etl", "step", number), executor, state, info, 1e9))
    return spans


def write_seconds(path: Path, spans: list[Span]) -> tuple[int, float]:
    began = time.perf_counter()
    size = write_report(path, spans)
    return size, time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args(argv)
    sizes = (200, BARS_MAX + 500) if args.quick else (2_000, 100_000)
    print(f"the HTML report (single bars up to {BARS_MAX} attempts, lanes binned beyond)")
    with tempfile.TemporaryDirectory(prefix="exechost-bench-") as scratch:
        folder = Path(scratch)
        print("1. simulated runs: 4 executors x 8 slots, 2% failed")
        for tasks in sizes:
            size, seconds = write_seconds(folder / "report.html", simulated(tasks))
            print(
                f"   {tasks:>7} tasks: {size / 1e3:8.1f} kB ({size / tasks:6.1f} bytes per task), "
                f"written in {seconds * 1e3:7.1f} ms"
            )
        print("2. from a journal (instant backend): read the run, then write the report")
        for tasks in sizes:
            path = folder / f"journal-{tasks}.sqlite"
            with open_journal(path) as journal:
                bookkeeping.seconds_per_task(tasks, journal=journal)
            journal, _ = read_journal(path)
            with journal:
                began = time.perf_counter()
                spans = journal_spans(journal, journal.runs(1)[0].id)
                read = time.perf_counter() - began
            size, seconds = write_seconds(folder / "report.html", spans)
            print(
                f"   {tasks:>7} tasks: read {read * 1e3:7.1f} ms, written {seconds * 1e3:7.1f} ms,"
                f" {size / 1e3:8.1f} kB"
            )
        tasks = sizes[-1]
        print(f"3. recording a run for its report, instant backend, {tasks} tasks, best of 3")
        without = min(bookkeeping.seconds_per_task(tasks) for _ in range(3))
        noop = min(bookkeeping.seconds_per_task(tasks, observers=[NoOp()]) for _ in range(3))
        recorded = min(
            bookkeeping.seconds_per_task(tasks, observers=[Recorder()]) for _ in range(3)
        )
        print(
            f"   {recorded * 1e6:.1f} us per task with the Recorder, {without * 1e6:.1f} us "
            f"without: +{(recorded - without) * 1e6:.1f} us ({recorded / without:.2f}x); "
            f"an observer doing nothing: +{(noop - without) * 1e6:.1f} us"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
