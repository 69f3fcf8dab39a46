"""Observers as installed plugins (API 1.1): what an entry point names, their ``[plugins.NAME]``
settings, ``executor_finished``, and errors that are the observer's own and never break a run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import exechost
import pluggy
import pytest
from conftest import Distributions, HoldingBackend, InstantBackend, Recorder
from exechost import hookimpl
from exechost.cli.plugins import plugin_reports
from exechost.config import Config, load_config
from exechost.errors import ConfigError, PluginLoadError, SettingsError

OBSERVERS = """
import dataclasses
from exechost import hookimpl

made = []

@dataclasses.dataclass(frozen=True)
class CountSettings:
    label: str
    every: int = 1

class Counting:
    Settings = CountSettings

    def __init__(self, settings):
        self.settings = settings
        self.seen = []
        made.append(self)

    @hookimpl
    def executor_task_state_changed(self, executor, key, state):
        self.seen.append((executor.name, key, str(state)))

    @hookimpl
    def executor_finished(self, executor, outcome):
        self.seen.append((executor.name, "finished", outcome))

class Plain:
    def __init__(self):
        made.append(self)

    @hookimpl
    def executor_heartbeat(self):
        pass

INSTANCE = Plain.__new__(Plain)

@hookimpl
def executor_heartbeat():
    pass

def not_an_observer():
    pass

class Nothing:
    pass

class Exploding:
    def __init__(self):
        raise RuntimeError("no port")
