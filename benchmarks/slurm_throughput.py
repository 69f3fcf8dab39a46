"""Throughput of the ``slurm`` executor against Slurm driven directly, on the same cluster.

For N ``true`` tasks (default 500): the plugin (``queue_command`` x N, then ``end()``) against a
plain loop of ``sbatch --parsable`` (the same batch script on stdin, the output to a file per
job) then one ``squeue`` poll loop until every job has ended (or, ended, left ``squeue``), both
polling every ``--poll-interval`` seconds, alternated over several rounds in one run. Prints
tasks per second, the controller calls (``sbatch``, ``squeue``, ``sacct``...) per task of each,
counted by shims ahead on ``PATH`` that run the real commands, and the ratio plugin / raw of the
median rates.

Usage: python benchmarks/slurm_throughput.py [--tasks 500] [--rounds 3] [--poll-interval 0.2]
    [--submit-concurrency 4]
Needs a Slurm cluster (``plugins/exechost-slurm/scripts/slurm-cluster.sh``) and exechost-slurm.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import exechost
from throughput import time_true_tasks

COMMANDS = ("sbatch", "squeue", "scancel", "scontrol", "sacct")
SCRIPT = "#!/bin/sh\nexec true\n"


def count_calls(shims: Path, calls: Path) -> None:
    """Put a shim of each Slurm command ahead on ``PATH``, noting each call in ``calls``."""
    shims.mkdir()
    for name in COMMANDS:
        real = shutil.which(name)
        if real is None:
            continue
        shim = shims / name
        shim.write_text(f'#!/bin/sh\necho {name} >> "{calls}"\nexec {real} "$@"\n')
        shim.chmod(0o755)
    os.environ["PATH"] = f"{shims}{os.pathsep}{os.environ['PATH']}"


def plugin_run(tasks: int, log_dir: str, poll_interval: float, concurrency: int) -> float:
    executor = exechost.load_executor(
        "slurm",
        parallelism=0,
        log_dir=log_dir,
        poll_interval=poll_interval,
        submit_concurrency=concurrency,
    )
    return time_true_tasks(executor, tasks)


def raw_run(tasks: int, log_dir: str, poll_interval: float) -> float:
    started = time.perf_counter()
    job_ids = set()
    for index in range(tasks):
        submitted = subprocess.run(
            ["sbatch", "--parsable", f"--output={log_dir}/raw-{index}.log"],
            input=SCRIPT,
            capture_output=True,
            text=True,
            check=True,
        )
        job_ids.add(submitted.stdout.strip())
    while True:
        listed = subprocess.run(
            ["squeue", "--me", "-h", "-t", "all", "-o", "%i %T"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        states = {
            job_id: state
            for job_id, state in zip(listed[::2], listed[1::2], strict=True)
            if job_id in job_ids
        }
        assert "FAILED" not in states.values()
        if set(states.values()) <= {"COMPLETED"}:  # squeue forgets a job MinJobAge after its end
            break
        time.sleep(poll_interval)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--submit-concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="exechost-slurm-bench-") as scratch:
        calls = Path(scratch) / "calls"
        count_calls(Path(scratch) / "shims", calls)
        runs: dict[str, Callable[[], float]] = {
            "sbatch loop + squeue poll": lambda: raw_run(
                args.tasks, tempfile.mkdtemp(dir=scratch), args.poll_interval
            ),
            "exechost slurm executor": lambda: plugin_run(
                args.tasks,
                tempfile.mkdtemp(dir=scratch),
                args.poll_interval,
                args.submit_concurrency,
            ),
        }
        for run in runs.values():  # warm up the node and both clients
            run()
        rates: dict[str, list[float]] = {name: [] for name in runs}
        made: dict[str, list[collections.Counter[str]]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                calls.unlink(missing_ok=True)
                rates[name].append(args.tasks / run())
                made[name].append(collections.Counter(calls.read_text().split()))
    print(
        f"{args.tasks} `true` tasks, one-node cluster ({os.cpu_count()} CPUs), "
        f"polls every {args.poll_interval:g} s, submit_concurrency {args.submit_concurrency}, "
        f"{args.rounds} alternated rounds"
    )
    print(f"  {'':<26} {'tasks/s median':>15} {'best':>6}  controller calls per task (median)")
    for name, values in rates.items():
        per_task = {
            command: statistics.median(counts[command] for counts in made[name]) / args.tasks
            for command in COMMANDS
            if any(counts[command] for counts in made[name])
        }
        shown = ", ".join(f"{command} {value:.3f}" for command, value in per_task.items())
        print(f"  {name:<26} {statistics.median(values):15.1f} {max(values):6.1f}  {shown}")
    raw, plugin = (statistics.median(values) for values in rates.values())
    print(f"  ratio plugin / raw (median): {plugin / raw:.2f}x   (target >= 1.0x)")


if __name__ == "__main__":
    main()
