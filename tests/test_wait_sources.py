"""Backends that report through a file descriptor the host waits on (Executor.add_wait_source),
and the ``local`` executor, which reaps that way on the host's own thread."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import exechost
import pytest
from conftest import wait_until
from exechost import hookimpl
from exechost.wakeup import WaitSource, Wakeup


class PipeBackend:
    """Each task ends when the test writes its key to a pipe; the host's waits read it."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.executor: exechost.Executor | None = None
        self.pump_threads: set[int] = set()

    @hookimpl
    def executor_start(self, executor: exechost.Executor) -> None:
        self.executor = executor
        executor.add_wait_source(self.read_end, self.pump)

    @hookimpl
    def executor_execute_async(self, key: Any) -> None:
        pass

    def pump(self) -> None:
        assert self.executor is not None
        self.pump_threads.add(threading.get_ident())
        try:
            data = os.read(self.read_end, 4096)
        except BlockingIOError:
            return
        for key in data.decode().split():
            self.executor.success(key)

    def finish(self, key: str) -> None:
        os.write(self.write_end, f"{key}\n".encode())

    @hookimpl
    def executor_end(self) -> None:
        assert self.executor is not None
        self.executor.remove_wait_source(self.read_end)
        os.close(self.read_end)
        os.close(self.write_end)


def test_a_wait_returns_once_the_pump_of_a_readable_source_reports() -> None:
    backend = PipeBackend()
    with exechost.Executor(backend, name="pipe", parallelism=2) as executor:
        executor.queue_command("a", ["x"])
        executor.heartbeat()
        assert not executor.wait(0.05)  # nothing readable: the timeout passes
        started = time.monotonic()
        threading.Timer(0.1, backend.finish, ["a"]).start()
        assert executor.wait(10)
        assert time.monotonic() - started < 5
        assert executor.get_event_buffer()["a"].state == "success"
    assert backend.pump_threads == {threading.get_ident()}  # the waiting thread pumped


def one_slot(backend: PipeBackend, multi: bool) -> exechost.Executor | exechost.MultiExecutor:
    """An executor of ``backend`` with one slot, or a multi-executor whose global cap is one."""
    executor = exechost.Executor(backend, name="pipe", parallelism=0 if multi else 1)
    if not multi:
        return executor
    return exechost.MultiExecutor({"pipe": executor}, default="pipe", parallelism=1)


@pytest.mark.parametrize("multi", [False, True])
def test_a_heartbeat_pumps_first_so_an_end_frees_its_slot_for_it(multi: bool) -> None:
    """A multi-executor pumps before it counts its cap's budget."""
    backend = PipeBackend()
    with one_slot(backend, multi) as executor:
        executor.queue_command("a", ["x"])
        executor.queue_command("b", ["x"])
        executor.heartbeat()
        assert set(executor.running) == {"a"}
        backend.finish("a")
        executor.heartbeat()  # no wait in between: the heartbeat reaps "a", then starts "b"
        assert set(executor.running) == {"b"}
        backend.finish("b")


def test_a_multi_executor_wait_watches_every_executors_sources(tmp_path: Path) -> None:
    backend = PipeBackend()
    executors = {
        "pipe": exechost.Executor(backend, name="pipe", parallelism=1),
        "local": exechost.load_executor("local", log_dir=str(tmp_path)),
    }
    with exechost.MultiExecutor(executors, default="local") as multi:
        multi.queue_command("p", ["x"], executor="pipe")
        multi.heartbeat()
        threading.Timer(0.1, backend.finish, ["p"]).start()
        assert multi.wait(10)
        assert multi.executors["pipe"].get_event_buffer()["p"].state == "success"


def test_a_pump_that_raises_fails_the_running_tasks_and_is_no_longer_watched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = PipeBackend()

    def broken() -> None:
        with contextlib.suppress(BlockingIOError):
            if os.read(backend.read_end, 4096):
                raise OSError("the socket went away")

    backend.pump = broken  # type: ignore[method-assign]
    with exechost.Executor(backend, name="pipe", parallelism=2) as executor:
        executor.queue_command("a", ["x"])
        executor.heartbeat()
        backend.finish("a")
        assert executor.wait(10)
        event = executor.get_event_buffer()["a"]
        assert executor._wait_sources == ()
    assert event.state == "failed"
    assert event.info.error == "the backend's wait source raised OSError: the socket went away"
    assert "wait source pump" in caplog.text and "pipe" in caplog.text


def test_a_raise_from_another_thread_wakes_a_wait_on_sources() -> None:
    wakeup = Wakeup()
    read_end, write_end = os.pipe()
    try:
        source = WaitSource(read_end, lambda: None)
        threading.Timer(0.1, wakeup.set).start()
        started = time.monotonic()
        assert wakeup.wait(10, [source])
        assert time.monotonic() - started < 5
        assert not wakeup.wait(0.05, [source])  # the raise was consumed
    finally:
        os.close(read_end)
        os.close(write_end)


def local_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("exechost-local")}


def test_the_local_executor_reaps_on_the_hosts_thread(tmp_path: Path) -> None:
    """No thread of its own while no task has a timeout: ends are reaped between heartbeats."""
    before = threading.active_count()
    with exechost.load_executor("local", parallelism=4, log_dir=str(tmp_path)) as executor:
        for n in range(20):
            executor.queue_command(("t", n), ["sh", "-c", "exit $0", str(n % 3)])
        while not executor.idle:
            executor.heartbeat()
            assert threading.active_count() == before
            executor.wait(1)
    events = executor.get_event_buffer()
    assert [events[("t", n)].info.returncode for n in range(20)] == [n % 3 for n in range(20)]
    assert not local_threads()


def test_a_timeout_thread_runs_only_while_a_task_has_a_deadline(
    tmp_path: Path, marker: str
) -> None:
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command("quick", ["true"])
        executor.queue_command(
            "slow", ["sh", "-c", "sleep 30", marker], executor_config={"timeout": 0.5}
        )
        executor.heartbeat()
        assert local_threads() == {"exechost-local-timeouts"}
        started = time.monotonic()
    events = executor.get_event_buffer()
    assert events["quick"].state == "success"
    assert events["slow"].info.error == "timeout"
    assert time.monotonic() - started < 10
    wait_until(lambda: not local_threads())


@pytest.mark.parametrize("timeout", [0.3, None])
def test_a_task_killed_by_another_thread_is_reported_at_the_next_wait(
    tmp_path: Path, marker: str, timeout: float | None
) -> None:
    """A cancel from another thread (or a timeout) kills; the waiting host thread reports."""
    config = {} if timeout is None else {"timeout": timeout}
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command("t", ["sh", "-c", "sleep 30", marker], executor_config=config)
        executor.heartbeat()
        if timeout is None:
            threading.Timer(0.3, executor.cancel, ["t"]).start()
        assert executor.wait(10)
        event = executor.get_event_buffer()["t"]
    assert event.state == "failed"
    assert event.info.error in ("timeout", "cancelled")
