"""Throughput of the ``dask`` executor against Dask driven directly, on one cluster, in one run.

Run it with ``python benchmarks/dask_throughput.py`` (exechost-dask installed). It starts one
LocalCluster of worker processes and, round after round, runs the same batch of ``true`` tasks:

* ``raw subprocess.run``: ``client.submit`` of a function calling ``subprocess.run(["true"])``,
  then one ``client.gather`` (Dask at its barest);
* ``raw run_task``: ``client.submit`` of the plugin's worker function (log file, own session,
  kill registry) then one ``gather``: Dask doing exactly the plugin's per-task work;
* ``exechost dask``: the executor queueing the batch and ending (host bookkeeping, batched
  result collection, every task reported).

It prints each variant's best and median round in tasks/s, the plugin's ratios to each raw
variant, and the executor's fixed cost per batch (connecting its own client and registering its
worker plugin, then closing: what a batch pays that the raw loops, reusing one client, do not).
Target: >= 0.9x the raw engine. Log files go to the temporary directory: set ``TMPDIR`` (e.g.
``TMPDIR=/dev/shm``) to see what their file system costs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import exechost
from distributed import Client, LocalCluster
from exechost.process import ProcessOptions, log_path_for
from exechost_dask.worker import run_task


def run_true() -> int:
    return subprocess.run(["true"], check=False).returncode


def raw_subprocess(client: Client, tasks: int, log_dir: Path) -> None:
    futures = [client.submit(run_true, pure=False) for _ in range(tasks)]
    assert client.gather(futures) == [0] * tasks


def raw_run_task(client: Client, tasks: int, log_dir: Path) -> None:
    options = ProcessOptions()
    futures = []
    for index in range(tasks):
        task_id = f"raw-{uuid.uuid4().hex}"
        log_path = str(log_path_for(log_dir, f"raw-{index}"))
        futures.append(
            client.submit(run_task, task_id, ["true"], log_path, options, key=task_id, pure=False)
        )
    assert client.gather(futures) == [None] * tasks  # run_task's result for a success


def exechost_dask(client: Client, tasks: int, log_dir: Path) -> None:
    address = client.scheduler.address
    with exechost.load_executor("dask", scheduler_address=address, log_dir=str(log_dir)) as ex:
        for index in range(tasks):
            ex.queue_command(("bench", index), ["true"])
    events = ex.get_event_buffer()
    assert len(events) == tasks
    assert all(event.state is exechost.TaskState.SUCCESS for event in events.values())


VARIANTS: dict[str, Callable[[Client, int, Path], None]] = {
    "raw subprocess.run": raw_subprocess,
    "raw run_task": raw_run_task,
    "exechost dask": exechost_dask,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks per round (500)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each variant (5)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (2)")
    args = parser.parse_args()

    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    fixed_costs: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="exechost-bench-") as scratch,
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        for variant in VARIANTS.values():  # warm up: imports, worker-side caches
            variant(client, 50, Path(tempfile.mkdtemp(dir=scratch)))
        for _ in range(args.rounds):
            for name, variant in VARIANTS.items():  # interleaved, so noise hits all alike
                log_dir = Path(tempfile.mkdtemp(dir=scratch))
                started = time.perf_counter()
                variant(client, args.tasks, log_dir)
                rates[name].append(args.tasks / (time.perf_counter() - started))
            started = time.perf_counter()
            exechost_dask(client, 0, Path(scratch))
            fixed_costs.append(time.perf_counter() - started)

    print(
        f"{args.tasks} `true` tasks, {args.rounds} rounds, LocalCluster of {args.workers} worker "
        f"processes x {args.threads} threads"
    )
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:<20} best {max(values):7.0f} tasks/s   median {median:7.0f}")
    fixed = statistics.median(fixed_costs)
    print(f"  exechost dask start + end with no task: median {fixed:.3f} s")
    plugin = rates["exechost dask"]
    for raw in ("raw subprocess.run", "raw run_task"):
        best = max(plugin) / max(rates[raw])
        median = statistics.median(plugin) / statistics.median(rates[raw])
        print(
            f"  exechost dask / {raw:<20} best {best:.2f}x   median {median:.2f}x (target >= 0.9x)"
        )


if __name__ == "__main__":
    main()
