"""The pluggy markers that tie hook implementations to exechost's hook specifications."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "exechost"
"""The pluggy project name: ``pluggy.HookimplMarker(PROJECT_NAME)`` is :data:`hookimpl`."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function as a hook specification; used by exechost itself only."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a backend's or an observer plugin's method as the implementation of the hook of the same
name. It takes pluggy's options, e.g. ``@hookimpl(wrapper=True)`` for a wrapper around a
lifecycle call."""
