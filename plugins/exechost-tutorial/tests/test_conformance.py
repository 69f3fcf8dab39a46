"""The ``threads`` executor keeps exechost's contract: the conformance suite, run on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from exechost.testing import ExecutorConformance


class TestThreadsExecutor(ExecutorConformance):
    executor = "threads"

    @pytest.fixture
    def executor_settings(self, tmp_path: Path) -> dict[str, str]:
        return {"log_dir": str(tmp_path / "logs")}
