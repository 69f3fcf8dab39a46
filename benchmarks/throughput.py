"""Process throughput: the ``local`` executor against peers doing the same work.

Every peer runs the same ``true`` command ``tasks`` times, ``parallelism`` at a time. The Python
peers do what the ``local`` executor does for each task: output to a fresh log file, stdin from
``/dev/null``, the command in a session of its own. ``xargs`` does none of that and is the bar.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import exechost

COMMAND = ["true"]

Peer = Callable[[int, int, Path], None]


def time_true_tasks(executor: exechost.Executor, tasks: int) -> float:
    """Seconds ``executor`` (made, not started) takes from its start to its end to run ``tasks``
    ``true`` tasks, every one of which must succeed."""
    started = time.perf_counter()
    with executor:
        for number in range(tasks):
            executor.queue_command(("bench", number), COMMAND)
    elapsed = time.perf_counter() - started
    events = executor.get_event_buffer()
    failed = [key for key, event in events.items() if event.state != exechost.TaskState.SUCCESS]
    if len(events) != tasks or failed:
        raise RuntimeError(f"{executor.name}: {len(events)} events, failed: {failed[:5]}")
    return elapsed


def run_local_executor(
    tasks: int, parallelism: int, log_dir: Path, journal: Path | bool = False
) -> None:
    executor = exechost.load_executor(
        "local", parallelism=parallelism, log_dir=str(log_dir), journal=journal
    )
    time_true_tasks(executor, tasks)


def _run_with_log(number: int, log_dir: Path) -> None:
    with open(log_dir / f"{number}.log", "xb") as log:
        subprocess.run(
            COMMAND,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            check=True,
        )


def run_thread_pool(tasks: int, parallelism: int, log_dir: Path) -> None:
    with ThreadPoolExecutor(parallelism) as pool:
        for _ in pool.map(lambda number: _run_with_log(number, log_dir), range(tasks)):
            pass


def run_loop(tasks: int, parallelism: int, log_dir: Path) -> None:
    for number in range(tasks):
        _run_with_log(number, log_dir)


def run_xargs(tasks: int, parallelism: int, log_dir: Path) -> None:
    numbers = "".join(f"{number}\n" for number in range(tasks)).encode()
    subprocess.run(
        ["xargs", "-P", str(parallelism), "-n", "1", *COMMAND], input=numbers, check=True
    )


PEERS: dict[str, Peer] = {
    "local executor": run_local_executor,
    "xargs -P": run_xargs,
    "ThreadPoolExecutor + subprocess.run": run_thread_pool,
    "subprocess.run loop": run_loop,
}


def measure(tasks: int, parallelism: int, rounds: int) -> dict[str, list[float]]:
    """Each peer's tasks per second in each of ``rounds`` rounds, the peers interleaved."""
    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    for _ in range(rounds):
        for name, peer in PEERS.items():
            with tempfile.TemporaryDirectory(prefix="exechost-bench-") as log_dir:
                began = time.perf_counter()
                peer(tasks, parallelism, Path(log_dir))
                elapsed = time.perf_counter() - began
            rates[name].append(tasks / elapsed)
    return rates
