"""Observer plugins found through the ``exechost.plugins`` entry point group.

As with pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` and ``-p no:NAME``, the configuration decides
before anything is imported: with ``[plugins] autoload = false`` none is imported, and a plugin
named in ``[plugins] block`` never is.
"""

from __future__ import annotations

from exechost.config import PluginSettings
from exechost.discovery import PLUGINS_GROUP, PluginEntry, find_entries


def observer_plugins(settings: PluginSettings) -> list[tuple[PluginEntry, object]]:
    """Import the allowed observer plugins; each entry and the object its entry point names.

    :raises PluginLoadError: when one fails to import, naming it and its distribution.
    """
    if not settings.autoload:
        return []
    return [
        (entry, entry.load())
        for entry in find_entries(PLUGINS_GROUP)
        if settings.allows(entry.name)
    ]
