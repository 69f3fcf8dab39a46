"""The ``dask`` executor end to end, through exechost's public API, on real Dask workers."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import exechost
import pytest
from distributed import Client, Future, LocalCluster
from exechost import BackendError, SettingsError, TaskState
from exechost.testing import processes_with
from exechost_dask import DaskBackend


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {condition}")
        time.sleep(0.05)


def kill_marked(marker: str) -> None:
    """Clean up after a test that left marked processes behind (it has failed by then)."""
    for pid in processes_with(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def listening_addresses(pids: list[int]) -> set[str]:
    """The IP addresses on which the processes ``pids`` accept TCP connections."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    addresses = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # LISTEN
                addresses.add(_ip(local.split(":")[0], width))
    return addresses


def _ip(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return ".".join(str(byte) for byte in reversed(raw))
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    return ipaddress.IPv6Address(b"".join(words)).compressed


def load(cluster: LocalCluster, tmp_path: Path, **settings: object) -> exechost.Executor:
    return exechost.load_executor(
        "dask", scheduler_address=cluster.scheduler_address, log_dir=str(tmp_path), **settings
    )


def test_dask_is_an_installed_executor_found_by_name(cluster, tmp_path):
    executor = load(cluster, tmp_path)
    assert executor.name == "dask"
    assert isinstance(executor.backend, DaskBackend)
    assert executor.parallelism == 0  # Dask queues what its workers cannot take yet


def test_commands_succeed_and_fail_with_exit_codes_and_logs(cluster, tmp_path):
    with load(cluster, tmp_path) as executor:
        executor.queue_command("ok", ["sh", "-c", "echo hello; echo oops >&2"])
        executor.queue_command("bad", ["sh", "-c", "exit 3"])
        executor.queue_command("missing", ["no-such-command-exechost"])
        executor.queue_command(("batch", "tuple", 7), ["true"])
    events = executor.get_event_buffer()
    assert events["ok"].state is TaskState.SUCCESS
    assert events["ok"].info.returncode == 0
    assert Path(events["ok"].info.log).read_text() == "hello\noops\n"
    assert events["ok"].info.log == str(tmp_path / "ok.log")
    assert events["bad"].state is TaskState.FAILED
    assert (events["bad"].info.returncode, events["bad"].info.error) == (3, "exit status 3")
    assert events["missing"].state is TaskState.FAILED
    assert "No such file or directory" in events["missing"].info.error
    assert events[("batch", "tuple", 7)].state is TaskState.SUCCESS
    for event in events.values():
        assert event.info.external_id == f"exechost-{event.info.attempt_id}"  # its Dask key
        assert event.info.started_at <= event.info.ended_at


def test_env_cwd_and_timeout_apply_on_the_worker(cluster, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    with load(cluster, tmp_path) as executor:
        executor.queue_command(
            "env",
            ["sh", "-c", 'echo "$GREETING"; pwd'],
            executor_config={"env": {"GREETING": "bonjour"}, "cwd": str(workdir)},
        )
        executor.queue_command(
            "slow", ["sh", "-c", "sleep 30 & wait"], executor_config={"timeout": 0.5}
        )
    events = executor.get_event_buffer()
    assert Path(events["env"].info.log).read_text() == f"bonjour\n{workdir}\n"
    assert events["slow"].state is TaskState.FAILED
    assert events["slow"].info.error == "timeout"
    assert events["slow"].info.ended_at - events["slow"].info.started_at < 10


def test_identical_commands_are_two_tasks(cluster, tmp_path):
    tally = tmp_path / "tally"
    command = ["sh", "-c", f"echo ran >> {tally}"]
    with load(cluster, tmp_path) as executor:
        executor.queue_command("first", command)
        executor.queue_command("second", command)
    events = executor.get_event_buffer()
    assert tally.read_text() == "ran\nran\n"
    assert events["first"].info.external_id != events["second"].info.external_id


def test_a_bad_executor_config_is_refused_when_queued_naming_the_accepted_keys(cluster, tmp_path):
    executor = load(cluster, tmp_path)
    with pytest.raises(exechost.InvalidTaskError) as refused:
        executor.queue_command("typo", ["true"], executor_config={"resource": {"GPU": 1}})
    assert "'resource'" in str(refused.value)
    for accepted in ("cwd", "env", "resources (dict[str, float] | None)", "timeout"):
        assert accepted in str(refused.value)
    with pytest.raises(exechost.InvalidTaskError, match="timeout must be a positive number"):
        executor.queue_command("zero", ["true"], executor_config={"timeout": 0})
    assert not executor.has_task("typo") and not executor.has_task("zero")


def test_many_tasks_each_reported_once(cluster, tmp_path):
    count = 300
    with load(cluster, tmp_path) as executor:
        for index in range(count):
            executor.queue_command(("many", index), ["true"])
    events = executor.get_event_buffer()
    assert len(events) == count
    assert {event.state for event in events.values()} == {TaskState.SUCCESS}
    for key in events:
        states = [state for state, _ in events.history(key)]
        assert states[0] is TaskState.RUNNING  # the host's, when it handed the task over
        assert [state for state in states if state.finished] == [TaskState.SUCCESS]


def test_resources_limit_how_many_tasks_run_at_once(tmp_path):
    spans = tmp_path / "spans"
    spans.mkdir()
    command = [
        "sh",
        "-c",
        f'date +%s.%N > {spans}/"$1".start; sleep 0.6; date +%s.%N > {spans}/"$1".end',
    ]
    with exechost.load_executor(
        "dask",
        n_workers=2,
        threads_per_worker=3,
        worker_resources={"licence": 1},
        log_dir=str(tmp_path),
    ) as executor:
        for index in range(4):
            executor.queue_command(
                f"licensed-{index}",
                [*command, "sh", str(index)],
                executor_config={"resources": {"licence": 1}},
            )
    events = executor.get_event_buffer()
    assert {event.state for event in events.values()} == {TaskState.SUCCESS}
    intervals = [
        (float((spans / f"{i}.start").read_text()), float((spans / f"{i}.end").read_text()))
        for i in range(4)
    ]
    most_at_once = max(
        sum(start <= moment < end for start, end in intervals) for moment, _ in intervals
    )
    assert most_at_once <= 2  # one per worker, though each worker has three threads


def test_the_embedded_cluster_runs_on_loopback_and_is_closed_at_the_end(tmp_path):
    executor = exechost.load_executor(
        "dask", n_workers=2, threads_per_worker=1, log_dir=str(tmp_path)
    )
    with executor:
        backend = executor.backend
        assert isinstance(backend, DaskBackend)
        assert backend.cluster is not None and backend.client is not None
        assert backend.cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        workers = backend.client.run(os.getpid)
        nannies = backend.client.run(os.getppid)
        assert len(workers) == 2
        assert os.getpid() not in workers.values()  # worker processes, not threads
        servers = [os.getpid(), *workers.values(), *nannies.values()]
        assert listening_addresses(servers) == {"127.0.0.1"}
        executor.queue_command("hello", ["echo", "hello"])
    assert executor.get_event_buffer()["hello"].state is TaskState.SUCCESS
    assert backend.cluster is None and backend.client is None
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers.values()))


