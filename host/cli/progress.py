"""The live progress bar ``exechost run`` draws on a terminal (rich's, imported only there: a run
whose output goes to a file or a pipe does not pay for it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import TracebackType

from exechost.cli.batch import Counts, Outcome
from exechost.cli.display import failure_line
from exechost.hookspecs import hookimpl
from exechost.states import TaskState
from rich.console import Console
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
    """A live bar of finished tasks with the counts, the rate and the time left.

    :param output: prints a finished task's output, or ``None`` (quiet).
    """

    def __init__(
        self, console: Console, total: int, output: Callable[[Outcome], None] | None = None
    ) -> None:
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
            redirect_stdout=False,  # the tasks' output goes where standard output is
            redirect_stderr=False,
        )
        self._task: TaskID = self._progress.add_task("", total=total)
        self._output = output
        self._counts = Counts(total=total, queued=total, running=0, succeeded=0, failed=0)

    @property
    def console(self) -> Console:
        """The console the bar is drawn on."""
        return self._progress.console

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

    def update(self, counts: Counts, finished: list[Outcome]) -> None:
        """Show the new counts; outputs and failures are printed above the bar as tasks end."""
        for outcome in finished:
            if self._output is not None:
                self._output(outcome)
            if outcome.info.error is not None:
                self._progress.console.print(failure_line(outcome), highlight=False)
        self._counts = counts
        self._progress.update(
            self._task, total=counts.total, completed=counts.finished, description=describe(counts)
        )

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
