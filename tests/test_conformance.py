"""The built-in executors keep the contract: the conformance suite that plugins run, run here."""

from __future__ import annotations

from exechost.testing import ExecutorConformance


class TestLocalExecutor(ExecutorConformance):
    executor = "local"


class TestSequentialExecutor(ExecutorConformance):
    executor = "sequential"
