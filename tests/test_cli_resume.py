"""The journal through the real command: ``exechost run`` records, ``exechost runs`` lists,
``exechost run --resume`` skips what succeeded, and a killed host loses nothing."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import cli_environment
from exechost import TaskState
from exechost.cli.resume import latest_attempts
from exechost.journal import open_journal, read_journal
from exechost.testing import wait_until_gone
from exechost.testing.crashes import CliHosts, marker_counts, write_tasks

Cli = Callable[..., subprocess.CompletedProcess[str]]

TASKS = """\
[[tasks]]
key = "ok"
command = ["sh", "-c", "echo x >> ok.marks"]
[[tasks]]
key = ["flaky", 1]
command = ["sh", "-c", "echo x >> flaky.marks; test -e fixed"]
"""


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_resume_skips_what_succeeded_and_runs_the_rest(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tasks.toml").write_text(TASKS)
    first = cli("run", "tasks.toml")
    assert first.returncode == 1, first.stderr
    assert (tmp_path / ".exechost" / "journal.sqlite").stat().st_mode & 0o777 == 0o600
    (tmp_path / "fixed").touch()

    second = cli("run", "--resume", "--json", "tasks.toml")

    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["resume"] == {
        "resumed_from": 1,
        "skipped": 1,
        "adopted": 0,
        "rerun": 1,
        "changed": 0,
        "unadopted": "rerun",
        "may_have_run": [],
    }
    assert "resumed run 1: 1 skipped (succeeded before), 0 adopted, 1 run again" in second.stderr
    assert (lines(tmp_path / "ok.marks"), lines(tmp_path / "flaky.marks")) == (1, 2)
    # the resumed run records the skipped task too: resuming it again runs nothing
    third = cli("run", "--resume", "--json", "tasks.toml")
    assert json.loads(third.stdout)["resume"]["skipped"] == 2
    assert (lines(tmp_path / "ok.marks"), lines(tmp_path / "flaky.marks")) == (1, 2)


def test_runs_lists_the_runs_and_one_runs_tasks(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tasks.toml").write_text(TASKS)
    cli("run", "tasks.toml")
    cli("run", "--resume", "tasks.toml")

    listed = cli("runs", "--json")
    shown = cli("runs", "1")

    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [(r["id"], r["status"], r["resumed_from"]) for r in runs] == [
        (2, "ended", 1),
        (1, "ended", None),
    ]
    assert runs[1]["taskfile"] == str(tmp_path / "tasks.toml")
    assert runs[1]["tasks"] == {"success": 1, "failed": 1}
    assert shown.returncode == 0, shown.stderr
    assert 'failed       ["flaky", 1] (local) attempt 1, exit 1' in shown.stdout
    assert "flaky__1.log" in shown.stdout


def test_a_changed_command_runs_again(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tasks.toml").write_text(TASKS)
    (tmp_path / "fixed").touch()
    cli("run", "tasks.toml")
    (tmp_path / "tasks.toml").write_text(TASKS.replace("echo x >> ok", "echo y >> ok"))

    resumed = cli("run", "--resume", "--json", "tasks.toml")

    assert json.loads(resumed.stdout)["resume"]["changed"] == 1
    assert lines(tmp_path / "ok.marks") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--resume", "tasks.toml"], "holds no run of"),
        (["run", "--resume", "-"], "--resume needs a TASKFILE"),
        (["run", "--resume", "--no-journal", "tasks.toml"], "cannot go with --no-journal"),
        (["runs"], "no journal at"),
        (["runs", "--no-journal"], "the journal is turned off"),
    ],
)
def test_nothing_to_resume_is_a_usage_error(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "tasks.toml").write_text(TASKS)
    if args[0] == "run" and "--no-journal" not in args and "-" not in args:
        (tmp_path / ".exechost").mkdir()
        cli("run", "--journal", ".exechost/journal.sqlite", "--", "true")  # a run of no file

    done = cli(*args, stdin="")

    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_no_journal_records_nothing(cli: Cli, tmp_path: Path) -> None:
    assert cli("run", "--no-journal", "--", "true").returncode == 0
    (tmp_path / "exechost.toml").write_text("journal = false\n")
    assert cli("run", "--", "true").returncode == 0
    assert not (tmp_path / ".exechost").exists()


def test_a_journal_in_use_or_corrupt_is_refused_and_kept(cli: Cli, tmp_path: Path) -> None:
    running = subprocess.Popen(
        [sys.executable, "-m", "exechost", "run", "--", "sleep", "30"],
        cwd=tmp_path,
        env=cli_environment(),
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / ".exechost" / "journal.sqlite.lock").exists():
            assert time.monotonic() < deadline, "the first run did not create its journal"
            time.sleep(0.05)
        time.sleep(0.5)
        second = cli("run", "--", "true")
        listed = cli("runs", "--json")
    finally:
        running.kill()
        running.wait(30)
    assert second.returncode == 2
    assert f"is in use by another exechost (pid {running.pid})" in second.stderr
    assert listed.returncode == 0, listed.stderr  # reading needs no lock
    assert json.loads(listed.stdout)[0]["status"] == "running"
    assert json.loads(cli("runs", "--json").stdout)[0]["status"] == "died"

    garbage = tmp_path / "bad.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    refused = cli("run", "--journal", "bad.sqlite", "--", "true")
    assert refused.returncode == 2
    assert "cannot be read" in refused.stderr
    assert garbage.read_bytes() == b"not a database" * 100


def test_a_task_file_sets_retries_and_each_attempt_is_journaled(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tasks.toml").write_text(
        '[[tasks]]\nkey = "flaky"\nretries = 2\nretry_delay = 0.1\n'
        'command = ["sh", "-c", "echo x >> marks; test $(wc -l < marks) -ge 3"]\n'
    )

    done = cli("run", "tasks.toml")
    shown = cli("runs", "1", "--json")

    assert done.returncode == 0, done.stderr
    assert lines(tmp_path / "marks") == 3
    (task,) = json.loads(shown.stdout)["task_list"]
    assert (task["state"], task["attempt"]) == ("success", 3)


def test_a_bad_retry_policy_in_a_task_file_is_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "tasks.toml").write_text('[[tasks]]\nkey = "a"\nretries = -1\ncommand = ["true"]\n')
    done = cli("run", "tasks.toml")
    assert done.returncode == 2
    assert "tasks.toml, task 1: retries must be an int >= 0, got -1" in done.stderr


def test_resume_looks_back_through_a_resumed_run_killed_before_it_recorded_its_tasks(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "tasks.toml").write_text(TASKS)
    cli("run", "tasks.toml")
    journal = open_journal(tmp_path / ".exechost" / "journal.sqlite")
    with contextlib.closing(journal):
        journal.begin_run(str(tmp_path / "tasks.toml"), resumed_from=1)  # then killed: no tasks
    (tmp_path / "fixed").touch()

    resumed = cli("run", "--resume", "--json", "tasks.toml")

    assert json.loads(resumed.stdout)["resume"]["resumed_from"] == 2
    assert json.loads(resumed.stdout)["resume"]["skipped"] == 1
    assert (lines(tmp_path / "ok.marks"), lines(tmp_path / "flaky.marks")) == (1, 2)


def test_killed_host_without_detach_leaves_no_task_and_resume_runs_the_unfinished(
    tmp_path: Path,
) -> None:
    """Issue 8's fault test on ``local`` without detach: ``exechost run`` SIGKILLed at a random
    moment during 300 tasks, 10 times: no task process outlives it by 2 s, and ``--resume`` runs
    exactly the tasks the journal does not show succeeded."""
    rng = random.Random()
    figures = []
    for number in range(10):
        folder = tmp_path / f"round{number}"
        folder.mkdir()
        env_marker = uuid.uuid4().hex
        marker = folder / "marker"
        (folder / "exechost.toml").write_text("[executors.local]\nparallelism = 16\n")
        keys = write_tasks(
            folder / "tasks.json", 300, marker, {"env": {"EXECHOST_TEST_MARKER": env_marker}}
        )
        hosts = CliHosts(folder, folder / "tasks.json", ["--config", "exechost.toml"])
        host = hosts()
        deadline = time.monotonic() + 60
        while not marker.exists():  # the batch has begun
            assert host.poll() is None and time.monotonic() < deadline, hosts.describe()
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 1.0))
        host.kill()
        host.wait(30)
        survived = wait_until_gone(env_marker, timeout=2.0)
        before = dict(marker_counts(marker))
        journal, _ = read_journal(folder / ".exechost" / "journal.sqlite")
        with contextlib.closing(journal):
            succeeded = {
                str(task.key)
                for task in latest_attempts(journal, 1).values()
                if task.state is TaskState.SUCCESS
            }
        resumed = hosts()
        assert resumed.wait(120) == 0, hosts.describe()
        outcome = hosts.results()[-1]["resume"]
        after = marker_counts(marker)
        assert outcome["skipped"] == len(succeeded)
        assert outcome["rerun"] == 300 - len(succeeded)
        assert all(after[key] == before[key] == 1 for key in succeeded)
        assert all(after[key] == before.get(key, 0) + 1 for key in keys if key not in succeeded)
        figures.append((len(succeeded), outcome["rerun"], survived))
    print(
        "\nlocal without detach, 10 kills during 300 tasks: (succeeded before the kill, run "
        f"again, seconds the last task outlived its host): {figures}"
    )


def test_resume_offers_an_attempt_to_its_executor_though_no_task_routes_to_it_now(
    tmp_path: Path,
) -> None:
    """A task moved to another executor after its host was killed: its detached attempt is still
    adopted by the executor that ran it, which is started for that, and not run again."""
    (tmp_path / "exechost.toml").write_text(
        '[executors.old]\nbackend = "local"\ndetach = true\nlog_dir = "old-logs"\n'
        '[executors.new]\nbackend = "local"\n'
    )
    task = '[[tasks]]\nkey = "moved"\ncommand = ["sh", "-c", "touch began; sleep 2; echo x >> m"]\n'
    (tmp_path / "tasks.toml").write_text(task + 'executor = "old"\n')
    hosts = CliHosts(tmp_path, tmp_path / "tasks.toml", ["--config", "exechost.toml"])
    host = hosts()
    deadline = time.monotonic() + 30
    while not (tmp_path / "began").exists():
        assert host.poll() is None and time.monotonic() < deadline, hosts.describe()
        time.sleep(0.01)
    host.kill()
    host.wait(30)
    (tmp_path / "tasks.toml").write_text(task + 'executor = "new"\n')

    resumed = hosts()

    assert resumed.wait(60) == 0, hosts.describe()
    outcome = hosts.results()[-1]["resume"]
    assert (outcome["adopted"], outcome["rerun"]) == (1, 0)
    assert lines(tmp_path / "m") == 1
