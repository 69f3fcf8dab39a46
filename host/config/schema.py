"""The configuration's keys and types, and the checked, typed configuration they make.

A configuration is assembled from layers (the file, the environment, command-line options), each a
:data:`Layer`: top-level keys, ``executors`` (a table per executor) and ``plugins``, every value
carrying its :class:`Source`. Later layers override earlier ones key by key; :func:`build_config`
checks the result and lists every problem at once, each with where the bad value came from.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from exechost.errors import ConfigError
from exechost.executor import DEFAULT_SYNC_TIMEOUT
from exechost.settings import did_you_mean

DEFAULT_EXECUTOR = "local"
"""The executor used when none is named anywhere."""


@dataclass(frozen=True)
class Source:
    """Where a configured value came from: ``kind`` is default, file, env, option or argument."""

    kind: str
    detail: str = ""
    table_prefix: str = ""
    """For a file: the table that holds exechost's keys (``tool.exechost.`` in pyproject.toml)."""
    line: int | None = None
    """For a file: the line of the value, when it could be found."""

    def __str__(self) -> str:
        labels = {
            "default": "default",
            "file": self.detail if self.line is None else f"{self.detail}:{self.line}",
            "env": f"environment variable {self.detail}",
            "option": f"command-line option {self.detail}",
            "argument": f"argument {self.detail}".rstrip(),
        }
        return labels[self.kind]

    def where(self, table: str | None) -> str:
        """Where a value of ``table`` (``None``: the top level) came from, for messages."""
        if self.kind != "file":
            return str(self)
        full_table = (self.table_prefix + table) if table else self.table_prefix.rstrip(".")
        return f"{self}, [{full_table}]" if full_table else f"{self}, top level"


DEFAULT = Source("default")


@dataclass(frozen=True)
class Value:
    """A configured value and where it came from."""

    value: Any
    source: Source


Table: TypeAlias = dict[str, Value]
Layer: TypeAlias = dict[str, Any]
"""Top-level keys to :class:`Value`; ``"executors"`` to a dict of :data:`Table`; ``"plugins"`` to a
:data:`Table` whose ``[plugins.NAME]`` tables are dicts of :data:`Table` (API 1.1)."""

TOP_KEYS = ("executor", "executors", "journal", "parallelism", "plugins")
EXECUTOR_KEYS = (
    "backend",
    "parallelism",
    "queued_timeout",
    "queues",
    "retries",
    "retry_delay",
    "sync_timeout",
)
"""The host's keys in an ``[executors.NAME]`` table; every other key is a backend setting."""
PLUGIN_KEYS = ("autoload", "block")
"""The host's keys in ``[plugins]``; a table below it, ``[plugins.NAME]``, holds a plugin's own
settings."""


@dataclass(frozen=True)
class ExecutorSection:
    """One configured executor: its ``[executors.NAME]`` table, or the default's implied one."""

    name: str
    backend: Value
    parallelism: int | None = None
    queues: tuple[str, ...] = ()
    retries: int = 0
    """How many more attempts a failed task gets, unless the task sets its own."""
    retry_delay: float = 0.0
    """Seconds between a failed attempt and the next, unless the task sets its own."""
    queued_timeout: float | None = None
    """Seconds a task may wait inside a backend that reports ``running`` before it fails."""
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT
    """Seconds the backend's ``executor_sync``, ``executor_end`` or ``executor_terminate`` may
    take before the executor gives up on it; 0 for no limit."""
    settings: Mapping[str, Value] = field(default_factory=dict)
    """The backend's own settings, checked against its ``Settings`` when the backend is loaded."""


@dataclass(frozen=True)
class PluginSettings:
    """Which observer plugins (entry point group ``exechost.plugins``) are loaded."""

    autoload: bool = True
    """Whether installed observer plugins are loaded at all."""
    block: frozenset[str] = frozenset()
    """Names of observer plugins never loaded (nor imported)."""
    settings: Mapping[str, Mapping[str, Value]] = field(default_factory=dict)
    """Each ``[plugins.NAME]`` table, by the plugin's name: its settings, checked against the
    plugin's ``Settings`` when it is loaded (API 1.1)."""

    def allows(self, name: str) -> bool:
        """Whether the observer plugin ``name`` is to be loaded."""
        return self.autoload and name not in self.block