def test_executors_sharing_a_cluster_leave_each_others_tasks_alone(cluster, tmp_path, marker):
    started = tmp_path / "started"
    first = load(cluster, tmp_path / "first")
    try:
        first.start()
        first.queue_command(
            "long",
            ["sh", "-c", f"touch {started}; sleep 2"],
            executor_config={"env": {"M": marker}},
        )
        first.heartbeat()
        wait_until(started.exists)
        with load(cluster, tmp_path / "second") as second:  # starts, ends: must not touch "long"
            second.queue_command("short", ["true"])
        assert second.get_event_buffer()["short"].state is TaskState.SUCCESS
        assert processes_with(marker)
        first.end()
        event = first.get_event_buffer()["long"]
        assert event.state is TaskState.SUCCESS, event
    finally:
        first.terminate()
        kill_marked(marker)


def test_a_closing_worker_kills_the_tasks_it_runs(tmp_path, marker):
    started = tmp_path / "started"
    own_cluster = LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    )
    try:
        with load(own_cluster, tmp_path) as executor:
            executor.queue_command(
                "cut-short",
                ["sh", "-c", f"touch {started}; sleep 60 & wait"],
                executor_config={"env": {"MARKER": marker}},
            )
            executor.heartbeat()
            wait_until(started.exists)
            assert processes_with(marker)
            own_cluster.close()  # the worker closes while the task runs
            wait_until(lambda: not processes_with(marker), timeout=10)
        assert executor.get_event_buffer()["cut-short"].state is TaskState.FAILED
    finally:
        own_cluster.close()
        kill_marked(marker)


