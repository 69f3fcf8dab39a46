"""What ``exechost run`` costs over the Python API and how it scales: ratios measured in one run.

Every run is ``true`` tasks at parallelism 2 on the local executor, with logs on tmpfs
(``/dev/shm`` when there is one), and prints:

* throughput on 20,000 tasks: ``exechost.load_executor("local")`` driven in this process, and
  ``exechost run tasks.jsonl`` in a subprocess (interpreter start, config, display, summary),
  both keeping a journal (``exechost run`` keeps one by default),
  each twice in the order API, CLI, CLI, API: the CLI's ratio to the API (target >= 0.9);
* scale: the CLI's time per task on 2,000 (median of three) and on 100,000 tasks (target: the
  second <= 1.2x the first);
* GNU parallel (``parallel -j2 true :::: args``) on 2,000 and on 20,000 tasks, against the CLI
  on as many (target >= 3x its throughput). On 2,000 tasks the two take turns three times and the
  line gives the median of the three pairs' ratios (one run of either takes a few seconds, in
  which this machine's speed changes); on 20,000 one parallel run is compared with the CLI's two.
  It is not a dependency: install it for the benchmark (``apt-get install -y parallel``); without
  it the line says ``parallel not installed``;
* memory: the peak RSS of reading a 1,000,000-task JSON-lines file and queueing every task, as
  ``exechost run`` does, in bytes per task (target <= 1024).

The CLI runs with its modules' bytecode cached, as after ``pip install`` (which compiles it):
``PYTHONDONTWRITEBYTECODE``, set on some CI machines, is dropped for its runs, so the warm-up run
writes the caches. Without them each run would compile exechost and rich again (about 90 ms).

Usage: ``python benchmarks/cli_overhead.py [--quick]`` (``--quick``: every count / 10).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import exechost
from exechost.testing import hermetic_environment

PARALLELISM = 2
COUNTS = {"api": 20_000, "small": 2_000, "large": 100_000, "memory": 1_000_000}

MEMORY_PROBE = """
import os, resource, sys
from exechost.cli.batch import Batch
from exechost.cli.run import route_tasks
from exechost.cli.taskfile import read_task_file
from exechost.multi import load_executors

executors = load_executors(log_dir=sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tasks = read_task_file(sys.argv[1])
routes = route_tasks(tasks, executors)
executors = executors.subset({name for name, _ in routes})
executors.start()
batch = Batch()
for name, task in routes:
    executors.queue_task(name, task)
    batch.add(task.key)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((peak - before) * 1024 / len(tasks))
sys.stdout.flush()
os._exit(0)  # nothing was started: no need to fail a million queued tasks one by one
"""


def clean_env() -> dict[str, str]:
    return hermetic_environment("PYTHONDONTWRITEBYTECODE")


def write_tasks(path: Path, count: int) -> Path:
    with path.open("w") as file:
        for n in range(count):
            file.write(json.dumps({"key": ["t", n], "command": ["true"]}) + "\n")
    return path


def api(count: int, directory: Path) -> float:
    started = time.perf_counter()
    with exechost.load_executor(
        "local",
        parallelism=PARALLELISM,
        log_dir=str(directory / "api-logs"),
        journal=directory / f"api-journal-{time.monotonic_ns()}.sqlite",
    ) as executor:
        for n in range(count):
            executor.queue_command(("t", n), ["true"])
    assert len(executor.get_event_buffer()) == count
    return time.perf_counter() - started


def cli(count: int, directory: Path) -> float:
    tasks = write_tasks(directory / f"tasks-{count}.jsonl", count)
    logs = directory / f"cli-logs-{count}"
    command = [sys.executable, "-m", "exechost", "run", "--parallelism", str(PARALLELISM)]
    started = time.perf_counter()
    result = subprocess.run(
        [*command, "--log-dir", str(logs), str(tasks)],
        cwd=directory,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    shutil.rmtree(logs)
    return elapsed


def gnu_parallel(count: int, directory: Path) -> float | None:
    if shutil.which("parallel") is None:
        return None
    arguments = directory / "parallel-args"
    arguments.write_text("".join(f"{n}\n" for n in range(count)))
    started = time.perf_counter()
    subprocess.run(
        ["parallel", "--will-cite", f"-j{PARALLELISM}", "true", "::::", str(arguments)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def memory_per_task(count: int, directory: Path) -> float:
    tasks = write_tasks(directory / f"tasks-{count}.jsonl", count)
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tasks), str(directory / "memory-logs")],
        cwd=directory,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    tasks.unlink()
    return float(probe.stdout)


def main() -> None:
    scale = 10 if "--quick" in sys.argv[1:] else 1
    counts = {name: count // scale for name, count in COUNTS.items()}
    tmpfs = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=tmpfs) as tmp:
        directory = Path(tmp)
        api(200, directory)  # warm-up: imports, page cache
        cli(200, directory)  # and the CLI's bytecode caches
        # A, B, B, A: a load that rises or falls during the run weighs on both alike
        api_time = api(counts["api"], directory)
        cli_time = cli(counts["api"], directory) + cli(counts["api"], directory)
        api_time = (api_time + api(counts["api"], directory)) / 2
        cli_time /= 2
        pairs = [
            (cli(counts["small"], directory), gnu_parallel(counts["small"], directory))
            for _ in range(3)
        ]
        small = statistics.median(ours for ours, _ in pairs)
        large = cli(counts["large"], directory)
        parallel_api = gnu_parallel(counts["api"], directory)
        memory = memory_per_task(counts["memory"], directory)
    print(f"`true` tasks, parallelism {PARALLELISM}, logs in {tmpfs or tempfile.gettempdir()}")
    n = counts["api"]
    print(f"  API, {n} tasks (mean of 2)   {api_time:7.2f} s  {n / api_time:7.0f} tasks/s")
    print(
        f"  exechost run, {n} tasks (2)  {cli_time:7.2f} s  {n / cli_time:7.0f} tasks/s  "
        f"throughput vs API: {api_time / cli_time:.2f}x (target >= 0.9)"
    )
    per_small = small / counts["small"] * 1e6
    per_large = large / counts["large"] * 1e6
    print(f"  exechost run, {counts['small']} tasks     {small:7.2f} s  {per_small:7.0f} us/task")
    print(
        f"  exechost run, {counts['large']} tasks   {large:7.2f} s  {per_large:7.0f} us/task  "
        f"vs {counts['small']}: {per_large / per_small:.2f}x (target <= 1.2)"
    )
    if parallel_api is None:  # so none of the pairs' either
        print("  GNU parallel: parallel not installed (apt-get install -y parallel)")
    else:
        theirs_small = statistics.median(theirs or 0.0 for _, theirs in pairs)
        ratio_small = statistics.median((theirs or 0.0) / ours for ours, theirs in pairs)
        comparisons = (
            (counts["small"], theirs_small, ratio_small, 3),
            (n, parallel_api, parallel_api / cli_time, 1),
        )
        for count, theirs, ratio, runs in comparisons:
            print(
                f"  GNU parallel, {count} tasks ({runs}){' ' * (6 - len(str(count)))}"
                f"{theirs:7.2f} s  {count / theirs:7.0f} tasks/s  exechost run's throughput vs it: "
                f"{ratio:.2f}x (target >= 3)"
            )
    print(
        f"  memory, reading and queueing {counts['memory']} tasks: {memory:.0f} bytes per task "
        "(target <= 1024)"
    )


if __name__ == "__main__":
    main()
