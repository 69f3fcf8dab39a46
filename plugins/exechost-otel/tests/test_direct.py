"""A provider of the observer's own: its attempt spans are made without its tracer, as the tracer
would make them, unless its limits would cut them; its sampler is honoured."""

from __future__ import annotations

from typing import Any

import exechost
import pytest
from exechost_otel import OtelObserver
from opentelemetry.sdk.trace import ReadableSpan, Tracer, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the spans the SDK's tracers start, from now on."""
    names: list[str] = []
    start_span = Tracer.start_span

    def counted(tracer: Tracer, name: str, *args: Any, **kwargs: Any) -> Any:
        names.append(name)
        return start_span(tracer, name, *args, **kwargs)

    monkeypatch.setattr(Tracer, "start_span", counted)
    return names


def run(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    observer = OtelObserver(exporters=[lambda: exporter])
    with exechost.load_executor("local", plugins=[observer], parallelism=2) as executor:
        for number in range(3):
            executor.queue_command(f"task{number}", ["echo", "a line of output"])
    return {span.name: span for span in exporter.get_finished_spans()}


def test_attempt_spans_without_the_tracer_share_its_resource_scope_and_trace(
    started: list[str],
) -> None:
    spans = run(InMemorySpanExporter())
    assert started == ["exechost local"]
    root = spans.pop("exechost local")
    assert len(spans) == 3
    for span in spans.values():
        assert span.resource is root.resource
        assert span.instrumentation_scope == root.instrumentation_scope
        assert span.context.trace_id == root.context.trace_id
        assert span.context.trace_flags == root.context.trace_flags
        assert span.context.is_valid and not span.context.is_remote
    assert len({span.context.span_id for span in spans.values()} | {root.context.span_id}) == 4


def test_sampled_out_no_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert run(InMemorySpanExporter()) == {}


def test_limits_that_cut_an_attempts_span_are_the_tracers_to_apply(
    monkeypatch: pytest.MonkeyPatch, started: list[str]
) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5")
    spans = run(InMemorySpanExporter())
    assert sorted(started) == ["exechost local", "task0", "task1", "task2"]
    assert spans["task0"].attributes is not None
    assert spans["task0"].attributes["exechost.task.key"] == "task0"
    assert spans["task0"].attributes["exechost.executor"] == "local"
    assert spans["task0"].attributes["exechost.task.state"] == "succe"


def test_a_provider_and_exporters_are_one_too_many() -> None:
    with pytest.raises(ValueError, match="not both"):
        OtelObserver(tracer_provider=TracerProvider(), exporters=[InMemorySpanExporter])
