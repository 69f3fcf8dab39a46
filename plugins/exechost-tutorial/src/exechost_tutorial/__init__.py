"""exechost-tutorial: the ``threads`` executor, written in exechost's plugin tutorial."""

from exechost_tutorial.backend import ThreadsBackend, ThreadsSettings

__all__ = ["ThreadsBackend", "ThreadsSettings"]
