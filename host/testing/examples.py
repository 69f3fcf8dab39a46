"""Running the Python examples of a Markdown documentation page, as a reader would."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_examples(page: Path) -> list[str]:
    """The code of each fenced code block marked ``python`` in the Markdown file ``page``."""
    return _PYTHON_BLOCK.findall(page.read_text())


def run_python_example(
    code: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> None:
    """Run ``code`` in a new interpreter in ``cwd`` (with ``env``, e.g. from
    :func:`~exechost.testing.hermetic_environment`).

    :raises AssertionError: with the example's standard error, when it exits other than 0.
    :raises subprocess.TimeoutExpired: when it runs longer than ``timeout`` seconds.
    """
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"the example exited {done.returncode}:\n{done.stderr}"
