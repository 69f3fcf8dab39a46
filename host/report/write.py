"""Writing a report to its file without following a link planted where it goes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from exechost.errors import ExecHostError
from exechost.report.render import render_report
from exechost.report.spans import Span


def write_report(
    path: str | Path,
    spans: Sequence[Span],
    *,
    title: str = "exechost run",
    details: Sequence[tuple[str, str]] = (),
) -> int:
    """Write the HTML report of ``spans`` (see :func:`exechost.report.render_report`) to
    ``path``; return its size in bytes.

    The file is written beside ``path`` under a temporary name, private (0600, like the logs and
    the journal: it shows commands, errors and paths), then renamed to ``path``: a symbolic link
    at ``path`` is replaced, never followed, and a reader never sees half a report.

    :raises ExecHostError: when ``path`` is a folder or cannot be written.
    """
    path = Path(path)
    data = render_report(spans, title=title, details=details).encode()
    try:
        if path.is_dir() and not path.is_symlink():
            raise IsADirectoryError(21, "Is a directory")
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ExecHostError(f"cannot write the report {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ExecHostError(f"cannot write the report {path}: {exc.strerror}") from None
    return len(data)
