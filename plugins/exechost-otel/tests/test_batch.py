"""The batch processor of the observer's own provider: the specification's batching
(``OTEL_BSP_*``), and attempts whose spans are made only as the exporter reads them."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from exechost_otel.batch import Batching, BatchProcessor, MadeAsRead
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, TraceFlags

WAIT = 10.0
"""The longest a test waits for the export thread."""


class Batches(SpanExporter):
    """Keeps the names of each batch's spans; an export can be held until ``go`` is set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.exported = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.shut = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.go.wait(WAIT):
            raise TimeoutError(f"the test did not let the export go within {WAIT} s")
        self.batches.append([span.name for span in spans])
        self.threads.add(threading.current_thread().name)
        self.exported.set()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut = True

    def names(self) -> list[str]:
        return [name for batch in self.batches for name in batch]


def span(name: str) -> ReadableSpan:
    return ReadableSpan(name, SpanContext(1, 2, False, TraceFlags(TraceFlags.SAMPLED)))


def unmade(name: str, made: list[str]) -> tuple[object, ...]:
    """An attempt whose span (named ``name``) is made when read, noting it in ``made``."""

    def make(attempt: tuple[object, ...]) -> ReadableSpan:
        made.append(name)
        return span(str(attempt[1]))

    return (make, name)


def processor(exporter: SpanExporter, **batching: int) -> BatchProcessor:
    return BatchProcessor(exporter, Batching(**batching))


def test_the_batching_variables() -> None:
    assert Batching.from_environ({}) == Batching(5000, 2048, 512, 30000)
    environ = {
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BSP_MAX_QUEUE_SIZE": " 64 ",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_BSP_EXPORT_TIMEOUT": "1000",
    }
    assert Batching.from_environ(environ) == Batching(200, 64, 16, 1000)
    for bad in ("0", "-1", "1.5", "lots"):
        with pytest.raises(ValueError, match=f"OTEL_BSP_SCHEDULE_DELAY='{bad}': a whole number"):
            Batching.from_environ({"OTEL_BSP_SCHEDULE_DELAY": bad})
    with pytest.raises(ValueError, match="OTEL_BSP_MAX_EXPORT_BATCH_SIZE=3000 is more than OTEL"):
        Batching.from_environ({"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "3000"})


def test_a_full_batch_goes_at_once_the_rest_after_the_delay() -> None:
    exporter = Batches()
    batches = processor(exporter, max_export_batch_size=3, schedule_delay_ms=60_000)
    for number in range(7):
        batches.on_end(span(f"s{number}"))
    assert exporter.exported.wait(WAIT)
    assert exporter.batches[:2] == [["s0", "s1", "s2"], ["s3", "s4", "s5"]]
    assert exporter.threads == {"exechost-otel-export"}
    batches.shutdown()
    assert exporter.names() == [f"s{number}" for number in range(7)] and exporter.shut

    exporter = Batches()
    batches = processor(exporter, schedule_delay_ms=50)
    batches.on_end(span("alone"))
    assert exporter.exported.wait(WAIT), "a span waited longer than the schedule delay"
    assert exporter.batches == [["alone"]]
    batches.shutdown()


def test_unmade_attempts_are_made_as_the_exporter_reads_them() -> None:
    made: list[str] = []
    items = [span("made"), unmade("a", made), unmade("b", made)]
    batch = MadeAsRead(items)
    assert made == [] and len(batch) == 3
    assert [one.name for one in batch] == ["made", "a", "b"] and made == ["a", "b"]
    assert batch[1].name == "a" and made == ["a", "b", "a"]  # made anew at each read
    assert [one.name for one in batch[1:]] == ["a", "b"]

    exporter = Batches()
    batches = processor(exporter)
    for item in items:
        batches.put(item)  # type: ignore[arg-type]
    made.clear()
    assert batches.force_flush()  # in this thread
    assert exporter.batches == [["made", "a", "b"]] and made == ["a", "b"]
    assert exporter.threads == {threading.current_thread().name}
    batches.shutdown()


def test_unsampled_spans_are_not_exported() -> None:
    exporter = Batches()
    batches = processor(exporter)
    batches.on_end(ReadableSpan("unsampled", SpanContext(1, 2, False, TraceFlags(0))))
    batches.shutdown()
    assert exporter.batches == []


def test_a_full_queue_drops_with_a_warning_and_a_count(caplog: pytest.LogCaptureFixture) -> None:
    exporter = Batches()
    exporter.go.clear()  # the first batch's export waits
    batches = processor(exporter, max_queue_size=4, max_export_batch_size=2)
    for number in range(2):
        batches.on_end(span(f"s{number}"))
    deadline = time.monotonic() + WAIT
    while batches._queue:  # until the export thread has taken the batch
        assert time.monotonic() < deadline, f"the export thread took no batch within {WAIT} s"
        time.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="exechost_otel.batch"):
        for number in range(2, 9):
            batches.on_end(span(f"s{number}"))
        exporter.go.set()
        batches.shutdown()
    assert exporter.names() == ["s0", "s1", "s2", "s3", "s4", "s5"]
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        "exechost-otel: a span was dropped: OTEL_BSP_MAX_QUEUE_SIZE=4 spans wait "
        "(a count follows at shutdown)",
        "exechost-otel: 3 spans were dropped, never exported",
    ]


def test_a_failed_export_is_logged_and_the_next_batch_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(Batches):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            if not self.batches:
                self.batches.append([])
                raise ConnectionError("collector unreachable")
            return super().export(spans)

    exporter = Failing()
    batches = processor(exporter, max_export_batch_size=1)
    batches.on_end(span("lost"))
    batches.force_flush()
    batches.on_end(span("sent"))
    batches.shutdown()
    assert exporter.names() == ["sent"]
    assert "ConnectionError: collector unreachable" in caplog.text


def test_a_shutdown_that_outwaits_the_export_timeout_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = Batches()
    exporter.go.clear()
    batches = processor(exporter, max_export_batch_size=1, export_timeout_ms=100)
    batches.on_end(span("slow"))
    batches.on_end(span("left"))
    with caplog.at_level(logging.WARNING, logger="exechost_otel.batch"):
        batches.shutdown()
    exporter.go.set()
    assert "still exporting after 0.1 s (OTEL_BSP_EXPORT_TIMEOUT); 1 spans" in caplog.text


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_exports_with_a_thread_of_its_own(tmp_path: Path) -> None:
    exporter = Batches()
    batches = processor(exporter)
    batches.on_end(span("parent's"))
    processor(Batches()).shutdown()  # a shut down one gets no thread in the child
    out = tmp_path / "child"
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through ``out``
        try:
            threads = [one.name for one in threading.enumerate() if one.name.startswith("exec")]
            batches.on_end(span("child's"))
            batches.shutdown()
            out.write_text(repr((threads, exporter.names(), sorted(exporter.threads))))
        finally:
            os._exit(0)
    assert os.waitpid(child, 0)[1] == 0
    assert out.read_text() == repr(
        (["exechost-otel-export"], ["child's"], ["exechost-otel-export"])
    )
    batches.shutdown()
    assert exporter.names() == ["parent's"]
