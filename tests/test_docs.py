"""The documentation's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def python_blocks(page: str) -> list[str]:
    return _PYTHON_BLOCK.findall((DOCS / page).read_text())


def executor_installed(name: str) -> bool:
    return any(ep.name == name for ep in metadata.entry_points(group="exechost.executors"))


EXAMPLES = [
    pytest.param(code, id=f"{page}-{index}")
    for page in ("quickstart.md", "tutorial.md")
    for index, code in enumerate(python_blocks(page))
]


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str, tmp_path: Path):
    if '"threads"' in code and not executor_installed("threads"):
        pytest.skip("needs plugins/exechost-tutorial installed (the nox tests session does)")
    if "MyExecutor" in code or "SlurmBackend" in code:
        pytest.skip("a sketch of a third-party plugin")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_quickstart_output_is_what_the_page_shows(tmp_path: Path):
    first = python_blocks("quickstart.md")[0]
    done = subprocess.run(
        [sys.executable, "-c", first], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    lines = [line.rsplit(" ", 1)[0] for line in done.stdout.splitlines()]
    assert lines == [
        "hello success 0 None",
        "('build', 'fails') failed 3 exit status 3",
        "slow failed -9 timeout",
    ]
