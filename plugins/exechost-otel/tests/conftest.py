"""Fixtures: observers whose spans are kept by the SDK's in-memory exporter, through a provider
given to them (spans made by its tracer) or one of their own (made without it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest
from exechost_otel import OtelObserver, OtelSettings
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Exported(NamedTuple):
    """Where the spans go, and what makes an observer sending them there."""

    provider: TracerProvider
    """A provider whose spans are kept, as they end, by ``exporter`` (for a test's own spans)."""
    exporter: InMemorySpanExporter
    observer: Callable[..., OtelObserver]
    """``observer(settings=None)``: an observer whose spans ``exporter`` keeps."""


@pytest.fixture(params=["given provider", "own provider"])
def exported(request: pytest.FixtureRequest) -> Iterator[Exported]:
    """An :class:`Exported`, its observer given ``provider``, or making a provider of its own
    (whose spans are made without its tracer) exporting to ``exporter``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def observer(settings: OtelSettings | None = None) -> OtelObserver:
        if request.param == "given provider":
            return OtelObserver(settings, tracer_provider=provider)
        return OtelObserver(settings, exporters=[lambda: exporter])

    yield Exported(provider, exporter, observer)
    provider.shutdown()
