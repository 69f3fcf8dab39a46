"""docs/executors/dask.md: its configuration is valid and its Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import exechost
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib
from exechost_dask import DaskBackend

PAGE = Path(__file__).parents[3] / "docs" / "executors" / "dask.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.DOTALL)


@pytest.mark.parametrize("config", blocks("toml"))
def test_the_configuration_examples_select_dask_with_valid_settings(config):
    parsed = tomllib.loads(config)
    assert len(config.strip().splitlines()) == 2
    assert parsed["executor"] == "dask"
    executor = exechost.load_executor("dask", **parsed["executors"]["dask"])
    assert isinstance(executor.backend, DaskBackend)


def test_the_python_example_runs(tmp_path):
    (example,) = blocks("python")
    script = tmp_path / "example.py"
    script.write_text(example)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["gpu", "success"], ["hello", "success"]]
    assert Path(lines[1].split()[2]).read_text() == "hello\n"
