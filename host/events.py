"""The event buffer: every state change since it was last read, none overwritten."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from exechost.states import Event
from exechost.tasks import TaskKey


def key_group(key: TaskKey) -> str | int:
    """The group a key belongs to, for filtering: a tuple key's first element, else the key."""
    return key[0] if isinstance(key, tuple) else key


class EventBatch(dict[TaskKey, Event]):
    """What :meth:`exechost.Executor.get_event_buffer` returns.

    As a mapping it holds each key's latest event (``for key, (state, info) in batch.items()``).
    A task that changed state more than once since the previous read keeps every change in
    :attr:`transitions`, and :meth:`history` lists one key's changes, oldest first.
    """

    __slots__ = ("transitions",)

    def __init__(self, transitions: list[tuple[TaskKey, Event]]) -> None:
        super().__init__(transitions)
        self.transitions = transitions
        """Every ``(key, event)`` of this batch, in the order the changes happened."""

    def history(self, key: TaskKey) -> list[Event]:
        """Every event of ``key`` in this batch, oldest first (empty if it has none)."""
        return [event for event_key, event in self.transitions if event_key == key]


class EventBuffer:
    """An append-only log of ``(key, event)`` pairs, flushed as an :class:`EventBatch`.

    Not thread-safe by itself: the executor calls it under its lock.
    """

    __slots__ = ("_flushes", "_pending")

    def __init__(self) -> None:
        self._pending: list[tuple[TaskKey, Event]] = []
        self._flushes = 0

    def position(self) -> tuple[int, int]:
        """Where the next event will go, for :meth:`fill_external_id`."""
        return self._flushes, len(self._pending)

    def append(self, key: TaskKey, event: Event) -> None:
        """Record that ``key`` changed state."""
        self._pending.append((key, event))

    def flush(self, groups: Collection[str | int] | None = None) -> EventBatch:
        """Remove and return the recorded events; only those in ``groups`` when it is given."""
        self._flushes += 1
        if groups is None:
            everything, self._pending = self._pending, []
            return EventBatch(everything)
        wanted = set(groups)
        taken: list[tuple[TaskKey, Event]] = []
        kept: list[tuple[TaskKey, Event]] = []
        for pair in self._pending:
            (taken if key_group(pair[0]) in wanted else kept).append(pair)
        self._pending = kept
        return EventBatch(taken)

    def fill_external_id(self, key: TaskKey, external_id: str, since: tuple[int, int]) -> None:
        """Give ``external_id`` to the events of ``key`` recorded since :meth:`position` was
        ``since`` that have none."""
        flushes, start = since
        pending = self._pending
        for index in range(start if flushes == self._flushes else 0, len(pending)):
            event_key, (state, info) = pending[index]
            if event_key == key and info.external_id is None:
                info = dataclasses.replace(info, external_id=external_id)
                pending[index] = (key, Event(state, info))

    def __len__(self) -> int:
        return len(self._pending)
