"""The conformance suite fails a backend that breaks the contract, on the test that names the
breach: each backend below is the ``local`` one with one fault."""

from __future__ import annotations

import pytest
from conftest import Distributions, make_distribution

BROKEN_BACKENDS = '''
import subprocess
from pathlib import Path

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


class NamesFilesAfterKeys(LocalBackend):
    """Writes a marker file named after each key, unsanitised, in the working directory."""

    @hookimpl
    def executor_execute_async(self, executor, key, command, executor_config):
        with open(f"{Path.cwd()}/{key}.started", "w"):
            pass
        return super().executor_execute_async(executor, key, command, executor_config)


class HidesFailures:
    """Runs each task as a child process; reports those that exit 0, never those that do not."""

    def __init__(self):
        self.children = {}

    @hookimpl
    def executor_execute_async(self, key, command):
        self.children[key] = subprocess.Popen(command)

    @hookimpl
    def executor_sync(self, executor):
        for key, child in list(self.children.items()):
            if child.poll() == 0:
                del self.children[key]
                executor.success(key)

    @hookimpl
    def executor_terminate(self):
        for child in self.children.values():
            child.kill()
            child.wait()


class Test_ReportsTwice(ExecutorConformance):
    executor = ReportsTwice
    bulk_tasks = 40


class Test_ReportsSuccessAtOnce(ExecutorConformance):
    executor = ReportsSuccessAtOnce


class Test_DropsEnv(ExecutorConformance):
    executor = DropsEnv


class Test_ForgetsOnTerminate(ExecutorConformance):
    executor = ForgetsOnTerminate


class Test_NamesFilesAfterKeys(ExecutorConformance):
    executor = NamesFilesAfterKeys


class Test_HidesFailures(ExecutorConformance):
    executor = HidesFailures
    bulk_tasks = 40
    check_timeout = 3
class CancelsNothing(LocalBackend):
    """Says it cancelled a running task, and lets it run."""

    @hookimpl
    def executor_cancel(self):
        return True


class Test_CancelsNothing(ExecutorConformance):
    executor = CancelsNothing
'''


ADOPTING_BACKENDS = """
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from exechost import TaskInfo
from exechost.hookspecs import Capabilities, hookimpl
from exechost.testing import ExecutorConformance


class Detached:
    \"\"\"Runs each task in a session of its own, which outlives the host; the task's exit status
    lands in a file named after its attempt id, from which any host reports it.\"\"\"

    capabilities = Capabilities(can_adopt=True)

    @dataclass
    class Settings:
        state_dir: str

    def __init__(self, settings):
        self.state_dir = Path(settings.state_dir)
        self.watching = {}
        self.children = []

    @hookimpl
    def executor_execute_async(self, key, command, attempt_id):
        status = self.state_dir / attempt_id
        # recorded before the child starts, as a real backend's submission is: a host killed
        # while the child's shell is still starting must not leave an attempt no one adopts
        Path(f"{status}.started").touch()
        script = '"$@"; echo $? > "$0.tmp"; mv "$0.tmp" "$0"'
        self.children.append(
            subprocess.Popen(
                ["sh", "-c", script, str(status), *command],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
            )
        )
        self.watching[key] = status

    @hookimpl
    def executor_adopt(self, tasks):
        taken = [a for a in tasks if (self.state_dir / f"{a.attempt_id}.started").exists()]
        self.watch(taken)
        return [attempt.key for attempt in taken]

    def watch(self, attempts):
        for attempt in attempts:
            self.watching[attempt.key] = self.state_dir / attempt.attempt_id

    @hookimpl
    def executor_sync(self, executor):
        self.children = [child for child in self.children if child.poll() is None]
        for key, status in list(self.watching.items()):
            if status.exists():
                del self.watching[key]
                code = int(status.read_text())
                report = executor.success if code == 0 else executor.fail
                report(key, TaskInfo(returncode=code))


class LosesAdopted(Detached):
    \"\"\"Says it took every attempt over, and never reports them.\"\"\"

    def watch(self, attempts):
        pass


class TakesNothing(Detached):
    \"\"\"Claims can_adopt, but takes no attempt over: the host runs the live ones again.\"\"\"

    @hookimpl
    def executor_adopt(self, tasks):
        return []


class Adopting(ExecutorConformance):
    timeout_scale = 0.4

    @pytest.fixture
    def executor_settings(self, tmp_path):
        state = tmp_path / "state"
        state.mkdir()
        return {"state_dir": str(state)}


class Test_Detached(Adopting):
    executor = Detached


class Test_LosesAdopted(Adopting):
    executor = LosesAdopted


class Test_TakesNothing(Adopting):
    executor = TakesNothing
"""

