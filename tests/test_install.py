"""The README's first command, as a new user runs it: install into a fresh venv, run the example."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_environment

ROOT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", ".nox", "build", "dist", "*.egg-info", "__pycache__", "exechost-logs"
)


@pytest.mark.slow
def test_readme_first_command_on_a_fresh_install(tmp_path):
    readme = (ROOT / "README.md").read_text()
    command = "python3 -m pip install . && cd examples && exechost run tasks.toml"
    assert command in readme

    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_SHIPPED)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = cli_environment({"PATH": f"{venv / 'bin'}:{cli_environment()['PATH']}"})
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        ["sh", "-c", command],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "6 tasks: 6 succeeded, 0 failed" in result.stdout
    logs = checkout / "examples" / "exechost-logs"
    assert (logs / "serial" / "demo__serial.log").read_text() == "one at a time\n"
    assert (logs / "demo__options.log").read_text() == "hello from /tmp\n"
    failing = subprocess.run(
        ["exechost", "run", "failing.toml"],
        cwd=checkout / "examples",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failing.returncode == 1
    log = logs / "demo__too-slow.log"
    assert f'failed ["demo", "too-slow"] on local: timeout (log: {log})' in failing.stdout
    version = subprocess.run(
        [str(venv / "bin" / "exechost"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("exechost ")
