"""Discovery through entry points, with real distributions installed on ``sys.path``."""

from __future__ import annotations

import sys

import exechost
import pytest
from exechost import ExecutorNotFoundError, PluginLoadError
from exechost.discovery import EXECUTORS_GROUP, find_entries, find_executor

GOOD_MODULE = """
    from exechost import hookimpl

    class Backend:
        @hookimpl
        def executor_execute_async(self, executor, key):
            executor.success(key)
            return "good-" + key
"""

FLAKY_MODULE = """
    from exechost import hookimpl

    class Backend:
        @hookimpl
        def executor_execute_async(self, executor, key):
            raise ConnectionError("broker went away")
"""

BROKEN_MODULE = """
    raise ImportError("libfoo.so.1: cannot open shared object file")
"""


@pytest.fixture
def installed(distributions):
    """exechost-good (executor "good"), exechost-flaky and exechost-broken, whose import fails."""
    distributions.add("exechost-good", GOOD_MODULE, executors={"good": "Backend"})
    distributions.add("exechost-flaky", FLAKY_MODULE, executors={"flaky": "Backend"})
    distributions.add(
        "exechost-broken", BROKEN_MODULE, executors={"broken": "Backend"}, version="2.3.1"
    )
    return distributions


def test_listing_reads_metadata_and_imports_nothing(installed):
    entries = {entry.name: entry for entry in find_entries(EXECUTORS_GROUP)}
    assert {"local", "sequential", "good", "flaky", "broken"} <= set(entries)
    broken = entries["broken"]
    assert (broken.distribution, broken.version, broken.value) == (
        "exechost-broken",
        "2.3.1",
        "exechost_broken:Backend",
    )
    assert entries["local"].distribution == "exechost"
    assert not {"exechost_good", "exechost_flaky", "exechost_broken"} & set(sys.modules)


def test_an_installed_executor_is_selected_by_name_and_only_it_is_imported(installed):
    with exechost.load_executor("good") as executor:
        executor.queue_command("a", ["true"])
    assert executor.name == "good"
    assert executor.get_event_buffer()["a"].info.external_id == "good-a"
    assert "exechost_good" in sys.modules
    assert "exechost_broken" not in sys.modules and "exechost_flaky" not in sys.modules


def test_a_distribution_that_fails_to_import_does_not_affect_the_others(installed):
    with exechost.load_executor("sequential") as executor:
        executor.queue_command("a", ["true"])
    assert executor.get_event_buffer()["a"].state == "success"
    with pytest.raises(PluginLoadError) as raised:
        exechost.load_executor("broken")
    message = str(raised.value)
    assert "executor 'broken'" in message
    assert "distribution exechost-broken 2.3.1" in message
    assert "ImportError: libfoo.so.1: cannot open shared object file" in message
    assert isinstance(raised.value.__cause__, ImportError)
    with exechost.load_executor("good") as executor:
        executor.queue_command("b", ["true"])


def test_a_missing_attribute_is_a_load_error_too(distributions):
    distributions.add("exechost-typo", GOOD_MODULE, executors={"typo": "Backnd"})
    with pytest.raises(PluginLoadError, match="executor 'typo' from distribution exechost-typo"):
        exechost.load_executor("typo")


def test_an_unknown_name_lists_the_installed_executors(installed):
    with pytest.raises(ExecutorNotFoundError) as raised:
        exechost.load_executor("celery-typo")
    message = str(raised.value)
    assert "no executor named 'celery-typo' is installed" in message
    installed = sorted(entry.name for entry in find_entries(EXECUTORS_GROUP))
    assert {"broken", "flaky", "good", "local", "sequential"} <= set(installed)
    assert f"installed executors: {', '.join(installed)}" in message


def test_a_name_claimed_by_two_distributions_is_refused_naming_both(distributions):
    distributions.add("exechost-one", GOOD_MODULE, executors={"twin": "Backend"})
    distributions.add("exechost-two", GOOD_MODULE, executors={"twin": "Backend"})
    with pytest.raises(ExecutorNotFoundError, match=r"exechost-one 1\.0.*exechost-two 1\.0"):
        find_executor("twin")


def test_a_raising_backend_is_logged_with_its_name_and_distribution(installed, caplog):
    with exechost.load_executor("flaky") as executor:
        executor.queue_command("a", ["true"])
    info = executor.get_event_buffer()["a"].info
    assert info.error == "executor_execute_async raised ConnectionError: broker went away"
    assert "'flaky' (distribution exechost-flaky 1.0) raised ConnectionError" in caplog.text


def test_a_backend_class_from_a_distribution_is_described_by_its_distribution(installed):
    import exechost_flaky  # type: ignore[import-not-found]

    executor = exechost.load_executor(exechost_flaky.Backend)
    assert executor.hooks.describe("Backend") == "'Backend' (distribution exechost-flaky 1.0)"


def test_the_builtin_executors_come_from_exechosts_own_entry_points():
    assert find_executor("local").value == "exechost.executors.local:LocalBackend"
    assert find_executor("sequential").distribution == "exechost"
