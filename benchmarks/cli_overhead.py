"""What the command line and routing cost over the Python API, as ratios measured in one run.

Runs the same N `true` tasks on the local executor three ways and prints the wall time of each:

* baseline: ``exechost.load_executor("local")`` driven in this process;
* multi: ``exechost.load_executors()`` with two local executors, the tasks routed by queue;
* cli: ``exechost run tasks.json`` in a subprocess (interpreter start, config, display, summary).

Usage: ``python benchmarks/cli_overhead.py [N] [PARALLELISM]`` (defaults 500 and 4).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import exechost

REPEATS = 5


def baseline(count: int, parallelism: int, log_dir: Path) -> float:
    started = time.perf_counter()
    with exechost.load_executor("local", parallelism=parallelism, log_dir=str(log_dir)) as ex:
        for n in range(count):
            ex.queue_command(("t", n), ["true"])
    assert len(ex.get_event_buffer()) == count
    return time.perf_counter() - started


def multi(count: int, parallelism: int, directory: Path) -> float:
    config = directory / "exechost.toml"
    config.write_text(
        f"parallelism = {parallelism}\n"
        f'[executors.local]\nlog_dir = "{directory / "a"}"\n'
        f'[executors.other]\nbackend = "local"\nqueues = ["other"]\nlog_dir = "{directory / "b"}"\n'
    )
    started = time.perf_counter()
    with exechost.load_executors(config) as executors:
        for n in range(count):
            executors.queue_command(("t", n), ["true"], queue="other" if n % 2 else None)
    assert len(executors.get_event_buffer()) == count
    return time.perf_counter() - started


def cli(count: int, parallelism: int, directory: Path) -> float:
    tasks = directory / "tasks.json"
    tasks.write_text(
        json.dumps({"tasks": [{"key": ["t", n], "command": ["true"]} for n in range(count)]})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECHOST_")}
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "exechost",
            "run",
            "--parallelism",
            str(parallelism),
            "--log-dir",
            str(directory / "logs"),
            str(tasks),
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    parallelism = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    ways = {"baseline": baseline, "multi": multi, "cli": cli}
    times: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as tmp:
        baseline(count, parallelism, Path(tmp))  # warm-up: imports, page cache
        for repeat in range(REPEATS):  # interleaved, so that noise hits every way alike
            for name, way in ways.items():
                directory = Path(tmp) / f"{name}{repeat}"
                directory.mkdir()
                times[name].append(way(count, parallelism, directory))
    base, routed, command = (statistics.median(times[name]) for name in ways)
    print(f"{count} `true` tasks, parallelism {parallelism}, median of {REPEATS}")
    print(f"  load_executor (baseline)      {base:7.2f} s  {count / base:8.0f} tasks/s")
    print(f"  load_executors, 2 executors   {routed:7.2f} s  ratio {routed / base:5.2f}")
    print(f"  exechost run (subprocess)     {command:7.2f} s  ratio {command / base:5.2f}")


if __name__ == "__main__":
    main()
