"""Observer plugins found through the ``exechost.plugins`` entry point group, and made.

As with pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` and ``-p no:NAME``, the configuration decides
before anything is imported: with ``[plugins] autoload = false`` none is imported, and a plugin
named in ``[plugins] block`` never is.

An entry point names a module, a class or an object (see :mod:`exechost.hookspecs.observers`):
a module or an object is the observer itself; a class is called once, with its validated
``[plugins.NAME]`` settings when it declares a ``Settings`` dataclass, and with no argument when it
does not.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy
from exechost.config import PluginSettings, Value, env_name, list_problems
from exechost.discovery import PLUGINS_GROUP, PluginEntry, find_entries
from exechost.errors import ConfigError, PluginLoadError, SettingsError
from exechost.hookspecs import PROJECT_NAME
from exechost.settings import build_settings, did_you_mean

_IMPL_MARK = f"{PROJECT_NAME}_impl"


def observer_plugins(settings: PluginSettings) -> list[tuple[PluginEntry, object]]:
    """Import and make the allowed observer plugins; each entry and its observer object.

    :raises ConfigError: for a ``[plugins.NAME]`` table of no installed observer plugin.
    :raises PluginLoadError: when one fails to import or to be made, naming it and its
        distribution.
    :raises pluggy.PluginValidationError: when its entry point names something that is no
        observer (a function, or an object with no hook implementation).
    :raises SettingsError: when its settings are invalid, naming where each came from.
    """
    if not settings.autoload:
        return []
    entries = find_entries(PLUGINS_GROUP)
    problems = unknown_tables(settings, entries)
    if problems:
        raise ConfigError(list_problems("invalid configuration", problems))
    loaded = []
    for entry in entries:
        if not settings.allows(entry.name):
            continue
        try:
            loaded.append((entry, make_observer(entry, settings)))
        except PluginLoadError as exc:
            raise PluginLoadError(
                f"{exc}; to run without it, block it: [plugins] block = [{entry.name!r}] in the "
                f"configuration, or {env_name('plugins', 'block')}={entry.name}"
            ) from exc.__cause__
    return loaded


def unknown_tables(settings: PluginSettings, entries: Sequence[PluginEntry]) -> list[str]:
    """A problem for each ``[plugins.NAME]`` table that names no installed observer plugin."""
    installed = {_table_name(entry.name): entry.name for entry in entries}
    problems = []
    for name, table in settings.settings.items():
        if _table_name(name) in installed:
            continue
        where = _where(table, name) if table else f"[plugins.{name}]"
        problems.append(
            f"{where}: no observer plugin named {name!r} is installed"
            f"{did_you_mean(name, sorted(installed.values()))}; installed observer plugins: "
            f"{', '.join(sorted(installed.values())) or '(none)'}"
        )
    return problems


def plugin_table(settings: PluginSettings, name: str) -> dict[str, Value]:
    """The ``[plugins.NAME]`` settings of the plugin ``name`` (``EXECHOST_PLUGINS__NAME__KEY``
    spells it in capitals, with ``_`` for ``-``); later layers first."""
    table: dict[str, Value] = {}
    for table_name, values in settings.settings.items():
        if _table_name(table_name) == _table_name(name):
            table.update(values)
    return table


def make_observer(entry: PluginEntry, settings: PluginSettings) -> object:
    """Import the entry point's object and make the observer it names.

    :raises PluginLoadError, pluggy.PluginValidationError, SettingsError: as
        :func:`observer_plugins`.
    """
    named = entry.load()
    table = plugin_table(settings, entry.name)
    owner = f"observer plugin {entry.name!r} ({entry.origin})"
    if isinstance(named, type):
        observer = _instantiate(named, table, owner, entry)
    elif inspect.isroutine(named):
        raise pluggy.PluginValidationError(
            named,
            f"{owner}: its entry point ({entry.value}) names the function {named.__name__}; "
            "it must name a module, a class or an object with methods marked @exechost.hookimpl",
        )
    elif table:
        raise SettingsError(
            f"{_where(table, entry.name)}: invalid settings for {owner}: it takes no settings "
            f"(its entry point names a {'module' if inspect.ismodule(named) else 'object'}; "
            "a plugin with settings names a class that declares a Settings dataclass)"
        )
    else:
        observer = named
    if not any(hasattr(getattr(observer, attr, None), _IMPL_MARK) for attr in dir(observer)):
        raise pluggy.PluginValidationError(
            observer,
            f"{owner}: its entry point ({entry.value}) names a {type(observer).__name__} that "
            "implements no hook: nothing in it is marked @exechost.hookimpl",
        )
    return observer


def _instantiate(
    observer_class: type[Any], table: Mapping[str, Value], owner: str, entry: PluginEntry
) -> object:
    settings_class = getattr(observer_class, "Settings", None)
    if settings_class is None:
        if table:
            raise SettingsError(
                f"{_where(table, entry.name)}: invalid settings for {owner}: it takes no "
                f"settings (its class {observer_class.__qualname__} declares no Settings), got "
                f"{', '.join(table)}"
            )
        arguments: tuple[object, ...] = ()
    elif isinstance(settings_class, type) and dataclasses.is_dataclass(settings_class):
        values = {key: value.value for key, value in table.items()}
        sources = {key: value.source.where(f"plugins.{entry.name}") for key, value in table.items()}
        arguments = (build_settings(settings_class, values, owner=owner, sources=sources),)
    else:
        raise PluginLoadError(f"{owner}: its Settings must be a dataclass, got {settings_class!r}")
    try:
        return observer_class(*arguments)
    except Exception as exc:
        raise PluginLoadError(
            f"{owner} could not be made: {observer_class.__qualname__}"
            f"({'settings' if arguments else ''}) raised {type(exc).__name__}: {exc}"
        ) from exc


def _where(table: Mapping[str, Value], name: str) -> str:
    return next(iter(table.values())).source.where(f"plugins.{name}")


def _table_name(name: str) -> str:
    return name.lower().replace("-", "_")
