"""The observer: the hooks that trace executors, and the tracer provider's life."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from exechost import hookimpl
from opentelemetry import context, trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.trace.export import SpanExporter

from exechost_otel.batch import Batching
from exechost_otel.direct import OwnProvider
from exechost_otel.exporters import exporter_classes, make_provider
from exechost_otel.spans import ExecutorTrace

if TYPE_CHECKING:
    from exechost import Executor, TaskInfo, TaskKey, TaskState

logger = logging.getLogger(__name__)

SCOPE = "exechost_otel"
"""The instrumentation scope of the spans."""


@dataclasses.dataclass(frozen=True)
class OtelSettings:
    """The ``[plugins.otel]`` settings (``EXECHOST_PLUGINS__OTEL__RECORD_COMMAND``...); the rest
    is OpenTelemetry's own ``OTEL_*`` environment variables."""

    record_command: bool = False
    """Put each task's command (argv) in its span, as ``process.command_args``. Off by default:
    a command line may carry secrets, and spans leave the machine."""


class OtelObserver:
    """Traces the executors it watches: a span per executor, from its start to its end, and a
    child span per attempt at a task, from its queueing to its end.

    :param settings: its settings.
    :param tracer_provider: the provider to make the spans with (flushed when each executor
        finishes, never shut down); ``None`` for the application's global provider when it has
        set one, else a provider of the observer's own, exporting as the ``OTEL_*`` environment
        variables say (shut down after the last executor), or none at all (no spans) when they
        name no exporter.
    :param exporters: what makes the exporters of a provider of the observer's own (each an
        exporter class, or a function), used instead of ``OTEL_TRACES_EXPORTER``'s and of the
        application's global provider; each is called again for each provider the observer
        makes (after its last executor, a later start makes a new one).
    :raises LookupError, TypeError: when ``OTEL_TRACES_EXPORTER`` names an exporter that is not
        installed, or no span exporter.
    :raises ValueError: for both a ``tracer_provider`` and ``exporters``, or, when there are
        exporters, an ``OTEL_BSP_*`` value that is no whole number above 0.
    """

    Settings = OtelSettings

    def __init__(
        self,
        settings: OtelSettings | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        exporters: Sequence[Callable[[], SpanExporter]] | None = None,
    ) -> None:
        if tracer_provider is not None and exporters is not None:
            raise ValueError("give the observer a tracer_provider or exporters, not both")
        self.settings = settings or OtelSettings()
        self._given = tracer_provider
        self._chosen = exporters is not None
        if exporters is None:
            exporters = [] if tracer_provider is not None else exporter_classes(os.environ)
        self._exporters = exporters
        self._batching = Batching.from_environ(os.environ) if exporters else Batching()
        self._lock = threading.Lock()
        self._traces: dict[int, ExecutorTrace] = {}
        self._provider: trace.TracerProvider | None = None
        self._own: OwnProvider | None = None

    @hookimpl(wrapper=True)
    def executor_start(self, executor: Executor) -> Generator[None, Any, Any]:
        """Begin the executor's span, a child of the current span (if any)."""
        parent = context.get_current()
        with self._lock:
            provider = self._provider or self._open()
            if provider is not None:
                tracer = provider.get_tracer(SCOPE)
                self._traces[id(executor)] = ExecutorTrace(
                    tracer, executor.name, self.settings.record_command, parent, self._own
                )
        return (yield)

    @hookimpl
    def executor_task_queued(
        self, executor: Executor, key: TaskKey, command: Sequence[str], queue: str | None
    ) -> None:
        traced = self._traces.get(id(executor))
        if traced is not None:
            traced.queued(key, queue, command)

    @hookimpl
    def executor_task_state_changed(
        self, executor: Executor, key: TaskKey, state: TaskState, info: TaskInfo
    ) -> None:
        traced = self._traces.get(id(executor))
        if traced is not None:
            traced.changed(key, state, info)

    @hookimpl
    def executor_heartbeat(self, executor: Executor) -> None:
        traced = self._traces.get(id(executor))
        if traced is not None:
            traced.flush()

    @hookimpl
    def executor_finished(self, executor: Executor, outcome: str) -> None:
        """End the executor's span and export; after the last executor, close the provider."""
        with self._lock:
            traced = self._traces.pop(id(executor), None)
            provider, own = self._provider, self._own
            closing = own is not None and not self._traces
            if closing:  # the last executor: a later start opens a provider anew
                self._provider = self._own = None
        if traced is not None:
            traced.end(outcome)
        if closing and own is not None:
            own.provider.shutdown()
        elif provider is not None and hasattr(provider, "force_flush"):
            provider.force_flush()

    def _open(self) -> trace.TracerProvider | None:
        """The provider to use from now on (under the lock), or ``None``: nothing to export."""
        application = trace.get_tracer_provider()
        if self._given is not None:
            self._provider = self._given
        elif self._exporters and (
            self._chosen or isinstance(application, trace.ProxyTracerProvider)
        ):
            self._own = make_provider(self._exporters, self._batching)
            self._provider = self._own.provider
        elif not isinstance(application, trace.ProxyTracerProvider):
            self._provider = application
        else:
            logger.info("exechost-otel: %s names no exporter: no spans", OTEL_TRACES_EXPORTER)
        return self._provider
