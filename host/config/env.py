"""The environment's layer: ``EXECHOST_KEY`` for a top-level key, ``__`` between table levels.

=========================================  ==========================================
``EXECHOST_EXECUTOR=gpu``                  ``executor = "gpu"``
``EXECHOST_PARALLELISM=8``                 ``parallelism = 8``
``EXECHOST_EXECUTORS__GPU__PARALLELISM=1`` ``[executors.gpu]`` ``parallelism = 1``
``EXECHOST_EXECUTORS__GPU__QUEUES=a,b``    ``[executors.gpu]`` ``queues = ["a", "b"]``
``EXECHOST_PLUGINS__AUTOLOAD=false``       ``[plugins]`` ``autoload = false``
``EXECHOST_PLUGINS__BLOCK=noisy,slow``     ``[plugins]`` ``block = ["noisy", "slow"]``
``EXECHOST_PLUGINS__PROM__PORT=9100``      ``[plugins.prom]`` ``port = 9100`` (API 1.1)
=========================================  ==========================================

Names are upper-case in the environment and lower-case in the configuration. A value is read as a
TOML value (``8``, ``true``, ``["a", "b"]``, ``"quoted"``) and, when it is not one, as a plain
string, which for a list key is split at commas. ``EXECHOST_CONFIG`` names the file instead.
Other ``EXECHOST_*`` variables are ignored (``exechost config`` lists them), unless their name is
close to a key's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exechost.config.files import CONFIG_ENV, parse_toml
from exechost.config.schema import TOP_KEYS, Layer, Source, Value
from exechost.errors import ConfigError
from exechost.settings import did_you_mean

ENV_PREFIX = "EXECHOST_"
"""The prefix of the environment variables that set configuration keys."""

_STRING_KEYS = {"executor", "backend"}
_LIST_KEYS = {"queues", "block"}
_BOOL_WORDS = {"1": True, "yes": True, "on": True, "0": False, "no": False, "off": False}


def env_name(*path: str) -> str:
    """The environment variable that sets the key at ``path`` (``"executors", "gpu", "queues"``)."""
    return ENV_PREFIX + "__".join(part.upper().replace("-", "_") for part in path)


def layer_from_environ(environ: Mapping[str, str]) -> tuple[Layer, list[str], list[str]]:
    """The layer of the ``EXECHOST_*`` variables in ``environ``, their problems, and the variables
    ignored because they name no key.

    A variable whose name is close to a key's (``EXECHOST_PARALELISM``) is a likely typo, kept so
    that it is reported; one that is not (``EXECHOST_TEST_MARKER``) is somebody else's.
    """
    layer: Layer = {}
    problems: list[str] = []
    ignored: list[str] = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_ENV:
            continue
        path = variable[len(ENV_PREFIX) :].lower().split("__")
        source = Source("env", variable)
        if path[0] == "executors" and len(path) == 3 and all(path):
            value = Value(_parse(environ[variable], path[2]), source)
            layer.setdefault("executors", {}).setdefault(path[1], {})[path[2]] = value
        elif path[0] == "plugins" and len(path) == 3 and all(path):
            value = Value(_parse(environ[variable], path[2]), source)
            layer.setdefault("plugins", {}).setdefault(path[1], {})[path[2]] = value
        elif path[0] == "plugins" and len(path) == 2 and path[1]:
            layer.setdefault("plugins", {})[path[1]] = Value(
                _parse(environ[variable], path[1]), source
            )
        elif len(path) == 1 and (path[0] in TOP_KEYS or did_you_mean(path[0], TOP_KEYS)):
            layer[path[0]] = Value(_parse(environ[variable], path[0]), source)
        elif path[0] in TOP_KEYS or did_you_mean(path[0], TOP_KEYS):
            problems.append(
                f"environment variable {variable}: not a configuration key; use "
                f"{ENV_PREFIX}KEY, {ENV_PREFIX}EXECUTORS__NAME__KEY, {ENV_PREFIX}PLUGINS__KEY or "
                f"{ENV_PREFIX}PLUGINS__NAME__KEY"
            )
        else:
            ignored.append(variable)
    return layer, problems, ignored


def _parse(raw: str, key: str) -> Any:
    if key in _STRING_KEYS:
        return raw
    if key == "autoload" and raw.strip().lower() in _BOOL_WORDS:
        return _BOOL_WORDS[raw.strip().lower()]
    try:
        return parse_toml(f"value = {raw}", "")["value"]
    except ConfigError:
        if key in _LIST_KEYS:
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw
