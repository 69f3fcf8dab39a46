"""What ``exechost run`` shows: a live progress bar on a terminal, plain lines otherwise, a summary.

Everything goes through a :class:`rich.console.Console`, which knows whether it writes to a
terminal and honours ``NO_COLOR``.
"""

from __future__ import annotations

import dataclasses
import os
from types import TracebackType

from exechost.cli.batch import Batch, Counts, TaskRecord
from exechost.cli.text import key_text, shown
from exechost.executor import TERMINATED_ERROR
from exechost.hookspecs import hookimpl
from exechost.states import TaskState
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

SLOWEST_SHOWN = 5


class RateColumn(ProgressColumn):
    """Finished tasks per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")


def describe(counts: Counts) -> str:
    """The progress line's text: done, failed, running and queued."""
    return (
        f"[green]{counts.succeeded} done[/] [red]{counts.failed} failed[/] "
        f"[yellow]{counts.running} running[/] {counts.queued} queued"
    )


class ProgressDisplay:
    """A live bar of finished tasks with the counts, the rate and the time left."""

    def __init__(self, console: Console, total: int) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID = self._progress.add_task("", total=total)
        self._counts = Counts(total=total, queued=total, running=0, succeeded=0, failed=0)

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, counts: Counts, finished: list[TaskRecord]) -> None:
        """Show the new counts; failed tasks are printed above the bar as they fail."""
        for record in finished:
            if record.info.error is not None:
                self._progress.console.print(failure_line(record), highlight=False)
        self._counts = counts
        self._progress.update(self._task, completed=counts.finished, description=describe(counts))

    @hookimpl
    def executor_task_state_changed(self, state: TaskState) -> None:
        """Count a task as running as it starts: a backend that runs it inside the heartbeat
        (``sequential``) returns to the run only when it has ended. The bar redraws on its own."""
        if state is TaskState.RUNNING:
            counts = self._counts
            self._counts = dataclasses.replace(
                counts, queued=max(counts.queued - 1, 0), running=counts.running + 1
            )
            self._progress.update(self._task, description=describe(self._counts))


class LineDisplay:
    """One plain line per finished task, for logs and pipes."""

    def __init__(self, console: Console, total: int) -> None:
        self._console = console
        self._total = total

    def __enter__(self) -> LineDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, counts: Counts, finished: list[TaskRecord]) -> None:
        """Print a line for each task that finished."""
        width = len(str(self._total))
        done = counts.finished - len(finished)
        for record in finished:
            done += 1
            duration = record.info.duration
            took = "" if duration is None else f" in {duration:.2f}s"
            line = (
                f"[{done:>{width}}/{self._total}] {record.state.value:<7} "
                f"{escape(key_text(record.spec.key))} ({record.executor}){took}"
            )
            if record.info.error is not None:
                line += f": {escape(shown(record.info.error))}"
            self._console.print(line, highlight=False)


def log_location(log: str) -> str:
    """A log's location to show: an absolute path for a file, a URL as it is."""
    return log if "://" in log else os.path.abspath(log)


def failure_line(record: TaskRecord) -> str:
    """A failed task, its error and its log, as one line of markup."""
    log = f" (log: {escape(shown(log_location(record.info.log)))})" if record.info.log else ""
    return (
        f"[red]failed[/] {escape(key_text(record.spec.key))} on {record.executor}: "
        f"{escape(shown(record.info.error or 'failed'))}{log}"
    )


def print_summary(console: Console, batch: Batch, elapsed: float, interrupted: str | None) -> None:
    """The end of a run: the counts, the slowest tasks and every failed task with its log."""
    counts = batch.counts()
    headline = (
        f"{counts.total} task{'s' * (counts.total != 1)}: [green]{counts.succeeded} succeeded[/], "
        f"[red]{counts.failed} failed[/] in {elapsed:.1f}s"
    )
    if interrupted:
        stopped = sum(record.info.error == TERMINATED_ERROR for record in batch.failed())
        were = f", {stopped} running task{'s were' if stopped != 1 else ' was'} stopped"
        headline = f"[bold red]interrupted by {interrupted}[/]{were if stopped else ''}: {headline}"
    if counts.queued or counts.running:
        headline += f", {counts.queued + counts.running} not started"
    console.print(headline, highlight=False)
    slowest = batch.slowest(SLOWEST_SHOWN)
    if slowest and counts.total > 1:
        console.print("slowest tasks:")
        for record in slowest:
            console.print(
                f"  {record.info.duration or 0.0:8.2f}s  {escape(key_text(record.spec.key))} "
                f"({record.executor})",
                highlight=False,
            )
    failed = batch.failed()
    if failed:
        console.print("failed tasks:")
        for record in failed:
            console.print("  " + failure_line(record), highlight=False)
