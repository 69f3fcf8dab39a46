"""What the observer plugins exechost-prometheus and exechost-otel cost the host per task, through
an instant backend, against an observer of the same hooks doing nothing, in the same run.

    python benchmarks/observers.py            # 100,000 tasks, best of 5 rounds (a few minutes)
    python benchmarks/observers.py --quick    # 2,000 tasks, best of 2 (a smoke test)
    python benchmarks/observers.py --tasks 20000  # 20,000 tasks, best of 5

The OpenTelemetry observer exports to an exporter that reads each span's attributes and events,
as an encoder would, and drops it; it is measured four ways: making every span with a provider of
its own (without the tracer, through its own batch processor) and with a provider given to it
(through its tracer and the SDK's batch span processor), with the spans sampled out
(``ALWAYS_OFF``), and its hooks alone (no span made). The machine is shared and noisy: read the
ratios. Installed observer plugins are not loaded (``EXECHOST_PLUGINS__AUTOLOAD=false``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ["EXECHOST_PLUGINS__AUTOLOAD"] = "false"

from exechost import hookimpl
from exechost_otel import OtelObserver
from exechost_otel.spans import ExecutorTrace
from exechost_prometheus import PrometheusObserver, PrometheusSettings
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bookkeeping


class NoOp:
    """An observer of the hooks the two plugins implement, doing nothing: pluggy's share."""

    @hookimpl
    def executor_task_queued(self) -> None:
        """Nothing."""

    @hookimpl
    def executor_task_state_changed(self) -> None:
        """Nothing."""

    @hookimpl
    def executor_heartbeat(self) -> None:
        """Nothing."""

    @hookimpl
    def executor_finished(self) -> None:
        """Nothing."""


class Dropped(SpanExporter):
    """Reads what an exporter encodes of every span (its attributes and events, as OTLP's and the
    console's do), then sends it nowhere: work a plugin put off until export is counted."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            for event in span.events:
                event.attributes  # noqa: B018 - read as an encoder does
            dict(span.attributes or {})
        return SpanExportResult.SUCCESS


def otel() -> OtelObserver:
    """The OpenTelemetry observer with a provider of its own."""
    return OtelObserver(exporters=[Dropped])


def otel_given(sampled: bool = True) -> OtelObserver:
    """The OpenTelemetry observer with a provider given to it."""
    provider = TracerProvider(sampler=None if sampled else ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    return OtelObserver(tracer_provider=provider)


def hooks_only() -> OtelObserver:
    """The OpenTelemetry observer, to be run with its spans never made (what its hooks cost)."""
    return otel()


def seconds_per_task(tasks: int, make: Callable[[], object] | None) -> float:
    """Wall time per task with a new observer from ``make`` (none for ``None``)."""
    if make is not hooks_only:
        return bookkeeping.seconds_per_task(tasks, observers=[make()] if make else ())
    original = ExecutorTrace.flush
    ExecutorTrace.flush = lambda self: self._ended.clear()  # type: ignore[method-assign]
    try:  # the attempts noted, then dropped instead of made into spans
        return bookkeeping.seconds_per_task(tasks, observers=[make()])
    finally:
        ExecutorTrace.flush = original  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few tasks, for a smoke test")
    parser.add_argument("--tasks", type=int, help="this many tasks instead (best of 5 rounds)")
    args = parser.parse_args(argv)
    logging.getLogger("exechost_prometheus").setLevel(logging.ERROR)  # not each port it picks
    tasks, runs = (2_000, 2) if args.quick else (args.tasks or 100_000, 5)
    print(f"observer plugins, instant backend, {tasks} tasks, best of {runs} rounds")
    cases: list[tuple[str, Callable[[], object] | None]] = [
        ("no observer", None),
        ("an observer doing nothing (baseline)", NoOp),
        ("exechost-prometheus", lambda: PrometheusObserver(PrometheusSettings(port=0))),
        ("exechost-otel, every span made, own provider", otel),
        ("exechost-otel, every span made, given provider", otel_given),
        ("exechost-otel, spans sampled out", lambda: otel_given(sampled=False)),
        ("exechost-otel, its hooks alone", hooks_only),
    ]
    seconds: dict[str, float] = {}
    for _ in range(runs):  # round after round: a busy spell of the machine hits every case
        for name, make in cases:
            value = seconds_per_task(tasks, make)
            seconds[name] = min(seconds.get(name, value), value)
    baseline = seconds["an observer doing nothing (baseline)"]
    for name, value in seconds.items():
        print(
            f"   {name:<48} {value * 1e6:7.1f} us per task: {value / baseline:5.2f}x baseline, "
            f"{(value - baseline) * 1e6:+6.1f} us"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
