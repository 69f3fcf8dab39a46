"""The benchmark script runs (its figures are read by people, never asserted by tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).parent.parent / "benchmarks" / "run.py"


def test_the_quick_benchmark_prints_every_figure():
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for expected in (
        "local executor",
        "xargs -P",
        "ThreadPoolExecutor + subprocess.run",
        "subprocess.run loop",
        "vs xargs -P:",
        "vs ThreadPoolExecutor + subprocess.run:",
        "queued:",
        "us per task",
        "bytes per task",
        "on / off:",
        "us with,",
        "import pluggy",
        "import exechost.hookspecs",
        "ms importtime",
    ):
        assert expected in done.stdout, done.stdout


def test_the_report_benchmark_prints_its_figures():
    script = RUN.parent / "report_size.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for expected in ("bytes per task", "read", "us per task with the Recorder"):
        assert expected in done.stdout, done.stdout
