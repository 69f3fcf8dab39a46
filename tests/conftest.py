"""Helpers shared by the tests: backends, real installed distributions, processes, the real CLI."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import exechost
import pytest
from exechost import hookimpl
from exechost.testing import hermetic_environment, processes_with


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {predicate}")
        time.sleep(0.02)


# -- backends driven from the test ----------------------------------------------------------


class InstantBackend:
    """Succeeds every task inside ``executor_execute_async``; records the calls it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def executor_start(self) -> None:
        self.calls.append(("start", None))

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: Any) -> str:
        self.calls.append(("execute_async", key))
        executor.success(key)
        return f"id-{key}"

    @hookimpl
    def executor_sync(self) -> None:
        self.calls.append(("sync", None))

    @hookimpl
    def executor_end(self) -> None:
        self.calls.append(("end", None))

    @hookimpl
    def executor_terminate(self) -> None:
        self.calls.append(("terminate", None))

    @property
    def started(self) -> list[Any]:
        """The keys handed to the backend, in order."""
        return [key for hook, key in self.calls if hook == "execute_async"]


class HoldingBackend:
    """Keeps every task running until the test releases it with :meth:`finish`."""

    def __init__(self) -> None:
        self.executor: exechost.Executor | None = None
        self.started: list[Any] = []

    @hookimpl
    def executor_start(self, executor: exechost.Executor) -> None:
        self.executor = executor

    @hookimpl
    def executor_execute_async(self, key: Any) -> None:
        self.started.append(key)

    def finish(self, key: Any, ok: bool = True) -> None:
        assert self.executor is not None
        (self.executor.success if ok else self.executor.fail)(key)


class ThreadedBackend:
    """Runs each task in a thread of its own for a random moment; counts what runs at once.

    The count is the backend's own observation: it never trusts the host's bookkeeping.
    """

    def __init__(self, seconds: float = 0.005) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.threads: list[threading.Thread] = []

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: Any) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        thread = threading.Thread(target=self._run, args=(executor, key))
        self.threads.append(thread)
        thread.start()

    def _run(self, executor: exechost.Executor, key: Any) -> None:
        time.sleep(self.seconds * (1 + hash(key) % 5))
        with self.lock:
            self.now -= 1
        executor.success(key)

    @hookimpl
    def executor_end(self) -> None:
        for thread in self.threads:
            thread.join()


@dataclass(eq=False)
class Recorder:
    """An observer plugin that records every observer hook call."""

    queued: list[Any] = field(default_factory=list)
    changes: list[tuple[Any, str]] = field(default_factory=list)
    heartbeats: list[tuple[int, int, int]] = field(default_factory=list)

    @hookimpl
    def executor_task_queued(self, key: Any, priority: int) -> None:
        self.queued.append((key, priority))

    @hookimpl
    def executor_task_state_changed(self, key: Any, state: exechost.TaskState) -> None:
        self.changes.append((key, state.value))

    @hookimpl
    def executor_heartbeat(self, open_slots: int, queued: int, running: int) -> None:
        self.heartbeats.append((open_slots, queued, running))


@pytest.fixture
def instant() -> InstantBackend:
    return InstantBackend()


@pytest.fixture
def holding() -> HoldingBackend:
    return HoldingBackend()


# -- real installed distributions ------------------------------------------------------------


@dataclass
class Distributions:
    """Makes real distributions (``*.dist-info`` plus a module) in a directory on ``sys.path``."""

    root: Path
    modules: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        module_source: str,
        *,
        executors: dict[str, str] | None = None,
        plugins: dict[str, str] | None = None,
        version: str = "1.0",
    ) -> str:
        """Install distribution ``name`` whose module (``name`` with ``_``) holds the source;
        ``executors`` and ``plugins`` (observers) map entry point names to ``"Attribute"`` of that
        module (``""``: the module itself). Return the module's name."""
        module = name.replace("-", "_")
        groups = {}
        for group, names in (("exechost.executors", executors), ("exechost.plugins", plugins)):
            if names:
                groups[group] = {
                    ep: f"{module}:{attr}" if attr else module for ep, attr in names.items()
                }
        make_distribution(self.root, name, {module: module_source}, groups, version)
        self.modules.append(module)
        importlib.invalidate_caches()
        return module


@pytest.fixture
def distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Distributions]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    made = Distributions(root)
    yield made
    for module in made.modules:
        sys.modules.pop(module, None)


# -- processes -------------------------------------------------------------------------------

MARKER_VARIABLE = "EXECHOST_TEST_MARKER"


@pytest.fixture
def marker() -> Iterator[str]:
    """A value unique to the test, put in the environment of the processes it starts; whatever
    carries it when the test ends is killed, so a failing test leaves nothing behind."""
    value = uuid.uuid4().hex
    yield value
    for pid in processes_with(value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def no_process_with(marker: str, timeout: float = 10.0) -> None:
    """Fail unless every process carrying ``marker`` is gone within ``timeout``."""
    deadline = time.monotonic() + timeout
    while processes_with(marker):
        if time.monotonic() > deadline:
            pytest.fail(f"processes outlived their task: {processes_with(marker)}")
        time.sleep(0.05)


# -- the real command line ----------------------------------------------------------------------

pytest_plugins = ["pytester"]

CLI_TIMEOUT = 120


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m exechost ARGS`` in ``cwd`` with ``env`` added to a clean environment."""
    return subprocess.run(
        [sys.executable, "-m", "exechost", *args],
        cwd=cwd,
        env=cli_environment(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def cli_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without EXECHOST_* variables of the caller, plus ``extra``."""
    env = hermetic_environment(**(extra or {}))
    if "NO_COLOR" not in (extra or {}):
        env.pop("NO_COLOR", None)
    return env


def make_distribution(
    root: Path,
    name: str,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
    version: str = "1.0",
) -> Path:
    """Install a distribution into ``root`` (put it on PYTHONPATH): its modules and metadata."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text("".join(f"{module}\n" for module in modules))
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{point} = {value}" for point, value in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


def process_gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has exited (a zombie counts) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, env=None, stdin=None)``: the real command, run in ``tmp_path``."""

    def call(
        *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=tmp_path, env=env, stdin=stdin)

    return call
