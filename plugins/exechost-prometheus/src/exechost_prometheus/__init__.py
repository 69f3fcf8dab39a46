"""exechost observer plugin: executors' tasks, durations and open slots as Prometheus metrics.

Installed, it is the observer plugin ``prometheus`` (entry point group ``exechost.plugins``);
from Python, pass ``PrometheusObserver()`` in ``load_executor(..., plugins=[...])``.
"""

from __future__ import annotations

from exechost_prometheus.metrics import DURATION_BUCKETS, Metrics
from exechost_prometheus.observer import PrometheusObserver, PrometheusSettings

__all__ = ["DURATION_BUCKETS", "Metrics", "PrometheusObserver", "PrometheusSettings"]
