"""A backend's declarations besides its hooks: the contract versions it supports and its
capabilities, checked when it is loaded and when a task is queued for it."""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from exechost.errors import (
    IncompatiblePluginError,
    InvalidTaskError,
    PluginLoadError,
    SettingsError,
)
from exechost.hookspecs import API_VERSION, API_VERSION_TEXT, DEFAULT_API_RANGE, Capabilities
from exechost.settings import build_settings, describe_type, type_hints
from exechost.tasks import TaskKey

_COMPARISONS: dict[str, Callable[[tuple[int, int], tuple[int, int]], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_CLAUSE = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(\d+)(?:\.(\d+))?\s*")
_NO_CAPABILITIES = Capabilities()


def declared_api_range(backend_class: Any) -> str:
    """The ``exechost_api`` range a backend declares, or :data:`DEFAULT_API_RANGE`."""
    declared = getattr(backend_class, "exechost_api", None)
    return DEFAULT_API_RANGE if declared is None else declared


def api_supported(api_range: str, version: tuple[int, int] | None = None) -> bool:
    """Whether ``version`` (this exechost's :data:`API_VERSION` when ``None``) is inside
    ``api_range`` (e.g. ``">=1.2,<2"``).

    :raises ValueError: when ``api_range`` is not comma-separated comparisons with versions
        ``MAJOR`` or ``MAJOR.MINOR``.
    """
    if not isinstance(api_range, str) or not api_range.strip():
        raise ValueError(f"exechost_api must be a non-empty string, e.g. {DEFAULT_API_RANGE!r}")
    version = API_VERSION if version is None else version
    supported = True
    for clause in api_range.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(
                f"exechost_api {api_range!r}: cannot read {clause.strip()!r}; write comparisons "
                f"(>=, <, ==, ...) with MAJOR.MINOR versions, e.g. {DEFAULT_API_RANGE!r}"
            )
        op, major, minor = match.groups()
        bound = (int(major), int(minor or 0))
        supported = supported and _COMPARISONS[op](version, bound)
    return supported


def api_incompatibility(backend_class: Any, name: str) -> str | None:
    """Why the backend cannot work with this exechost, or ``None`` when it can."""
    api_range = declared_api_range(backend_class)
    try:
        if api_supported(api_range):
            return None
    except ValueError as exc:
        return f"executor {name!r} has an unreadable API declaration: {exc}"
    from exechost import __version__  # the package imports this module

    if getattr(backend_class, "exechost_api", None) is None:
        claim = f"declares no exechost_api, so it is taken to support exechost API {api_range}"
    else:
        claim = f"declares support for exechost API {api_range}"
    return (
        f"executor {name!r} {claim}, but this exechost ({__version__}) provides API "
        f"{API_VERSION_TEXT}; install a version of the plugin that supports API "
        f"{API_VERSION_TEXT}, or an exechost whose API it supports"
    )


def check_backend(backend_class: Any, name: str, origin: str | None) -> Capabilities:
    """Refuse a backend this exechost cannot drive; return its capabilities.

    :raises IncompatiblePluginError: when its ``exechost_api`` range excludes :data:`API_VERSION`.
    :raises PluginLoadError: when its ``capabilities`` is not a :class:`Capabilities`.
    """
    problem = api_incompatibility(backend_class, name)
    where = f" ({origin})" if origin else ""
    if problem is not None:
        raise IncompatiblePluginError(problem + where)
    return capabilities_of(backend_class, name)


def capabilities_of(backend: Any, name: str) -> Capabilities:
    """The backend's declared :class:`Capabilities` (``Capabilities()`` when it declares none).

    :raises PluginLoadError: when ``capabilities`` is something else.
    """
    declared = getattr(backend, "capabilities", None)
    if declared is None:
        return _NO_CAPABILITIES
    if not isinstance(declared, Capabilities):
        raise PluginLoadError(
            f"executor {name!r}: its capabilities must be an exechost.hookspecs.Capabilities, "
            f"got {declared!r}"
        )
    return declared


def option_types(capabilities: Capabilities) -> dict[str, str] | None:
    """The accepted ``executor_config`` keys and their types as text; ``None``: not declared."""
    options = capabilities.executor_config
    if options is None:
        return None
    hints = type_hints(options)
    return {
        field.name: describe_type(hints[field.name])
        for field in dataclasses.fields(options)
        if field.init
    }


def check_task_options(
    capabilities: Capabilities, key: TaskKey, executor_config: Mapping[str, Any], name: str
) -> Any:
    """Refuse a task whose ``executor_config`` the backend does not accept; return it parsed.

    :returns: an instance of the backend's ``executor_config`` dataclass (its defaults when the
        task gives no options), or ``None`` when the backend declares none, or when the task
        gives no options and the dataclass cannot be made without (a required field): as in
        API 1.0, such a task is not refused here.
    :raises InvalidTaskError: naming the task, the bad key or value and the accepted keys.
    """
    options = capabilities.executor_config
    if options is None:
        return None
    owner = f"task {key!r} (executor_config of executor {name!r})"
    if not executor_config:
        return _default_options(options, owner)
    try:
        return build_settings(options, executor_config, owner=owner)
    except SettingsError as exc:
        raise InvalidTaskError(str(exc)) from exc


_DEFAULT_OPTIONS: dict[type[Any], Any] = {}


def _default_options(options: type[Any], owner: str) -> Any:
    """The options of a task that gives none: made once per class when it is frozen (shared
    safely), else for each task; ``None`` when the class has a required field."""
    if options in _DEFAULT_OPTIONS:
        return _DEFAULT_OPTIONS[options]
    try:
        made = build_settings(options, {}, owner=owner)
    except SettingsError:
        made = None
    params = getattr(options, "__dataclass_params__", None)
    if made is None or (params is not None and params.frozen):
        _DEFAULT_OPTIONS[options] = made
    return made


def capabilities_record(capabilities: Capabilities) -> dict[str, Any]:
    """The capabilities as plain data (for JSON): each claim, and the ``executor_config`` keys
    with their types (``None``: not declared)."""
    record: dict[str, Any] = {
        field.name: getattr(capabilities, field.name)
        for field in dataclasses.fields(capabilities)
        if field.name != "executor_config"
    }
    record["executor_config"] = option_types(capabilities)
    return record


def describe_capabilities(capabilities: Capabilities | Mapping[str, Any]) -> str:
    """The capabilities (or their :func:`capabilities_record`) in a few words:
    ``"can_cancel_running, ordered_start; executor_config: env, cwd, timeout"``."""
    record = dict(
        capabilities_record(capabilities)
        if isinstance(capabilities, Capabilities)
        else capabilities
    )
    options = record.pop("executor_config")
    text = ", ".join(name for name, claimed in record.items() if claimed) or "no claims"
    if options is not None:
        text += f"; executor_config: {', '.join(options) or 'none'}"
    return text
