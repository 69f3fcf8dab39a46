"""The Python entry point: :func:`load_executor`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from exechost.contract import check_backend
from exechost.discovery import find_executor
from exechost.errors import SettingsError
from exechost.executor import Executor
from exechost.settings import build_settings

DEFAULT_EXECUTOR = "local"
"""The executor used when none is named."""

DEFAULT_PARALLELISM = 32
"""The parallelism of a backend that declares no ``default_parallelism`` (Airflow's default)."""


def load_executor(
    executor: str | object | None = None,
    *,
    parallelism: int | None = None,
    plugins: Sequence[object] = (),
    **settings: Any,
) -> Executor:
    """Make an executor, ready to be started (or used as a context manager).

    :param executor: the name of an installed executor (entry point group ``exechost.executors``),
        a backend class, or a backend object; ``None`` for ``"local"``. Only the named executor's
        distribution is imported.
    :param parallelism: how many tasks may run at once, 0 for no limit; ``None`` for the backend's
        ``default_parallelism`` (32 if it declares none).
    :param plugins: observer plugin objects to register with the executor.
    :param settings: the backend's settings, validated against its ``Settings`` dataclass.
    :raises ExecutorNotFoundError: for an unknown name, listing the installed executors.
    :raises PluginLoadError: when the executor's distribution fails to import, or its
        ``capabilities`` is not an :class:`exechost.hookspecs.Capabilities`.
    :raises IncompatiblePluginError: when the backend's ``exechost_api`` range excludes this
        exechost's :data:`exechost.hookspecs.API_VERSION`, naming both.
    :raises SettingsError: for an unknown setting, a wrong type or a missing value.

    Example::

        with exechost.load_executor("local", parallelism=4) as executor:
            executor.queue_command("hello", ["echo", "hello"])
        print(executor.get_event_buffer())
    """
    origin = None
    if executor is None:
        executor = DEFAULT_EXECUTOR
    if isinstance(executor, str):
        entry = find_executor(executor)
        name, origin = executor, entry.origin
        backend_class = entry.load()
        check_backend(backend_class, name, origin)
        backend = instantiate_backend(backend_class, settings, name)
    elif isinstance(executor, type):
        name = getattr(executor, "name", None) or executor.__name__
        check_backend(executor, name, origin)
        backend = instantiate_backend(executor, settings, name)
    else:
        name = getattr(executor, "name", None) or type(executor).__name__
        check_backend(executor, name, origin)
        if settings:
            raise SettingsError(
                f"executor {name!r} is a backend object, which is already configured; settings "
                f"({', '.join(sorted(settings))}) can only be given with a backend class or name"
            )
        backend = executor
    if parallelism is None:
        parallelism = getattr(backend, "default_parallelism", DEFAULT_PARALLELISM)
    result = Executor(backend, name=name, parallelism=parallelism, origin=origin)
    for plugin in plugins:
        result.hooks.register_observer(plugin)
    return result


def instantiate_backend(backend_class: Any, settings: Mapping[str, Any], name: str) -> object:
    """Validate ``settings`` against ``backend_class.Settings`` and make the backend.

    A backend class with a ``Settings`` dataclass is called with the validated instance; one
    without is called with no arguments and takes no settings.
    """
    owner = f"executor {name!r}"
    settings_class = getattr(backend_class, "Settings", None)
    if settings_class is None:
        if settings:
            raise SettingsError(
                f"invalid settings for {owner}: it takes no settings, got {', '.join(settings)}"
            )
        return backend_class()
    if not (isinstance(settings_class, type) and dataclasses.is_dataclass(settings_class)):
        raise SettingsError(f"{owner}: its Settings must be a dataclass, got {settings_class!r}")
    return backend_class(build_settings(settings_class, settings, owner=owner))
