"""exechost: Airflow's executor lifecycle as pluggy hooks, with executors as installable plugins.

Start with :func:`load_executor` (one executor) or :func:`load_executors` (every configured one,
with routing); backends implement the hooks in :mod:`exechost.hookspecs`.
"""

from __future__ import annotations

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
from exechost.executor import UNLIMITED, Executor
from exechost.hookspecs import hookimpl
from exechost.multi import MultiExecutor, load_executors
from exechost.states import Event, TaskInfo, TaskState
from exechost.tasks import QueuedTask, TaskKey

__version__ = "0.1.0"

__all__ = [
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
