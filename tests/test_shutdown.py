"""No child outlives its host: a real host process is ended, signalled or left to exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import MARKER_VARIABLE, no_process_with, processes_with, wait_until

HOST = textwrap.dedent(
    """
    import signal, sys, time
    import exechost

    # as if started from a terminal, whatever the test runner ignores
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

    how, marker, log_dir = sys.argv[1:]
    config = {"env": {"EXECHOST_TEST_MARKER": marker}}
    executor = exechost.load_executor("local", parallelism=2, log_dir=log_dir)

    def queue_and_start():
        for key in ("a", "b", "waiting"):
            tree = ["sh", "-c", "sleep 100 & sleep 100"]
            executor.queue_command(key, tree, executor_config=config)
        executor.heartbeat()
        print("started", flush=True)

    if how == "with":  # end() waits for tasks that never finish until a signal comes
        try:
            with executor:
                queue_and_start()
        finally:
            events = executor.get_event_buffer()
            print(sorted((key, state.value, info.error) for key, (state, info) in events.items()))
    elif how == "bare":  # no with block: the signal arrives in the application's own code
        executor.start()
        queue_and_start()
        time.sleep(100)
    elif how == "burst":  # the signal arrives while a heartbeat starts hundreds of tasks
        executor = exechost.load_executor("local", parallelism=0, log_dir=log_dir)
        executor.start()
        for number in range(400):
            executor.queue_command(str(number), ["sleep", "100"], executor_config=config)
        print("started", flush=True)
        executor.heartbeat()
        time.sleep(100)
    elif how == "exit":  # the application returns without ending its executor
        executor.start()
        queue_and_start()
        time.sleep(1)
    """
)


def run_host(tmp_path, marker: str, how: str, processes: int = 8) -> subprocess.Popen[str]:
    script = tmp_path / "host.py"
    script.write_text(HOST)
    host = subprocess.Popen(
        [sys.executable, str(script), how, marker, str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, MARKER_VARIABLE: marker},
    )
    # by default: the host, its keeper, and 2 x (sh + 2 sleeps)
    wait_until(lambda: len(processes_with(marker)) >= processes, timeout=30)
    return host


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_a_host_ending_its_executor_leaves_no_child(tmp_path, marker, signum):
    host = run_host(tmp_path, marker, "with")
    host.send_signal(signum)
    out, err = host.communicate(timeout=20)
    assert host.returncode != 0
    no_process_with(marker, timeout=2)
    assert (
        "[('a', 'failed', 'terminated'), ('b', 'failed', 'terminated'), "
        "('waiting', 'failed', 'terminated before it started')]"
    ) in out, err


def test_sigterm_to_a_host_outside_a_with_block_leaves_no_child(tmp_path, marker):
    host = run_host(tmp_path, marker, "bare")
    host.terminate()
    host.communicate(timeout=20)
    assert host.returncode == 128 + signal.SIGTERM
    no_process_with(marker, timeout=2)


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_while_a_heartbeat_starts_many_tasks_leaves_no_child(tmp_path, marker, attempt):
    # the host, its keeper, then 1, 41 or 81 tasks: the heartbeat has begun when the signal comes
    host = run_host(tmp_path, marker, "burst", processes=3 + 40 * attempt)
    host.terminate()
    host.communicate(timeout=30)
    assert host.returncode == 128 + signal.SIGTERM
    no_process_with(marker, timeout=5)


def test_a_host_that_exits_without_ending_its_executor_leaves_no_child(tmp_path, marker):
    host = run_host(tmp_path, marker, "exit")
    _, err = host.communicate(timeout=20)
    assert host.returncode == 0, err
    no_process_with(marker, timeout=2)


def test_the_hosts_own_signal_handlers_are_restored_when_its_executors_end():
    import exechost

    before = signal.getsignal(signal.SIGTERM)
    with exechost.load_executor("sequential") as executor:
        during = signal.getsignal(signal.SIGTERM)
    assert executor.phase.value == "ended"
    assert signal.getsignal(signal.SIGTERM) == before
    if before is signal.SIG_DFL:
        assert during is not signal.SIG_DFL
