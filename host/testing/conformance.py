"""The executor conformance suite: does a backend honour the contract, driven by the real host?

Subclass :class:`ExecutorConformance` in a test module of your plugin, name it ``Test...`` and set
:attr:`~ExecutorConformance.executor`; override the fixtures and attributes below where your
backend needs it. Every test drives the backend through :func:`exechost.load_executor`, with real
commands (POSIX ``sh``, ``true``, ``false``, ``sleep``) that leave what they observed in files of
:meth:`~ExecutorConformance.scratch_dir`, so that a limit or an order is observed, not trusted.

Tests of a promise the backend's :class:`~exechost.hookspecs.Capabilities` does not make are
skipped, with the reason. Each check is hermetic (see :attr:`~ExecutorConformance.use_environment`)
and has a deadline (:attr:`~ExecutorConformance.check_timeout`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import reprlib
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

import pytest
from exechost.api import load_executor
from exechost.config import Config, PluginSettings, load_config
from exechost.errors import ExecutorStateError, InvalidTaskError, SettingsError
from exechost.events import EventBatch
from exechost.executor import CANCELLED_ERROR, Executor, Phase
from exechost.hookspecs import Capabilities, hookimpl
from exechost.journal import open_journal
from exechost.states import Event, TaskState
from exechost.tasks import TaskKey
from exechost.testing.recorder import Recorder

MakeExecutor = Callable[..., Executor]
"""``make_executor(parallelism=None, recorder=None)``: a new, not yet started executor."""

# Each task below is ``sh -c SCRIPT sh ARG...``: arguments travel as $1, $2, ... and never need
# quoting. They use only POSIX sh and utilities, so that they run on any worker.
_COUNT_NEIGHBOURS = 'touch "$1/$2"; ls "$1" | wc -l > "$3/$2"; sleep "$4"; rm "$1/$2"'
"""Mark itself live in $1, write how many tasks are live to $3/$2, stay $4 s, unmark itself."""
_APPEND_ARG = 'echo "$2" >> "$1"'
_EXIT_WITH = 'exit "$1"'
_APPEND_ARG_THEN_EXIT = 'echo "$2" >> "$1"; exit "$3"'
_WRITE_ENV = 'printf %s "${CONFORMANCE_PROBE-unset}" > "$1"'
_WRITE_CWD = 'pwd -P > "$1"'
_SLEEP = 'sleep "$1"'
_SLEEP_THEN_WRITE = 'sleep "$1"; echo done > "$2"'
_MARK_RUN = 'echo "$2" >> "$1/started"; sleep "$3"; echo "$2" >> "$1/finished"'
"""Append its name $2 to $1/started, stay $3 s, append it to $1/finished: runs are counted."""
_STRAGGLER = '(sleep "$2"; echo finished > "$3") & echo started > "$1"; wait'
"""Leave a background child that writes $3 after $2 s, announce the start in $1, wait for it:
a backend that kills the command but not what it started fails the cancellation test."""

_NOT_RUNNING_HERE = "which is not running here"
"""Part of the host's warning about a report for a key it does not run."""

HOSTILE_KEYS: tuple[TaskKey, ...] = (
    "a/b",
    "/absolute",
    "..",
    "../escape",
    ("dag", "../../up", 1),
    "ünïcödé ключ 鍵 \u2603",
    "k" * 5000,
)
"""Keys a backend must carry unharmed: a backend that names a file or a path after one fails."""


def hermetic_config(cwd: Path) -> Config:
    """The configuration of a hermetic check: no file, no ``EXECHOST_*`` variable, no observer
    plugin loaded from the installed distributions. ``cwd`` must hold no configuration file."""
    config = load_config(environ={}, cwd=cwd)
    return dataclasses.replace(config, plugins=PluginSettings(autoload=False))


def unreported(executors: Sequence[Executor]) -> list[str]:
    """The tasks the ``executors`` still run or hold queued, their keys shortened by ``reprlib``."""
    return [
        reprlib.repr(key)
        for executor in executors
        for key in [*dict(executor.running), *dict(executor.queued_tasks)]
    ]


def sh(script: str, *args: str | Path | float) -> list[str]:
    """The argv that runs ``script`` with POSIX ``sh``, ``args`` as its ``$1``, ``$2``, ..."""
    return ["sh", "-c", script, "sh", *(str(arg) for arg in args)]


