"""The slurm executor on the real cluster: failure reasons (from ``squeue``, or from ``sacct`` for
jobs gone from it), controller calls per sync, logs, adoption, and the errors before any task
runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path

import pytest
from conftest import load_slurm, slurm_settings
from exechost import Attempt, BackendError, Executor, TaskState

pytestmark = pytest.mark.usefixtures("slurm_cluster")


def drive(executor: Executor, timeout: float = 30.0) -> None:
    """Heartbeat ``executor`` until it is idle; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not executor.idle:
        assert time.monotonic() < deadline, f"tasks not done within {timeout:g} s: {executor!r}"
        executor.heartbeat()
        executor.wait(0.05)


def wait_until_gone(job_ids: Collection[str | None], timeout: float = 90.0) -> None:
    """Wait until ``squeue`` no longer lists the jobs ``job_ids`` (ended, then forgotten by the
    controller after the cluster's ``MinJobAge``); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        listed = subprocess.run(
            ["squeue", "--me", "-h", "--states=all", "-o", "%i"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not set(listed) & set(job_ids):
            return
        assert time.monotonic() < deadline, f"squeue still lists {job_ids} after {timeout:g} s"
        time.sleep(0.5)


def task_plugin() -> str:
    config = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, check=True
    ).stdout
    return next(
        line.split("=", 1)[1].strip() for line in config.splitlines() if "TaskPlugin " in line
    )


@pytest.mark.usefixtures("slurm_accounting")
def test_failure_reasons_reach_the_task_info(tmp_path: Path) -> None:
    """Out of memory, past the time limit, cancelled outside exechost, a failed exit status: each
    fails with Slurm's state and reason, and a success succeeds, whether the host saw the job end
    in ``squeue`` (it polls all along) or, gone from ``squeue``, asked ``sacct`` (it stops polling
    until the controller has forgotten its jobs). (Slurm checks time limits every 30 s or so:
    this test takes a minute or two.)"""
    hog = [sys.executable, "-c", "b = bytearray(400 * 2**20); import time; time.sleep(30)"]
    watched = load_slurm(**slurm_settings(tmp_path / "watched"))
    unwatched = load_slurm(**slurm_settings(tmp_path / "unwatched"))
    cancelled: dict[Executor, str] = {}
    with watched, unwatched:
        for executor in (watched, unwatched):
            executor.queue_command("oom", hog, executor_config={"memory": "50M"})
            executor.queue_command(
                "too-long", ["sleep", "300"], executor_config={"time_limit": "00:01:00"}
            )
            executor.queue_command("cancelled", ["sleep", "300"])
            executor.queue_command("exit-3", ["sh", "-c", "exit 3"])
            executor.queue_command("success", ["true"])
            executor.heartbeat()  # submits, then polls once
            job = executor.running["cancelled"].external_id
            assert job is not None
            subprocess.run(["scancel", job], check=True)
            cancelled[executor] = job
        job_ids = [info.external_id for info in unwatched.running.values()]
        drive(watched, timeout=150)
        wait_until_gone(job_ids, timeout=150)
        drive(unwatched, timeout=30)
    for executor in (watched, unwatched):
        events = executor.get_event_buffer()
        assert events.pop("success").state is TaskState.SUCCESS, events
        assert all(event.state is TaskState.FAILED for event in events.values()), dict(events)
        errors = {key: event.info.error or "" for key, event in events.items()}
        if task_plugin() == "task/cgroup":
            assert "OUT_OF_MEMORY" in errors["oom"], errors
        else:  # Slurm's polling kills it: it ends FAILED, killed
            assert "killed" in errors["oom"], errors
        assert "TIMEOUT" in errors["too-long"], errors
        assert "CANCELLED" in errors["cancelled"], errors
        assert f"Slurm job {cancelled[executor]}" in errors["cancelled"], errors
        assert errors["exit-3"].startswith("exit status 3 (Slurm job "), errors
        assert events["exit-3"].info.returncode == 3, events["exit-3"]
        started, ended = events["too-long"].info.started_at, events["too-long"].info.ended_at
        assert started is not None and ended is not None and 55 <= ended - started <= 150


@pytest.fixture
def status_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that lists every ``squeue``, ``sacct`` and ``scontrol`` call from now on: shims
    ahead on ``PATH`` note each call and run the real command."""
    shims = tmp_path / "shims"
    shims.mkdir()
    calls = tmp_path / "calls"
    for name in ("squeue", "sacct", "scontrol"):
        real = shutil.which(name)
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho {name} >> "{calls}"\nexec {real} "$@"\n')
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.mark.usefixtures("slurm_accounting")
@pytest.mark.parametrize("jobs", [1, 40])
def test_one_squeue_per_sync_however_many_jobs(
    tmp_path: Path, status_calls: Path, jobs: int
) -> None:
    """Each sync that polls makes exactly one ``squeue`` call, with 1 job or 40, and no other
    status call while ``squeue`` lists the jobs; once they are gone from it, one ``sacct``
    call for all of them."""
    settings = slurm_settings(tmp_path / "logs", poll_interval=0.0)
    executor = load_slurm(parallelism=0, **settings)
    with executor:
        for index in range(jobs):
            executor.queue_command(("sleeper", index), ["sleep", "3"])
        executor.heartbeat()  # submits them all, then polls once
        status_calls.unlink()
        for _ in range(5):
            executor.heartbeat()
        assert status_calls.read_text().split() == ["squeue"] * 5
        wait_until_gone([info.external_id for info in executor.running.values()])
        status_calls.unlink()
        executor.heartbeat()
        assert status_calls.read_text().split() == ["squeue", "sacct"]
        assert executor.idle
    events = executor.get_event_buffer()
    assert [event.state for event in events.values()] == [TaskState.SUCCESS] * jobs, events