"""


def install(distributions: Distributions, **plugins: str) -> Any:
    """Install ``exechost-obs`` with the observer entry points given; its module, imported."""
    module = distributions.add("exechost-obs", OBSERVERS, plugins=plugins)
    return __import__(module)


def config(tmp_path: Path, toml: str = "", environ: dict[str, str] | None = None) -> Config:
    (tmp_path / "exechost.toml").write_text(toml)
    return load_config(cwd=tmp_path, environ=environ or {})


TWO = '[executors.one]\nbackend = "sequential"\n[executors.two]\nbackend = "sequential"\n'


def test_a_class_is_made_once_with_its_settings_and_serves_every_executor(tmp_path, distributions):
    module = install(distributions, count="Counting")
    loaded = config(
        tmp_path,
        'executor = "one"\n' + TWO + '[plugins.count]\nlabel = "from-file"\nevery = 2\n',
        {"EXECHOST_PLUGINS__COUNT__EVERY": "5"},
    )
    assert str(loaded.values["plugins.count.every"].source) == (
        "environment variable EXECHOST_PLUGINS__COUNT__EVERY"
    )
    assert [key for key in loaded.values if key.startswith("plugins.")] == [
        "plugins.autoload",  # [plugins] first, as `exechost config` shows them
        "plugins.block",
        "plugins.count.label",
        "plugins.count.every",
    ]
    with exechost.load_executors(loaded) as executors:
        executors.queue_command("a", ["true"], executor="one")
        executors.queue_command("b", ["true"], executor="two")
    [observer] = module.made
    assert observer.settings == module.CountSettings(label="from-file", every=5)
    assert sorted(observer.seen) == [
        ("one", "a", "running"),
        ("one", "a", "success"),
        ("one", "finished", "ended"),
        ("two", "b", "running"),
        ("two", "b", "success"),
        ("two", "finished", "ended"),
    ]


@pytest.mark.parametrize("value", ["", "Plain", "INSTANCE"])
def test_a_module_a_class_without_settings_or_an_object_is_the_observer(
    tmp_path, distributions, value
):
    module = install(distributions, plain=value)
    executor = exechost.load_executor("sequential", config=config(tmp_path))
    plugin = executor.hooks.manager.get_plugin("plain")
    expected = {"": module, "INSTANCE": module.INSTANCE}.get(value)
    assert plugin is (expected or module.made[0])


def test_settings_are_checked_naming_the_file_table_and_key(tmp_path, distributions):
    install(distributions, count="Counting")
    with pytest.raises(SettingsError) as raised:
        exechost.load_executor(
            "sequential", config=config(tmp_path, '[plugins.count]\nlabel = "x"\nevry = 2\n')
        )
    message = str(raised.value)
    assert f"{tmp_path / 'exechost.toml'}:3, [plugins.count]" in message
    assert "unknown setting 'evry' (did you mean 'every'?)" in message
    assert "observer plugin 'count' (distribution exechost-obs 1.0)" in message

    with pytest.raises(SettingsError, match="setting 'label' is required"):
        exechost.load_executor("sequential", config=config(tmp_path))
    with pytest.raises(SettingsError) as raised:
        exechost.load_executor(
            "sequential",
            config=config(tmp_path, "", {"EXECHOST_PLUGINS__COUNT__LABEL": "[1]"}),
        )
    assert "environment variable EXECHOST_PLUGINS__COUNT__LABEL" in str(raised.value)
    assert "setting 'label' must be str" in str(raised.value)


def test_a_table_of_no_installed_plugin_or_for_a_plugin_without_settings_is_refused(
    tmp_path, distributions
):
    install(distributions, count="Counting", plain="Plain")
    with pytest.raises(ConfigError, match=r"no observer plugin named 'cuont'.*'count'"):
        exechost.load_executor("sequential", config=config(tmp_path, "[plugins.cuont]\nx = 1\n"))
    with pytest.raises(SettingsError, match="it takes no settings"):
        exechost.load_executor(
            "sequential",
            config=config(tmp_path, '[plugins.count]\nlabel = "x"\n[plugins.plain]\nport = 1\n'),
        )
    blocked = '[plugins]\nblock = ["plain"]\n[plugins.count]\nlabel = "x"\n[plugins.plain]\nx=1\n'
    exechost.load_executor("sequential", config=config(tmp_path, blocked))  # not loaded: fine


def test_plugins_check_reports_what_run_would_refuse_about_an_observer(tmp_path, distributions):
    install(
        distributions,
        count="Counting",
        klass="Plain",
        function="not_an_observer",
        empty="Nothing",
        exploding="Exploding",
    )
    loaded = load_config(cwd=tmp_path, environ={"EXECHOST_PLUGINS__COUNT__LABEL": "3"})
    reports = {
        r.name: r
        for r in plugin_reports(loaded.plugins, check=True)
        if r.distribution == "exechost-obs"
    }
    assert {name: r.status for name, r in reports.items()} == {
        "count": "invalid settings",
        "klass": "ok",
        "function": "refused",
        "empty": "refused",
        "exploding": "import error",
    }
    assert "names the function not_an_observer" in reports["function"].detail
    assert "implements no hook" in reports["empty"].detail
    assert reports["exploding"].detail == "RuntimeError: no port"
    assert "setting 'label' must be str" in reports["count"].detail
    with pytest.raises(pluggy.PluginValidationError, match="names the function"):
        exechost.load_executor(
            "sequential",
            config=config(tmp_path, '[plugins]\nblock = ["count", "empty", "exploding"]\n'),
        )
    with pytest.raises(PluginLoadError, match=r"Exploding\(\) raised RuntimeError: no port"):
        exechost.load_executor(
            "sequential",
            config=config(tmp_path, '[plugins]\nblock = ["count", "empty", "function"]\n'),
        )


class Finish:
    """Records the state changes it sees and when ``executor_finished`` comes."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    @hookimpl
    def executor_task_state_changed(self, key: Any, state: exechost.TaskState, info: Any) -> None:
        self.seen.append((key, str(state), info.error))

    @hookimpl
    def executor_finished(self, executor: exechost.Executor, outcome: str) -> None:
        buffered = executor.get_event_buffer()
        self.seen.append(("finished", outcome, {k: e.info.error for k, e in buffered.items()}))


