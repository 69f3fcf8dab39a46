"""Print exechost's benchmark figures, each with its target; run by hand, not by pytest.

    python benchmarks/run.py            # the figures of issue 2 (about a minute)
    python benchmarks/run.py --quick    # the same measurements, small and fast (a smoke test)

Every comparison is a ratio of two figures measured in the same run, on the same machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from exechost.executor import DEFAULT_SYNC_TIMEOUT

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bookkeeping
import imports
import journal
import throughput


@dataclass(frozen=True)
class Scale:
    tasks: int
    rounds: int
    small_queue: int
    large_queue: int
    heartbeats: int
    overhead_tasks: int
    memory_tasks: int
    journal_batches: tuple[int, ...]
    import_rounds: int


FULL = Scale(2_000, 5, 1_000, 100_000, 301, 100_000, 100_000, (2_000, 20_000, 100_000), 20)
QUICK = Scale(100, 1, 100, 2_000, 21, 2_000, 2_000, (200, 2_000), 2)


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--parallelism", type=int, default=2, help="for the process peers")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    parallelism = args.parallelism
    print(f"exechost benchmarks ({'quick' if args.quick else 'full'}), {os.cpu_count()} CPUs")

    print(
        f"\n1. {scale.tasks} `true` tasks at parallelism {parallelism}, "
        f"best of {scale.rounds} interleaved rounds"
    )
    rates = throughput.measure(scale.tasks, parallelism, scale.rounds)
    best = {name: max(per_round) for name, per_round in rates.items()}
    local = best["local executor"]
    for name, rate in best.items():
        print(f"   {name:<38} {rate:8.0f} tasks/s   local / this = {local / rate:5.2f}x")
    for peer, target in (("xargs -P", 1.0), ("ThreadPoolExecutor + subprocess.run", 0.9)):
        ratio = local / best[peer]
        same_round = statistics.median(
            mine / theirs for mine, theirs in zip(rates["local executor"], rates[peer], strict=True)
        )
        print(
            f"   vs {peer}: {ratio:.2f}x best against best, {same_round:.2f}x median within a "
            f"round (target >= {target}x: {verdict(ratio >= target)})"
        )

    small = bookkeeping.heartbeat_seconds(scale.small_queue, scale.heartbeats)
    large = bookkeeping.heartbeat_seconds(scale.large_queue, scale.heartbeats)
    print(f"\n2. one heartbeat starting 32 tasks (median of {scale.heartbeats}), instant backend")
    print(f"   {scale.small_queue:>7} queued: {small * 1e6:8.1f} us")
    print(f"   {scale.large_queue:>7} queued: {large * 1e6:8.1f} us")
    print(f"   ratio: {large / small:.2f}x (target <= 3x: {verdict(large <= 3 * small)})")

    per_task = bookkeeping.seconds_per_task(scale.overhead_tasks)
    print(
        f"\n3. host overhead per task, queue -> execute -> report -> event ({scale.overhead_tasks})"
    )
    print(f"   {per_task * 1e6:.1f} us per task (target <= 30 us: {verdict(per_task <= 30e-6)})")
    on_host: list[float] = []
    on_thread: list[float] = []
    for _ in range(scale.rounds):  # interleaved, so that both see the same machine
        on_host.append(bookkeeping.seconds_per_task(scale.overhead_tasks, sync_timeout=0))
        on_thread.append(
            bookkeeping.seconds_per_task(scale.overhead_tasks, sync_timeout=DEFAULT_SYNC_TIMEOUT)
        )
    host_best, thread_best = min(on_host), min(on_thread)
    print(
        f"   a backend with executor_sync, best of {scale.rounds}: {host_best * 1e6:.1f} us per "
        f"task with sync on the host's thread (sync_timeout = 0), {thread_best * 1e6:.1f} us on "
        f"its sync thread (the default): {thread_best / host_best:.2f}x"
    )

    memory = bookkeeping.bytes_per_queued_task(scale.memory_tasks)
    print(f"\n4. memory per queued task ({scale.memory_tasks} queued, 4-word argv, tuple key)")
    print(f"   {memory:.0f} bytes per task")

    print(
        f"\n5. the journal: {scale.tasks} `true` tasks on local, off and on, best of {scale.rounds}"
    )
    rates = journal.local_rates(scale.tasks, parallelism, scale.rounds)
    off, on = max(rates[False]), max(rates[True])
    print(f"   off {off:8.0f} tasks/s, on {on:8.0f} tasks/s")
    print(f"   on / off: {on / off:.2f}x (target >= 0.9x: {verdict(on >= 0.9 * off)})")
    print("   host overhead per task with the journal, instant backend (without it, for scale)")
    for tasks in scale.journal_batches:
        without = journal.seconds_per_task(tasks, journal=False)
        with_journal = journal.seconds_per_task(tasks, journal=True)
        print(
            f"   {tasks:>7} tasks: {with_journal * 1e6:6.1f} us with, {without * 1e6:6.1f} us "
            f"without (target <= 40 us: {verdict(with_journal <= 40e-6)})"
        )
    print(f"\n6. imports in fresh interpreters (median of {scale.import_rounds}), against pluggy")
    for line in imports.report(imports.measure(scale.import_rounds)):
        print(f"   {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