class ExecutorConformance:
    """The contract every executor backend keeps, as pytest tests.

    Subclass it in a module pytest collects, with a name starting with ``Test``::

        class TestMyExecutor(ExecutorConformance):
            executor = "my-executor"

            @pytest.fixture
            def executor_settings(self, broker_url):
                return {"broker_url": broker_url}

    Overridable class attributes: :attr:`executor`, :attr:`parallelism`, :attr:`timeout_scale`,
    :attr:`bulk_tasks`, :attr:`bulk_parallelism`. Overridable fixtures:
    :meth:`executor_settings`, :meth:`scratch_dir`.
    """

    executor: ClassVar[str | type[Any]]
    """The executor under test: an installed executor's name or a backend class. Required."""

    parallelism: ClassVar[int] = 2
    """The parallelism of the tests that check a limit; at least 2 for a meaningful check."""

    timeout_scale: ClassVar[float] = 1.0
    """Multiplies every duration and deadline of the suite, for engines slow to start a task."""

    bulk_tasks: ClassVar[int] = 2000
    """How many tasks the no-event-lost test runs."""

    bulk_parallelism: ClassVar[int] = 8
    """The parallelism of the no-event-lost test."""

    crash_tasks: ClassVar[int] = 6
    """How many tasks the host killed in the crash test has running when it dies."""

    check_timeout: ClassVar[float] = 300.0
    """Seconds (scaled) a check may take; past it, the check fails naming the tasks the backend
    never reported, and the executors are terminated."""

    use_environment: ClassVar[bool] = False
    """Whether the checks read the configuration as an application would: the ``exechost.toml``
    of the working directory, ``EXECHOST_*`` variables, installed observer plugins. By default
    each check runs with none of them, in a temporary working directory of its own."""

    # -- fixtures a plugin overrides ---------------------------------------------------------

    @pytest.fixture
    def executor_settings(self) -> Mapping[str, Any]:
        """The settings every executor of the suite is made with (default: none)."""
        return {}

    @pytest.fixture
    def scratch_dir(self, tmp_path: Path) -> Path:
        """A directory the tasks write into and the tests read back; it must be shared with the
        machines tasks run on (override it for a backend that ``runs_elsewhere``)."""
        path = tmp_path / "scratch"
        path.mkdir()
        return path

    # -- fixtures of the suite ---------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def exechost_config(
        self, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
    ) -> Config | None:
        """The configuration of the check's executors: ``None`` (the application's) with
        :attr:`use_environment`, else :func:`hermetic_config`, with no ``EXECHOST_*`` variable
        in the environment and an empty temporary working directory."""
        if self.use_environment:
            return None
        for name in os.environ:
            if name.startswith("EXECHOST_"):
                monkeypatch.delenv(name)
        workdir = tmp_path_factory.mktemp("workdir")
        monkeypatch.chdir(workdir)
        return hermetic_config(workdir)

    @pytest.fixture
    def executors_made(self) -> list[Executor]:
        """Every executor :meth:`make_executor` made in the check, in order."""
        return []

    @pytest.fixture(autouse=True)
    def check_deadline(self, executors_made: list[Executor]) -> Iterator[None]:
        """Fail the check once :attr:`check_timeout` (scaled) seconds pass, naming the tasks the
        executors still run or hold queued (``SIGALRM``; no deadline outside the main thread)."""
        seconds = self.seconds(self.check_timeout)

        def expire(signum: int, frame: FrameType | None) -> None:
            pytest.fail(
                f"the check did not finish within {seconds:.0f} s; tasks never reported: "
                f"{', '.join(unreported(executors_made)) or 'none'}",
                pytrace=False,
            )

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @pytest.fixture
    def make_executor(
        self,
        executor_settings: Mapping[str, Any],
        exechost_config: Config | None,
        executors_made: list[Executor],
    ) -> Iterator[MakeExecutor]:
        """A factory of executors of :attr:`executor`; any left started is terminated after the
        test, so that a failing test leaves nothing running."""

        def make(parallelism: int | None = None, recorder: Recorder | None = None) -> Executor:
            plugins = [] if recorder is None else [recorder]
            executor = load_executor(
                self.executor,
                parallelism=parallelism,
                plugins=plugins,
                config=exechost_config,
                **executor_settings,
            )
            executors_made.append(executor)
            return executor

        yield make
        for executor in executors_made:
            if executor.phase is Phase.STARTED:
                executor.terminate()

    @pytest.fixture
    def capabilities(self, make_executor: MakeExecutor) -> Capabilities:
        """What the backend under test declares."""
        return make_executor().capabilities

    # -- helpers -----------------------------------------------------------------------------

    def seconds(self, base: float) -> float:
        """``base`` seconds, scaled by :attr:`timeout_scale`."""
        return base * self.timeout_scale

    def require(self, capabilities: Capabilities, claim: str) -> None:
        """Skip the test unless the backend claims ``claim`` (a capability or an option key)."""
        if claim in {field.name for field in dataclasses.fields(Capabilities)}:
            if not getattr(capabilities, claim):
                pytest.skip(f"executor {self.executor!r} does not claim {claim}")
        elif not capabilities.accepts_option(claim):
            pytest.skip(
                f"executor {self.executor!r} does not declare the executor_config key {claim!r}"
            )

    def drive(
        self, executor: Executor, done: Callable[[], bool], what: str, timeout: float
    ) -> None:
        """Heartbeat ``executor`` until ``done()``; fail if ``timeout`` (scaled) seconds pass."""
        deadline = time.monotonic() + self.seconds(timeout)
        while not done():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {self.seconds(timeout):.0f} s; {executor!r}")
            executor.heartbeat()
            executor.wait(0.05)

    def run_to_end(
        self,
        executor: Executor,
        tasks: Mapping[TaskKey, Sequence[str]],
        **queue_options: Any,
    ) -> EventBatch:
        """Start ``executor``, queue ``tasks`` in order, end it and return its event buffer."""
        with executor:
            for key, command in tasks.items():
                executor.queue_command(key, command, **queue_options)
        return executor.get_event_buffer()

    def eventually(self, done: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Whether ``done()`` becomes true within ``timeout`` (scaled) seconds.

        For what observers see: the host notifies them of a report in the thread that made it,
        after the report freed the task's slot, so a notification can trail ``end()`` a little.
        """
        deadline = time.monotonic() + self.seconds(timeout)
        while not done():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def assert_finished_once(self, recorder: Recorder, keys: Sequence[TaskKey]) -> None:
        """Every key got exactly one terminal report and no other key got any."""
        self.eventually(lambda: set(keys) <= set(recorder.finished()))
        finished = recorder.finished()
        twice = {key: len(ends) for key, ends in finished.items() if len(ends) > 1}
        assert not twice, f"tasks reported finished more than once: {twice}"
        missing = set(keys) - set(finished)
        assert not missing, f"tasks never reported finished: {sorted(map(repr, missing))}"
        strangers = set(finished) - set(keys)
        assert not strangers, f"finished reports for keys never queued: {strangers}"

    # -- the contract ------------------------------------------------------------------------

    def test_lifecycle_order(
        self, make_executor: MakeExecutor, caplog: pytest.LogCaptureFixture
    ) -> None:
        """start first and once, one execute_async per task, every report before end, end last."""
        caplog.set_level(logging.DEBUG, logger="exechost")
        recorder = Recorder()
        keys = ["first", "second", "third"]
        events = self.run_to_end(make_executor(recorder=recorder), {key: ["true"] for key in keys})
        calls = recorder.calls
        hooks = [call for call in calls if call.startswith("executor_")]
        assert hooks[0] == "executor_start", calls
        assert hooks[-1] == "executor_end", calls
        assert hooks.count("executor_start") == 1, calls
        assert hooks.count("executor_end") == 1, calls
        assert "executor_terminate" not in hooks, calls
        assert hooks.count("executor_execute_async") == len(keys), calls
        late = [r.getMessage() for r in caplog.records if _NOT_RUNNING_HERE in r.getMessage()]
        assert not late, f"reports for tasks that had ended, or after end: {late}"
        self.assert_finished_once(recorder, keys)
        for key in keys:
            history = [state for changed, state, _ in recorder.changes if changed == key]
            assert history[0] is TaskState.RUNNING, (key, history)
            assert history[-1] is TaskState.SUCCESS, (key, history)
            assert events[key].state is TaskState.SUCCESS, (key, events[key])

    def test_parallelism_never_exceeded(
        self, make_executor: MakeExecutor, scratch_dir: Path
    ) -> None:
        """Tasks count the tasks live beside them; none may see more than ``parallelism``."""
        limit = self.parallelism
        live, seen = scratch_dir / "live", scratch_dir / "seen"
        live.mkdir()
        seen.mkdir()
        keys = [f"task{index}" for index in range(3 * limit + 1)]
        recorder = Recorder()
        executor = make_executor(parallelism=limit, recorder=recorder)
        tasks: dict[TaskKey, list[str]] = {
            key: sh(_COUNT_NEIGHBOURS, live, key, seen, self.seconds(0.3)) for key in keys
        }
        events = self.run_to_end(executor, tasks)
        assert all(events[key].state is TaskState.SUCCESS for key in keys), dict(events)
        counts = {key: int((seen / key).read_text()) for key in keys}
        assert max(counts.values()) <= limit, f"parallelism {limit} exceeded: {counts}"
        assert recorder.most_running <= limit

    def test_priority_order(
        self, make_executor: MakeExecutor, capabilities: Capabilities, scratch_dir: Path
    ) -> None:
        """One task at a time: highest priority first, first queued first among equals."""
        self.require(capabilities, "ordered_start")
        order = scratch_dir / "order"
        queued = [("low", 1), ("high", 5), ("middle", 3), ("high-too", 5), ("low-too", 1)]
        executor = make_executor(parallelism=1)
        with executor:
            for key, priority in queued:
                executor.queue_command(key, sh(_APPEND_ARG, order, key), priority=priority)
        ran = order.read_text().split()
        assert ran == ["high", "high-too", "middle", "low", "low-too"]

    def test_success_and_failure_report_exit_codes(self, make_executor: MakeExecutor) -> None:
        """Exit status 0 is success with returncode 0; any other is failed with it and an error."""
        tasks: dict[TaskKey, list[str]] = {
            "zero": sh(_EXIT_WITH, 0),
            ("dag", "three", 1): sh(_EXIT_WITH, 3),
            "one": ["false"],
        }
        events = self.run_to_end(make_executor(), tasks)
        zero = events["zero"]
        assert zero.state is TaskState.SUCCESS, zero
        assert zero.info.returncode == 0, zero
        assert zero.info.error is None, zero
        for key, code in ((("dag", "three", 1), 3), ("one", 1)):
            event = events[key]
            assert event.state is TaskState.FAILED, (key, event)
            assert event.info.returncode == code, (key, event)
            assert event.info.error, (key, event)
        for event in events.values():
            assert event.info.started_at is not None and event.info.ended_at is not None, event
            assert event.info.ended_at >= event.info.started_at, event

    def test_missing_command_fails_without_harm(self, make_executor: MakeExecutor) -> None:
        """A command that does not exist fails with an error; the backend goes on."""
        tasks: dict[TaskKey, list[str]] = {
            "missing": ["/nonexistent/exechost-conformance-no-such-command"],
            "after": ["true"],
        }
        events = self.run_to_end(make_executor(parallelism=1), tasks)
        missing = events["missing"]
        assert missing.state is TaskState.FAILED, missing
        assert missing.info.error, missing
        assert events["after"].state is TaskState.SUCCESS, events["after"]

    def test_env_option(
        self, make_executor: MakeExecutor, capabilities: Capabilities, scratch_dir: Path
    ) -> None:
        """``executor_config={"env": ...}`` reaches its task and no other."""
        self.require(capabilities, "env")
        executor = make_executor()
        with executor:
            executor.queue_command(
                "with-env",
                sh(_WRITE_ENV, scratch_dir / "with-env"),
                executor_config={"env": {"CONFORMANCE_PROBE": "a value with spaces"}},
            )
            executor.queue_command("without-env", sh(_WRITE_ENV, scratch_dir / "without-env"))
        assert (scratch_dir / "with-env").read_text() == "a value with spaces"
        assert (scratch_dir / "without-env").read_text() == "unset"

    def test_cwd_option(
        self, make_executor: MakeExecutor, capabilities: Capabilities, scratch_dir: Path
    ) -> None:
        """``executor_config={"cwd": ...}`` is the task's working directory."""
        self.require(capabilities, "cwd")
        workdir = scratch_dir / "workdir"
        workdir.mkdir()
        executor = make_executor()
        with executor:
            executor.queue_command(
                "in-workdir",
                sh(_WRITE_CWD, scratch_dir / "cwd"),
                executor_config={"cwd": str(workdir)},
            )
        assert (scratch_dir / "cwd").read_text().strip() == os.path.realpath(workdir)

    def test_timeout_option(
        self, make_executor: MakeExecutor, capabilities: Capabilities, scratch_dir: Path
    ) -> None:
        """A task past its ``timeout`` is killed and fails with an error saying so; one within
        its timeout succeeds."""
        self.require(capabilities, "timeout")
        executor = make_executor()
        with executor:
            executor.queue_command(
                "too-slow",
                sh(_SLEEP_THEN_WRITE, self.seconds(30), scratch_dir / "too-slow"),
                executor_config={"timeout": self.seconds(1)},
            )
            executor.queue_command(
                "in-time", sh(_SLEEP, 0), executor_config={"timeout": self.seconds(20)}
            )
        events = executor.get_event_buffer()
        slow = events["too-slow"]
        assert slow.state is TaskState.FAILED, slow
        assert slow.info.error is not None, slow
        assert "timeout" in slow.info.error.lower() or "timed out" in slow.info.error.lower()
        assert slow.info.duration is not None and slow.info.duration < self.seconds(20), slow
        assert not (scratch_dir / "too-slow").exists()
        assert events["in-time"].state is TaskState.SUCCESS, events["in-time"]

    def test_runs_on_this_host(
        self,
        make_executor: MakeExecutor,
        capabilities: Capabilities,
        scratch_dir: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A backend that does not run tasks elsewhere runs them in the host's environment."""
        if capabilities.runs_elsewhere:
            pytest.skip(f"executor {self.executor!r} claims runs_elsewhere")
        # not EXECHOST_*: exechost reads those as configuration
        monkeypatch.setenv("CONFORMANCE_PROBE", "set by the host")
        events = self.run_to_end(make_executor(), {"here": sh(_WRITE_ENV, scratch_dir / "env")})
        assert events["here"].state is TaskState.SUCCESS, events["here"]
        assert (scratch_dir / "env").read_text() == "set by the host"

    def _terminate_while_running(
        self, make_executor: MakeExecutor, scratch_dir: Path
    ) -> tuple[Executor, Recorder, set[TaskKey]]:
        """Start a long task (and queue one more behind it), terminate once it has started;
        return the executor, its recorder and the keys running at that moment."""
        recorder = Recorder()
        executor = make_executor(parallelism=1, recorder=recorder)
        started = scratch_dir / "started"
        executor.start()
        executor.queue_command(
            "long", sh(_STRAGGLER, started, self.seconds(2), scratch_dir / "finished")
        )
        executor.queue_command("behind", ["true"])
        self.drive(executor, started.exists, "the long task starting", timeout=60)
        running = set(executor.running)
        executor.terminate()
        return executor, recorder, running

    def test_terminate_reports_every_task(
        self, make_executor: MakeExecutor, scratch_dir: Path
    ) -> None:
        """After terminate, every task has ended: running ones and queued ones failed."""
        executor, recorder, running = self._terminate_while_running(make_executor, scratch_dir)
        events = executor.get_event_buffer()
        self.assert_finished_once(recorder, ["long", "behind"])
        for key in running:
            assert events[key].state is TaskState.FAILED, (key, events[key])
            assert events[key].info.error, (key, events[key])
        assert events["behind"].state is TaskState.FAILED, events["behind"]
        assert not executor.running and not executor.queued_tasks
        hooks = [call for call in recorder.calls if call.startswith("executor_")]
        assert hooks.count("executor_terminate") == 1 and "executor_end" not in hooks, hooks
        assert executor.phase is Phase.ENDED

    def test_terminate_kills_running_work(
        self, make_executor: MakeExecutor, capabilities: Capabilities, scratch_dir: Path
    ) -> None:
        """terminate kills a running task and everything it started."""
        self.require(capabilities, "can_cancel_running")
        _, _, running = self._terminate_while_running(make_executor, scratch_dir)
        assert "long" in running
        time.sleep(self.seconds(2) + 1.5)
        assert not (scratch_dir / "finished").exists(), "the task's work outlived terminate"

    def test_end_waits_for_everything(self, make_executor: MakeExecutor, scratch_dir: Path) -> None:
        """A task is reported finished only once its work is done, and end returns only once
        every task was reported; afterwards the executor takes no more tasks."""
        keys = [f"task{index}" for index in range(2 * self.parallelism + 1)]
        done_when_reported: dict[TaskKey, bool] = {}

        class WorkChecker:
            @hookimpl
            def executor_task_state_changed(self, key: TaskKey, state: TaskState) -> None:
                if state.finished:
                    done_when_reported[key] = (scratch_dir / str(key)).exists()

        executor = make_executor(parallelism=self.parallelism)
        executor.hooks.register_observer(WorkChecker())
        tasks: dict[TaskKey, list[str]] = {
            key: sh(_SLEEP_THEN_WRITE, self.seconds(0.5), scratch_dir / key) for key in keys
        }
        events = self.run_to_end(executor, tasks)
        self.eventually(lambda: set(done_when_reported) == set(keys))
        early = sorted(str(key) for key, done in done_when_reported.items() if not done)
        assert not early, f"tasks reported finished before their work was done: {early}"
        assert all((scratch_dir / key).exists() for key in keys)
        assert all(events[key].state is TaskState.SUCCESS for key in keys), dict(events)
        assert set(done_when_reported) == set(keys)
        assert not executor.running and not executor.queued_tasks
        with pytest.raises(ExecutorStateError):
            executor.queue_command("late", ["true"])

    def test_no_event_lost_or_duplicated(
        self, make_executor: MakeExecutor, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Over :attr:`bulk_tasks` tasks read while they run, each ends exactly once, as its
        command did, and the backend never reports a task the host does not run."""
        caplog.set_level(logging.WARNING, logger="exechost")
        recorder = Recorder()
        executor = make_executor(parallelism=self.bulk_parallelism, recorder=recorder)
        keys: list[TaskKey] = [("bulk", index) for index in range(self.bulk_tasks)]
        failing = set(keys[::10])
        transitions: list[tuple[TaskKey, Event]] = []

        def finished_count() -> int:
            transitions.extend(executor.get_event_buffer().transitions)
            return sum(1 for _, event in transitions if event.state.finished)

        executor.start()
        for key in keys:
            executor.queue_command(key, ["false"] if key in failing else ["true"])
        self.drive(
            executor,
            lambda: finished_count() >= len(keys),
            f"{len(keys)} tasks finishing",
            timeout=max(60.0, len(keys) / 10),
        )
        executor.end()
        transitions.extend(executor.get_event_buffer().transitions)
        ends: dict[TaskKey, list[TaskState]] = {}
        for key, event in transitions:
            if event.state.finished:
                ends.setdefault(key, []).append(event.state)
        assert set(ends) == set(keys), f"{len(set(keys) - set(ends))} tasks never reported"
        twice = {key: states for key, states in ends.items() if len(states) != 1}
        assert not twice, f"tasks reported finished more than once: {twice}"
        wrong = [
            key
            for key, (state,) in ends.items()
            if state is not (TaskState.FAILED if key in failing else TaskState.SUCCESS)
        ]
        assert not wrong, f"tasks reported with the wrong outcome: {wrong[:10]}"
        self.assert_finished_once(recorder, keys)
        strays = [r.getMessage() for r in caplog.records if _NOT_RUNNING_HERE in r.getMessage()]
        assert not strays, f"the backend reported tasks the host does not run: {strays[:5]}"

    def test_report_for_unknown_key_is_handled(
        self, make_executor: MakeExecutor, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Reports for keys the host does not run (never queued, or finished) are logged and
        ignored, from any thread, while the backend goes on."""
        caplog.set_level(logging.WARNING, logger="exechost")
        executor = make_executor()
        ghosts: list[TaskKey] = ["ghost", ("ghost", 1)]

        def report_ghosts() -> None:
            executor.success(ghosts[0])
            executor.fail(ghosts[1])
            executor.change_state(ghosts[0], "running")

        with executor:
            executor.queue_command("real", sh(_SLEEP, self.seconds(0.2)))
            executor.heartbeat()
            reporter = threading.Thread(target=report_ghosts)
            reporter.start()
            reporter.join()
        events = executor.get_event_buffer()
        assert set(events) == {"real"}, dict(events)
        assert events["real"].state is TaskState.SUCCESS, events["real"]
        warned = " ".join(r.getMessage() for r in caplog.records)
        assert all(repr(ghost) in warned for ghost in ghosts), warned
        executor.success("real")  # reported again after it finished and the executor ended
        assert not executor.get_event_buffer()

    def test_settings_are_validated(
        self,
        make_executor: MakeExecutor,
        executor_settings: Mapping[str, Any],
        exechost_config: Config | None,
    ) -> None:
        """An unknown setting, or a value of the wrong type, is refused at load, naming it and
        listing the valid settings."""
        with pytest.raises(SettingsError) as unknown:
            load_executor(
                self.executor,
                config=exechost_config,
                **executor_settings,
                exechost_no_such_setting=1,
            )
        assert "exechost_no_such_setting" in str(unknown.value)
        settings_class = getattr(make_executor().backend, "Settings", None)
        if settings_class is None:
            return
        fields = [field.name for field in dataclasses.fields(settings_class) if field.init]
        assert all(name in str(unknown.value) for name in fields), str(unknown.value)
        if fields:
            wrong = {**executor_settings, fields[0]: object()}
            with pytest.raises(SettingsError, match=fields[0]):
                load_executor(self.executor, config=exechost_config, **wrong)

    def test_executor_config_checked_when_queued(
        self, make_executor: MakeExecutor, capabilities: Capabilities
    ) -> None:
        """An ``executor_config`` key the backend does not declare is refused by queue_command,
        naming it and listing the accepted keys."""
        options = capabilities.executor_config
        if options is None:
            pytest.skip(f"executor {self.executor!r} declares no executor_config keys")
        executor = make_executor()
        with pytest.raises(InvalidTaskError) as refused:
            executor.queue_command("odd", ["true"], executor_config={"exechost_no_such_option": 1})
        message = str(refused.value)
        assert "exechost_no_such_option" in message
        accepted = [field.name for field in dataclasses.fields(options)]
        assert all(name in message for name in accepted), message
        assert not executor.has_task("odd")

    def test_adopts_after_host_crash(
        self,
        capabilities: Capabilities,
        executor_settings: Mapping[str, Any],
        exechost_config: Config | None,
        scratch_dir: Path,
        tmp_path: Path,
    ) -> None:
        """A host killed (SIGKILL) while its tasks run; a new host adopts the journal's unfinished
        attempts (re-queueing those the backend does not take over): every task runs exactly
        once, and each ends."""
        self.require(capabilities, "can_adopt")
        keys = [f"crash-{number}" for number in range(self.crash_tasks)]
        seconds = self.seconds(3)
        journal_path = tmp_path / "journal.sqlite"
        spec = tmp_path / "host.pickle"
        spec.write_bytes(
            pickle.dumps(
                (
                    self.executor,
                    dict(executor_settings),
                    journal_path,
                    {key: sh(_MARK_RUN, scratch_dir, key, seconds) for key in keys},
                    self.seconds(60),
                    exechost_config is not None,
                )
            )
        )
        host = subprocess.Popen(
            [sys.executable, "-c", f"import {__name__} as kit; kit.run_doomed_host()", spec],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        try:
            assert host.stdout is not None
            handed = select.select([host.stdout], [], [], self.seconds(30))[0]
            assert handed and host.stdout.readline() == b"handed\n", (
                f"the host to be killed did not hand its tasks to the backend within "
                f"{self.seconds(30):.0f} s (exit status {host.poll()})"
            )
            started = scratch_dir / "started"
            assert self.eventually(lambda: started.exists(), timeout=30), (
                "no task of the host to be killed started within 30 s"
            )
        finally:
            host.kill()
            host.wait(timeout=10)
            if host.stdout is not None:
                host.stdout.close()
        with open_journal(journal_path) as journal:
            crashed = journal.runs(limit=1)[0]
            journaled = journal.tasks(crashed.id)
            assert set(journaled) == set(keys)
            offered = [
                task.attempt
                for task in journaled.values()
                if task.attempt is not None and not task.state.finished
            ]
            journal.begin_run(resumed_from=crashed.id)
            executor = load_executor(
                self.executor, journal=journal, config=exechost_config, **executor_settings
            )
            with executor:
                left = executor.adopt(offered)
                for attempt in left:
                    executor.queue_command(attempt.key, attempt.command)
                for key, task in journaled.items():
                    if task.attempt is None:
                        executor.queue_command(key, sh(_MARK_RUN, scratch_dir, str(key), seconds))
                self.drive(executor, lambda: executor.idle, "the end of the adopted tasks", 30)
            events = executor.get_event_buffer()
        ended = {key for key, task in journaled.items() if task.state.finished} | set(events)
        assert ended == set(keys), f"tasks that never ended: {sorted(set(keys) - ended)}"
        ran = (scratch_dir / "started").read_text().split()
        twice = sorted({key for key in ran if ran.count(key) > 1})
        assert not twice, f"tasks run more than once across the crash: {twice}"
        finished = (scratch_dir / "finished").read_text().split()
        assert sorted(finished) == sorted(keys), (
            f"tasks that did not finish: {set(keys) - set(finished)}"
        )
        for key, event in events.items():
            assert event.state is TaskState.SUCCESS, f"{key!r}: {event}"

    def test_hostile_keys(self, make_executor: MakeExecutor, scratch_dir: Path) -> None:
        """Keys with slashes, "..", unicode or 5,000 characters (:data:`HOSTILE_KEYS`) run and
        are reported as any other, failures too: a backend must not name a file after a key."""
        recorder = Recorder()
        ran = scratch_dir / "ran"
        codes = {key: 3 * (index % 2) for index, key in enumerate(HOSTILE_KEYS)}
        tasks: dict[TaskKey, list[str]] = {
            key: sh(_APPEND_ARG_THEN_EXIT, ran, index, codes[key])
            for index, key in enumerate(HOSTILE_KEYS)
        }
        events = self.run_to_end(make_executor(recorder=recorder), tasks)
        self.assert_finished_once(recorder, HOSTILE_KEYS)
        assert set(events) == set(HOSTILE_KEYS), [reprlib.repr(key) for key in events]
        for key, code in codes.items():
            event = events[key]
            expected = TaskState.SUCCESS if code == 0 else TaskState.FAILED
            assert event.state is expected and event.info.returncode == code, (
                f"{reprlib.repr(key)}: {event.state.value}, {event.info.returncode}, "
                f"{event.info.error!r}"
            )
        runs = sorted(int(index) for index in ran.read_text().split())
        assert runs == list(range(len(HOSTILE_KEYS))), f"runs by index: {runs}"

    # -- cancel (API 1.1) ---------------------------------------------------------------------

    def test_cancel_queued_task(self, make_executor: MakeExecutor, scratch_dir: Path) -> None:
        """A task cancelled while queued never runs and ends failed "cancelled" at once; the
        others are untouched."""
        recorder = Recorder()
        executor = make_executor(parallelism=1, recorder=recorder)
        with executor:
            executor.queue_command("first", sh(_MARK_RUN, scratch_dir, "first", 0))
            executor.queue_command("dropped", sh(_MARK_RUN, scratch_dir, "dropped", 0))
            assert executor.cancel("dropped") is True
            assert not executor.has_task("dropped")
            assert executor.cancel("dropped") is False, "a task cancelled twice"
        events = executor.get_event_buffer()
        assert events["dropped"].state is TaskState.FAILED, events["dropped"]
        assert events["dropped"].info.error == CANCELLED_ERROR, events["dropped"]
        assert events["first"].state is TaskState.SUCCESS, events["first"]
        assert (scratch_dir / "started").read_text().split() == ["first"]
        self.assert_finished_once(recorder, ["first", "dropped"])

    def test_cancel_running_task(
        self, make_executor: MakeExecutor, capabilities: Capabilities, scratch_dir: Path
    ) -> None:
        """A running task cancelled (hook ``executor_cancel``) ends failed "cancelled", is not
        retried, and its work and what it started are killed."""
        self.require(capabilities, "can_cancel_running")
        recorder = Recorder()
        executor = make_executor(recorder=recorder)
        if not hasattr(executor.backend, "executor_cancel"):
            pytest.skip(f"executor {self.executor!r} does not implement executor_cancel (API 1.1)")
        started = scratch_dir / "started"
        with executor:
            executor.queue_command(
                "long",
                sh(_STRAGGLER, started, self.seconds(2), scratch_dir / "finished"),
                retries=2,
            )
            self.drive(executor, started.exists, "the long task starting", timeout=60)
            assert executor.cancel("long") is True, "a running task the backend did not cancel"
            self.drive(executor, lambda: not executor.has_task("long"), "the cancel's end", 30)
        events = executor.get_event_buffer()
        assert events["long"].state is TaskState.FAILED, events["long"]
        assert events["long"].info.error == CANCELLED_ERROR, events["long"]
        states = [event.state for event in events.history("long")]
        assert TaskState.UP_FOR_RETRY not in states, f"a cancelled task was retried: {states}"
        assert recorder.calls.count("executor_execute_async") == 1, recorder.calls
        self.assert_finished_once(recorder, ["long"])
        time.sleep(self.seconds(2) + 1.5)
        assert not (scratch_dir / "finished").exists(), "the task's work outlived its cancel"


def run_doomed_host() -> None:
    """The host :meth:`ExecutorConformance.test_adopts_after_host_crash` kills, started in the
    check's working directory and hermetic as the check is: it hands every task to its backend,
    says ``handed`` on stdout, then heartbeats until killed (or its deadline, when it exits 1)."""
    spec = Path(sys.argv[1]).read_bytes()
    backend, settings, journal_path, tasks, seconds, hermetic = pickle.loads(spec)
    executor = load_executor(
        backend,
        parallelism=0,
        journal=open_journal(journal_path),
        config=hermetic_config(Path.cwd()) if hermetic else None,
        **settings,
    )
    executor.start()
    for key, command in tasks.items():
        executor.queue_command(key, command)
    executor.heartbeat()
    executor.heartbeat()  # the journal has the external ids the first one got
    print("handed", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.heartbeat()
        executor.wait(0.05)
    sys.exit(1)
