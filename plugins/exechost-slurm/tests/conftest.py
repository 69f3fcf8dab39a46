"""Fixtures: the real one-node Slurm cluster of ``scripts/slurm-cluster.sh`` on this machine.

The session starts it (as root; it does nothing when a controller answers already). A test that
needs it skips when no controller answers, but fails when ``CI=true``; likewise a test that needs
its accounting (``sacct``), which the script sets up where this machine's MariaDB answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from exechost import Executor, load_config, load_executor

CLUSTER_SCRIPT = Path(__file__).parent.parent / "scripts" / "slurm-cluster.sh"
START_TIMEOUT = 120.0
HERMETIC_CONFIG = "exechost.toml"


def cluster_problem() -> str | None:
    """Why no Slurm cluster answers (after trying to start one), or ``None`` when one does."""
    if shutil.which("bash") is None:
        return "bash is needed to start the cluster"
    try:
        started = subprocess.run(
            ["bash", str(CLUSTER_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{CLUSTER_SCRIPT} did not finish within {START_TIMEOUT:g} s"
    if started.returncode != 0:
        return f"no Slurm cluster answers, and {CLUSTER_SCRIPT} failed: {started.stderr.strip()}"
    return None


def accounting_problem() -> str | None:
    """Why the cluster's accounting does not answer ``sacct``, or ``None`` when it does."""
    try:
        answered = subprocess.run(
            ["sacct", "--noheader", "--allocations"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sacct does not answer: {exc}"
    if answered.returncode != 0:
        return f"the cluster keeps no accounting (sacct: {answered.stderr.strip()})"
    return None


def skip_or_fail(problem: str | None) -> None:
    """Skip the test for ``problem`` (fail it under ``CI=true``); nothing if it is ``None``."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A Slurm controller that answers; skip (or fail under ``CI=true``) without one."""
    skip_or_fail(cluster_problem())


@pytest.fixture(scope="session")
def slurm_accounting(slurm_cluster: None) -> None:
    """A Slurm cluster whose accounting answers ``sacct``; skip (or fail under ``CI=true``)
    without one."""
    skip_or_fail(accounting_problem())


@pytest.fixture(autouse=True)
def hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``EXECHOST_*`` variable from the shell; a working directory of the test's own, whose
    configuration file loads no observer plugin (see :func:`load_slurm`)."""
    for name in os.environ:
        if name.startswith("EXECHOST_"):
            monkeypatch.delenv(name)
    workdir = tmp_path_factory.mktemp("workdir")
    (workdir / HERMETIC_CONFIG).write_text("[plugins]\nautoload = false\n")
    monkeypatch.chdir(workdir)


def load_slurm(**settings: Any) -> Executor:
    """A ``slurm`` executor made with ``settings`` and nothing else: no configuration but the
    test's own, no ``EXECHOST_*`` variable, no observer plugin."""
    config = load_config(Path.cwd() / HERMETIC_CONFIG, environ={})
    return load_executor("slurm", config=config, **settings)


def slurm_settings(log_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Executor settings for the tests: quick polls, logs in ``log_dir``."""
    return {"log_dir": str(log_dir), "poll_interval": 0.1, "command_timeout": 20.0, **overrides}
