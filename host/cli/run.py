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
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from exechost.cli.batch import Batch
from exechost.cli.display import LineDisplay, ProgressDisplay, print_summary
from exechost.cli.taskfile import TaskSpec
from exechost.config import list_problems
from exechost.contract import check_task_options
from exechost.errors import InvalidTaskError
from exechost.multi import MultiExecutor
from rich.console import Console

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


def route_tasks(tasks: list[TaskSpec], executors: MultiExecutor) -> list[tuple[TaskSpec, str]]:
    """Each task and the name of the executor it routes to.

    :raises InvalidTaskError: listing every task that names an executor not configured, or has an
        ``executor_config`` its executor does not accept, with its place in the task file.
    """
    problems = []
    routes = []
    for spec in tasks:
        try:
            executor = executors.route(spec.executor, spec.queue)
            check_task_options(executor.capabilities, spec.key, spec.executor_config, executor.name)
            routes.append((spec, executor.name))
        except InvalidTaskError as exc:
            problems.append(f"{spec.place or f'task {spec.key!r}'}: {exc}")
    if problems:
        raise InvalidTaskError(list_problems("invalid tasks", problems))
    return routes


def run_batch(
    tasks: list[TaskSpec], executors: MultiExecutor, console: Console, *, json_output: bool
) -> int:
    """Run ``tasks`` to their end (or a stop signal) and print the summary; the exit status.

    :raises InvalidTaskError: before anything starts, for a task naming an unknown executor.
    """
    routes = route_tasks(tasks, executors)
    executors = executors.subset({name for _, name in routes})  # start only the ones used
    batch = Batch()
    display_class = ProgressDisplay if console.is_terminal else LineDisplay
    started = time.monotonic()
    interrupted: Interrupted | None = None
    with StopSignals().installed() as stop:
        try:
            executors.start()
            stop.check()
            with display_class(console, len(tasks)) as display:
                if isinstance(display, ProgressDisplay):  # the bar counts each start at once
                    for executor in executors.executors.values():
                        executor.hooks.register_observer(display)
                for spec, name in routes:
                    batch.add(spec, name)
                for spec, name in routes:
                    executors.queue_command(
                        spec.key,
                        spec.command,
                        spec.priority,
                        spec.queue,
                        spec.executor_config,
                        executor=name,
                    )
                display.update(batch.counts(executors.running), [])
                while executors.queued_tasks or executors.running:
                    executors.heartbeat()
                    finished = batch.apply(executors.get_event_buffer())
                    display.update(batch.counts(executors.running), finished)
                    with stop.raising():
                        executors.wait(POLL_INTERVAL)
                executors.end()
                finished = batch.apply(executors.get_event_buffer())
                display.update(batch.counts(executors.running), finished)
        except (Interrupted, BrokenPipeError) as exc:  # a closed stdout stops as SIGPIPE would
            interrupted = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGPIPE)
            for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
                signal.signal(signum, signal.SIG_IGN)
            executors.terminate()
            batch.apply(executors.get_event_buffer())
    elapsed = time.monotonic() - started
    counts = batch.counts()
    status = 1 if counts.failed else 0
    if interrupted is not None:
        status = 128 + interrupted.signum
    print_summary(console, batch, elapsed, None if interrupted is None else str(interrupted))
    if json_output:
        result = {
            "tasks": batch.as_json(),
            "succeeded": counts.succeeded,
            "failed": counts.failed,
            "interrupted": None if interrupted is None else str(interrupted),
            "exit_status": status,
        }
        print(json.dumps(result, indent=2))
    return status
