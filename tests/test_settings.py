"""A backend's settings: validated against its dataclass, with errors that say what is allowed."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Literal

import exechost
import pytest
from exechost import InvalidTaskError, SettingsError


@dataclass(frozen=True)
class ClusterSettings:
    url: str
    workers: int = 2
    memory_gb: float = 1.5
    mode: Literal["fast", "safe"] = "safe"
    scratch: pathlib.Path | None = None
    queues: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)


class ClusterBackend:
    Settings = ClusterSettings

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings


VALID = (
    "Valid settings: labels (dict[str, str]), memory_gb (float), mode (one of 'fast', 'safe'), "
    "queues (tuple[str, ...]), scratch (Path | None), url (str), workers (int)"
)


def backend_settings(**values: object) -> ClusterSettings:
    backend = exechost.load_executor(ClusterBackend, **values).backend
    assert isinstance(backend, ClusterBackend)
    return backend.settings


def test_the_backend_gets_its_validated_settings():
    settings = backend_settings(
        url="redis://127.0.0.1",
        workers=4,
        memory_gb=2,
        mode="fast",
        scratch="/tmp/x",
        queues=["a", "b"],
        labels={"team": "data"},
    )
    assert settings == ClusterSettings(
        "redis://127.0.0.1", 4, 2.0, "fast", pathlib.Path("/tmp/x"), ("a", "b"), {"team": "data"}
    )
    assert backend_settings(url="u") == ClusterSettings("u")


def test_an_unknown_key_is_named_with_a_suggestion_and_the_valid_keys():
    with pytest.raises(SettingsError) as raised:
        backend_settings(url="u", worker=3)
    assert str(raised.value) == (
        "invalid settings for executor 'ClusterBackend': unknown setting 'worker' "
        f"(did you mean 'workers'?). {VALID}"
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"workers": "4"}, "setting 'workers' must be int, got str '4'"),
        ({"workers": True}, "setting 'workers' must be int, got bool True"),
        ({"memory_gb": "lots"}, "setting 'memory_gb' must be float, got str 'lots'"),
        ({"mode": "turbo"}, "setting 'mode' must be one of 'fast', 'safe', got str 'turbo'"),
        ({"queues": "abc"}, "setting 'queues' must be tuple[str, ...], got str 'abc'"),
        ({"labels": {"team": 1}}, "setting 'labels' must be dict[str, str], got dict"),
    ],
)
def test_a_wrong_type_is_named_with_the_expected_type_and_the_valid_keys(values, problem):
    with pytest.raises(SettingsError) as raised:
        backend_settings(url="u", **values)
    assert problem in str(raised.value)
    assert str(raised.value).endswith(VALID)


def test_a_missing_required_value_is_named():
    with pytest.raises(SettingsError) as raised:
        backend_settings(workers=1)
    assert str(raised.value) == (
        f"invalid settings for executor 'ClusterBackend': setting 'url' is required. {VALID}"
    )


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError, match=r"unknown setting 'x'.*'url' is required.*'workers'"):
        backend_settings(x=1, workers="many")


def test_an_installed_executors_settings_are_validated_by_name():
    with pytest.raises(
        SettingsError, match=r"executor 'local': unknown setting 'logdir' \(did you mean 'log_dir'"
    ):
        exechost.load_executor("local", logdir="/tmp")


def test_a_backend_without_settings_takes_none(instant):
    class Plain:
        pass

    with pytest.raises(SettingsError, match="it takes no settings, got colour"):
        exechost.load_executor(Plain, colour="red")
    with pytest.raises(SettingsError, match="a backend object, which is already configured"):
        exechost.load_executor(instant, colour="red")


def test_a_backends_own_check_becomes_a_settings_error():
    @dataclass
    class Checked:
        port: int = 1

        def __post_init__(self) -> None:
            if not 0 < self.port < 65536:
                raise ValueError(f"port {self.port} is out of range")

    class Backend:
        Settings = Checked

        def __init__(self, settings: Checked) -> None:
            pass

    with pytest.raises(SettingsError, match="executor 'Backend': port 70000 is out of range"):
        exechost.load_executor(Backend, port=70000)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"timout": 3}, "unknown setting 'timout' (did you mean 'timeout'?)"),
        ({"timeout": -1}, "timeout must be a positive number of seconds, got -1"),
        ({"env": {"A": 1}}, "setting 'env' must be dict[str, str] | None"),
    ],
)
def test_per_task_options_of_the_local_executor_are_refused_when_queued(tmp_path, options, problem):
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        with pytest.raises(InvalidTaskError) as raised:
            executor.queue_command("a", ["true"], executor_config=options)
        assert not executor.has_task("a")
    assert "task 'a' (executor_config of executor 'local')" in str(raised.value)
    assert problem in str(raised.value)
    assert not executor.get_event_buffer()