CRASH_TEST = "test_adopts_after_host_crash"


@pytest.mark.parametrize("broken", ["LosesAdopted", "TakesNothing"])
def test_crash_test_fails_a_backend_that_loses_or_reruns_adopted_tasks(
    pytester: pytest.Pytester, broken: str
) -> None:
    pytester.makepyfile(test_adopting=ADOPTING_BACKENDS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", f"test_adopting.py::Test_{broken}::{CRASH_TEST}"
    )
    result.assert_outcomes(failed=1)
    expected = (
        "the end of the adopted tasks: not within"
        if broken == "LosesAdopted"
        else "run more than once"
    )
    result.stdout.fnmatch_lines([f"*{expected}*"])


def test_crash_test_passes_a_backend_that_adopts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_adopting=ADOPTING_BACKENDS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", f"test_adopting.py::Test_Detached::{CRASH_TEST}"
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("broken", "caught_by"),
    [
        ("ReportsTwice", "test_no_event_lost_or_duplicated"),
        ("ReportsSuccessAtOnce", "test_parallelism_never_exceeded"),
        ("ReportsSuccessAtOnce", "test_end_waits_for_everything"),
        ("DropsEnv", "test_env_option"),
        ("ForgetsOnTerminate", "test_terminate_kills_running_work"),
        ("NamesFilesAfterKeys", "test_hostile_keys"),
        ("CancelsNothing", "test_cancel_running_task"),
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
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=19, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*does not claim can_adopt*"])


def test_suite_fails_in_bounded_time_a_backend_that_never_reports_failures(
    pytester: pytest.Pytester,
) -> None:
    """Each check that runs a failing task fails at its deadline, naming the tasks never
    reported; the run ends (a hang would be cut by the subprocess timeout, failing this test)."""
    pytester.makepyfile(test_broken=BROKEN_BACKENDS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "test_broken.py::Test_HidesFailures", timeout=180
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 3, outcomes
    never = "the check did not finish within 3 s; tasks never reported:"
    result.stdout.fnmatch_lines(
        [
            "*Test_HidesFailures.test_success_and_failure_report_exit_codes*",
            f"{never} ('dag', 'three', 1), 'one'",
            "*Test_HidesFailures.test_no_event_lost_or_duplicated*",
            f"{never} ('bulk', 0), ('bulk', 10), *",
            "*Test_HidesFailures.test_hostile_keys*",
            f"{never} '/absolute', *",
        ]
    )


HERMETIC_LOCAL = """
from exechost.testing import ExecutorConformance

class TestLocal(ExecutorConformance):
    executor = "local"
    bulk_tasks = 40
    use_environment = {use_environment}
"""


@pytest.fixture
def hostile_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, distributions: Distributions
) -> None:
    """An author's shell and folder that change or break an application's executors: a
    parallelism and a misspelt setting in ``EXECHOST_*``, an ``exechost.toml`` with both, and an
    installed observer plugin that fails to import."""
    monkeypatch.setenv("EXECHOST_PARALLELISM", "1")
    monkeypatch.setenv("EXECHOST_EXECUTORS__LOCAL__LOG_DIRR", "x")
    pytester.makefile(".toml", exechost="parallelism = 1\n[executors.local]\nlog_dirr = 'x'\n")
    make_distribution(
        distributions.root,
        "exechost-broken-observer",
        {"broken_observer": "raise RuntimeError('the observer was imported')\n"},
        {"exechost.plugins": {"broken": "broken_observer"}},
    )
    distributions.modules.append("broken_observer")


@pytest.mark.usefixtures("hostile_environment")
def test_suite_is_hermetic(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hermetic=HERMETIC_LOCAL.format(use_environment=False))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=19, skipped=1)


@pytest.mark.usefixtures("hostile_environment")
def test_suite_applies_the_environment_when_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hermetic=HERMETIC_LOCAL.format(use_environment=True))
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "test_hermetic.py::TestLocal::test_lifecycle_order"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the observer was imported*"])
