"""The slurm executor keeps the exechost contract: the conformance suite, on the real cluster."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import slurm_settings
from exechost.testing import ExecutorConformance


class TestSlurmExecutor(ExecutorConformance):
    executor = "slurm"
    bulk_tasks = 300  # each task is a Slurm job: sbatch, scheduling, a slurmstepd
    bulk_parallelism = 64

    @pytest.fixture
    def executor_settings(self, slurm_cluster: None, tmp_path: Path) -> Mapping[str, Any]:
        return slurm_settings(tmp_path / "logs")
