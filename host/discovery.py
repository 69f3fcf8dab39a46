"""Finding installed plugins through entry points, reading metadata only until one is loaded."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from exechost.errors import ExecutorNotFoundError, PluginLoadError
from exechost.settings import did_you_mean

EXECUTORS_GROUP = "exechost.executors"
"""Entry point group of executor backends: the name is the executor's, the value its class."""

PLUGINS_GROUP = "exechost.plugins"
"""Entry point group of observer plugins: the value is a module or object with hook impls."""

KNOWN_DISTRIBUTIONS = {
    "celery": "exechost-celery",
    "dask": "exechost-dask",
    "slurm": "exechost-slurm",
}
"""Executors that are not part of exechost, by name, and the distribution that provides each."""


@dataclass(frozen=True)
class PluginEntry:
    """An installed plugin as its distribution's metadata declares it; nothing is imported."""

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def origin(self) -> str:
        """The distribution and version, for messages (``"exechost-dask 1.0"``)."""
        if self.distribution is None:
            return f"entry point {self.value!r}"
        return f"distribution {self.distribution} {self.version}"

    def load(self) -> Any:
        """Import and return the entry point's object.

        :raises PluginLoadError: naming the plugin, its distribution and version and the real
            import error (chained as ``__cause__``).
        """
        module, _, attr = self.value.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in filter(None, attr.split(".")):
                obj = getattr(obj, part)
        except Exception as exc:
            kind = "executor" if self.group == EXECUTORS_GROUP else f"{self.group} plugin"
            raise PluginLoadError(
                f"{kind} {self.name!r} from {self.origin} could not be loaded "
                f"({self.value}): {type(exc).__name__}: {exc}"
            ) from exc
        return obj


def find_entries(group: str) -> list[PluginEntry]:
    """Every entry point of ``group`` in the installed distributions, sorted by name."""
    entries = []
    for ep in metadata.entry_points(group=group):
        dist = ep.dist
        entries.append(
            PluginEntry(
                group=group,
                name=ep.name,
                value=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    return sorted(entries, key=lambda entry: entry.name)


def find_executor(name: str) -> PluginEntry:
    """The installed executor backend called ``name``.

    :raises ExecutorNotFoundError: when none is, listing the installed executors; or when two
        distributions claim the name, naming both.
    """
    entries = find_entries(EXECUTORS_GROUP)
    matches = {entry.distribution: entry for entry in entries if entry.name == name}
    if not matches:
        names = sorted({entry.name for entry in entries})
        message = (
            f"no executor named {name!r} is installed{did_you_mean(name, names)}; "
            f"installed executors: {', '.join(names) or '(none)'}"
        )
        if name in KNOWN_DISTRIBUTIONS:
            message += f"; to add it: pip install {KNOWN_DISTRIBUTIONS[name]}"
        raise ExecutorNotFoundError(message)
    if len(matches) > 1:
        owners = ", ".join(entry.origin for entry in matches.values())
        raise ExecutorNotFoundError(
            f"executor {name!r} is declared by more than one distribution ({owners}); "
            "uninstall all but one"
        )
    return next(iter(matches.values()))


def distribution_of(obj: object) -> str:
    """The distribution that provides ``obj``'s module, for messages about objects from code."""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    top = module.partition(".")[0]
    dists = metadata.packages_distributions().get(top)
    if not dists:
        return f"module {module}, not from an installed distribution"
    name = dists[0]
    return f"distribution {name} {metadata.version(name)}"
