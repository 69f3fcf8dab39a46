"""Finding the configuration file, and reading TOML with errors that point at the line."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
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


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML ``text``; a syntax error becomes a :class:`ConfigError` ``where:line:column``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _POSITION.search(message)
        if match is None:
            raise ConfigError(f"{where}: invalid TOML: {message}") from None
        line, column = match.groups()
        reason = message[: match.start()]
        raise ConfigError(f"{where}:{line}:{column}: invalid TOML: {reason}") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Read and parse the TOML file ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return parse_toml(text, str(path))


def find_config(
    explicit: str | Path | None, environ: Mapping[str, str], cwd: Path
) -> tuple[Path, dict[str, Any]] | None:
    """The configuration file in :data:`SEARCH_ORDER` and its exechost table, or ``None``.

    :raises ConfigError: when a file named explicitly (or by ``$EXECHOST_CONFIG``) is missing or
        any file found is invalid TOML.
    """
    named = explicit if explicit is not None else environ.get(CONFIG_ENV) or None
    if named is not None:
        path = cwd / Path(named)
        if not path.is_file():
            how = "--config" if explicit is not None else f"${CONFIG_ENV}"
            raise ConfigError(f"configuration file {path} (from {how}) does not exist")
        data = read_toml(path)
        return path, _exechost_table(path, data) if path.name == "pyproject.toml" else data
    path = cwd / CONFIG_FILE_NAME
    if path.is_file():
        return path, read_toml(path)
    path = cwd / "pyproject.toml"
    if path.is_file():
        data = read_toml(path)
        if _has_table(data):
            return path, _exechost_table(path, data)
    return None


def _has_table(data: Mapping[str, Any]) -> bool:
    tool = data.get(PYPROJECT_TABLE[0])
    return isinstance(tool, dict) and PYPROJECT_TABLE[1] in tool


def _exechost_table(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    if not _has_table(data):
        return {}
    table = data[PYPROJECT_TABLE[0]][PYPROJECT_TABLE[1]]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.exechost] must be a table, got {table!r}")
    return table
