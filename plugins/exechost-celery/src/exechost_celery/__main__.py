"""``python -m exechost_celery worker ...``: the same as ``exechost-celery worker ...``."""

from __future__ import annotations

import sys

from exechost_celery.cli import main

sys.exit(main())
