"""One executor's trace: its span, and a span for each attempt of its tasks.

The hooks only note times (a dict entry per task waiting, a tuple per attempt ended); the spans
are made later, in the host's thread (:meth:`ExecutorTrace.flush`), with the times noted:
making a span costs the SDK microseconds, which a task's own path should not pay. They are made
through the tracer (:class:`TracerSpans`), or for a provider the observer made itself, without it
(:class:`~exechost_otel.direct.DirectSpans`).
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol, TypeAlias

from exechost import TaskInfo, TaskKey, TaskState
from opentelemetry import context, trace
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from exechost_otel.direct import DirectSpans, OwnProvider

_ENDS = {
    id(state): state.value
    for state in (TaskState.SUCCESS, TaskState.FAILED, TaskState.UP_FOR_RETRY)
}
"""The states that end an attempt, by identity (an enum member's hash is a Python call), and
their text (an enum's ``value`` is slow to read)."""
_SUCCESS = TaskState.SUCCESS.value
_UP_FOR_RETRY = TaskState.UP_FOR_RETRY  # an enum's member is slow to read, too
_PART: dict[type, Callable[[Any], str]] = {str: encode_basestring_ascii, int: int.__repr__}
"""How ``json.dumps`` writes a key's part, for the usual types (others go through it)."""


_Ended: TypeAlias = "tuple[TaskKey, str, TaskInfo, int | None, str | None, Sequence[str] | None]"
"""An attempt that ended: its task's key, how (its state's text), its info, and, when noted, when
it was queued (ns), its queue and its command. A plain tuple: a named tuple costs five times as
much to make."""


class AttemptSpans(Protocol):
    """What makes the spans of an executor's attempts."""

    def make(
        self,
        name: str,
        attributes: dict[str, AttributeValue],
        begun_ns: int,
        queued_ns: int | None,
        running_ns: int | None,
        error: str | None,
        ended_ns: int,
    ) -> None:
        """End an attempt's span (made now, or as it is exported): from ``begun_ns`` to
        ``ended_ns``, with the events ``queued`` and ``running`` at their times (when not
        ``None``), its status ``ERROR`` with ``error`` as its description (when not ``None``)."""


def key_text(key: TaskKey) -> str:
    """A task key as an attribute: a string key itself, a tuple key as a JSON array."""
    if isinstance(key, str):
        return key
    return f"[{', '.join([_PART.get(type(part), json.dumps)(part) for part in key])}]"


class TracerSpans:
    """Makes attempt spans through ``tracer``, children of the span in ``parent``."""

    def __init__(self, tracer: trace.Tracer, parent: context.Context) -> None:
        self._tracer = tracer
        self._parent = parent

    def make(
        self,
        name: str,
        attributes: dict[str, AttributeValue],
        begun_ns: int,
        queued_ns: int | None,
        running_ns: int | None,
        error: str | None,
        ended_ns: int,
    ) -> None:
        """See :meth:`AttemptSpans.make`."""
        span = self._tracer.start_span(
            name, context=self._parent, attributes=attributes, start_time=begun_ns
        )
        if queued_ns is not None:
            span.add_event("queued", timestamp=queued_ns)
        if running_ns is not None:
            span.add_event("running", timestamp=running_ns)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=ended_ns)


class ExecutorTrace:
    """The span of one executor's run and of each attempt it ran (its children).

    :meth:`queued` and :meth:`changed` are thread-safe and cheap; :meth:`flush` and
    :meth:`end` make the spans, in one thread at a time.

    :param own: the provider ``tracer`` is of, when the observer made it: the attempts' spans are
        made without the tracer, when its limits allow.
    """

    def __init__(
        self,
        tracer: trace.Tracer,
        executor: str,
        record_command: bool,
        parent: context.Context,
        own: OwnProvider | None = None,
    ) -> None:
        self._executor = executor
        self._record_command = record_command
        # The tasks waiting for an attempt. Each dict and deque step is atomic, and the host
        # reports a task's events in order. The int alone for most: the GC skips it.
        self._queued_ns: dict[TaskKey, int] = {}
        self._queues: dict[TaskKey, str] = {}
        self._commands: dict[TaskKey, Sequence[str]] = {}  # with record_command
        self._ended: collections.deque[_Ended] = collections.deque()
        self._flushing = threading.Lock()
        self.span = tracer.start_span(
            f"exechost {executor}", context=parent, attributes={"exechost.executor": executor}
        )
        self._recording = self.span.is_recording()
        """Whether the executor's span is sampled: its tasks' spans are (they share its trace
        id, and the SDK's samplers decide by the trace id or the parent), else none is made."""
        self._spans: AttemptSpans = (
            DirectSpans(own, tracer, self.span)
            if own is not None and isinstance(tracer, Tracer) and DirectSpans.fit(own)
            else TracerSpans(tracer, trace.set_span_in_context(self.span))
        )

    def queued(self, key: TaskKey, queue: str | None, command: Sequence[str]) -> None:
        """The task ``key`` was queued now."""
        if self._recording:
            self._queued_ns[key] = time.time_ns()
            if queue is not None:
                self._queues[key] = queue
            if self._record_command:
                self._commands[key] = command

    def changed(self, key: TaskKey, state: TaskState, info: TaskInfo) -> None:
        """The task ``key`` is now in ``state``: an attempt's end is noted for its span."""
        state_text = _ENDS.get(id(state))
        if state_text is None or not self._recording:  # a start is in the end's info
            return
        if state is _UP_FOR_RETRY:  # the next attempt waits from now, in the same queue
            queued_ns, queue, command = (
                self._queued_ns.get(key),
                self._queues.get(key),
                self._commands.get(key),
            )
            if queued_ns is not None:
                ended_at = info.ended_at
                self._queued_ns[key] = time.time_ns() if ended_at is None else int(ended_at * 1e9)
        else:
            queued_ns, queue, command = (
                self._queued_ns.pop(key, None),
                self._queues.pop(key, None),
                self._commands.pop(key, None),
            )
        self._ended.append((key, state_text, info, queued_ns, queue, command))

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
        key, state_text, info, queued_ns, queue, command = ended
        attributes: dict[str, AttributeValue] = {
            "exechost.task.key": key_text(key),
            "exechost.executor": self._executor,
            "exechost.task.state": state_text,
        }
        started_at, ended_at = info.started_at, info.ended_at
        started_ns = None if started_at is None else int(started_at * 1e9)
        ended_ns = time.time_ns() if ended_at is None else int(ended_at * 1e9)
        if queue is not None:
            attributes["exechost.queue"] = queue
        if command is not None:
            attributes["process.command_args"] = tuple(command)
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
        begun_ns = queued_ns if queued_ns is not None else started_ns or ended_ns
        self._spans.make(
            key if isinstance(key, str) else str(key[0]),
            attributes,
            begun_ns,
            queued_ns,
            started_ns,
            None if state_text == _SUCCESS else info.error or state_text,
            max(ended_ns, begun_ns),
        )