def test_poll_interval_limits_the_calls(tmp_path: Path, status_calls: Path) -> None:
    executor = load_slurm(**slurm_settings(tmp_path / "logs", poll_interval=60.0))
    executor.start()
    try:
        executor.queue_command("sleeper", ["sleep", "1"])
        for _ in range(10):
            executor.heartbeat()
            executor.wait(0.1)
        assert status_calls.read_text().split() == ["scontrol", "squeue"]  # the start's ping
    finally:
        executor.terminate()


def test_output_env_and_cwd(tmp_path: Path) -> None:
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    executor = load_slurm(**slurm_settings(tmp_path / "logs"))
    with executor:
        executor.queue_command(
            "talk",
            ["sh", "-c", 'echo "out $GREETING"; echo err >&2; pwd'],
            executor_config={"env": {"GREETING": "hello; $(id)"}, "cwd": str(workdir)},
        )
    event = executor.get_event_buffer()["talk"]
    assert event.state is TaskState.SUCCESS, event
    assert event.info.log is not None and Path(event.info.log).parent == tmp_path / "logs"
    assert oct(Path(event.info.log).stat().st_mode & 0o777) == "0o600"
    log = executor.fetch_log("talk")
    assert log is not None
    assert log.splitlines() == ["out hello; $(id)", "err", str(workdir)]


