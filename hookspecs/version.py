"""The version of the contract between exechost and its plugins, and how it changes.

:data:`API_VERSION` is ``(MAJOR, MINOR)``. It versions the hooks in :mod:`exechost.hookspecs`,
the backend conventions (:mod:`exechost.hookspecs.backend`),
:class:`~exechost.hookspecs.Capabilities` and the reporting methods a backend calls on
:class:`exechost.Executor` -- not the distribution's own version, which also changes for fixes
and features that plugins never see.

MINOR goes up when the contract grows in a way every existing plugin survives: a new hook, a new
argument to an existing hook (pluggy passes an implementation only the arguments it names, so old
implementations keep working), a new capability field with a default that claims nothing, a new
optional backend attribute. MAJOR goes up when a plugin written for the previous version could
break: a hook or an argument removed or renamed, a hook's meaning or return value changed, a
reporting method removed.

A backend declares the versions it supports as ``exechost_api`` (see
:mod:`exechost.hookspecs.backend`); one that relies on something added in 1.3 declares
``">=1.3,<2"``.

History: 1.0, the lifecycle and observer hooks. 1.1, attempts and adoption: the ``attempt_id``
argument of ``executor_execute_async``, the ``executor_adopt`` hook, the capabilities
``can_adopt`` and ``reports_running``, :attr:`exechost.TaskInfo.attempt_id` and
:attr:`~exechost.TaskInfo.attempt`, the state ``up_for_retry``; ``executor_cancel`` and
``executor_fetch_log``; for observers, the ``executor_finished`` hook, class entry points with
``[plugins.NAME]`` settings, and errors that never break the run.
"""

from __future__ import annotations

API_VERSION: tuple[int, int] = (1, 1)
"""The contract's version, ``(MAJOR, MINOR)``."""

API_VERSION_TEXT = f"{API_VERSION[0]}.{API_VERSION[1]}"
""":data:`API_VERSION` as text, ``"1.1"``."""

DEFAULT_API_RANGE = ">=1.0,<2"
"""The range assumed for a backend that declares no ``exechost_api``: written for API 1."""
