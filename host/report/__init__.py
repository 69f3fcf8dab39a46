"""The HTML report of a run: a timeline of every task per executor, the failed and slowest tasks.

``exechost run --report PATH.html`` and ``exechost runs RUN --report PATH.html`` write one; from
Python, register a :class:`Recorder` on the executors and pass its spans to :func:`write_report`,
or read a journaled run with :func:`journal_spans`.
"""

from __future__ import annotations

from exechost.report.render import BARS_MAX, render_report
from exechost.report.spans import Recorder, Span, journal_spans
from exechost.report.write import write_report

__all__ = ["BARS_MAX", "Recorder", "Span", "journal_spans", "render_report", "write_report"]
