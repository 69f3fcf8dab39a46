"""The Python entry point: :func:`load_executor`, and the making of one executor from the config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from exechost.autoload import observer_plugins
from exechost.config import (
    DEFAULT_EXECUTOR,
    EXECUTOR_KEYS,
    Config,
    ExecutorSection,
    Source,
    Value,
    list_problems,
    load_config,
    unknown_key_message,
)
from exechost.contract import check_backend
from exechost.discovery import PluginEntry, find_executor
from exechost.errors import ConfigError, ExecutorNotFoundError, SettingsError
from exechost.executor import DEFAULT_SYNC_TIMEOUT, Executor
from exechost.journal import DEFAULT_JOURNAL, Journal, open_journal
from exechost.settings import build_settings

__all__ = ["DEFAULT_EXECUTOR", "DEFAULT_PARALLELISM", "build_executor", "load_executor"]

DEFAULT_PARALLELISM = 32
"""The parallelism of a backend that declares no ``default_parallelism`` (Airflow's default)."""

Observers = Sequence[tuple[PluginEntry, object]]


def load_executor(
    executor: str | object | None = None,
    *,
    parallelism: int | None = None,
    plugins: Sequence[object] = (),
    config: str | Path | Config | None = None,
    journal: str | Path | Journal | bool | None = None,
    **settings: Any,
) -> Executor:
    """Make an executor, ready to be started (or used as a context manager).

    What is not given here comes from the configuration (see :func:`exechost.load_config`):
    arguments given here override it.

    :param executor: the name of a configured executor (an ``[executors.NAME]`` table) or of an
        installed one (entry point group ``exechost.executors``), a backend class, or a backend
        object; ``None`` for the configuration's ``executor`` (``"local"`` by default). Only the
        named executor's distribution is imported.
    :param parallelism: how many tasks may run at once, 0 for no limit; ``None`` for the
        executor's ``parallelism`` in the configuration, else the global ``parallelism`` (which
        also caps the executor's own), else the backend's ``default_parallelism`` (32 if it
        declares none).
    :param plugins: observer plugin objects to register with the executor, besides the installed
        observer plugins that the configuration lets load (``[plugins]``).
    :param config: a configuration file to read instead of searching for one, or a loaded
        :class:`exechost.Config`.
    :param journal: where to record every task, attempt and state change, so that a run killed
        midway can be resumed (see :doc:`/durability`): a path (opened, locked and closed by the
        executor), an open :class:`exechost.journal.Journal` (the caller closes it), ``True`` for
        ``.exechost/journal.sqlite``, ``False`` for none; ``None`` for the configuration's
        ``journal`` key (none by default).
    :param settings: the backend's settings, over those of its configuration table; validated
        against its ``Settings`` dataclass.
    :raises ExecutorNotFoundError: for an unknown name, listing the installed executors.
    :raises PluginLoadError: when the executor's (or an observer plugin's) distribution fails to
        import, or the backend's ``capabilities`` is not an
        :class:`exechost.hookspecs.Capabilities`.
    :raises IncompatiblePluginError: when the backend's ``exechost_api`` range excludes this
        exechost's :data:`exechost.hookspecs.API_VERSION`, naming both.
    :raises SettingsError: for an unknown setting, a wrong type or a missing value, or a
        parallelism that is not an int >= 0.
    :raises ConfigError: for an invalid configuration, saying where the bad value is.
    :raises JournalError: when the journal is in use by another host, corrupt, or newer.

    Example::

        with exechost.load_executor("local", parallelism=4) as executor:
            executor.queue_command("hello", ["echo", "hello"])
        print(executor.get_event_buffer())
    """
    loaded = config if isinstance(config, Config) else load_config(config)
    observers = observer_plugins(loaded.plugins)
    if executor is None:
        executor = loaded.default_executor
    if isinstance(executor, str):
        made = build_executor(
            loaded,
            executor,
            parallelism=parallelism,
            settings=settings,
            observers=observers,
            plugins=plugins,
        )
        return attach_journal(made, loaded, journal, default=None)
    if isinstance(executor, type):
        name = getattr(executor, "name", None) or executor.__name__
        check_backend(executor, name, None)
        backend = instantiate_backend(executor, settings, name)
    else:
        name = getattr(executor, "name", None) or type(executor).__name__
        check_backend(executor, name, None)
        if settings:
            raise SettingsError(
                f"executor {name!r} is a backend object, which is already configured; settings "
                f"({', '.join(sorted(settings))}) can only be given with a backend class or name"
            )
        backend = executor
    if parallelism is None:
        parallelism = _parallelism(backend, None, loaded.global_parallelism)
    made = _make(backend, name, parallelism, None, observers, plugins)
    return attach_journal(made, loaded, journal, default=None)


def journal_path(
    config: Config, journal: str | Path | bool | None, default: Path | None
) -> Path | None:
    """The journal to open: ``journal`` if given, else the configuration's, else ``default``."""
    if journal is None:
        journal = config.journal.value
    if journal is None:
        return default
    if journal is True:
        return DEFAULT_JOURNAL
    if journal is False:
        return None
    return Path(journal)


def attach_journal(
    executor: Executor,
    config: Config,
    journal: str | Path | Journal | bool | None,
    default: Path | None,
) -> Executor:
    """Give ``executor`` its journal, opened here (and then closed by the executor) unless an
    open :class:`Journal` is given."""
    if isinstance(journal, Journal):
        executor.journal = journal
        return executor
    path = journal_path(config, journal, default)
    if path is not None:
        executor.journal = open_journal(path)
        executor.owns_journal = True
    return executor


def build_executor(
    config: Config,
    name: str,
    *,
    parallelism: int | None = None,
    settings: Mapping[str, Any] | None = None,
    common_settings: Mapping[str, Value] | None = None,
    observers: Observers = (),
    plugins: Sequence[object] = (),
) -> Executor:
    """Make the executor ``name`` as ``config`` describes it.

    :param parallelism: overrides the configured parallelism (and is not capped by the global one).
    :param settings: backend settings that override the configured ones.
    :param common_settings: settings given to every executor whose backend has them (e.g. the
        command line's ``--log-dir`` as ``log_dir``); below ``settings``, above the configured ones.
    :param observers: observer plugins already loaded, with their entry points.
    :param plugins: more observer plugin objects.
    """
    section = config.section(name)
    backend_name: str = section.backend.value
    try:
        entry = find_executor(backend_name)
    except ExecutorNotFoundError as exc:
        if section.backend.source.kind in ("default", "argument"):
            raise
        key = "executor" if section.name not in config.executors else "backend"
        raise ExecutorNotFoundError(
            f"{_where(config, section)}: {key} {backend_name!r}: {exc}"
        ) from None
    backend_class = entry.load()
    check_backend(backend_class, name, entry.origin)
    fields = settings_fields(backend_class)
    problems = [
        unknown_key_message(value.source.where(f"executors.{name}"), key, [*EXECUTOR_KEYS, *fields])
        for key, value in section.settings.items()
        if key not in fields
    ]
    if problems:
        raise ConfigError(list_problems("invalid configuration", problems))
    given = dict(section.settings)
    given.update({k: v for k, v in (common_settings or {}).items() if k in fields})
    for key, value in (settings or {}).items():
        given[key] = Value(value, Source("argument", f"{key} of load_executor"))
    values = {key: value.value for key, value in given.items()}
    sources = {key: _where(config, section, value.source) for key, value in given.items()}
    backend = instantiate_backend(backend_class, values, name, sources)
    if parallelism is None:
        parallelism = _parallelism(backend, section.parallelism, config.global_parallelism)
    return _make(backend, name, parallelism, entry.origin, observers, plugins, section)


def settings_fields(backend_class: Any) -> list[str]:
    """The names of the settings a backend class takes (its ``Settings`` dataclass's fields)."""
    settings_class = getattr(backend_class, "Settings", None)
    if not (isinstance(settings_class, type) and dataclasses.is_dataclass(settings_class)):
        return []
    return [f.name for f in dataclasses.fields(settings_class) if f.init]


def instantiate_backend(
    backend_class: Any,
    settings: Mapping[str, Any],
    name: str,
    sources: Mapping[str, str] | None = None,
) -> object:
    """Validate ``settings`` against ``backend_class.Settings`` and make the backend.

    A backend class with a ``Settings`` dataclass is called with the validated instance; one
    without is called with no arguments and takes no settings.

    :param sources: where each setting came from, for messages.
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
    return backend_class(build_settings(settings_class, settings, owner=owner, sources=sources))


def _parallelism(backend: object, own: int | None, cap: int | None) -> int:
    """The executor's own parallelism, else the global one, else the backend's default; capped.

    A global 0 means no limit: an executor that sets none of its own runs unlimited too.
    """
    if own is None:
        own = (
            cap if cap is not None else getattr(backend, "default_parallelism", DEFAULT_PARALLELISM)
        )
    if not cap:
        return own
    return cap if own == 0 else min(own, cap)


def _make(
    backend: object,
    name: str,
    parallelism: int,
    origin: str | None,
    observers: Observers,
    plugins: Sequence[object],
    section: ExecutorSection | None = None,
) -> Executor:
    executor = Executor(
        backend,
        name=name,
        parallelism=parallelism,
        origin=origin,
        retries=0 if section is None else section.retries,
        retry_delay=0.0 if section is None else section.retry_delay,
        queued_timeout=None if section is None else section.queued_timeout,
        sync_timeout=DEFAULT_SYNC_TIMEOUT if section is None else section.sync_timeout,
    )
    for entry, plugin in observers:
        executor.hooks.register_observer(plugin, entry.name, entry.origin)
    for plugin in plugins:
        executor.hooks.register_observer(plugin)
    return executor


def _where(config: Config, section: ExecutorSection, source: Source | None = None) -> str:
    """Where the executor's table (or, without one, the name of the default executor) is; or,
    given ``source``, where a value of that table came from."""
    if source is None:
        sources = [section.backend, *section.settings.values()]
        found = (v.source for v in sources if v.source.kind != "default")
        source = next(found, section.backend.source)
    source = dataclasses.replace(source, line=None)  # the table, not the line of one of its keys
    return source.where(f"executors.{section.name}" if section.name in config.executors else None)
