"""The built-in executors keep the contract: the conformance suite that plugins run, run here.

Each inherited test asserts one promise of the contract against the real executor; see
:mod:`exechost.testing`.
"""

from __future__ import annotations

from exechost.testing import ExecutorConformance


class TestLocalExecutor(ExecutorConformance):
    executor = "local"


class TestSequentialExecutor(ExecutorConformance):
    executor = "sequential"
