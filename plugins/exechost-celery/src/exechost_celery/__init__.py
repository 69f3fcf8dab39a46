"""exechost-celery: an exechost executor that runs tasks on Celery workers.

Select it with ``executor = "celery"``; start workers with ``exechost-celery worker``.
"""

from __future__ import annotations

from exechost_celery.backend import CeleryBackend, CeleryUnreachableError
from exechost_celery.settings import CelerySettings

__version__ = "0.1.0"

__all__ = ["CeleryBackend", "CelerySettings", "CeleryUnreachableError", "__version__"]
