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
        # a removed task's entry stays until it reaches the top: the task is the entry's only if
        # it is the task queued under its key now (a key may be queued again after a removal)
        self._heap: list[tuple[int, int, QueuedTask]] = []
        self._tasks: dict[TaskKey, QueuedTask] = {}
        self._order = itertools.count()
        self.view: Mapping[TaskKey, QueuedTask] = MappingProxyType(self._tasks)
        """A live read-only mapping of the queued tasks by key."""

    def push(self, task: QueuedTask) -> None:
        """Add ``task``; the caller makes sure its key is not queued already."""
        self._tasks[task.key] = task
        heapq.heappush(self._heap, (-task.priority, next(self._order), task))

    def pop(self) -> QueuedTask:
        """Remove and return the task that should start next; ``IndexError`` when empty."""
        while True:
            task = heapq.heappop(self._heap)[2]
            if self._tasks.get(task.key) is task:
                del self._tasks[task.key]
                return task

    def remove(self, key: TaskKey) -> QueuedTask | None:
        """Remove and return the task ``key``, or ``None`` when it is not queued."""
        return self._tasks.pop(key, None)

    def drain(self) -> list[QueuedTask]:
        """Remove and return every queued task, in the order they would have started."""
        tasks = self._tasks
        ordered = [task for _, _, task in sorted(self._heap) if tasks.get(task.key) is task]
        self._heap.clear()
        self._tasks.clear()
        return ordered

    def __contains__(self, key: object) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)
