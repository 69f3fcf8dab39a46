"""The environment a hermetic test gives the processes it starts."""

from __future__ import annotations

import os


def hermetic_environment(*prefixes: str, **extra: str) -> dict[str, str]:
    """This process's environment without its ``EXECHOST_*`` variables (nor those starting with
    any of ``prefixes``, e.g. ``"OTEL_"``), plus ``extra``: for a real ``exechost run`` in a test,
    whatever the shell that started the tests had set."""
    dropped = ("EXECHOST_", *prefixes)
    kept = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    return {**kept, **extra}
