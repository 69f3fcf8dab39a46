"""The host's own costs, through a backend that finishes every task the moment it gets it."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import exechost
from exechost import hookimpl
from exechost.journal import Journal

COMMAND = ["true"]


class InstantBackend:
    """Reports each task's success from inside ``executor_execute_async``."""

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: Any) -> None:
        executor.success(key)


class InstantSyncingBackend(InstantBackend):
    """The same, with an ``executor_sync`` that does nothing: what the host's sync costs."""

    @hookimpl
    def executor_sync(self) -> None:
        """Nothing to find out: every task reported its end already."""


def _queued_executor(queued: int, parallelism: int) -> exechost.Executor:
    executor = exechost.load_executor(InstantBackend(), parallelism=parallelism)
    executor.start()
    for number in range(queued):
        executor.queue_command(("fill", number), COMMAND)
    return executor


def heartbeat_seconds(queued: int, heartbeats: int, parallelism: int = 32) -> float:
    """The median time of one heartbeat that starts ``parallelism`` tasks out of ``queued``.

    The queue is topped up between heartbeats (untimed), so every heartbeat sees ``queued``.
    """
    executor = _queued_executor(queued, parallelism)
    times = []
    for beat in range(heartbeats):
        began = time.perf_counter()
        executor.heartbeat()
        times.append(time.perf_counter() - began)
        executor.get_event_buffer()
        for number in range(parallelism):
            executor.queue_command(("top-up", beat, number), COMMAND)
    executor.terminate()
    return sorted(times)[len(times) // 2]


def seconds_per_task(
    tasks: int,
    parallelism: int = 32,
    journal: Journal | None = None,
    sync_timeout: float | None = None,
    observers: Sequence[object] = (),
) -> float:
    """Wall time per task, queue to event: queue_command, heartbeats, get_event_buffer, and the
    journal's writes when one is given (the last one by ``end``, included).

    :param sync_timeout: give the backend an ``executor_sync`` (doing nothing) and the executor
        this ``sync_timeout``: 0 calls it on the host's thread, more on the executor's sync thread.
    :param observers: observer plugins to register (with no ``sync_timeout``).
    """
    if sync_timeout is None:
        executor = exechost.load_executor(
            InstantBackend(), parallelism=parallelism, journal=journal or False, plugins=observers
        )
    else:
        executor = exechost.Executor(
            InstantSyncingBackend(),
            name="instant",
            parallelism=parallelism,
            sync_timeout=sync_timeout,
            journal=journal,
        )
    executor.start()
    keys = [("task", number) for number in range(tasks)]
    began = time.perf_counter()
    for key in keys:
        executor.queue_command(key, COMMAND)
    while executor.queued_tasks:
        executor.heartbeat()
    events = executor.get_event_buffer()
    executor.end()
    elapsed = time.perf_counter() - began
    if len(events) != tasks:
        raise RuntimeError(f"instant backend: {len(events)} events for {tasks} tasks")
    return elapsed / tasks


def bytes_per_queued_task(tasks: int) -> float:
    """Memory the host allocates per queued task (key and command made beforehand)."""
    executor = exechost.load_executor(InstantBackend())
    keys = [("task", number) for number in range(tasks)]
    commands = [["python", "-m", "job", str(number)] for number in range(tasks)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for key, command in zip(keys, commands, strict=True):
        executor.queue_command(key, command)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / tasks
