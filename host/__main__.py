"""``python -m exechost``: the ``exechost`` command."""

from __future__ import annotations

from exechost.cli import main

raise SystemExit(main())
