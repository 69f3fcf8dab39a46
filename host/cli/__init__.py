"""The ``exechost`` command line (also ``python -m exechost``); imported only by the command."""

from __future__ import annotations

from exechost.cli.main import main

__all__ = ["main"]
