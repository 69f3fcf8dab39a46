"""The executor's queue: highest priority first, first in first out among equal priorities."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from types import MappingProxyType

from exechost.tasks import QueuedTask, TaskKey


class TaskQueue:
    """A priority queue of :class:`QueuedTask` with O(log n) push and pop and O(1) lookup by key."""

    __slots__ = ("_heap", "_order", "_tasks", "view")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, TaskKey]] = []
        self._tasks: dict[TaskKey, QueuedTask] = {}
        self._order = itertools.count()
        self.view: Mapping[TaskKey, QueuedTask] = MappingProxyType(self._tasks)
        """A live read-only mapping of the queued tasks by key."""

    def push(self, task: QueuedTask) -> None:
        """Add ``task``; the caller makes sure its key is not queued already."""
        self._tasks[task.key] = task
        heapq.heappush(self._heap, (-task.priority, next(self._order), task.key))

    def pop(self) -> QueuedTask:
        """Remove and return the task that should start next; ``IndexError`` when empty."""
        return self._tasks.pop(heapq.heappop(self._heap)[2])

    def remove(self, key: TaskKey) -> QueuedTask | None:
        """Remove and return the task ``key``, or ``None`` when it is not queued (O(n))."""
        task = self._tasks.pop(key, None)
        if task is not None:
            self._heap = [entry for entry in self._heap if entry[2] != key]
            heapq.heapify(self._heap)
        return task

    def drain(self) -> list[QueuedTask]:
        """Remove and return every queued task, in the order they would have started."""
        ordered = [self._tasks[key] for _, _, key in sorted(self._heap)]
        self._heap.clear()
        self._tasks.clear()
        return ordered

    def __contains__(self, key: object) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)
