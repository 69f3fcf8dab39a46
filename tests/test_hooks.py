"""The plugin contract: hook validation, wrappers, observers, and backends that raise."""

from __future__ import annotations

import logging
from typing import Any

import exechost
import pluggy
import pytest
from conftest import HoldingBackend, InstantBackend, Recorder
from exechost import BackendError, hookimpl
from exechost.hookspecs import LIFECYCLE_HOOKS
from exechost.hookspecs import hookimpl as hookspecs_hookimpl


def test_hookimpl_is_exported_from_both_packages():
    assert exechost.hookimpl is hookspecs_hookimpl
    assert LIFECYCLE_HOOKS == (
        "executor_start",
        "executor_execute_async",
        "executor_adopt",
        "executor_sync",
        "executor_end",
        "executor_terminate",
        "executor_cancel",
        "executor_fetch_log",
    )


class MisspeltBackend:
    @hookimpl
    def executor_execute_async(self, executor: Any, key: Any, comand: Any) -> None:
        """``comand`` is not an argument of the hook."""


class UnknownHookBackend:
    @hookimpl
    def executor_execute_asnyc(self, key: Any) -> None:
        """No such hook."""


def test_a_misspelt_hookimpl_argument_is_refused_naming_the_plugin():
    with pytest.raises(pluggy.PluginValidationError) as raised:
        exechost.load_executor(MisspeltBackend())
    message = str(raised.value)
    assert "'MisspeltBackend'" in message
    assert "comand" in message
    assert "not from an installed distribution" in message


def test_a_misspelt_hook_name_is_refused_naming_the_plugin():
    with pytest.raises(pluggy.PluginValidationError, match="executor_execute_asnyc"):
        exechost.load_executor(UnknownHookBackend)


def test_a_backend_may_implement_any_subset_of_a_hooks_arguments():
    class Bare:
        @hookimpl
        def executor_execute_async(self) -> str:
            return "no arguments at all"

    with exechost.load_executor(Bare()) as executor:
        executor.queue_command("a", ["true"])
        executor.heartbeat()
        assert executor.running["a"].external_id == "no arguments at all"
        executor.success("a")


def test_an_observer_may_not_implement_a_lifecycle_hook_plainly(instant):
    class Sneaky:
        @hookimpl
        def executor_execute_async(self, key: Any) -> None:
            """Would run every task a second time."""

    executor = exechost.load_executor(instant)
    with pytest.raises(pluggy.PluginValidationError, match=r"observer plugin 'sneaky'.*wrapper"):
        executor.hooks.register_observer(Sneaky(), name="sneaky")
    assert executor.hooks.manager.get_plugin("sneaky") is None


def test_only_the_selected_backends_lifecycle_runs():
    first, second = InstantBackend(), InstantBackend()
    with exechost.load_executor(first) as one, exechost.load_executor(second) as two:
        one.queue_command("for-one", ["true"])
        two.queue_command("for-two", ["true"])
    assert first.started == ["for-one"]
    assert second.started == ["for-two"]
    assert [hook for hook, _ in first.calls].count("start") == 1


