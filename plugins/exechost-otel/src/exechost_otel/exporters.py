"""The span exporters the ``OTEL_*`` environment variables name, and a tracer provider for them.

The names are read as ``opentelemetry-instrument`` reads them: ``OTEL_TRACES_EXPORTER`` is a
comma-separated list of names in the ``opentelemetry_traces_exporter`` entry point group
(``console`` comes with the SDK; ``otlp`` means ``otlp_proto_grpc``, or ``otlp_proto_http`` when
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_PROTOCOL`` is ``http/protobuf``);
unset or ``none``, nothing is exported. Each exporter reads its own variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``...), the batch processor ``OTEL_BSP_*`` (read by
:meth:`~exechost_otel.batch.Batching.from_environ`), the sampler
``OTEL_TRACES_SAMPLER``, the resource ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points

from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from exechost_otel.batch import Batching, BatchProcessor
from exechost_otel.direct import OwnProvider

EXPORTERS_GROUP = "opentelemetry_traces_exporter"
SERVICE = "exechost"
"""The ``service.name`` of the spans when neither ``OTEL_SERVICE_NAME`` nor
``OTEL_RESOURCE_ATTRIBUTES`` names one."""

_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


def exporter_classes(environ: Mapping[str, str]) -> list[type[SpanExporter]]:
    """The exporter classes ``OTEL_TRACES_EXPORTER`` names; none when it is unset or ``none``,
    or when ``OTEL_SDK_DISABLED`` is ``true``.

    :raises LookupError: for a name no installed package provides, or an unknown protocol.
    :raises TypeError: for a name that is no span exporter.
    """
    names = environ.get(OTEL_TRACES_EXPORTER, "").strip()
    disabled = environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true"
    if disabled or names.lower() in ("", "none"):
        return []
    classes = []
    for name in (part.strip() for part in names.split(",")):
        if name == "otlp":
            protocol = (
                environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
                or environ.get(OTEL_EXPORTER_OTLP_PROTOCOL)
                or "grpc"
            ).strip()
            if protocol not in _OTLP_BY_PROTOCOL:
                raise LookupError(
                    f"{OTEL_EXPORTER_OTLP_PROTOCOL}={protocol!r}: the OTLP span exporters speak "
                    f"{' or '.join(_OTLP_BY_PROTOCOL)}"
                )
            name = _OTLP_BY_PROTOCOL[protocol]
        found = entry_points(group=EXPORTERS_GROUP, name=name)
        if not found:
            installed = sorted({point.name for point in entry_points(group=EXPORTERS_GROUP)})
            hint = "; pip install opentelemetry-exporter-otlp" if name.startswith("otlp") else ""
            raise LookupError(
                f"{OTEL_TRACES_EXPORTER} names the span exporter {name!r}, which no installed "
                f"package provides (entry point group {EXPORTERS_GROUP}; installed: "
                f"{', '.join(installed) or 'none'}){hint}"
            )
        exporter = next(iter(found)).load()
        if not (isinstance(exporter, type) and issubclass(exporter, SpanExporter)):
            raise TypeError(f"{OTEL_TRACES_EXPORTER}: {name!r} is no span exporter: {exporter!r}")
        classes.append(exporter)
    return classes


def make_provider(
    exporters: Sequence[Callable[[], SpanExporter]], batching: Batching
) -> OwnProvider:
    """A tracer provider exporting through the exporter each of ``exporters`` makes (now, each
    with a batch processor of ``batching``), its resource, sampler and span limits from the
    environment."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: SERVICE}))
    limits = SpanLimits()
    provider = TracerProvider(  # ended by the observer
        resource=resource, span_limits=limits, shutdown_on_exit=False
    )
    processors = tuple(BatchProcessor(exporter(), batching) for exporter in exporters)
    for processor in processors:
        provider.add_span_processor(processor)
    return OwnProvider(provider, processors, limits)
