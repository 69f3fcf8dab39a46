"""Spans of real runs of the local executor, exported to the SDK's in-memory exporter."""

from __future__ import annotations

import exechost
from conftest import Exported
from exechost_otel import OtelSettings
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

SECOND = 1_000_000_000


def event_times(span: ReadableSpan) -> dict[str, int]:
    return {event.name: event.timestamp for event in span.events}


def test_a_span_per_attempt_under_the_executors_span(exported: Exported) -> None:
    provider, exporter, make = exported
    observer = make()
    outer = provider.get_tracer("test").start_as_current_span("pipeline")
    with (
        outer as pipeline,
        exechost.load_executor("local", plugins=[observer], parallelism=1) as executor,
    ):
        executor.queue_command(("etl", "load", 1), ["sleep", "0.3"], priority=3, queue="io")
        executor.queue_command("bad", ["sh", "-c", "exit 3"], priority=2)
        executor.queue_command("flaky", ["sh", "-c", "exit 1"], priority=1, retries=1)
    events = executor.get_event_buffer()
    spans = exporter.get_finished_spans()
    by_name: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    [root] = by_name["exechost local"]
    assert root.parent is not None and root.parent.span_id == pipeline.get_span_context().span_id
    assert root.attributes == {"exechost.executor": "local", "exechost.outcome": "ended"}
    assert root.status.status_code is StatusCode.UNSET
    tasks = [span for span in spans if span is not root and span.name != "pipeline"]
    assert len(tasks) == 4  # etl, bad, and flaky's two attempts
    for span in tasks:
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.context.trace_id == root.context.trace_id
        assert root.start_time is not None and span.start_time is not None
        assert root.start_time <= span.start_time
        assert span.end_time is not None and root.end_time is not None
        assert span.end_time <= root.end_time

    [load] = by_name["etl"]
    info = events[("etl", "load", 1)].info
    assert load.attributes == {
        "exechost.task.key": '["etl", "load", 1]',
        "exechost.executor": "local",
        "exechost.task.state": "success",
        "exechost.queue": "io",
        "exechost.attempt.id": info.attempt_id,
        "exechost.attempt": 1,
        "process.exit.code": 0,
        "exechost.task.external_id": info.external_id,
        "exechost.task.log": info.log,
    }
    times = event_times(load)
    assert load.start_time == times["queued"] <= times["running"]
    assert load.end_time is not None
    assert load.end_time - times["running"] >= 0.3 * SECOND  # the sleep, from its start
    assert load.status.status_code is StatusCode.UNSET

    [bad] = by_name["bad"]
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.status.description == "exit status 3"
    assert bad.attributes is not None and bad.attributes["process.exit.code"] == 3
    assert "exechost.queue" not in bad.attributes
    assert load.end_time <= event_times(bad)["running"]  # one slot: it waited for etl
    assert bad.start_time is not None and bad.start_time < load.end_time  # queued meanwhile

    first, second = sorted(by_name["flaky"], key=lambda span: span.start_time or 0)
    assert first.attributes is not None and second.attributes is not None
    assert (first.attributes["exechost.attempt"], second.attributes["exechost.attempt"]) == (1, 2)
    assert first.attributes["exechost.task.state"] == "up_for_retry"
    assert second.attributes["exechost.task.state"] == "failed"
    assert first.attributes["exechost.attempt.id"] != second.attributes["exechost.attempt.id"]
    assert second.attributes["exechost.attempt.id"] == events["flaky"].info.attempt_id
    assert first.end_time is not None and first.end_time <= (second.start_time or 0)
    assert first.status.status_code is second.status.status_code is StatusCode.ERROR


def test_a_terminated_executor_and_its_never_started_task(exported: Exported) -> None:
    _, exporter, make = exported
    observer = make(OtelSettings(record_command=True))
    executor = exechost.load_executor("local", plugins=[observer], parallelism=1)
    executor.start()
    executor.queue_command("long", ["sleep", "30"])
    executor.queue_command("never", ["true"])
    executor.heartbeat()
    executor.terminate()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    root = spans["exechost local"]
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "terminated"
    never = spans["never"]
    assert never.status.description == "terminated before it started"
    assert list(event_times(never)) == ["queued"]  # it never ran
    assert never.attributes is not None
    assert never.attributes["process.command_args"] == ("true",)
    assert spans["long"].status.description == "terminated"
    assert list(event_times(spans["long"])) == ["queued", "running"]
