"""``exechost run``: queue a batch on the configured executors, show progress, sum it up.

Ctrl-C, SIGTERM and SIGHUP stop the run: the executors are terminated (their backends kill what
runs), and the partial summary is printed. The first signal only raises while the run waits
between heartbeats; elsewhere it sets a flag checked after each step, so that a task is never
left half-started (spawned but not yet watched by its backend). A second signal raises at once:
it stops a run that is inside a long step, such as a task of the ``sequential`` executor, which
runs inside the heartbeat.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from exechost.cli.batch import Batch, Outcome
from exechost.cli.display import (
    SLOWEST_SHOWN,
    GroupedOutput,
    LineDisplay,
    print_summary,
)
from exechost.cli.resume import ResumeError, ResumeOutcome, Unadopted, plan_resume, resume
from exechost.cli.taskfile import TaskSpec
from exechost.config import list_problems
from exechost.errors import InvalidTaskError
from exechost.multi import MultiExecutor
from exechost.tasks import QueuedTask, TaskKey
from exechost.text import shown
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from exechost.cli.progress import ProgressDisplay

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_INTERVAL = 0.2
"""The longest the run waits for a report before heartbeating again."""


class Interrupted(BaseException):
    """A stop signal arrived; like KeyboardInterrupt, not an Exception that code may swallow."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """Turns the stop signals into :class:`Interrupted`, raised only where it is safe."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raise_now = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        again = self.received is not None
        if not again:
            self.received = signum
        if self._raise_now or again:
            self._raise_now = False
            raise Interrupted(self.received or signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop signal has arrived."""
        if self.received is not None:
            raise Interrupted(self.received)

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Within the block, a stop signal raises at once."""
        self.check()
        self._raise_now = True
        try:
            yield
        finally:
            self._raise_now = False

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle the stop signals within the block; restore the previous handlers after it."""
        previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def route_tasks(tasks: list[TaskSpec], executors: MultiExecutor) -> list[tuple[str, QueuedTask]]:
    """Route and check each task, once: the name of its executor and the task as that executor
    will queue it (:meth:`exechost.Executor.prepare_task`), in the order of ``tasks``.

    :raises InvalidTaskError: listing every task that names an executor not configured, or that
        its executor refuses (an ``executor_config`` it does not accept, a bad retry policy),
        with its place in the task file.
    """
    problems = []
    routes = []
    for spec in tasks:
        try:
            executor = executors.route(spec.executor, spec.queue)
            task = executor.prepare_task(
                spec.key,
                spec.command,
                spec.priority,
                spec.queue,
                spec.executor_config,
                retries=spec.retries,
                retry_delay=spec.retry_delay,
            )
            routes.append((executor.name, task))
        except InvalidTaskError as exc:
            problems.append(f"{spec.place or f'task {spec.key!r}'}: {exc}")
    if problems:
        raise InvalidTaskError(list_problems("invalid tasks", problems))
    return routes


def collect(executors: MultiExecutor, batch: Batch) -> list[Outcome]:
    """Take each executor's new events into ``batch``; the tasks that finished."""
    finished = []
    for name, executor in executors.executors.items():
        finished += batch.apply(name, executor.get_event_buffer())
    return finished


def log_folders(executors: MultiExecutor) -> list[str]:
    """The folders the executors' backends write logs in (those whose backend has a
    ``log_dir``)."""
    folders = (getattr(e.backend, "log_dir", None) for e in executors.executors.values())
    return list(dict.fromkeys(str(folder) for folder in folders if folder is not None))


def run_batch(
    tasks: list[TaskSpec],
    executors: MultiExecutor,
    console: Console,
    *,
    json_output: bool,
    grouped: bool = False,
    temporary_logs: str | None = None,
    taskfile: str | None = None,
    resume_policy: Unadopted | None = None,
    report: str | None = None,
) -> int:
    """Run ``tasks`` to their end (or a stop signal) and print the summary; the exit status.

    :param grouped: print each task's output whole when it ends, on standard output.
    :param temporary_logs: the folder made for the logs of this run, removed at the end if every
        task succeeded.
    :param taskfile: the task file's absolute path, under which the journal records the run.
    :param resume_policy: resume the journal's last run of ``taskfile`` (see
        :mod:`exechost.cli.resume`), treating unfinished attempts no backend adopts so.
    :param report: where to write the run's HTML report (see :mod:`exechost.report`), at its
        end, interrupted or not.
    :raises InvalidTaskError: before anything starts, for a task naming an unknown executor.
    :raises ResumeError: when resuming and the journal holds no run of ``taskfile``.
    """
    routes = route_tasks(tasks, executors)
    journal = executors.journal
    by_key: dict[TaskKey, TaskSpec] = {}
    plan = None
    if resume_policy is not None:
        if journal is None or taskfile is None:
            raise ResumeError("--resume needs a task file and the journal (journal = false is set)")
        by_key = {spec.key: spec for spec in tasks}
        plan = plan_resume(journal, taskfile, by_key)
    used = {name for name, _ in routes} | set(plan.unfinished if plan else ())
    executors = executors.subset(used)  # start only the ones used
    if journal is not None:
        journal.begin_run(taskfile, resumed_from=None if plan is None else plan.previous.id)
    resumed: ResumeOutcome | None = None
    not_queued: set[TaskKey] = set()
    batch = Batch(keep_outcomes=json_output, slowest=SLOWEST_SHOWN)
    output: Callable[[Outcome], None] | None = None
    if grouped:  # through the bar's console when both are on the same terminal
        shared = console.is_terminal and sys.stdout.isatty()
        output = GroupedOutput(console if shared else None).show
    display_class: type[LineDisplay | ProgressDisplay] = LineDisplay
    if console.is_terminal:
        from exechost.cli.progress import ProgressDisplay  # rich's bar: only on a terminal

        display_class = ProgressDisplay
    recorder = None
    if report is not None:
        from exechost.report import Recorder  # only with --report

        recorder = Recorder()
    if recorder is not None:
        for executor in executors.executors.values():
            executor.hooks.register_observer(recorder)
    started = time.monotonic()
    interrupted: Interrupted | None = None
    with StopSignals().installed() as stop:
        try:
            executors.start()
            stop.check()
            with display_class(console, len(tasks), output) as display:
                if console.is_terminal:  # the bar counts each start at once
                    for executor in executors.executors.values():
                        executor.hooks.register_observer(display)
                for spec in tasks:
                    batch.add(spec.key)
                if plan is not None and resume_policy is not None:
                    resumed, not_queued = resume(plan, executors, batch, by_key, resume_policy)
                for name, task in routes:
                    if task.key not in not_queued:
                        executors.queue_task(name, task)
                display.update(batch.counts(len(executors.running)), [])
                while not executors.idle:
                    executors.heartbeat()
                    finished = collect(executors, batch)
                    display.update(batch.counts(len(executors.running)), finished)
                    with stop.raising():
                        executors.wait(POLL_INTERVAL)
                executors.end()
                finished = collect(executors, batch)
                display.update(batch.counts(), finished)
        except (Interrupted, BrokenPipeError) as exc:  # a closed stdout stops as SIGPIPE would
            interrupted = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGPIPE)
            for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
                signal.signal(signum, signal.SIG_IGN)
            executors.terminate()
            collect(executors, batch)
    elapsed = time.monotonic() - started
    counts = batch.counts()
    status = 1 if counts.failed else 0
    if interrupted is not None:
        status = 128 + interrupted.signum
    remove_logs = temporary_logs if status == 0 else None
    folders = log_folders(executors)
    logs: str | None = f"logs: {', '.join(folders)}" if folders else None
    if remove_logs is not None:
        logs = "logs: removed, every task succeeded (--log-dir DIR keeps them)"
    summary = str(interrupted) if interrupted is not None else None
    print_summary(console, batch, elapsed, summary, logs, resumed)
    if report is not None and recorder is not None:
        details = [("task file", taskfile or "(none)"), ("exit status", str(status))]
        if journal is not None and journal.run_id is not None:
            details.insert(0, ("run", f"{journal.run_id} in {journal.path}"))
        if summary is not None:
            details.append(("interrupted by", summary))
        from exechost.report import write_report

        write_report(report, recorder.spans(), details=details)
        console.print(f"report: {escape(shown(report))}", highlight=False)
    if remove_logs is not None:
        shutil.rmtree(remove_logs, ignore_errors=True)
    if json_output:
        result: dict[str, object] = {
            "tasks": batch.as_json(),
            "succeeded": counts.succeeded,
            "failed": counts.failed,
            "interrupted": None if interrupted is None else str(interrupted),
            "exit_status": status,
        }
        if resumed is not None:
            result["resume"] = resumed.as_json()
        print(json.dumps(result, indent=2))
    return status
