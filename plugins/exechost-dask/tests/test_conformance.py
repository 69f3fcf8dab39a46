"""The ``dask`` executor keeps exechost's contract: the conformance suite, on real Dask workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import LocalCluster
from exechost.testing import ExecutorConformance


class TestDaskOnARunningScheduler(ExecutorConformance):
    """Through ``scheduler_address``, on a cluster of two worker processes started beforehand."""

    executor = "dask"

    @pytest.fixture
    def executor_settings(self, cluster: LocalCluster, tmp_path: Path) -> dict[str, str]:
        return {"scheduler_address": cluster.scheduler_address, "log_dir": str(tmp_path / "logs")}


class TestDaskEmbeddedCluster(ExecutorConformance):
    """With the LocalCluster each executor starts and closes for itself."""

    executor = "dask"
    bulk_tasks = 1000  # each test starts a cluster of its own; the bulk test is the slow one

    @pytest.fixture
    def executor_settings(self, tmp_path: Path) -> dict[str, object]:
        return {"n_workers": 2, "threads_per_worker": 2, "log_dir": str(tmp_path / "logs")}
