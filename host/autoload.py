"""Observer plugins found through the ``exechost.plugins`` entry point group.

As with pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` and ``-p no:NAME``, the configuration decides
before anything is imported: with ``[plugins] autoload = false`` none is imported, and a plugin
named in ``[plugins] block`` never is.
"""

from __future__ import annotations

from exechost.config import PluginSettings, env_name
from exechost.discovery import PLUGINS_GROUP, PluginEntry, find_entries
from exechost.errors import PluginLoadError


def observer_plugins(settings: PluginSettings) -> list[tuple[PluginEntry, object]]:
    """Import the allowed observer plugins; each entry and the object its entry point names.

    :raises PluginLoadError: when one fails to import, naming it and its distribution.
    """
    if not settings.autoload:
        return []
    loaded = []
    for entry in find_entries(PLUGINS_GROUP):
        if not settings.allows(entry.name):
            continue
        try:
            loaded.append((entry, entry.load()))
        except PluginLoadError as exc:
            raise PluginLoadError(
                f"{exc}; to run without it, block it: [plugins] block = [{entry.name!r}] in the "
                f"configuration, or {env_name('plugins', 'block')}={entry.name}"
            ) from exc.__cause__
    return loaded
