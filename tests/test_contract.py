"""The API version handshake and capabilities: refused at load, checked when a task is queued."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import exechost
import pytest
from exechost import IncompatiblePluginError, InvalidTaskError, PluginLoadError
from exechost.contract import (
    api_incompatibility,
    api_supported,
    capabilities_record,
    describe_capabilities,
    option_types,
)
from exechost.hookspecs import API_VERSION, API_VERSION_TEXT, Capabilities, hookimpl


def backend_class(**attributes: object) -> type:
    """A backend class that runs nothing, with ``attributes`` as class attributes."""

    class Backend:
        @hookimpl
        def executor_execute_async(self, executor, key):
            executor.success(key)

    for name, value in attributes.items():
        setattr(Backend, name, value)
    return Backend


@pytest.mark.parametrize(
    ("api_range", "supported"),
    [
        (">=1.0,<2", True),
        (">=1", True),
        ("==1.0", True),
        (" >= 1.0 , < 2 ", True),
        (">=1.1,<2", False),
        (">=2.0,<3", False),
        ("<1", False),
        ("!=1.0", False),
    ],
)
def test_api_range_against_version_1_0(api_range, supported):
    assert api_supported(api_range, (1, 0)) is supported


@pytest.mark.parametrize("api_range", ["", "1.0", ">=one", "~=1.0", ">=1.0;<2"])
def test_unreadable_api_range_is_refused_with_an_example(api_range):
    with pytest.raises(ValueError, match=r"e\.g\."):
        api_supported(api_range)


def test_incompatible_backend_is_refused_at_load_naming_both_versions():
    backend = backend_class(exechost_api=">=2.0,<3")
    with pytest.raises(IncompatiblePluginError) as refused:
        exechost.load_executor(backend)
    message = str(refused.value)
    assert ">=2.0,<3" in message
    assert f"API {API_VERSION_TEXT}" in message
    assert exechost.__version__ in message
    assert isinstance(refused.value, PluginLoadError)


def test_backend_object_is_checked_too():
    with pytest.raises(IncompatiblePluginError, match="declares"):
        exechost.load_executor(backend_class(exechost_api="<1")())


def test_unreadable_declaration_is_refused_at_load():
    with pytest.raises(IncompatiblePluginError, match="unreadable API declaration"):
        exechost.load_executor(backend_class(exechost_api=(1, 0)))


def test_backend_that_declares_no_range_is_assumed_to_be_written_for_api_1():
    backend = backend_class()
    assert api_incompatibility(backend, "quiet") is None
    assert API_VERSION[0] == 1  # when this changes, undeclared backends are refused
    with exechost.load_executor(backend) as executor:
        executor.queue_command("t", ["true"])
    assert executor.get_event_buffer()["t"].state == "success"


def test_installed_incompatible_executor_is_refused_naming_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "future_executor.py").write_text(
        "class FutureBackend:\n    exechost_api = '>=3.1'\n"
    )
    dist_info = tmp_path / "future_executor-2.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: future-executor\nVersion: 2.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[exechost.executors]\nfuture = future_executor:FutureBackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(IncompatiblePluginError) as refused:
        exechost.load_executor("future")
    message = str(refused.value)
    assert "'future'" in message and ">=3.1" in message and API_VERSION_TEXT in message
    assert "future-executor 2.0" in message


def test_capabilities_must_be_a_capabilities_instance():
    with pytest.raises(PluginLoadError, match="capabilities must be"):
        exechost.load_executor(backend_class(capabilities={"can_cancel_running": True}))


def test_executor_config_of_capabilities_must_be_a_dataclass():
    with pytest.raises(TypeError, match="must be a dataclass"):
        Capabilities(executor_config=dict)


def test_builtin_executors_declare_their_capabilities():
    local = exechost.load_executor("local").capabilities
    assert local.can_cancel_running and local.ordered_start and not local.runs_elsewhere
    assert option_types(local) == {
        "env": "dict[str, str] | None",
        "cwd": "str | None",
        "timeout": "float | None",
    }
    assert not exechost.load_executor("sequential").capabilities.can_cancel_running


def test_undeclared_executor_config_key_is_refused_when_queued_listing_accepted_keys():
    executor = exechost.load_executor("local")
    with pytest.raises(InvalidTaskError) as refused:
        executor.queue_command("t", ["true"], executor_config={"memory": "2G"})
    message = str(refused.value)
    assert "'t'" in message and "'memory'" in message
    assert all(f"{key}" in message for key in ("cwd", "env", "timeout"))
    assert not executor.has_task("t")


def test_executor_config_value_of_the_wrong_type_is_refused_when_queued():
    executor = exechost.load_executor("local")
    wrong_type = re.escape("'timeout' must be float | None, got str")
    with pytest.raises(InvalidTaskError, match=wrong_type):
        executor.queue_command("t", ["true"], executor_config={"timeout": "soon"})
    with pytest.raises(InvalidTaskError, match="positive"):
        executor.queue_command("t", ["true"], executor_config={"timeout": -1})


def test_declared_executor_config_is_accepted_and_passed_on_unchanged(tmp_path: Path):
    @dataclass(frozen=True)
    class Options:
        memory: str = "1G"

    seen = []

    class Backend:
        capabilities = Capabilities(executor_config=Options)

        @hookimpl
        def executor_execute_async(self, executor, key, executor_config):
            seen.append(dict(executor_config))
            executor.success(key)

    with exechost.load_executor(Backend) as executor:
        executor.queue_command("t", ["true"], executor_config={"memory": "2G"})
    assert seen == [{"memory": "2G"}]


def test_backend_declaring_no_executor_config_gets_every_key():
    seen = []

    class Backend:
        @hookimpl
        def executor_execute_async(self, executor, key, executor_config):
            seen.append(dict(executor_config))
            executor.success(key)

    with exechost.load_executor(Backend) as executor:
        executor.queue_command("t", ["true"], executor_config={"anything": [1, 2]})
    assert seen == [{"anything": [1, 2]}]


def test_capabilities_described_for_listings():
    local = exechost.load_executor("local").capabilities
    assert describe_capabilities(local) == (
        "can_cancel_running, ordered_start; executor_config: env, cwd, timeout"
    )
    assert capabilities_record(local)["executor_config"]["timeout"] == "float | None"
    assert describe_capabilities(Capabilities()) == "no claims"
    assert capabilities_record(Capabilities(runs_elsewhere=True)) == {
        "can_cancel_running": False,
        "runs_elsewhere": True,
        "ordered_start": False,
        "can_adopt": False,
        "reports_running": False,
        "executor_config": None,
    }


def test_message_for_an_undeclared_backend_says_what_was_assumed(monkeypatch):
    monkeypatch.setattr("exechost.contract.API_VERSION", (2, 0))
    monkeypatch.setattr("exechost.contract.API_VERSION_TEXT", "2.0")
    problem = api_incompatibility(backend_class(), "old")
    assert problem is not None
    assert problem.startswith(
        "executor 'old' declares no exechost_api, so it is taken to support exechost API >=1.0,<2"
    )
    assert "provides API 2.0" in problem