def worker_pid_of_running_task(client: Client) -> int:
    """The PID of the worker that is executing a task now."""
    processing = client.processing()
    busy = [address for address, keys in processing.items() if keys]
    assert len(busy) == 1, processing
    pid: int = client.run(os.getpid, workers=busy)[busy[0]]
    return pid


def test_a_killed_worker_fails_its_task_with_killed_worker(tmp_path, marker):
    started = tmp_path / "started"
    executor = exechost.load_executor(
        "dask", n_workers=1, threads_per_worker=1, allowed_failures=0, log_dir=str(tmp_path)
    )
    try:
        with executor:
            executor.queue_command(
                "doomed",
                ["sh", "-c", f"touch {started}; sleep 60"],
                executor_config={"env": {"MARKER": marker}},
            )
            executor.heartbeat()
            wait_until(started.exists)
            backend = executor.backend
            assert isinstance(backend, DaskBackend) and backend.client is not None
            os.kill(worker_pid_of_running_task(backend.client), signal.SIGKILL)
        event = executor.get_event_buffer()["doomed"]
        assert event.state is TaskState.FAILED
        assert event.info.error.startswith("KilledWorker: ")
        assert "workers died while running it" in event.info.error
        assert event.info.log == str(tmp_path / "doomed.log")
        wait_until(lambda: not processes_with(marker))  # killed by the restarted worker
    finally:
        kill_marked(marker)


def test_a_task_survives_a_killed_worker_within_the_allowed_failures(tmp_path, marker):
    attempts = tmp_path / "attempts"
    # the first attempt hangs; the second, on the restarted worker, finishes
    command = ["sh", "-c", f'echo x >> {attempts}; [ "$(wc -l < {attempts})" -ge 2 ] || sleep 60']
    try:
        with exechost.load_executor(
            "dask", n_workers=1, threads_per_worker=1, allowed_failures=1, log_dir=str(tmp_path)
        ) as executor:
            executor.queue_command("retried", command, executor_config={"env": {"M": marker}})
            executor.heartbeat()
            wait_until(attempts.exists)
            first_attempt = processes_with(marker)
            assert first_attempt
            backend = executor.backend
            assert isinstance(backend, DaskBackend) and backend.client is not None
            os.kill(worker_pid_of_running_task(backend.client), signal.SIGKILL)
            # the restarted worker kills what its dead predecessor left running
            wait_until(lambda: not set(first_attempt) & set(processes_with(marker)))
        event = executor.get_event_buffer()["retried"]
        assert event.state is TaskState.SUCCESS
        assert attempts.read_text() == "x\nx\n"
    finally:
        kill_marked(marker)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("cluster_kind", ["scheduler_address", "embedded"])
def test_terminate_kills_running_tasks_and_leaves_no_process(
    cluster, tmp_path, marker, cluster_kind
):
    settings: dict[str, object] = (
        {"scheduler_address": cluster.scheduler_address}
        if cluster_kind == "scheduler_address"
        else {"n_workers": 2, "threads_per_worker": 2}
    )
    started = tmp_path / "started"
    started.mkdir()
    executor = exechost.load_executor("dask", log_dir=str(tmp_path), **settings)
    try:
        executor.start()
        for index in range(6):  # four run on the two workers' four threads; two wait in Dask
            executor.queue_command(
                f"long-{index}",
                ["sh", "-c", f"touch {started}/{index}; sleep 60 & wait"],
                executor_config={"env": {"MARKER": marker}},
            )
        executor.heartbeat()
        wait_until(lambda: len(processes_with(marker)) == 8)  # a sh and a sleep each
        executor.terminate()
        events = executor.get_event_buffer()
        assert {key: event.state for key, event in events.items()} == {
            f"long-{index}": TaskState.FAILED for index in range(6)
        }
        assert {event.info.error for event in events.values()} == {"terminated"}
        wait_until(lambda: not processes_with(marker), timeout=5)
        time.sleep(1)  # the two that waited in Dask never start
        assert len(list(started.iterdir())) == 4
        assert not processes_with(marker)
    finally:
        kill_marked(marker)


@dataclasses.dataclass
class DaskCLICluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]


