"""exechost: Airflow's executor lifecycle as pluggy hooks, with executors as installable plugins.

Start with :func:`load_executor` (one executor) or :func:`load_executors` (every configured one,
with routing); backends implement the hooks in :mod:`exechost.hookspecs`.

The names below are imported when first used, so that ``import exechost`` (and the contract,
``import exechost.hookspecs``, which imports this package first) costs a plugin nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing would cost more than this whole module
if TYPE_CHECKING:
    from typing import Any

    from exechost.api import load_executor
    from exechost.attempts import Attempt
    from exechost.config import Config, load_config
    from exechost.errors import (
        BackendError,
        ConfigError,
        DuplicateTaskError,
        ExecHostError,
        ExecutorNotFoundError,
        ExecutorStateError,
        IncompatiblePluginError,
        InvalidTaskError,
        PluginLoadError,
        SettingsError,
    )
    from exechost.events import EventBatch
    from exechost.executor import CANCELLED_ERROR, UNLIMITED, Executor
    from exechost.hookspecs import hookimpl
    from exechost.multi import MultiExecutor, load_executors
    from exechost.states import Event, TaskInfo, TaskState
    from exechost.tasks import QueuedTask, TaskKey

__version__ = "0.1.0"

_MODULES = {
    "exechost.api": ("load_executor",),
    "exechost.attempts": ("Attempt",),
    "exechost.config": ("Config", "load_config"),
    "exechost.errors": (
        "BackendError",
        "ConfigError",
        "DuplicateTaskError",
        "ExecHostError",
        "ExecutorNotFoundError",
        "ExecutorStateError",
        "IncompatiblePluginError",
        "InvalidTaskError",
        "PluginLoadError",
        "SettingsError",
    ),
    "exechost.events": ("EventBatch",),
    "exechost.executor": ("CANCELLED_ERROR", "UNLIMITED", "Executor"),
    "exechost.hookspecs": ("hookimpl",),
    "exechost.multi": ("MultiExecutor", "load_executors"),
    "exechost.states": ("Event", "TaskInfo", "TaskState"),
    "exechost.tasks": ("QueuedTask", "TaskKey"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
"""The module of each public name, imported on first use."""


if not TYPE_CHECKING:  # type checkers see the imports above, and flag any other name

    def __getattr__(name: str) -> Any:
        module = _HOME.get(name)
        if module is None:
            raise AttributeError(f"module 'exechost' has no attribute {name!r}")
        value = getattr(__import__(module, fromlist=[name]), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_HOME})


__all__ = [
    "CANCELLED_ERROR",
    "UNLIMITED",
    "Attempt",
    "BackendError",
    "Config",
    "ConfigError",
    "DuplicateTaskError",
    "Event",
    "EventBatch",
    "ExecHostError",
    "Executor",
    "ExecutorNotFoundError",
    "ExecutorStateError",
    "IncompatiblePluginError",
    "InvalidTaskError",
    "MultiExecutor",
    "PluginLoadError",
    "QueuedTask",
    "SettingsError",
    "TaskInfo",
    "TaskKey",
    "TaskState",
    "__version__",
    "hookimpl",
    "load_config",
    "load_executor",
    "load_executors",
]
