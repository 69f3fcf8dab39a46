"""One executor's trace: its span, and a span for each attempt of its tasks.

The hooks only note times (a dict entry per task waiting, a tuple per attempt ended); the spans
are made later, in the host's thread (:meth:`ExecutorTrace.flush`), with the times noted:
making a span costs the SDK tens of microseconds, which a task's own path should not pay.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Sequence
from typing import NamedTuple

from exechost import TaskInfo, TaskKey, TaskState
from opentelemetry import context, trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

_ENDS = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.UP_FOR_RETRY})


class _Waiting(NamedTuple):
    queued_ns: int
    queue: str | None
    command: Sequence[str] | None


class _Ended(NamedTuple):
    key: TaskKey
    state: TaskState
    info: TaskInfo
    waiting: _Waiting | None


def key_text(key: TaskKey) -> str:
    """A task key as an attribute: a string key itself, a tuple key as a JSON array."""
    return key if isinstance(key, str) else json.dumps(list(key))


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


class ExecutorTrace:
    """The span of one executor's run and of each attempt it ran (its children).

    :meth:`queued` and :meth:`changed` are thread-safe and cheap; :meth:`flush` and
    :meth:`end` make the spans, in one thread at a time.
    """

    def __init__(
        self, tracer: trace.Tracer, executor: str, record_command: bool, parent: context.Context
    ) -> None:
        self._tracer = tracer
        self._executor = executor
        self._record_command = record_command
        self._lock = threading.Lock()
        self._waiting: dict[TaskKey, _Waiting] = {}
        self._ended: collections.deque[_Ended] = collections.deque()
        self._flushing = threading.Lock()
        self.span = tracer.start_span(
            f"exechost {executor}", context=parent, attributes={"exechost.executor": executor}
        )
        self._context = trace.set_span_in_context(self.span)
        self._recording = self.span.is_recording()
        """Whether the executor's span is sampled: its tasks' spans are (they share its trace
        id, and the SDK's samplers decide by the trace id or the parent), else none is made."""

    def queued(self, key: TaskKey, queue: str | None, command: Sequence[str]) -> None:
        """The task ``key`` was queued now."""
        if not self._recording:
            return
        waiting = _Waiting(time.time_ns(), queue, command if self._record_command else None)
        with self._lock:
            self._waiting[key] = waiting

    def changed(self, key: TaskKey, state: TaskState, info: TaskInfo) -> None:
        """The task ``key`` is now in ``state``: an attempt's end is noted for its span."""
        if state not in _ENDS or not self._recording:  # a start is in the end's info
            return
        with self._lock:
            waiting = self._waiting.pop(key, None)
            if state is TaskState.UP_FOR_RETRY and waiting is not None:  # the next one waits
                ended_ns = _ns(info.ended_at) or time.time_ns()
                self._waiting[key] = waiting._replace(queued_ns=ended_ns)
        self._ended.append(_Ended(key, state, info, waiting))

    def flush(self) -> None:
        """Make the spans of the attempts that ended since the last flush."""
        ended = self._ended
        with self._flushing:
            while ended:
                self._attempt_span(ended.popleft())

    def end(self, outcome: str) -> None:
        """The executor finished (``outcome``): make what is left, and end its span."""
        self.flush()
        self.span.set_attribute("exechost.outcome", outcome)
        if outcome != "ended":
            self.span.set_status(Status(StatusCode.ERROR, outcome))
        self.span.end()

    def _attempt_span(self, ended: _Ended) -> None:
        key, state, info, waiting = ended
        attributes: dict[str, AttributeValue] = {
            "exechost.task.key": key_text(key),
            "exechost.executor": self._executor,
            "exechost.task.state": state.value,
        }
        started_ns, ended_ns = _ns(info.started_at), _ns(info.ended_at) or time.time_ns()
        if waiting is not None and waiting.queue is not None:
            attributes["exechost.queue"] = waiting.queue
        if waiting is not None and waiting.command is not None:
            attributes["process.command_args"] = list(waiting.command)
        if info.attempt_id is not None:
            attributes["exechost.attempt.id"] = info.attempt_id
        if info.attempt is not None:
            attributes["exechost.attempt"] = info.attempt
        if info.returncode is not None:
            attributes["process.exit.code"] = info.returncode
        if info.external_id is not None:
            attributes["exechost.task.external_id"] = info.external_id
        if info.log is not None:
            attributes["exechost.task.log"] = info.log
        begun_ns = waiting.queued_ns if waiting is not None else started_ns or ended_ns
        span = self._tracer.start_span(
            key if isinstance(key, str) else str(key[0]),
            context=self._context,
            attributes=attributes,
            start_time=begun_ns,
        )
        if waiting is not None:
            span.add_event("queued", timestamp=waiting.queued_ns)
        if started_ns is not None:
            span.add_event("running", timestamp=started_ns)
        if state is not TaskState.SUCCESS:
            span.set_status(Status(StatusCode.ERROR, info.error or state.value))
        span.end(end_time=max(ended_ns, begun_ns))