def test_jobs_are_named_after_their_attempt(tmp_path: Path) -> None:
    executor = load_slurm(**slurm_settings(tmp_path / "logs"))
    with executor:
        executor.queue_command("named", ["sleep", "1"])
        executor.heartbeat()
        info = executor.running["named"]
        name = subprocess.run(
            ["squeue", "-h", "-j", str(info.external_id), "-O", "Name:|"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert name == f"exechost-{info.attempt_id}|"


def test_missing_commands_fail_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    executor = load_slurm()
    with pytest.raises(
        BackendError,
        match=r"SlurmError: Slurm's sbatch, squeue, scancel, scontrol not found on PATH",
    ):
        executor.start()


def test_a_controller_that_does_not_answer_fails_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    lines = [line for line in conf.splitlines() if not line.startswith("SlurmctldPort=")]
    (tmp_path / "slurm.conf").write_text("\n".join([*lines, "SlurmctldPort=1"]) + "\n")
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    executor = load_slurm(command_timeout=10.0)
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"SlurmError: scontrol failed .*DOWN"):
        executor.start()
    assert time.monotonic() - started < 15


def test_adopts_the_jobs_slurm_knows_and_leaves_the_others(tmp_path: Path) -> None:
    """A host that stopped without a word (no end, no terminate) left a running job and a job
    that ended meanwhile; a new host adopts both by name (one ``squeue`` call) and reports their
    ends. An attempt Slurm never saw is left to the host to run again."""
    gone = load_slurm(**slurm_settings(tmp_path / "logs"))
    gone.start()
    gone.queue_command("running", ["sleep", "2"])
    gone.queue_command("ended", ["sh", "-c", "exit 4"])
    gone.heartbeat()  # both submitted; the host is then abandoned, as if killed
    attempts = [
        Attempt(key, info.attempt_id or "", 1, (), None, {}, info.external_id)
        for key, info in gone.running.items()
    ]
    time.sleep(1.5)  # "ended" ends while no host watches
    never_submitted = Attempt("never", "0" * 32, 1, ("true",), None, {}, None)
    executor = load_slurm(**slurm_settings(tmp_path / "logs"))
    with executor:
        left = executor.adopt([*attempts, never_submitted])
        assert left == [never_submitted]
    events = executor.get_event_buffer()
    assert events["running"].state is TaskState.SUCCESS, events["running"]
    assert events["ended"].state is TaskState.FAILED, events["ended"]
    assert events["ended"].info.returncode == 4, events["ended"]
    assert events["ended"].info.log == str(tmp_path / "logs" / "ended.log")


@pytest.mark.usefixtures("slurm_accounting")
def test_adopts_the_jobs_gone_from_squeue_by_sacct(tmp_path: Path) -> None:
    """A host that stopped without a word for longer than the controller keeps ended jobs: a new
    host finds their ends in ``sacct`` (one call) and adopts them with their real outcome."""
    gone = load_slurm(**slurm_settings(tmp_path / "logs"))
    gone.start()
    handed = time.time()
    gone.queue_command("succeeded", ["true"])
    gone.queue_command("failed", ["sh", "-c", "exit 5"])
    gone.heartbeat()  # both submitted; the host is then abandoned, as if killed
    attempts = [
        Attempt(key, info.attempt_id or "", 1, (), None, {}, info.external_id, handed)
        for key, info in gone.running.items()
    ]
    wait_until_gone([attempt.external_id for attempt in attempts])
    executor = load_slurm(**slurm_settings(tmp_path / "logs"))
    with executor:
        assert executor.adopt(attempts) == []
    events = executor.get_event_buffer()
    assert events["succeeded"].state is TaskState.SUCCESS, events["succeeded"]
    assert events["failed"].state is TaskState.FAILED, events["failed"]
    assert events["failed"].info.returncode == 5, events["failed"]
    job_ids = {attempt.key: attempt.external_id for attempt in attempts}
    assert events["failed"].info.external_id == job_ids["failed"], events["failed"]


@pytest.mark.usefixtures("slurm_accounting")  # whose cluster forgets ended jobs in seconds
def test_without_accounting_a_job_gone_from_squeue_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status_calls: Path
) -> None:
    """Where the cluster keeps no accounting (here: the client commands read a ``slurm.conf``
    saying so), a job gone from ``squeue`` fails as gone; the first ``sacct`` call finds that
    out, and the executor asks no more. ``scontrol show job`` would not know the job either."""
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    lines = [line for line in conf.splitlines() if not line.startswith("AccountingStorage")]
    lines.append("AccountingStorageType=accounting_storage/none")
    (tmp_path / "slurm.conf").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    executor = load_slurm(**slurm_settings(tmp_path / "logs", poll_interval=0.0))
    with executor:
        for key, calls in (("first", ["squeue", "sacct"]), ("second", ["squeue"])):
            executor.queue_command(key, ["sh", "-c", "exit 3"])
            executor.heartbeat()  # submits, then polls once
            job = executor.running[key].external_id
            wait_until_gone([job])
            status_calls.unlink()
            executor.heartbeat()
            assert status_calls.read_text().split() == calls
            event = executor.get_event_buffer()[key]
            assert event.state is TaskState.FAILED, event
            assert event.info.error == (
                f"Slurm job {job} is gone: squeue no longer lists it, and the cluster keeps no "
                "accounting (sacct) that would tell its end"
            )
            shown = subprocess.run(["scontrol", "show", "job", str(job)], capture_output=True)
            assert shown.returncode != 0 and b"Invalid job id" in shown.stderr


@pytest.mark.parametrize("submits", [True, False])
def test_an_sbatch_that_timed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, submits: bool
) -> None:
    """``sbatch`` answers too late (a shim ahead on PATH stalls, after running the real one or
    not): a job it submitted is found by its name at the next poll, neither lost nor run twice;
    without one, the task fails once ``command_timeout`` has passed."""
    shims = tmp_path / "shims"
    shims.mkdir()
    real = f'{shutil.which("sbatch")} "$@"\n' if submits else ""
    (shims / "sbatch").write_text(f"#!/bin/sh\n{real}exec sleep 10\n")
    (shims / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    executor = load_slurm(**slurm_settings(tmp_path / "logs", command_timeout=2.0))
    with executor:
        executor.queue_command("slow-sbatch", ["echo", "ran once"])
    event = executor.get_event_buffer()["slow-sbatch"]
    if submits:
        assert event.state is TaskState.SUCCESS, event
        assert event.info.external_id is not None and event.info.external_id.isdigit(), event
        assert executor.fetch_log("slow-sbatch") == "ran once\n"
    else:
        assert event.state is TaskState.FAILED, event
        assert "sbatch did not answer within 2 s, and Slurm has no job named" in str(
            event.info.error
        )
