"""benchmarks/observers.py runs (its figures are read by people, never asserted by tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from exechost.testing import hermetic_environment

SCRIPT = Path(__file__).parents[3] / "benchmarks" / "observers.py"


def test_the_observers_benchmark_prints_its_figures() -> None:
    pytest.importorskip("exechost_prometheus", reason="measures exechost-prometheus too")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        env=hermetic_environment("OTEL_"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for expected in ("baseline", "exechost-prometheus", "spans sampled out", "its hooks alone"):
        assert expected in done.stdout, done.stdout
