"""exechost-slurm: an exechost executor that runs each task as a Slurm batch job.

Select it with ``executor = "slurm"``; its settings are :class:`SlurmSettings`, its per-task
options :class:`SlurmTaskOptions`.
"""

from __future__ import annotations

from exechost_slurm.backend import SlurmBackend
from exechost_slurm.commands import SlurmError
from exechost_slurm.settings import SlurmResources, SlurmSettings, SlurmTaskOptions

__version__ = "0.1.0"

__all__ = [
    "SlurmBackend",
    "SlurmError",
    "SlurmResources",
    "SlurmSettings",
    "SlurmTaskOptions",
    "__version__",
]