@dataclass(frozen=True)
class Config:
    """The effective configuration: what :func:`exechost.load_config` returns."""

    executor: Value
    """The default executor's name: the executor of tasks that name none and match no queue."""
    parallelism: Value
    """The global cap on running tasks across all executors; ``None`` or 0 for none. It is also
    the parallelism of each executor that sets none of its own."""
    executors: Mapping[str, ExecutorSection]
    """The ``[executors.NAME]`` tables, by name."""
    journal: Value
    """The journal's path, ``False`` for none, ``None`` (the default) for the caller's default:
    ``.exechost/journal.sqlite`` for ``exechost run``, none for the Python API."""
    plugins: PluginSettings
    file: Path | None
    """The configuration file that was read, if any."""
    values: Mapping[str, Value]
    """Every effective key (dotted, ``executors.gpu.parallelism``) with its value and source."""
    ignored_variables: tuple[str, ...] = ()
    """The ``EXECHOST_*`` environment variables that name no key and were ignored."""

    @property
    def default_executor(self) -> str:
        """The name of the default executor."""
        name: str = self.executor.value
        return name

    @property
    def global_parallelism(self) -> int | None:
        """The global cap (0: no limit), or ``None`` when none is set."""
        value: int | None = self.parallelism.value
        return value

    def override(self, *, executor: str | None = None, parallelism: int | None = None) -> Config:
        """This configuration with the default executor or the global cap given as arguments.

        ``None`` leaves a key as it is; the new values are checked when the executors are made.
        """
        given = {
            key: Value(value, Source("argument", key))
            for key, value in (("executor", executor), ("parallelism", parallelism))
            if value is not None
        }
        return dataclasses.replace(
            self,
            executor=given.get("executor", self.executor),
            parallelism=given.get("parallelism", self.parallelism),
            values={**self.values, **given},
        )

    def section(self, name: str) -> ExecutorSection:
        """The executor ``name``'s table; an installed backend of that name when it has none."""
        section = self.executors.get(name)
        if section is None:
            source = self.executor.source if name == self.default_executor else Source("argument")
            return ExecutorSection(name, Value(name, source))
        return section

    def executor_names(self) -> list[str]:
        """The default executor first, then every other configured one."""
        return [self.default_executor, *(n for n in self.executors if n != self.default_executor)]

    def queue_routes(self) -> dict[str, str]:
        """Each routed queue and the executor that lists it."""
        return {queue: s.name for s in self.executors.values() for queue in s.queues}


def layer_from_table(
    table: Mapping[str, Any], source: Source, line_of: Callable[..., int | None]
) -> tuple[Layer, list[str]]:
    """A layer from a file's (parsed) exechost table, and the problems with its shape.

    :param line_of: the line of the key at a path (``line_of("executors", "gpu", "backend")``).
    """

    def value(raw: Any, *path: str) -> Value:
        return Value(raw, dataclasses.replace(source, line=line_of(*path)))

    layer: Layer = {}
    problems: list[str] = []
    for key, raw in table.items():
        if key == "executors" and isinstance(raw, dict):
            executors: dict[str, Table] = {}
            for name, section in raw.items():
                if isinstance(section, dict):
                    executors[name] = {k: value(v, key, name, k) for k, v in section.items()}
                else:
                    where = value(section, key, name).source.where("executors")
                    problems.append(
                        f"{where}: {name} must be a table ([executors.{name}] with its keys "
                        f"below it), got {_kind(section)}"
                    )
            layer["executors"] = executors
        elif key == "plugins" and isinstance(raw, dict):
            plugins: Layer = {}
            for name, item in raw.items():
                if name not in PLUGIN_KEYS and isinstance(item, dict):  # [plugins.NAME]
                    plugins[name] = {k: value(v, key, name, k) for k, v in item.items()}
                else:
                    plugins[name] = value(item, key, name)
            layer["plugins"] = plugins
        else:
            layer[key] = value(raw, key)
    return layer, problems


