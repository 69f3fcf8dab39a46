"""MultiExecutor: routing, keys unique across executors, the global cap, all-or-nothing start."""

from __future__ import annotations

import exechost
import pytest
from exechost import (
    BackendError,
    DuplicateTaskError,
    InvalidTaskError,
    MultiExecutor,
    TaskState,
    hookimpl,
)
from exechost.config import load_config


class ConcurrencyMeter:
    """An observer plugin that records the most tasks running at once across all executors."""

    def __init__(self) -> None:
        self.executors: MultiExecutor | None = None
        self.most = 0

    @hookimpl
    def executor_task_state_changed(self, state):
        if state == TaskState.RUNNING and self.executors is not None:
            self.most = max(self.most, len(self.executors.running))


def two_executors(tmp_path, text):
    (tmp_path / "exechost.toml").write_text(text)
    return load_config(cwd=tmp_path, environ={})


def test_global_parallelism_caps_running_tasks_across_executors(tmp_path):
    config = two_executors(
        tmp_path,
        'parallelism = 2\n[executors.a]\nbackend = "local"\nparallelism = 3\n'
        '[executors.b]\nbackend = "local"\nparallelism = 3\n',
    )
    meter = ConcurrencyMeter()
    executors = exechost.load_executors(config, plugins=[meter], log_dir=str(tmp_path))
    meter.executors = executors
    with executors:
        for n in range(8):
            executors.queue_command(("t", n), ["sleep", "0.1"], executor="ab"[n % 2])
    events = executors.get_event_buffer()
    assert len(events) == 8 and all(e.state == TaskState.SUCCESS for e in events.values())
    assert meter.most == 2


def test_routing_by_name_queue_and_default(tmp_path):
    config = two_executors(
        tmp_path, '[executors.gpu]\nbackend = "local"\nqueues = ["cuda"]\n[executors.local]\n'
    )
    executors = exechost.load_executors(config)
    assert executors.route().name == "local"
    assert executors.route(queue="cuda").name == "gpu"
    assert executors.route(queue="other").name == "local"
    assert executors.route(executor="gpu", queue="other").name == "gpu"
    with pytest.raises(InvalidTaskError, match="no executor named 'tpu' is configured"):
        executors.queue_command("x", ["true"], executor="tpu")
    executors.queue_command("x", ["true"], queue="cuda")
    assert "x" in executors.executors["gpu"].queued_tasks
    with pytest.raises(DuplicateTaskError, match="already queued or running on 'gpu'"):
        executors.queue_command("x", ["true"])
    executors.terminate()
    assert executors.get_event_buffer()["x"].info.error == "terminated before it started"


def test_default_executor_and_cap_given_as_arguments(tmp_path):
    config = two_executors(tmp_path, "parallelism = 4\n")
    executors = exechost.load_executors(config, executor="sequential", parallelism=1)
    assert list(executors.executors) == ["sequential"]
    assert executors.parallelism == 1
    assert executors.executors["sequential"].parallelism == 1


class FailingStart:
    @hookimpl
    def executor_start(self):
        raise ConnectionError("broker unreachable")


def test_start_is_all_or_nothing():
    good = exechost.load_executor("local")
    bad = exechost.load_executor(FailingStart)
    executors = MultiExecutor({"good": good, "bad": bad}, default="good")
    with pytest.raises(BackendError, match="broker unreachable"):
        executors.start()
    assert good.phase.value == "ended"


def test_constructor_checks_its_names():
    local = exechost.load_executor("local")
    with pytest.raises(ValueError, match="default executor 'x' is not one of the executors"):
        MultiExecutor({"local": local}, default="x")
    with pytest.raises(ValueError, match="queue 'q' routes to 'y'"):
        MultiExecutor({"local": local}, default="local", queues={"q": "y"})


def test_subset_keeps_the_named_and_the_default_executor(tmp_path):
    config = two_executors(
        tmp_path,
        '[executors.gpu]\nbackend = "local"\nqueues = ["cuda"]\n'
        '[executors.io]\nbackend = "local"\nqueues = ["disk"]\n',
    )
    executors = exechost.load_executors(config, parallelism=3).subset({"io"})
    assert list(executors.executors) == ["local", "io"]
    assert dict(executors.queues) == {"disk": "io"}
    assert executors.parallelism == 3


def test_a_subset_takes_its_executors_wake_up_over(tmp_path):
    config = two_executors(tmp_path, '[executors.io]\nbackend = "local"\n')
    whole = exechost.load_executors(config)
    subset = whole.subset({"io"})
    for executor in subset.executors.values():  # the subset's observer, not also the whole's
        names = [name for name, _ in executor.hooks.manager.list_name_plugin()]
        assert sum(name.startswith("_Wakeup") for name in names) == 1
        assert executor.hooks.manager.is_registered(subset._wakeup)


class Interrupter:
    """Raises KeyboardInterrupt from a heartbeat, as Ctrl-C would, once armed."""

    armed = False

    @hookimpl
    def executor_heartbeat(self) -> None:
        if self.armed:
            raise KeyboardInterrupt


def test_end_interrupted_terminates_every_executor(holding):
    ctrl_c = Interrupter()
    first = exechost.load_executor(holding, plugins=[ctrl_c])
    second = exechost.load_executor("sequential")
    executors = MultiExecutor({"first": first, "second": second}, default="first")
    executors.start()
    executors.queue_command("held", ["true"])  # never finishes: end() waits for it
    ctrl_c.armed = True
    with pytest.raises(KeyboardInterrupt):
        executors.end()
    assert first.phase.value == second.phase.value == "ended"
    assert first.get_event_buffer()["held"].info.error == "terminated"
