"""Fixtures: a tracer provider exporting to the SDK's in-memory exporter; a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def exported() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A provider whose spans are kept, as they end, by an :class:`InMemorySpanExporter`."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def clean_environment(**extra: str) -> dict[str, str]:
    """The environment without the caller's EXECHOST_* and OTEL_* variables, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("EXECHOST_", "OTEL_"))
    }
    return {**env, **extra}
