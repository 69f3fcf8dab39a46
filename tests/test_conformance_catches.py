"""The conformance suite fails a backend that breaks the contract, on the test that names the
breach: each backend below is the ``local`` one with one fault."""

from __future__ import annotations

import pytest

BROKEN_BACKENDS = '''
from exechost.executors.local import LocalBackend
from exechost.hookspecs import hookimpl
from exechost.testing import ExecutorConformance


class ReportsTwice(LocalBackend):
    """Reports every finished task once more at the next sync."""

    def __init__(self, settings):
        super().__init__(settings)
        self.handed_over = set()

    @hookimpl
    def executor_execute_async(self, executor, key, command, executor_config):
        self.handed_over.add(key)
        return super().executor_execute_async(executor, key, command, executor_config)

    @hookimpl
    def executor_sync(self, executor):
        for key in self.handed_over - set(executor.running):
            executor.success(key)


class ReportsSuccessAtOnce(LocalBackend):
    """Says a task succeeded as soon as it is handed over, while it still runs."""

    @hookimpl
    def executor_execute_async(self, executor, key, command, executor_config):
        pid = super().executor_execute_async(executor, key, command, executor_config)
        executor.success(key)
        return pid


class DropsEnv(LocalBackend):
    """Claims the env option but does not pass it on."""

    @hookimpl
    def executor_execute_async(self, executor, key, command, executor_config):
        options = {k: v for k, v in executor_config.items() if k != "env"}
        return super().executor_execute_async(executor, key, command, options)


class ForgetsOnTerminate(LocalBackend):
    """Claims can_cancel_running, but leaves the work running on terminate."""

    @hookimpl
    def executor_terminate(self):
        pass


class Test_ReportsTwice(ExecutorConformance):
    executor = ReportsTwice
    bulk_tasks = 40


class Test_ReportsSuccessAtOnce(ExecutorConformance):
    executor = ReportsSuccessAtOnce


class Test_DropsEnv(ExecutorConformance):
    executor = DropsEnv


class Test_ForgetsOnTerminate(ExecutorConformance):
    executor = ForgetsOnTerminate
'''


@pytest.mark.parametrize(
    ("broken", "caught_by"),
    [
        ("ReportsTwice", "test_no_event_lost_or_duplicated"),
        ("ReportsSuccessAtOnce", "test_parallelism_never_exceeded"),
        ("ReportsSuccessAtOnce", "test_end_waits_for_everything"),
        ("DropsEnv", "test_env_option"),
        ("ForgetsOnTerminate", "test_terminate_kills_running_work"),
    ],
)
def test_suite_fails_a_broken_backend(pytester: pytest.Pytester, broken: str, caught_by: str):
    pytester.makepyfile(test_broken=BROKEN_BACKENDS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", f"test_broken.py::Test_{broken}::{caught_by}"
    )
    result.assert_outcomes(failed=1)


def test_suite_passes_the_unbroken_backend(pytester: pytest.Pytester):
    pytester.makepyfile(
        test_sound="""
        from exechost.executors.local import LocalBackend
        from exechost.testing import ExecutorConformance

        class TestSound(ExecutorConformance):
            executor = LocalBackend
            bulk_tasks = 40
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=16)