def merge(layers: list[Layer]) -> Layer:
    """The layers merged key by key, later ones overriding earlier ones."""
    merged: Layer = {}
    for layer in layers:
        for key, value in layer.items():
            if key == "executors" and isinstance(value, dict):
                executors = merged.setdefault("executors", {})
                for name, table in value.items():
                    executors.setdefault(name, {}).update(table)
            elif key == "plugins" and isinstance(value, dict):
                plugins = merged.setdefault("plugins", {})
                for name, item in value.items():
                    if isinstance(item, dict) and isinstance(plugins.get(name), dict):
                        plugins[name].update(item)  # a plugin's table, key by key
                    else:
                        plugins[name] = dict(item) if isinstance(item, dict) else item
            else:
                merged[key] = value
    return merged


def build_config(merged: Layer, file: Path | None, problems: list[str]) -> Config:
    """Check the merged layers and make the :class:`Config`.

    :param problems: problems found while making the layers, reported with the others.
    :raises ConfigError: listing every problem, each with where the value came from.
    """
    values: dict[str, Value] = {}
    for key, value in merged.items():
        if key not in TOP_KEYS:
            problems.append(unknown_key_message(value.source.where(None), key, TOP_KEYS))
        elif isinstance(value, Value) and key in ("executors", "plugins"):
            problems.append(
                f"{value.source.where(None)}: {key} must be a table ([{key}...]), "
                f"got {_kind(value.value)}"
            )
    executor = merged.get("executor", Value(DEFAULT_EXECUTOR, DEFAULT))
    if not _check(executor, str, "a string (an executor's name)", None, "executor", problems):
        if isinstance(executor.value, dict):
            problems[-1] += "; an executor's own table is written [executors.NAME]"
    elif not executor.value:
        problems.append(f"{executor.source.where(None)}: executor must not be empty")
    values["executor"] = executor
    parallelism = merged.get("parallelism", Value(None, DEFAULT))
    if parallelism.value is not None:
        _check_count(parallelism, None, "parallelism", problems)
    values["parallelism"] = parallelism
    journal = merged.get("journal", Value(None, DEFAULT))
    if journal.value is not None and not (
        journal.value is False or (type(journal.value) is str and journal.value)
    ):
        problems.append(
            f"{journal.source.where(None)}: journal must be a path (a string) or false, "
            f"got {_kind(journal.value)}"
        )
    values["journal"] = journal

    plugins_table: dict[str, Value | Table] = (
        merged.get("plugins", {}) if isinstance(merged.get("plugins"), dict) else {}
    )
    plugin_tables: dict[str, Table] = {}
    for key, item in list(plugins_table.items()):
        if isinstance(item, Value):
            if key not in PLUGIN_KEYS:
                problems.append(
                    unknown_key_message(item.source.where("plugins"), key, PLUGIN_KEYS)
                    + f"; a plugin's own settings go in its table, [plugins.{key}]"
                )
        elif key in PLUGIN_KEYS:
            del plugins_table[key]
            problems.append(f"[plugins.{key}]: {key} is a key of [plugins], not a plugin's table")
        else:
            plugin_tables[key] = item
    autoload = plugins_table.get("autoload", Value(True, DEFAULT))
    block = plugins_table.get("block", Value([], DEFAULT))
    assert isinstance(autoload, Value) and isinstance(block, Value)
    _check(autoload, bool, "true or false", "plugins", "autoload", problems)
    _check_names(block, "plugins", "block", problems)
    values["plugins.autoload"] = autoload
    values["plugins.block"] = block
    for name, table in plugin_tables.items():
        values.update({f"plugins.{name}.{key}": value for key, value in table.items()})

    sections: dict[str, ExecutorSection] = {}
    routes: dict[str, str] = {}
    raw_executors = merged.get("executors")
    for name, table in (raw_executors if isinstance(raw_executors, dict) else {}).items():
        section = _section(name, table, problems, values)
        sections[name] = section
        for queue in section.queues:
            if queue in routes:
                problems.append(
                    f"queue {queue!r} is listed by both [executors.{routes[queue]}] and "
                    f"[executors.{name}]; a queue routes to one executor"
                )
            routes[queue] = name
    if problems:
        raise ConfigError(list_problems("invalid configuration", problems))
    return Config(
        executor=executor,
        parallelism=parallelism,
        executors=sections,
        journal=journal,
        plugins=PluginSettings(bool(autoload.value), frozenset(block.value), plugin_tables),
        file=file,
        values=values,
    )


