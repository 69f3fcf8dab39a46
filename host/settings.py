"""Validation of a backend's settings against the dataclass it declares."""

from __future__ import annotations

import dataclasses
import difflib
import math
import pathlib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from exechost.errors import SettingsError

_MISSING = object()


def did_you_mean(name: str, valid: Sequence[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(name, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_type(tp: Any) -> str:
    """A type as a person writes it: ``int``, ``Path | None``, ``list[str]``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(describe_type(option) for option in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(option) for option in args)
    if tp is type(None):
        return "None"
    if tp is Ellipsis:
        return "..."
    if origin is not None:
        return f"{describe_type(origin)}[{', '.join(describe_type(arg) for arg in args)}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def convert(value: Any, tp: Any) -> Any:
    """Return ``value`` as type ``tp``, or :data:`_MISSING` if it is not of that type.

    Only lossless conversions happen: an int where a float is wanted, a str where a
    :class:`pathlib.Path` is wanted, a list where a tuple is wanted.
    """
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        for option in args:
            converted = convert(value, option)
            if converted is not _MISSING:
                return converted
        return _MISSING
    if origin is typing.Literal:
        return value if value in args else _MISSING
    if tp is type(None):
        return value if value is None else _MISSING
    if tp is bool:
        return value if type(value) is bool else _MISSING
    if tp is int:
        return value if type(value) is int else _MISSING
    if tp is float:  # nan and the infinities are no number of anything
        return float(value) if type(value) in (int, float) and math.isfinite(value) else _MISSING
    if tp is pathlib.Path:
        return pathlib.Path(value) if isinstance(value, str | pathlib.PurePath) else _MISSING
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            return _MISSING
        item_type = args[0] if args else Any
        items = [convert(item, item_type) for item in value]
        if any(item is _MISSING for item in items):
            return _MISSING
        return tuple(items) if (origin or tp) is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            return _MISSING
        key_type, value_type = args if args else (Any, Any)
        converted_map = {convert(k, key_type): convert(v, value_type) for k, v in value.items()}
        if _MISSING in converted_map or any(v is _MISSING for v in converted_map.values()):
            return _MISSING
        return converted_map
    if isinstance(tp, type):
        return value if isinstance(value, tp) else _MISSING
    return value


_TYPE_HINTS: dict[type[Any], dict[str, Any]] = {}


def type_hints(settings_class: type[Any]) -> dict[str, Any]:
    """``typing.get_type_hints`` of a settings dataclass, computed once per class: it runs for
    every task whose ``executor_config`` is checked, and costs more than the rest of the check."""
    hints = _TYPE_HINTS.get(settings_class)
    if hints is None:
        hints = _TYPE_HINTS[settings_class] = typing.get_type_hints(settings_class)
    return hints


def build_settings(
    settings_class: type[Any],
    values: Mapping[str, Any],
    *,
    owner: str,
    sources: Mapping[str, str] | None = None,
) -> Any:
    """Validate ``values`` against the dataclass ``settings_class`` and return an instance.

    :param owner: who the settings belong to, for messages (``"executor 'local'"``).
    :param sources: where each value came from, by key (``"argument log_dir of load_executor"``,
        a file's table), for messages: a problem with a value names where it came from.
    :raises SettingsError: for an unknown key, a value of the wrong type or a missing value; the
        message names the key and lists the valid ones.
    """
    fields = {f.name: f for f in dataclasses.fields(settings_class) if f.init}
    hints = type_hints(settings_class)
    valid = sorted(fields)
    problems: list[tuple[str | None, str]] = [
        (name, f"unknown setting {name!r}{did_you_mean(name, valid)}")
        for name in values
        if name not in fields
    ]
    converted: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in values:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                problems.append((None, f"setting {name!r} is required"))
            continue
        value = convert(values[name], hints[name])
        if value is _MISSING:
            given = values[name]
            finite = " (finite)" if type(given) is float and not math.isfinite(given) else ""
            problems.append(
                (
                    name,
                    f"setting {name!r} must be {describe_type(hints[name])}{finite}, "
                    f"got {type(values[name]).__name__} {values[name]!r}",
                )
            )
        else:
            converted[name] = value
    sources = sources or {}
    if problems:
        valid_list = ", ".join(f"{name} ({describe_type(hints[name])})" for name in valid)
        raise SettingsError(
            f"{_located(owner, problems, sources)}. Valid settings: {valid_list or '(none)'}"
        )
    try:
        return settings_class(**converted)
    except (TypeError, ValueError) as exc:  # a __post_init__ check of the backend's own
        # it may be about any of the values: name their source when they share one
        places = {sources.get(name) for name in values}
        culprit = next(iter(values)) if len(places) == 1 else None
        raise SettingsError(_located(owner, [(culprit, str(exc))], sources)) from exc


def _located(owner: str, problems: list[tuple[str | None, str]], sources: Mapping[str, str]) -> str:
    """``invalid settings for OWNER: PROBLEMS``, each problem after where its value came from,
    or the whole message after it when every problem names the same place."""
    places = [sources.get(name) if name is not None else None for name, _ in problems]
    if len(set(places)) == 1 and places[0] is not None:
        return f"{places[0]}: invalid settings for {owner}: {'; '.join(p for _, p in problems)}"
    texts = [
        problem if place is None else f"{place}: {problem}"
        for place, (_, problem) in zip(places, problems, strict=True)
    ]
    return f"invalid settings for {owner}: {'; '.join(texts)}"
