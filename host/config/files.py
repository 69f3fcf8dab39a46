"""Finding the configuration file, and reading TOML with errors that point at the line."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exechost.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE_NAME = "exechost.toml"
"""The configuration file looked for in the working directory."""

PYPROJECT_TABLE = ("tool", "exechost")
"""The table of ``pyproject.toml`` that holds the same keys as ``exechost.toml``."""

MAX_CONFIG_BYTES = 1 << 20
"""The largest configuration file read (1 MiB)."""

CONFIG_ENV = "EXECHOST_CONFIG"
"""The environment variable naming a configuration file."""

SEARCH_ORDER = (
    "the file given to --config (or load_executor(config=...))",
    f"the file named by ${CONFIG_ENV}",
    f"{CONFIG_FILE_NAME} in the working directory",
    "[tool.exechost] in pyproject.toml in the working directory",
)
"""Where the configuration is looked for; the first found is used, the others are ignored."""

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r'^\s*("[^"]*"|[A-Za-z0-9_-]+)\s*=')


@dataclass(frozen=True)
class ConfigFile:
    """The configuration file found: its path, exechost's table in it and where keys are."""

    path: Path
    table: dict[str, Any]
    """exechost's keys: the whole file, or ``[tool.exechost]`` of a ``pyproject.toml``."""
    table_path: tuple[str, ...]
    """Where that table is in the file: ``()``, or ``("tool", "exechost")``."""
    lines: Mapping[tuple[str, ...], int]
    """The line of each simple ``key = value`` by its full path (see :func:`key_lines`)."""

    def line_of(self, *path: str) -> int | None:
        """The line of the key at ``path`` below exechost's table, when it is written plainly."""
        return self.lines.get((*self.table_path, *path))


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line number of each ``key = value`` under a ``[table]`` header, by its full path.

    A best effort for messages: dotted keys and inline tables are not followed.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = tuple(part.strip().strip('"') for part in header.group(1).split("."))
            for end in range(1, len(table) + 1):  # [a.b] is where a table a first appears too
                lines.setdefault(table[:end], number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((*table, key.group(1).strip('"')), number)
    return lines


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML ``text``; a syntax error becomes a :class:`ConfigError` ``where:line:column``."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise ConfigError(f"{where}: invalid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _POSITION.search(message)
        if match is None:
            raise ConfigError(f"{where}: invalid TOML: {message}") from None
        line, column = match.groups()
        reason = message[: match.start()]
        raise ConfigError(f"{where}:{line}:{column}: invalid TOML: {reason}") from None


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse the TOML file ``path``; its data and its text."""
    try:
        text = read_text(path, MAX_CONFIG_BYTES)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except ValueError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from None
    return parse_toml(text, str(path)), text


def read_text(path: Path, limit: int) -> str:
    """The UTF-8 text of ``path``.

    :raises ValueError: when it holds more than ``limit`` bytes (it may be a device or a pipe
        that never ends), without reading more than that.
    """
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than the limit of {limit} bytes")
    return data.decode("utf-8")


def find_config(
    explicit: str | Path | None, environ: Mapping[str, str], cwd: Path
) -> ConfigFile | None:
    """The configuration file in :data:`SEARCH_ORDER`, or ``None``.

    :raises ConfigError: when a file named explicitly (or by ``$EXECHOST_CONFIG``) is missing or
        any file found is invalid TOML.
    """
    named = explicit if explicit is not None else environ.get(CONFIG_ENV) or None
    if named is not None:
        path = cwd / Path(named)
        if not path.is_file():
            how = "--config" if explicit is not None else f"${CONFIG_ENV}"
            raise ConfigError(f"configuration file {path} (from {how}) does not exist")
        return _config_file(path, pyproject=path.name == "pyproject.toml")
    path = cwd / CONFIG_FILE_NAME
    if path.is_file():
        return _config_file(path, pyproject=False)
    path = cwd / "pyproject.toml"
    if path.is_file():
        found = _config_file(path, pyproject=True)
        if found.table_path in found.lines or found.table:
            return found
    return None


def _config_file(path: Path, *, pyproject: bool) -> ConfigFile:
    data, text = read_toml(path)
    if not pyproject:
        return ConfigFile(path, data, (), key_lines(text))
    tool = data.get(PYPROJECT_TABLE[0])
    table = tool.get(PYPROJECT_TABLE[1], {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.exechost] must be a table, got {table!r}")
    return ConfigFile(path, table, PYPROJECT_TABLE, key_lines(text))
