"""Attempt spans made without the tracer, for a tracer provider the observer made itself.

The SDK's ``Tracer.start_span``, two ``add_event`` and ``end`` cost some 30 µs a span; the same
span built as a :class:`~opentelemetry.sdk.trace.ReadableSpan` (ids from the provider's id
generator, its resource, scope, attributes, events, status and times) costs a sixth of that, and
is built only as the exporter reads it (:class:`~exechost_otel.batch.BatchProcessor`). This is
sound only for a provider whose every part the observer knows, one it made itself
(:class:`OwnProvider`): its batch processors (whose ``on_start`` does nothing), the sampler
``OTEL_TRACES_SAMPLER`` names, and span limits that cut nothing of an attempt's span. A provider
the application gives or sets is used through its tracer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, Tracer
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from exechost_otel.batch import BatchProcessor, Unmade

MOST_ATTRIBUTES = 10
"""The most attributes an attempt's span has (see :meth:`ExecutorTrace._attempt_span`)."""

_NO_ATTRIBUTES = BoundedAttributes(immutable=True)  # an event's, as the SDK's span gives it
_UNSET = Status(StatusCode.UNSET)
_INTERNAL = SpanKind.INTERNAL  # read once: an enum's member is slow to read


class OwnProvider(NamedTuple):
    """A tracer provider the observer made, and what it made it with."""

    provider: SdkTracerProvider
    processors: tuple[BatchProcessor, ...]
    """Its span processors."""
    limits: SpanLimits
    """Its span limits, from ``OTEL_*_LIMIT``."""


class DirectSpans:
    """Makes the ended spans of the children of ``parent`` (a span of ``own``'s, sampled) as
    ``tracer`` would, without it."""

    def __init__(self, own: OwnProvider, tracer: Tracer, parent: trace.Span) -> None:
        self._parent = parent.get_span_context()
        # The samplers OTEL_TRACES_SAMPLER names decide a child of a local span as they decided
        # the span: ParentBased follows it, TraceIdRatioBased reads the same trace id,
        # ALWAYS_ON and ALWAYS_OFF never change. So the child gets the parent's flags and
        # trace state, as should_sample would give them.
        self._trace_id = self._parent.trace_id
        self._flags = self._parent.trace_flags
        self._state = self._parent.trace_state
        self._span_id: Callable[[], int] = own.provider.id_generator.generate_span_id
        self._resource = own.provider.resource
        self._info = tracer.instrumentation_info
        self._scope = InstrumentationScope(
            self._info.name, self._info.version, self._info.schema_url
        )
        self._puts = tuple(processor.put for processor in own.processors)
        self._make_span = self._span  # one bound method for every attempt's tuple

    @staticmethod
    def fit(own: OwnProvider) -> bool:
        """Whether ``own``'s span limits leave an attempt's span whole (else its tracer must cut
        it as they say)."""
        limits = own.limits
        return (
            limits.max_span_attribute_length is None
            and (
                limits.max_span_attributes is None or limits.max_span_attributes >= MOST_ATTRIBUTES
            )
            and (limits.max_events is None or limits.max_events >= 2)
        )

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
        """End the span of an attempt (see :meth:`ExecutorTrace._attempt_span`): its id is
        drawn now, the rest is made as it is exported."""
        attempt = (
            self._make_span,
            name,
            self._span_id(),
            attributes,
            begun_ns,
            queued_ns,
            running_ns,
            error,
            ended_ns,
        )
        for put in self._puts:
            put(attempt)

    def _span(self, attempt: Unmade) -> ReadableSpan:
        """The span of an attempt :meth:`make` queued."""
        _, name, span_id, attributes, begun_ns, queued_ns, running_ns, error, ended_ns = attempt
        events = []
        if queued_ns is not None:
            events.append(Event("queued", _NO_ATTRIBUTES, queued_ns))
        if running_ns is not None:
            events.append(Event("running", _NO_ATTRIBUTES, running_ns))
        return ReadableSpan(  # positionally: by keyword costs a tenth more
            name,
            SpanContext(self._trace_id, span_id, False, self._flags, self._state),
            self._parent,
            self._resource,
            attributes,
            events,
            (),
            _INTERNAL,
            self._info,
            _UNSET if error is None else Status(StatusCode.ERROR, error),
            begun_ns,
            ended_ns,
            self._scope,
        )
