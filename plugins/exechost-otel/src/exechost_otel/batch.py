"""The span processor of a provider the observer made: the OpenTelemetry specification's batching
processor (``OTEL_BSP_*``), whose queue also takes attempts whose spans are not made yet.

Such an attempt (:data:`Unmade`) becomes a span only as its exporter reads the batch, in the
export thread, and the span is gone once the exporter has encoded it. A span made as it ends
instead waits in the queue for its batch (512 by default): at thousands of tasks a second, most
of its five objects outlive the garbage collector's young collections and reach the oldest
generation, whose collections, over every object of the host, then come more often.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias, overload

from opentelemetry import context
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
)
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

Unmade: TypeAlias = "tuple[Any, ...]"
"""An ended attempt whose span is not made yet: a plain tuple whose first item makes the span
from the whole tuple (a :class:`~collections.abc.Callable` taking it, returning a
:class:`~opentelemetry.sdk.trace.ReadableSpan`)."""


@dataclasses.dataclass(frozen=True)
class Batching:
    """How spans are batched: the ``OTEL_BSP_*`` variables, their defaults the specification's."""

    schedule_delay_ms: int = 5000
    """``OTEL_BSP_SCHEDULE_DELAY``: the longest a span waits for a batch to fill."""
    max_queue_size: int = 2048
    """``OTEL_BSP_MAX_QUEUE_SIZE``: the most spans waiting; more are dropped."""
    max_export_batch_size: int = 512
    """``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``: the most spans exported at once."""
    export_timeout_ms: int = 30000
    """``OTEL_BSP_EXPORT_TIMEOUT``: the longest a shutdown waits for the export thread. An export
    itself is bounded by its exporter's own timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``...)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Batching:
        """The batching ``environ``'s ``OTEL_BSP_*`` variables set.

        :raises ValueError: naming the variable, for a value that is no whole number above 0,
            or a batch larger than the queue.
        """
        values = {}
        for field, variable in (
            ("schedule_delay_ms", OTEL_BSP_SCHEDULE_DELAY),
            ("max_queue_size", OTEL_BSP_MAX_QUEUE_SIZE),
            ("max_export_batch_size", OTEL_BSP_MAX_EXPORT_BATCH_SIZE),
            ("export_timeout_ms", OTEL_BSP_EXPORT_TIMEOUT),
        ):
            text = environ.get(variable, "").strip()
            if text:
                value = int(text) if text.isdigit() else 0
                if value <= 0:
                    raise ValueError(f"{variable}={text!r}: a whole number above 0 is allowed")
                values[field] = value
        batching = cls(**values)
        if batching.max_export_batch_size > batching.max_queue_size:
            raise ValueError(
                f"{OTEL_BSP_MAX_EXPORT_BATCH_SIZE}={batching.max_export_batch_size} is more than "
                f"{OTEL_BSP_MAX_QUEUE_SIZE}={batching.max_queue_size}: a batch must fit the queue"
            )
        return batching


def _made(item: ReadableSpan | Unmade) -> ReadableSpan:
    return item if isinstance(item, ReadableSpan) else item[0](item)


class MadeAsRead(Sequence[ReadableSpan]):
    """A batch of spans as its exporter reads it: an unmade attempt's span is made at each read
    (so a second read gets an equal span, not the same object)."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[ReadableSpan | Unmade]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> ReadableSpan: ...

    @overload
    def __getitem__(self, index: slice) -> MadeAsRead: ...

    def __getitem__(self, index: int | slice) -> ReadableSpan | MadeAsRead:
        if isinstance(index, slice):
            return MadeAsRead(self._items[index])
        return _made(self._items[index])

    def __iter__(self) -> Iterator[ReadableSpan]:
        return map(_made, self._items)


class BatchProcessor(SpanProcessor):
    """Exports the spans that end, and the attempts :meth:`put` hands it, from a thread of its
    own, in batches: as soon as a batch is full, else after the schedule delay.

    :param exporter: what it exports to (shut down with it).
    :param batching: its limits and delays.
    """

    def __init__(self, exporter: SpanExporter, batching: Batching) -> None:
        self._exporter = exporter
        self._batching = batching
        self._queue: deque[ReadableSpan | Unmade] = deque()
        self._dropped = 0
        self._stopping = False
        self._begin()
        _LIVE.add(self)

    def _begin(self) -> None:
        """An empty queue, new locks, and an export thread unless shut down (again in a forked
        child: the parent's thread is not there, and its locks may be held)."""
        self._queue.clear()
        self._full = threading.Event()
        self._exporting = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="exechost-otel-export", daemon=True)
        if not self._stopping:
            self._thread.start()

    def on_end(self, span: ReadableSpan) -> None:
        """Queue ``span`` when sampled."""
        if span.context is not None and span.context.trace_flags.sampled:
            self.put(span)

    def put(self, item: ReadableSpan | Unmade) -> None:
        """Queue a span, or an attempt to be made into one as it is exported (callable from any
        thread); dropped, with a warning the first time, when the queue is full or shut down."""
        queue = self._queue
        if self._stopping or len(queue) >= self._batching.max_queue_size:
            self._dropped += 1
            if self._dropped == 1:
                logger.warning(
                    "exechost-otel: a span was dropped: %s (a count follows at shutdown)",
                    "the processor is shut down"
                    if self._stopping
                    else f"{OTEL_BSP_MAX_QUEUE_SIZE}={self._batching.max_queue_size} spans wait",
                )
            return
        queue.append(item)
        if len(queue) >= self._batching.max_export_batch_size and not self._full.is_set():
            self._full.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export every span queued, in the calling thread (the exporter's own timeout bounds
        each export)."""
        self._export(everything=True)
        return True

    def shutdown(self) -> None:
        """Export what is queued, stop the thread, and shut the exporter down."""
        if self._stopping:
            return
        self._stopping = True
        self._full.set()
        timeout = self._batching.export_timeout_ms / 1000
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning(
                "exechost-otel: the export thread was still exporting after %s s "
                "(%s); %d spans were left in the queue",
                timeout,
                OTEL_BSP_EXPORT_TIMEOUT,
                len(self._queue),
            )
        if self._dropped:
            logger.warning("exechost-otel: %d spans were dropped, never exported", self._dropped)
        self._exporter.shutdown()

    def _work(self) -> None:
        delay = self._batching.schedule_delay_ms / 1000
        while not self._stopping:
            full = self._full.wait(delay)
            self._full.clear()  # before exporting: a batch filled from now on wakes it again
            self._export(everything=not full)
        self._export(everything=True)

    def _export(self, everything: bool) -> None:
        """Export full batches, and with ``everything`` the rest too."""
        queue, size = self._queue, self._batching.max_export_batch_size
        with self._exporting:
            while len(queue) >= size or (everything and queue):
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                token = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
                try:
                    self._exporter.export(MadeAsRead(batch))
                except Exception:
                    logger.exception("exechost-otel: %s failed to export", self._exporter)
                finally:
                    context.detach(token)


_LIVE: weakref.WeakSet[BatchProcessor] = weakref.WeakSet()
"""The processors that exist, begun anew in a forked child."""


def _begin_in_child() -> None:
    for processor in list(_LIVE):
        processor._begin()


os.register_at_fork(after_in_child=_begin_in_child)