def _section(
    name: str, table: Table, problems: list[str], values: dict[str, Value]
) -> ExecutorSection:
    table_name = f"executors.{name}"
    backend = table.get("backend", Value(name, Source("default", "the table's name")))
    if _check(
        backend, str, "a string (an installed executor's name)", table_name, "backend", problems
    ):
        values[f"{table_name}.backend"] = backend
    parallelism = table.get("parallelism")
    if parallelism is not None and _check_count(parallelism, table_name, "parallelism", problems):
        values[f"{table_name}.parallelism"] = parallelism
    queues = table.get("queues", Value([], DEFAULT))
    if _check_names(queues, table_name, "queues", problems) and "queues" in table:
        values[f"{table_name}.queues"] = queues
    retries = table.get("retries", Value(0, DEFAULT))
    if _check_count(retries, table_name, "retries", problems) and "retries" in table:
        values[f"{table_name}.retries"] = retries
    retry_delay = table.get("retry_delay", Value(0.0, DEFAULT))
    if _check_seconds(retry_delay, table_name, "retry_delay", problems, zero=True):
        values[f"{table_name}.retry_delay"] = retry_delay
    queued_timeout = table.get("queued_timeout", Value(None, DEFAULT))
    if queued_timeout.value is not None and _check_seconds(
        queued_timeout, table_name, "queued_timeout", problems, zero=False
    ):
        values[f"{table_name}.queued_timeout"] = queued_timeout
    sync_timeout = table.get("sync_timeout", Value(DEFAULT_SYNC_TIMEOUT, DEFAULT))
    if _check_seconds(sync_timeout, table_name, "sync_timeout", problems, zero=True):
        values[f"{table_name}.sync_timeout"] = sync_timeout
    settings = {key: value for key, value in table.items() if key not in EXECUTOR_KEYS}
    for key, value in settings.items():
        values[f"{table_name}.{key}"] = value
    return ExecutorSection(
        name=name,
        backend=backend,
        parallelism=None if parallelism is None else parallelism.value,
        queues=tuple(queues.value) if isinstance(queues.value, list) else (),
        retries=retries.value if type(retries.value) is int else 0,
        retry_delay=float(retry_delay.value) if _is_seconds(retry_delay.value) else 0.0,
        queued_timeout=(float(queued_timeout.value) if _is_seconds(queued_timeout.value) else None),
        sync_timeout=(
            float(sync_timeout.value) if _is_seconds(sync_timeout.value) else DEFAULT_SYNC_TIMEOUT
        ),
        settings=settings,
    )


def _kind(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{names.get(type(value), type(value).__name__)} {value!r}"


def _check(
    value: Value, tp: type, expected: str, table: str | None, key: str, problems: list[str]
) -> bool:
    if type(value.value) is tp:
        return True
    problems.append(
        f"{value.source.where(table)}: {key} must be {expected}, got {_kind(value.value)}"
    )
    return False


def _check_count(value: Value, table: str | None, key: str, problems: list[str]) -> bool:
    if type(value.value) is int and value.value >= 0:
        return True
    problems.append(
        f"{value.source.where(table)}: {key} must be an integer >= 0 (0 for no limit), "
        f"got {_kind(value.value)}"
    )
    return False


def _is_seconds(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def _check_seconds(value: Value, table: str, key: str, problems: list[str], *, zero: bool) -> bool:
    if _is_seconds(value.value) and (zero or value.value > 0):
        return True
    bound = ">= 0" if zero else "> 0"
    problems.append(
        f"{value.source.where(table)}: {key} must be a finite number of seconds {bound}, "
        f"got {_kind(value.value)}"
    )
    return False


def _check_names(value: Value, table: str, key: str, problems: list[str]) -> bool:
    if isinstance(value.value, list) and all(type(item) is str for item in value.value):
        return True
    problems.append(
        f"{value.source.where(table)}: {key} must be an array of strings, got {_kind(value.value)}"
    )
    return False


def list_problems(title: str, problems: list[str]) -> str:
    """A message listing several problems, one per line: ``title:`` then ``  - problem``."""
    return f"{title}:\n" + "\n".join(f"  - {problem}" for problem in problems)


def unknown_key_message(where: str, key: str, valid: Any) -> str:
    """An unknown key's message: where, a did-you-mean and the valid keys."""
    valid = sorted(valid)
    return f"{where}: unknown key {key!r}{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}"