def test_executor_finished_comes_after_the_hosts_terminated_failures(holding):
    finish = Finish()
    executor = exechost.load_executor(holding, parallelism=1, plugins=[finish])
    executor.start()
    executor.queue_command("running", ["true"])
    executor.queue_command("queued", ["true"])
    executor.heartbeat()
    executor.terminate()
    executor.terminate()  # once only
    assert finish.seen == [
        ("running", "running", None),
        ("running", "failed", "terminated"),
        ("queued", "failed", "terminated before it started"),
        (
            "finished",
            "terminated",
            {"running": "terminated", "queued": "terminated before it started"},
        ),
    ]


def test_executor_finished_says_how_the_executor_finished():
    class Unstartable(InstantBackend):
        @hookimpl
        def executor_start(self) -> None:
            raise ConnectionError("no broker")

    outcomes = []
    for backend, how in ((InstantBackend(), "end"), (Unstartable(), "start")):
        finish = Finish()
        executor = exechost.load_executor(backend, plugins=[finish])
        executor.queue_command("a", ["true"])
        if how == "start":
            with pytest.raises(exechost.BackendError):
                executor.start()
        else:
            executor.start()
            executor.end()
        outcomes.append(finish.seen[-1][:2])
        if how == "start":  # what was queued has its final state too
            assert finish.seen[0] == ("a", "failed", "terminated before it started")
    assert outcomes == [("finished", "ended"), ("finished", "not started")]


class Faulty:
    """An observer whose every hook raises, a wrapper around sync and start included."""

    @hookimpl
    def executor_task_state_changed(self) -> None:
        raise ValueError("state bug")

    @hookimpl(wrapper=True)
    def executor_sync(self) -> Any:
        result = yield
        raise KeyError("after sync")
        return result  # pragma: no cover

    @hookimpl(wrapper=True)
    def executor_start(self) -> Any:
        raise OSError("before start")
        yield  # pragma: no cover

    @hookimpl(wrapper=True)
    def executor_execute_async(self) -> Any:
        yield
        raise RuntimeError("lost the id")


def test_an_observer_that_raises_is_blamed_logged_once_and_breaks_nothing(caplog):
    holding = HoldingBackend()
    later = Recorder()
    with exechost.load_executor(holding, plugins=[later, Faulty()]) as executor:
        for key in ("a", "b"):
            executor.queue_command(key, ["true"])
        executor.heartbeat()
        executor.heartbeat()
        for key in ("a", "b"):
            holding.finish(key)
    events = executor.get_event_buffer()
    assert {key: event.state for key, event in events.items()} == {"a": "success", "b": "success"}
    assert events["a"].info.external_id is None  # the backend returned none; no error either
    assert [c for c in later.changes if c[0] == "a"] == [("a", "running"), ("a", "success")]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4  # once per hook, though the state hook raised four times
    messages = " ".join(r.getMessage() for r in errors)
    for hook, error in (
        ("executor_task_state_changed", "ValueError: state bug"),
        ("executor_sync", "KeyError: 'after sync'"),
        ("executor_start", "OSError: before start"),
        ("executor_execute_async", "RuntimeError: lost the id"),
    ):
        assert f"observer 'Faulty' (module {__name__}, not from an installed " in messages
        assert f"raised in {hook}: {error}" in messages
    assert "backend" not in messages
    assert executor.hooks.observer_errors[("Faulty", "executor_task_state_changed")] == 4


def test_a_wrapper_still_sees_and_may_pass_on_the_backends_own_exception(caplog):
    class Broken:
        @hookimpl
        def executor_execute_async(self) -> None:
            raise OSError("disk full")

    class Rethrows:
        @hookimpl(wrapper=True)
        def executor_execute_async(self) -> Any:
            try:
                return (yield)
            except OSError as exc:
                raise RuntimeError("wrapped on purpose") from exc

    with exechost.load_executor(Broken(), plugins=[Rethrows(), Faulty()]) as executor:
        executor.queue_command("a", ["true"])
    error = executor.get_event_buffer()["a"].info.error
    assert error == "executor_execute_async raised RuntimeError: wrapped on purpose"
    assert "executor_execute_async of 'Broken'" in caplog.text
