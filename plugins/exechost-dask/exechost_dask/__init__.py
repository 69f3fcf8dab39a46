"""exechost-dask: an exechost executor that runs tasks on a Dask distributed cluster.

Select it with ``exechost.load_executor("dask", ...)`` or ``executor = "dask"`` in
``exechost.toml``; its settings are :class:`DaskSettings`.
"""

from __future__ import annotations

from exechost_dask.backend import DaskBackend
from exechost_dask.settings import DaskSettings, DaskTaskOptions

__version__ = "0.1.0"

__all__ = ["DaskBackend", "DaskSettings", "DaskTaskOptions", "__version__"]
