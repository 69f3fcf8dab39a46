"""``exechost plugins``: every installed executor backend and observer plugin, from metadata.

Nothing is imported unless ``--check`` asks for it; a plugin the configuration blocks is never
imported. A checked executor backend also shows whether it supports this exechost's API version,
and its capabilities. Each row is a :class:`PluginReport`; :data:`COLUMNS` decides what the table
shows, so a new fact about plugins is one field and one column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy
from exechost.autoload import make_observer
from exechost.config import PluginSettings
from exechost.contract import (
    api_incompatibility,
    capabilities_of,
    capabilities_record,
    describe_capabilities,
)
from exechost.discovery import EXECUTORS_GROUP, PLUGINS_GROUP, PluginEntry, find_entries
from exechost.errors import PluginLoadError, SettingsError
from exechost.hooks import ExecutorHooks

GROUPS = (("executor", EXECUTORS_GROUP), ("observer", PLUGINS_GROUP))
"""Each kind of plugin and its entry point group."""

NOT_CHECKED = "not checked"
OK = "ok"
IMPORT_ERROR = "import error"
INCOMPATIBLE = "incompatible"
REFUSED = "refused"
INVALID_SETTINGS = "invalid settings"
PROBLEMS = (IMPORT_ERROR, INCOMPATIBLE, REFUSED, INVALID_SETTINGS)
"""The statuses of a plugin that ``run`` would refuse, which make ``plugins --check`` fail."""
BLOCKED = "blocked"


@dataclass(frozen=True)
class PluginReport:
    """One installed plugin and what is known of it."""

    kind: str
    """``executor`` (group ``exechost.executors``) or ``observer`` (group ``exechost.plugins``)."""
    name: str
    distribution: str | None
    version: str | None
    value: str
    """The entry point's value, ``module:attribute``."""
    status: str
    """``not checked`` (metadata only), ``ok``, ``import error``, ``incompatible`` (an executor
    backend that does not support this exechost's API version, or declares invalid capabilities),
    ``refused`` (``run`` would not register it: a hook implementation pluggy rejects, an executor
    entry point that names no class, an observer's that names a function or nothing with a hook
    implementation), ``invalid settings`` (an observer's ``[plugins.NAME]`` settings that its
    ``Settings`` refuses) or ``blocked``."""
    detail: str = ""
    """Why: the import error's message, the incompatibility, or what blocks the plugin."""
    capabilities: dict[str, Any] | None = None
    """A checked executor backend's capabilities, as :func:`exechost.contract.capabilities_record`
    gives them."""


COLUMNS: list[tuple[str, Callable[[PluginReport], str]]] = [
    ("kind", lambda r: r.kind),
    ("name", lambda r: r.name),
    ("distribution", lambda r: r.distribution or "-"),
    ("version", lambda r: r.version or "-"),
    ("status", lambda r: r.status),
    ("capabilities", lambda r: describe_capabilities(r.capabilities) if r.capabilities else ""),
    ("detail", lambda r: r.detail),
]
"""The table's columns: a header and how to get the cell from a report."""


def plugin_reports(settings: PluginSettings, *, check: bool) -> list[PluginReport]:
    """A report on every installed plugin; with ``check``, each allowed one is imported."""
    reports = []
    for kind, group in GROUPS:
        for entry in find_entries(group):
            reports.append(_report(kind, entry, settings, check))
    return reports


def _report(kind: str, entry: PluginEntry, settings: PluginSettings, check: bool) -> PluginReport:
    report = PluginReport(
        kind, entry.name, entry.distribution, entry.version, entry.value, NOT_CHECKED
    )
    if kind == "observer" and not settings.allows(entry.name):
        why = "autoload is off" if not settings.autoload else "named in [plugins] block"
        return dataclasses.replace(report, status=BLOCKED, detail=why)
    if not check:
        return report
    try:
        loaded = entry.load() if kind == "executor" else make_observer(entry, settings)
    except PluginLoadError as exc:
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        return dataclasses.replace(report, status=IMPORT_ERROR, detail=detail)
    except SettingsError as exc:
        return dataclasses.replace(report, status=INVALID_SETTINGS, detail=str(exc))
    except pluggy.PluginValidationError as exc:
        return dataclasses.replace(report, status=REFUSED, detail=str(exc))
    refusal = _refusal(kind, loaded, entry)
    if refusal is not None:
        return dataclasses.replace(report, status=REFUSED, detail=refusal)
    if kind != "executor":
        return dataclasses.replace(report, status=OK)
    problem = api_incompatibility(loaded, entry.name)
    if problem is not None:
        return dataclasses.replace(report, status=INCOMPATIBLE, detail=problem)
    try:
        capabilities = capabilities_of(loaded, entry.name)
    except PluginLoadError as exc:
        return dataclasses.replace(report, status=INCOMPATIBLE, detail=str(exc))
    return dataclasses.replace(report, status=OK, capabilities=capabilities_record(capabilities))


def _refusal(kind: str, loaded: object, entry: PluginEntry) -> str | None:
    """Why ``run`` would refuse to register the plugin (an observer: as made by its entry point),
    found by registering it as ``run`` does (hook implementations validated by pluggy) with a
    manager of the check's own; or ``None``."""
    if kind == "executor" and not isinstance(loaded, type):
        return (
            f"executor {entry.name!r} ({entry.value}) is a {type(loaded).__name__} object, not a "
            "class: an executor's entry point names its backend class, which the host makes "
            "with the executor's settings"
        )
    try:
        if kind == "executor":
            ExecutorHooks(loaded, entry.name, entry.origin)
        else:
            ExecutorHooks(None).register_observer(loaded, entry.name, entry.origin)
    except pluggy.PluginValidationError as exc:
        return str(exc)
    return None
