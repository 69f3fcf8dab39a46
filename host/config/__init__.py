"""The configuration: ``exechost.toml`` (or ``[tool.exechost]``), ``EXECHOST_*`` variables, options.

Precedence, highest first: explicit API arguments, command-line options, environment variables,
the configuration file, the defaults. :func:`load_config` assembles and checks it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from exechost.config.env import ENV_PREFIX, env_name, layer_from_environ
from exechost.config.files import CONFIG_ENV, CONFIG_FILE_NAME, SEARCH_ORDER, find_config
from exechost.config.schema import (
    DEFAULT_EXECUTOR,
    EXECUTOR_KEYS,
    Config,
    ExecutorSection,
    Layer,
    PluginSettings,
    Source,
    Value,
    build_config,
    layer_from_table,
    list_problems,
    merge,
    unknown_key_message,
)

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE_NAME",
    "DEFAULT_EXECUTOR",
    "ENV_PREFIX",
    "EXECUTOR_KEYS",
    "SEARCH_ORDER",
    "Config",
    "ExecutorSection",
    "PluginSettings",
    "Source",
    "Value",
    "env_name",
    "list_problems",
    "load_config",
    "unknown_key_message",
]


def load_config(
    path: str | Path | None = None,
    *,
    options: Mapping[str, Value] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> Config:
    """Find, read, merge and check the configuration.

    :param path: the configuration file; ``None`` to search :data:`SEARCH_ORDER`.
    :param options: top-level keys set on the command line (``{"parallelism": Value(4, ...)}``),
        which override the environment and the file.
    :param environ: the environment to read ``EXECHOST_*`` from; ``os.environ`` when ``None``.
    :param cwd: the directory searched for the file; the working directory when ``None``.
    :raises ConfigError: for a missing or unreadable file, invalid TOML (with the line and column),
        or invalid keys or values (every problem, each with where it came from).
    """
    environ = os.environ if environ is None else environ
    found = find_config(path, environ, Path.cwd() if cwd is None else Path(cwd))
    problems: list[str] = []
    layers: list[Layer] = []
    file = None
    if found is not None:
        file = found.path
        prefix = "".join(f"{part}." for part in found.table_path)
        file_layer, file_problems = layer_from_table(
            found.table, Source("file", str(file), prefix), found.line_of
        )
        layers.append(file_layer)
        problems += file_problems
    env_layer, env_problems, ignored = layer_from_environ(environ)
    layers.append(env_layer)
    problems += env_problems
    layers.append(dict(options or {}))
    config = build_config(merge(layers), file, problems)
    return dataclasses.replace(config, ignored_variables=tuple(ignored))
