"""Helpers shared by the tests: running the real ``exechost`` command, fake installed plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CLI_TIMEOUT = 120


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m exechost ARGS`` in ``cwd`` with ``env`` added to a clean environment."""
    return subprocess.run(
        [sys.executable, "-m", "exechost", *args],
        cwd=cwd,
        env=cli_environment(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


def cli_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without EXECHOST_* variables of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECHOST_")}
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


def make_distribution(
    root: Path,
    name: str,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> Path:
    """Install a distribution into ``root`` (put it on PYTHONPATH): its modules and metadata."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{point} = {value}" for point, value in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


def process_gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has exited (a zombie counts) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, env=None, stdin=None)``: the real command, run in ``tmp_path``."""

    def call(
        *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=tmp_path, env=env, stdin=stdin)

    return call
