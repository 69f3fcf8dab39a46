"""The celery executor keeps the exechost contract: the conformance suite, on both brokers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from conftest import settings_for
from exechost.testing import ExecutorConformance
from exechost_celery.workerprocess import WorkerProcess


class TestCeleryExecutor(ExecutorConformance):
    executor = "celery"
    bulk_parallelism = 64  # Celery's own queue holds the backlog; the worker runs 2 at a time

    @pytest.fixture
    def executor_settings(self, worker: WorkerProcess) -> Mapping[str, Any]:
        return settings_for(worker)
