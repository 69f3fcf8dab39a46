"""exechost observer plugin: each task an OpenTelemetry span, exported as ``OTEL_*`` says.

Installed, it is the observer plugin ``otel`` (entry point group ``exechost.plugins``); from
Python, pass ``OtelObserver()`` (or ``OtelObserver(tracer_provider=...)``) in
``load_executor(..., plugins=[...])``.
"""

from __future__ import annotations

from exechost_otel.exporters import EXPORTERS_GROUP, SERVICE, exporter_classes
from exechost_otel.observer import SCOPE, OtelObserver, OtelSettings
from exechost_otel.spans import key_text

__all__ = [
    "EXPORTERS_GROUP",
    "SCOPE",
    "SERVICE",
    "OtelObserver",
    "OtelSettings",
    "exporter_classes",
    "key_text",
]
