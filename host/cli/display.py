"""What ``exechost run`` shows: plain lines when not on a terminal (the live bar on one is
:mod:`exechost.cli.progress`), the output of each task when it ends (grouped output), and a summary.

The bar and the summary go through a :class:`rich.console.Console`, which knows whether it writes
to a terminal and honours ``NO_COLOR``; the plain lines and the tasks' output are written as
they are, after :func:`shown` has made their control characters visible. The cost of each
update is that of the tasks that finished since the last one, never that of the whole batch.
"""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import IO

from exechost.cli.batch import Batch, Counts, Outcome
from exechost.cli.resume import ResumeOutcome, Unadopted
from exechost.executor import TERMINATED_ERROR
from exechost.text import key_text, shown
from rich.console import Console
from rich.markup import escape

SLOWEST_SHOWN = 5
FAILED_SHOWN = 50
"""The failed tasks the summary lists: a run of 100,000 failures must still end at once."""
OUTPUT_CHUNK = 1 << 16
"""Bytes of a task's log read at a time when its output is printed."""


def log_location(log: str) -> str:
    """A log's location to show: an absolute path for a file, a URL as it is."""
    return log if "://" in log else os.path.abspath(log)


class GroupedOutput:
    """Prints each finished task's output whole, from its log, so that outputs never mix.

    :param console: print through this console (above a live progress bar on the same terminal);
        ``None`` to write to standard output as it is.
    """

    def __init__(self, console: Console | None = None) -> None:
        self._console = console

    def show(self, outcome: Outcome) -> None:
        """Print the output of ``outcome``'s task, if its log is a file here."""
        log = outcome.info.log
        if log is None or "://" in log:
            return
        try:
            file = open(log, "rb")  # noqa: SIM115 - closed below; read in chunks
        except OSError:
            return
        write = self._write
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        last = "\n"
        with file:
            while chunk := file.read(OUTPUT_CHUNK):
                text = shown(decoder.decode(chunk), keep_newlines=True)
                if text:
                    write(text)
                    last = text[-1]
        tail = shown(decoder.decode(b"", final=True), keep_newlines=True)
        if tail:
            write(tail)
            last = tail[-1]
        if last != "\n":
            write("\n")
        if self._console is None:
            sys.stdout.flush()

    def _write(self, text: str) -> None:
        if self._console is None:
            sys.stdout.write(text)
        else:
            self._console.print(text, end="", markup=False, highlight=False, soft_wrap=True)


class LineDisplay:
    """One plain line per finished task, for logs and pipes.

    :param output: prints a finished task's output, or ``None`` (quiet).
    """

    def __init__(
        self, console: Console, total: int, output: Callable[[Outcome], None] | None = None
    ) -> None:
        self._file: IO[str] = console.file
        self._total = total
        self._output = output

    def __enter__(self) -> LineDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, counts: Counts, finished: list[Outcome]) -> None:
        """Print a line for each task that finished (after its output, if shown)."""
        if not finished:
            return
        total = max(self._total, counts.total)
        width = len(str(total))
        done = counts.finished - len(finished)
        lines = []
        for outcome in finished:
            done += 1
            if self._output is not None:
                self._output(outcome)
            duration = outcome.info.duration
            took = "" if duration is None else f" in {duration:.2f}s"
            line = (
                f"[{done:>{width}}/{total}] {outcome.state.value:<7} "
                f"{shown(key_text(outcome.key))} ({outcome.executor}){took}"
            )
            if outcome.info.error is not None:
                line += f": {shown(outcome.info.error)}"
            if self._output is not None:  # one task's output, then its line
                self._file.write(line + "\n")
                self._file.flush()
            else:
                lines.append(line + "\n")
        if lines:
            self._file.write("".join(lines))
            self._file.flush()


def failure_line(outcome: Outcome) -> str:
    """A failed task, its error and its log, as one line of markup."""
    log = outcome.info.log
    where = f" (log: {escape(shown(log_location(log)))})" if log else ""
    return (
        f"[red]failed[/] {escape(shown(key_text(outcome.key)))} on {outcome.executor}: "
        f"{escape(shown(outcome.info.error or 'failed'))}{where}"
    )


def print_summary(
    console: Console,
    batch: Batch,
    elapsed: float,
    interrupted: str | None,
    logs: str | None = None,
    resumed: ResumeOutcome | None = None,
) -> None:
    """The end of a run: the counts, what resuming did, the slowest tasks, the first
    :data:`FAILED_SHOWN` failed tasks with their logs, and where the logs are (``logs``, a
    sentence)."""
    counts = batch.counts()
    headline = (
        f"{counts.total} task{'s' * (counts.total != 1)}: [green]{counts.succeeded} succeeded[/], "
        f"[red]{counts.failed} failed[/] in {elapsed:.1f}s"
    )
    if interrupted:
        stopped = sum(outcome.info.error == TERMINATED_ERROR for outcome in batch.failures)
        were = f", {stopped} running task{'s were' if stopped != 1 else ' was'} stopped"
        headline = f"[bold red]interrupted by {interrupted}[/]{were if stopped else ''}: {headline}"
    if counts.queued or counts.running:
        headline += f", {counts.queued + counts.running} not started"
    console.print(headline, highlight=False)
    if resumed is not None:
        print_resumed(console, resumed)
    slowest = batch.slowest()
    if slowest and counts.total > 1:
        console.print("slowest tasks:")
        for outcome in slowest:
            console.print(
                f"  {outcome.info.duration or 0.0:8.2f}s  {escape(shown(key_text(outcome.key)))} "
                f"({outcome.executor})",
                highlight=False,
            )
    failures = batch.failures
    if failures:
        console.print("failed tasks:")
        for outcome in failures[:FAILED_SHOWN]:
            console.print("  " + failure_line(outcome), highlight=False)
        if len(failures) > FAILED_SHOWN:
            console.print(
                f"  ... and {len(failures) - FAILED_SHOWN} more (each is in the progress lines "
                "and in --json)",
                highlight=False,
            )
    if logs:
        console.print(escape(shown(logs)), highlight=False)


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
        for attempt in resumed.may_have_run[:FAILED_SHOWN]:
            external = attempt.external_id
            where = f", external id {escape(shown(external))}" if external else ""
            console.print(
                f"  {escape(shown(key_text(attempt.key)))} (attempt {attempt.attempt_id}{where})",
                highlight=False,
            )
        if len(resumed.may_have_run) > FAILED_SHOWN:
            console.print(f"  ... and {len(resumed.may_have_run) - FAILED_SHOWN} more")
