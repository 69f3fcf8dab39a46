"""The exceptions exechost raises; all derive from :class:`ExecHostError`."""

from __future__ import annotations


class ExecHostError(Exception):
    """Base class of every error exechost raises on purpose."""


class InvalidTaskError(ExecHostError, ValueError):
    """A task's key, command, priority or options are not acceptable."""


class DuplicateTaskError(ExecHostError, KeyError):
    """A task was queued under a key that is already queued or running."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ExecutorStateError(ExecHostError, RuntimeError):
    """An operation does not fit the executor's current state (e.g. queueing after ``end()``)."""


class ExecutorNotFoundError(ExecHostError, LookupError):
    """No installed executor has the requested name."""


class PluginLoadError(ExecHostError, ImportError):
    """An installed plugin could not be imported or is not usable."""


class IncompatiblePluginError(PluginLoadError):
    """An installed plugin does not support this exechost's API version (see ``exechost_api``)."""


class SettingsError(ExecHostError, ValueError):
    """A backend's settings are invalid: unknown key, wrong type or missing value."""


class ConfigError(ExecHostError, ValueError):
    """A configuration file, environment variable or option is invalid; the message says where."""


class BackendError(ExecHostError):
    """A backend's hook raised where the error must reach the caller (``executor_start``)."""
