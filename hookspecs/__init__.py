"""The contract between exechost and its plugins.

Executor backends implement the lifecycle hooks (:mod:`exechost.hookspecs.lifecycle`); observer
plugins implement the observer hooks (:mod:`exechost.hookspecs.observers`) and may wrap lifecycle
calls. Both mark their implementations with :data:`hookimpl`. A backend class may also declare
the contract versions it supports (:data:`API_VERSION`, :mod:`exechost.hookspecs.version`) and
its :class:`Capabilities`.
"""

from __future__ import annotations

from exechost.hookspecs.capabilities import Capabilities
from exechost.hookspecs.markers import PROJECT_NAME, hookimpl, hookspec
from exechost.hookspecs.version import API_VERSION, API_VERSION_TEXT, DEFAULT_API_RANGE

LIFECYCLE_HOOKS = (
    "executor_start",
    "executor_execute_async",
    "executor_adopt",
    "executor_sync",
    "executor_end",
    "executor_terminate",
    "executor_cancel",
    "executor_fetch_log",
)
"""The names of the lifecycle hooks, which only the selected backend implements plainly."""

__all__ = [
    "API_VERSION",
    "API_VERSION_TEXT",
    "DEFAULT_API_RANGE",
    "LIFECYCLE_HOOKS",
    "PROJECT_NAME",
    "Capabilities",
    "hookimpl",
    "hookspec",
]
