"""The built-in executors keep the contract: the conformance suite that plugins run, run here.

Each inherited test asserts one promise of the contract against the real executor; see
:mod:`exechost.testing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from exechost.testing import ExecutorConformance


class TestLocalExecutor(ExecutorConformance):
    executor = "local"


class TestSequentialExecutor(ExecutorConformance):
    executor = "sequential"


class TestLocalDetachedExecutor(ExecutorConformance):
    executor = "local"

    @pytest.fixture
    def executor_settings(self, tmp_path: Path) -> Mapping[str, Any]:
        return {"detach": True, "log_dir": str(tmp_path / "logs")}
