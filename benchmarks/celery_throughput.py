"""Throughput of the ``celery`` executor against Celery driven directly, on the same worker.

For N ``true`` tasks (default 500): the plugin (``queue_command`` x N, then ``end()``) against
Celery's own client (``send_task`` x N, then ``AsyncResult.get()`` for each), both running the
same task on the same real worker (Redis results, concurrency 2), alternated over several rounds
in one run. Prints tasks per second and the client's CPU time per task for each, and the ratio
plugin / raw of the median rates. The raw client is a Celery app with Celery's defaults.

Usage: python benchmarks/celery_throughput.py [--tasks 500] [--rounds 3] [--broker URL]
Needs Redis on 127.0.0.1:6379 (database 9 by default) and exechost-celery installed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import exechost
from celery import Celery
from exechost_celery.task import TASK_NAME
from exechost_celery.workerprocess import WorkerProcess
from throughput import time_true_tasks

REDIS_URL = "redis://127.0.0.1:6379/9"


def plugin_run(broker: str, queue: str, tasks: int, log_dir: str) -> float:
    executor = exechost.load_executor(
        "celery", broker_url=broker, result_backend=REDIS_URL, queue=queue, log_dir=log_dir
    )
    return time_true_tasks(executor, tasks)


def raw_run(broker: str, queue: str, tasks: int) -> float:
    app = Celery(broker=broker, backend=REDIS_URL, set_as_current=False)  # Celery's defaults
    started = time.perf_counter()
    results = [
        app.send_task(TASK_NAME, args=[["true"], f"raw-{index}", {}, 5.0, 1 << 20], queue=queue)
        for index in range(tasks)
    ]
    outcomes = [result.get(timeout=120) for result in results]
    elapsed = time.perf_counter() - started
    app.close()
    assert all(outcome["returncode"] == 0 for outcome in outcomes)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--broker", default=REDIS_URL, help="broker URL (default: %(default)s)")
    args = parser.parse_args()
    queue = f"exechost-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="exechost-celery-bench-") as scratch:
        log_path = Path(scratch) / "worker.log"
        with WorkerProcess(args.broker, REDIS_URL, queue, log_path=log_path, concurrency=2):
            runs: dict[str, Callable[[], float]] = {
                "celery send_task + get": lambda: raw_run(args.broker, queue, args.tasks),
                "exechost celery executor": lambda: plugin_run(
                    args.broker, queue, args.tasks, tempfile.mkdtemp(dir=scratch)
                ),
            }
            for run in runs.values():  # warm up the worker's pool and both clients
                run()
            rates: dict[str, list[float]] = {name: [] for name in runs}
            client_cpu: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.rounds):
                for name, run in runs.items():
                    cpu = time.process_time()
                    rates[name].append(args.tasks / run())
                    client_cpu[name].append((time.process_time() - cpu) / args.tasks * 1e6)
    print(
        f"{args.tasks} `true` tasks, worker concurrency 2, broker {args.broker}, "
        f"{args.rounds} alternated rounds"
    )
    print(f"  {'':<26} {'tasks/s median':>15} {'best':>6} {'client CPU us/task':>19}")
    for name, values in rates.items():
        cpu_per_task = statistics.median(client_cpu[name])
        print(
            f"  {name:<26} {statistics.median(values):15.0f} {max(values):6.0f} "
            f"{cpu_per_task:19.0f}"
        )
    raw, plugin = (statistics.median(values) for values in rates.values())
    print(f"  ratio plugin / raw (median): {plugin / raw:.2f}x   (target >= 0.9x)")


if __name__ == "__main__":
    main()