class Timing:
    """A wrapper plugin around every lifecycle call, as a metrics plugin would be."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, Any]] = []

    def _around(self, hook: str) -> Any:
        self.log.append(("before", hook, None))
        result = yield
        self.log.append(("after", hook, result))
        return result

    @hookimpl(wrapper=True)
    def executor_start(self) -> Any:
        return (yield from self._around("start"))

    @hookimpl(wrapper=True)
    def executor_execute_async(self) -> Any:
        return (yield from self._around("execute_async"))

    @hookimpl(wrapper=True)
    def executor_sync(self) -> Any:
        return (yield from self._around("sync"))

    @hookimpl(wrapper=True)
    def executor_end(self) -> Any:
        return (yield from self._around("end"))

    @hookimpl(wrapper=True)
    def executor_terminate(self) -> Any:
        return (yield from self._around("terminate"))


def test_wrappers_run_around_every_lifecycle_call(instant):
    timing = Timing()
    with exechost.load_executor(instant, plugins=[timing]) as executor:
        executor.queue_command("a", ["true"])
    hooks_seen = [(when, hook) for when, hook, _ in timing.log]
    assert hooks_seen[:4] == [
        ("before", "start"),
        ("after", "start"),
        ("before", "execute_async"),
        ("after", "execute_async"),
    ]
    assert ("after", "execute_async", "id-a") in timing.log  # the wrapper sees the result
    assert ("before", "sync") in hooks_seen
    assert hooks_seen[-2:] == [("before", "end"), ("after", "end")]
    assert instant.started == ["a"]  # wrapped, not replaced

    terminated = Timing()
    executor = exechost.load_executor(InstantBackend(), plugins=[terminated])
    executor.start()
    executor.terminate()
    assert [hook for _, hook, _ in terminated.log][-2:] == ["terminate", "terminate"]


def test_a_wrapper_sees_a_backends_exception(caplog):
    seen: list[BaseException] = []

    class Watcher:
        @hookimpl(wrapper=True)
        def executor_execute_async(self) -> Any:
            try:
                return (yield)
            except Exception as exc:
                seen.append(exc)
                raise

    class Broken:
        @hookimpl
        def executor_execute_async(self) -> None:
            raise OSError("disk full")

    with exechost.load_executor(Broken(), plugins=[Watcher()]) as executor:
        executor.queue_command("a", ["true"])
    assert [str(exc) for exc in seen] == ["disk full"]
    assert executor.get_event_buffer()["a"].state == "failed"


def test_observers_see_queued_state_changes_and_heartbeats(instant):
    recorder = Recorder()
    with exechost.load_executor(instant, parallelism=4, plugins=[recorder]) as executor:
        executor.queue_command("a", ["true"], priority=3)
        executor.queue_command("b", ["true"])
        executor.heartbeat()
    assert recorder.queued == [("a", 3), ("b", 1)]
    assert recorder.changes == [
        ("a", "running"),
        ("a", "success"),
        ("b", "running"),
        ("b", "success"),
    ]
    assert recorder.heartbeats[0] == (4, 0, 0)


def test_many_observers_are_all_called(instant):
    recorders = [Recorder(), Recorder()]
    with exechost.load_executor(instant, plugins=recorders) as executor:
        executor.queue_command("a", ["true"])
    assert all(recorder.queued == [("a", 1)] for recorder in recorders)


def test_an_observer_that_raises_is_logged_and_changes_nothing(instant, caplog):
    class Grumpy:
        @hookimpl
        def executor_task_state_changed(self) -> None:
            raise ValueError("not today")

    with exechost.load_executor(instant, plugins=[Grumpy()]) as executor:
        executor.queue_command("a", ["true"])
    assert executor.get_event_buffer()["a"].state == "success"
    assert "observer 'Grumpy' (module" in caplog.text
    assert "ValueError: not today" in caplog.text


class FailsOn:
    """Raises in the named hook; otherwise holds tasks until the test finishes them."""

    def __init__(self, hook: str, keys: tuple[str, ...] = ()) -> None:
        self.hook, self.keys = hook, keys
        self.holding = HoldingBackend()

    def _maybe_raise(self, hook: str, key: Any = None) -> None:
        if hook == self.hook and (not self.keys or key in self.keys):
            raise RuntimeError(f"{hook} broke")

    @hookimpl
    def executor_start(self, executor: exechost.Executor) -> None:
        self._maybe_raise("executor_start")
        self.holding.executor = executor

    @hookimpl
    def executor_execute_async(self, key: Any) -> None:
        self._maybe_raise("executor_execute_async", key)
        self.holding.started.append(key)

    @hookimpl
    def executor_sync(self) -> None:
        self._maybe_raise("executor_sync")

    @hookimpl
    def executor_end(self) -> None:
        self._maybe_raise("executor_end")

    @hookimpl
    def executor_terminate(self) -> None:
        self._maybe_raise("executor_terminate")


def test_execute_async_that_raises_fails_only_that_task(caplog):
    backend = FailsOn("executor_execute_async", keys=("bad",))
    with exechost.load_executor(backend, parallelism=0) as executor:
        for key in ("good", "bad", "other"):
            executor.queue_command(key, ["true"])
        executor.heartbeat()
        backend.holding.finish("good")
        backend.holding.finish("other")
    events = executor.get_event_buffer()
    assert {key: event.state for key, event in events.items()} == {
        "good": "success",
        "bad": "failed",
        "other": "success",
    }
    assert (
        events["bad"].info.error
        == "executor_execute_async raised RuntimeError: executor_execute_async broke"
    )
    assert "executor_execute_async of 'FailsOn' (module" in caplog.text


def test_sync_that_raises_fails_the_running_tasks_not_the_queued(caplog):
    backend = FailsOn("executor_sync")
    executor = exechost.load_executor(backend, parallelism=1)
    executor.start()
    executor.queue_command("running", ["true"])
    executor.queue_command("queued", ["true"])
    executor.heartbeat()
    events = executor.get_event_buffer()
    assert events["running"].info.error == "executor_sync raised RuntimeError: executor_sync broke"
    assert "queued" in executor.queued_tasks
    backend.hook = "none"
    executor.heartbeat()
    backend.holding.finish("queued")
    executor.end()
    assert executor.get_event_buffer()["queued"].state == "success"
    assert "executor_sync of 'FailsOn'" in caplog.text


def test_start_that_raises_reaches_the_caller_naming_the_backend():
    executor = exechost.load_executor(FailsOn("executor_start"))
    with (
        pytest.raises(BackendError, match=r"could not start: backend 'FailsOn' \(module"),
        executor,
    ):
        pytest.fail("the block must not run")
    assert executor.phase.value == "ended"


def test_end_that_raises_is_logged_and_end_completes(caplog):
    with exechost.load_executor(FailsOn("executor_end")) as executor:
        pass
    assert executor.phase.value == "ended"
    assert "executor_end of 'FailsOn'" in caplog.text and "executor_end broke" in caplog.text


def test_terminate_that_raises_still_fails_the_running_tasks(caplog):
    backend = FailsOn("executor_terminate")
    executor = exechost.load_executor(backend)
    executor.start()
    executor.queue_command("a", ["true"])
    executor.heartbeat()
    executor.terminate()
    assert executor.get_event_buffer()["a"].info.error == "terminated"
    assert any(
        record.levelno == logging.ERROR and "executor_terminate of 'FailsOn'" in record.message
        for record in caplog.records
    )
