"""`exechost run` on examples/dask: the two-line exechost.toml selects the dask executor."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from exechost.testing import hermetic_environment

EXAMPLE = Path(__file__).parents[3] / "examples" / "dask"


def test_exechost_run_runs_the_example_batch_on_an_embedded_cluster(tmp_path):
    for name in ("exechost.toml", "tasks.toml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    assert len((tmp_path / "exechost.toml").read_text().splitlines()) == 2
    env = hermetic_environment()
    with subprocess.Popen(
        [sys.executable, "-m", "exechost", "run", "tasks.toml"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as host:
        stdout, stderr = host.communicate(timeout=180)
    assert host.returncode == 0, stderr
    assert "6 tasks: 6 succeeded, 0 failed" in stdout, stdout
    logs = tmp_path / "exechost-logs"
    assert (logs / "dask-demo__hello.log").read_text() == "hello from a Dask worker\n"
    assert (logs / "dask-demo__env.log").read_text() == "GREETING=bonjour\n"
    worker = int((logs / "dask-demo__where.log").read_text().split()[2])
    assert worker != host.pid  # the command ran under a worker process, not the host
