"""What ``exechost run`` shows: a live progress bar on a terminal, plain lines otherwise, a summary.

Everything goes through a :class:`rich.console.Console`, which knows whether it writes to a
terminal and honours ``NO_COLOR``.
"""

from __future__ import annotations

import os
from types import TracebackType

from exechost.cli.batch import Batch, Counts, TaskRecord, key_text
from exechost.cli.resume import ResumeOutcome, Unadopted
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
MAY_HAVE_RUN_SHOWN = 20
"""The most tasks the summary names whose earlier attempt may have run (the JSON has all)."""


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
        self._progress.update(self._task, completed=counts.finished, description=describe(counts))


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
                line += f": {escape(record.info.error)}"
            self._console.print(line, highlight=False)


def log_location(log: str) -> str:
    """A log's location to show: an absolute path for a file, a URL as it is."""
    return log if "://" in log else os.path.abspath(log)


def failure_line(record: TaskRecord) -> str:
    """A failed task, its error and its log, as one line of markup."""
    log = f" (log: {escape(log_location(record.info.log))})" if record.info.log else ""
    return (
        f"[red]failed[/] {escape(key_text(record.spec.key))} on {record.executor}: "
        f"{escape(record.info.error or 'failed')}{log}"
    )


def print_summary(
    console: Console,
    batch: Batch,
    elapsed: float,
    interrupted: str | None,
    resumed: ResumeOutcome | None = None,
) -> None:
    """The end of a run: the counts, what resuming did, the slowest tasks and every failed task
    with its log."""
    counts = batch.counts()
    headline = (
        f"{counts.total} task{'s' * (counts.total != 1)}: [green]{counts.succeeded} succeeded[/], "
        f"[red]{counts.failed} failed[/] in {elapsed:.1f}s"
    )
    if interrupted:
        headline = (
            f"[bold red]interrupted by {interrupted}[/], running tasks were stopped: {headline}"
        )
    if counts.queued or counts.running:
        headline += f", {counts.queued + counts.running} not started"
    console.print(headline, highlight=False)
    if resumed is not None:
        print_resumed(console, resumed)
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


def print_resumed(console: Console, resumed: ResumeOutcome) -> None:
    """How a resumed run began, and the tasks whose earlier attempt may have run."""
    console.print(
        f"resumed run {resumed.previous}: {resumed.skipped} skipped (succeeded before), "
        f"{resumed.adopted} adopted, {resumed.rerun} run again"
        + (f" ({resumed.changed} with a changed command)" if resumed.changed else ""),
        highlight=False,
    )
    if resumed.may_have_run:
        what = "run again" if resumed.policy is Unadopted.RERUN else "failed, not run again"
        console.print(
            f"[yellow]{len(resumed.may_have_run)} task(s) had an unfinished attempt no backend "
            f"could adopt; it may have run ({what}, --unadopted {resumed.policy.value}):[/]",
            highlight=False,
        )
        for attempt in resumed.may_have_run[:MAY_HAVE_RUN_SHOWN]:
            console.print(
                f"  {escape(key_text(attempt.key))} (attempt {attempt.attempt_id}"
                f"{f', external id {escape(attempt.external_id)}' if attempt.external_id else ''})",
                highlight=False,
            )
        if len(resumed.may_have_run) > MAY_HAVE_RUN_SHOWN:
            console.print(f"  ... and {len(resumed.may_have_run) - MAY_HAVE_RUN_SHOWN} more")