@pytest.fixture
def dask_cli_cluster(tmp_path: Path) -> Iterator[DaskCLICluster]:
    """``dask scheduler`` and ``dask worker`` (one worker process under a nanny, two threads),
    started as a user would, the scheduler configured to allow no failures; stopped by PID."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    common = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    servers: list[subprocess.Popen[bytes]] = []
    with (tmp_path / "dask.log").open("wb") as log:
        try:
            servers.append(
                subprocess.Popen(
                    [dask, "scheduler", "--port", str(port), *common],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
            servers.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nworkers", "1", "--nthreads", "2", *common],
                    stdout=log,
                    stderr=log,
                )
            )
            with Client(address, timeout=30, set_as_default=False) as client:
                client.wait_for_workers(1, timeout=30)
            yield DaskCLICluster(address, *servers)
        finally:
            for server in reversed(servers):
                server.terminate()
            for server in servers:
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def test_a_running_scheduler_with_dask_cli_workers(dask_cli_cluster, tmp_path, marker):
    started = tmp_path / "started"
    try:
        with exechost.load_executor(
            "dask", scheduler_address=dask_cli_cluster.address, log_dir=str(tmp_path / "logs")
        ) as executor:
            executor.queue_command(
                "ok", ["sh", "-c", "echo $MARKER"], executor_config={"env": {"MARKER": marker}}
            )
            executor.queue_command("bad", ["false"])
            executor.queue_command(
                "doomed",
                ["sh", "-c", f"touch {started}; sleep 60"],
                executor_config={"env": {"MARKER": marker}},
            )
            executor.heartbeat()
            wait_until(started.exists)
            # a finished task's result dies with its worker too; one the executor has not yet
            # seen finish would be run again (see the docs' Faults)
            wait_until(lambda: not executor.has_task("ok") and not executor.has_task("bad"))
            backend = executor.backend
            assert isinstance(backend, DaskBackend) and backend.client is not None
            assert backend.cluster is None  # nothing embedded
            os.kill(worker_pid_of_running_task(backend.client), signal.SIGKILL)
        events = executor.get_event_buffer()
        assert events["ok"].state is TaskState.SUCCESS
        assert Path(events["ok"].info.log).read_text() == f"{marker}\n"
        assert events["bad"].info.error == "exit status 1"
        assert events["doomed"].info.error.startswith("KilledWorker: ")
        wait_until(lambda: not processes_with(marker))  # the restarted worker killed it
    finally:
        kill_marked(marker)


def test_a_lost_scheduler_fails_the_running_tasks_with_the_reason(dask_cli_cluster, tmp_path):
    started = tmp_path / "started"
    executor = exechost.load_executor(
        "dask", scheduler_address=dask_cli_cluster.address, log_dir=str(tmp_path / "logs")
    )
    with executor:
        executor.queue_command("cut-off", ["sh", "-c", f"touch {started}; sleep 3"])
        executor.heartbeat()
        wait_until(started.exists)
        dask_cli_cluster.scheduler.kill()
        dask_cli_cluster.scheduler.wait()
    event = executor.get_event_buffer()["cut-off"]
    assert event.state is TaskState.FAILED
    assert "scheduler-connection-lost" in event.info.error


def test_cluster_settings_are_refused_with_a_scheduler_address():
    with pytest.raises(SettingsError, match=r"n_workers, allowed_failures shape the embedded"):
        exechost.load_executor(
            "dask", scheduler_address="tcp://127.0.0.1:8786", n_workers=2, allowed_failures=0
        )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_workers": 0}, "n_workers must be at least 1"),
        ({"allowed_failures": -1}, "allowed_failures must be at least 0"),
        ({"n_worker": 2}, "unknown setting 'n_worker' (did you mean 'n_workers'?)"),
        ({"worker_resources": {"GPU": "one"}}, "setting 'worker_resources' must be"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(settings, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        exechost.load_executor("dask", **settings)


def test_an_unreachable_scheduler_fails_start_with_the_address(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    executor = exechost.load_executor(
        "dask", scheduler_address=address, connect_timeout=1, log_dir=str(tmp_path)
    )
    with pytest.raises(BackendError, match=re.escape(address)):
        executor.start()
    with pytest.raises(exechost.ExecutorStateError):
        executor.queue_command("late", ["true"])


def test_a_task_cancelled_in_dask_by_someone_else_fails_with_the_reason(cluster, tmp_path, marker):
    try:
        with load(cluster, tmp_path) as executor:
            executor.queue_command(
                "cancelled", ["sleep", "60"], executor_config={"env": {"MARKER": marker}}
            )
            executor.heartbeat()
            dask_key = executor.running["cancelled"].external_id
            with Client(cluster.scheduler_address, set_as_default=False) as other:
                other.cancel([Future(dask_key, other)], force=True)
        event = executor.get_event_buffer()["cancelled"]
        assert event.state is TaskState.FAILED
        assert "cancel" in event.info.error.lower()
    finally:
        kill_marked(marker)
