"""The HTML report: one self-contained page (inline CSS, SVG and a few lines of JavaScript).

Everything is drawn here, on the server side, as SVG and tables; the page's only script shows a
tooltip over the task bars, from data embedded as JSON (``<script type="application/json">``,
``<`` written ``\\u003c``) and set with ``textContent``. Every text from tasks (keys, errors, log
paths, executor names) goes through :func:`exechost.text.shown` and :func:`html.escape`.

Its size is bounded whatever the batch's: each executor's lane is binned over time
(:data:`BINS` columns), single bars are drawn only up to :data:`BARS_MAX` attempts, and the lists
of failed and slowest tasks are capped (:data:`FAILED_LISTED`, :data:`SLOWEST_LISTED`).
"""

from __future__ import annotations

import heapq
import html
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from exechost.report.spans import Span
from exechost.states import TaskState
from exechost.text import key_text, shown

BINS = 250
"""Columns of each executor's lane: the tasks running and waiting, averaged over each."""
BARS_MAX = 2000
"""Attempts drawn as single bars; a larger run is shown by its lanes only."""
FAILED_LISTED = 100
"""Failed tasks listed with their errors (the rest are counted)."""
SLOWEST_LISTED = 20
"""Slowest attempts listed."""
ERROR_SHOWN = 2000
"""Characters of an error shown; a longer one is cut."""
WIDTH = 1000
"""Width of the time axis, in pixels."""
LANE_HEIGHT = 44
WAIT_HEIGHT = 18

COLOURS = {
    TaskState.SUCCESS: "#2f9e44",
    TaskState.FAILED: "#e03131",
    TaskState.UP_FOR_RETRY: "#f08c00",
    TaskState.RUNNING: "#1c7ed6",
    TaskState.QUEUED: "#adb5bd",
}
WAITING_COLOUR = "#ced4da"
_TICK_STEPS: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900)
_TICK_STEPS += (1800, 3600, 7200, 14400, 43200, 86400, 7 * 86400)
_STATES = list(COLOURS)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#212529;max-width:1200px}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .4em}
h3{font-size:1em;margin:.9em 0 .2em;font-weight:600}
table{border-collapse:collapse;margin:.3em 0}td,th{padding:.15em .7em .15em 0;text-align:left;
vertical-align:top}th{border-bottom:1px solid #ced4da}td.n{text-align:right;
font-variant-numeric:tabular-nums}code,.err{font:12px/1.35 ui-monospace,monospace}
.err{white-space:pre-wrap;word-break:break-all;max-width:60em;color:#c92a2a}
.muted{color:#868e96}.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;
vertical-align:-.1em}.scroll{overflow-x:auto}svg{display:block}svg text{font:11px sans-serif;
fill:#495057}#tip{position:fixed;background:#fff;border:1px solid #adb5bd;padding:.3em .5em;
font-size:12px;pointer-events:none;white-space:pre;box-shadow:0 1px 4px #0003}
"""

_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("bars-data").textContent);
  var svg = document.getElementById("bars"), tip = document.getElementById("tip");
  if (svg) {
    svg.addEventListener("mousemove", function (ev) {
      var box = svg.getBoundingClientRect();
      var row = data.rows[Math.floor((ev.clientY - box.top - data.top) / data.height)];
      if (!row) { tip.hidden = true; return; }
      var text = row[0] + "  (" + data.executors[row[1]] + ", attempt " + row[3] + ")\\n" +
        data.states[row[2]] + "  waited " + row[4] + "  ran " + row[5];
      if (row[6]) text += "\\n" + row[6];
      tip.textContent = text;
      tip.style.left = (ev.clientX + 14) + "px"; tip.style.top = (ev.clientY + 14) + "px";
      tip.hidden = false;
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; });
  }
  document.body.setAttribute("data-ready", "1");
})();
"""


def _text(value: object) -> str:
    """Untrusted text for HTML: control characters escaped (``\\x1b``), then HTML-escaped."""
    return html.escape(shown(str(value)))


def _key(span: Span) -> str:
    return html.escape(key_text(span.key))


def _json(value: object) -> str:
    """``value`` as JSON to put inside a ``<script>`` element: no ``<`` can end it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def duration_text(seconds: float | None) -> str:
    """``0.12s``, ``12.3s``, ``3m04s``, ``2h05m``; ``-`` when not known."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _clock(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


@dataclass
class _Executor:
    """The figures of one executor's attempts."""

    name: str
    tasks: set[object] = field(default_factory=set)
    attempts: int = 0
    succeeded: int = 0
    failed: int = 0
    busy: float = 0.0
    running: list[tuple[float, float]] = field(default_factory=list)
    waiting: list[tuple[float, float]] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)


def occupancy(intervals: Sequence[tuple[float, float]], start: float, step: float) -> list[float]:
    """How many of ``intervals`` are open on average in each of :data:`BINS` columns of ``step``
    seconds from ``start``: a sweep over their ends, O(n log n + BINS) whatever their lengths."""
    changes = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    mean = [0.0] * BINS
    count, at = 0, 0.0  # in columns from start
    for when, delta in changes:
        until = min(max((when - start) / step, 0.0), float(BINS))
        while count and at < until:  # spread count over the columns from at to until
            column = min(int(at), BINS - 1)
            edge = min(column + 1.0, until)
            mean[column] += count * (edge - at)
            at = edge
        at = max(at, until)
        count += delta
    return mean


def _area(values: Sequence[float], peak: float, top: float, height: float) -> str:
    """An SVG path filling, column by column, ``values`` scaled so ``peak`` is ``height``."""
    column = WIDTH / BINS
    base = top + height
    parts = [f"M0 {base:.0f}"]
    for index, value in enumerate(values):
        y = base - (value / peak * height if peak else 0)
        parts.append(f"V{y:.1f}H{(index + 1) * column:.1f}")
    parts.append(f"V{base:.0f}Z")
    return "".join(parts)


def _ticks(start: float, length: float) -> list[tuple[float, str]]:
    """Time-axis ticks: ``(x, label)`` at a round step, about eight of them."""
    if length <= 0:
        return [(0.0, "0s")]
    raw = length / 8
    step = min((s for s in _TICK_STEPS if s >= raw), default=_TICK_STEPS[-1])
    count = int(length / step) + 1
    return [(i * step / length * WIDTH, _tick_label(i * step)) for i in range(count)]


def _tick_label(seconds: float) -> str:
    """``0s``, ``0.5s``, ``30s``, ``1m30s``, ``2h00m``."""
    return f"{seconds:g}s" if seconds < 60 else duration_text(seconds)


def _axis(ticks: list[tuple[float, str]]) -> str:
    marks = "".join(
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="14" y2="20" stroke="#868e96"/>'
        f'<text x="{x + 2:.1f}" y="12">{label}</text>'
        for x, label in ticks
    )
    return f'<svg width="{WIDTH + 60}" height="22" role="img" aria-label="time">{marks}</svg>'


def render_report(
    spans: Sequence[Span], *, title: str = "exechost run", details: Sequence[tuple[str, str]] = ()
) -> str:
    """The report of ``spans`` (every attempt of a run) as one HTML page.

    :param title: the page's heading.
    :param details: ``(label, value)`` pairs shown under it (the run's id, task file...).
    """
    latest: dict[tuple[str, object], Span] = {}
    executors: dict[str, _Executor] = {}
    times = []
    for span in spans:
        latest[(span.executor, span.key)] = span
        info = span.info
        times += [t for t in (span.queued_at, info.started_at, info.ended_at) if t is not None]
    now = time.time()
    start = min(times, default=now)
    end = max(max(times, default=now), start + 1e-3)
    for span in spans:
        figures = executors.setdefault(span.executor, _Executor(span.executor))
        figures.tasks.add(span.key)
        info = span.info
        begun = info.started_at
        if begun is not None:
            figures.attempts += 1
            finish = info.ended_at if info.ended_at is not None else end
            figures.running.append((begun, finish))
            figures.busy += finish - begun
        waited_until = begun if begun is not None else (info.ended_at or end)
        if span.queued_at is not None:
            figures.waiting.append((span.queued_at, waited_until))
        if span.state is TaskState.FAILED and info.ended_at is not None:
            figures.failures.append(info.ended_at)
    for span in latest.values():
        figures = executors[span.executor]
        figures.succeeded += span.state is TaskState.SUCCESS
        figures.failed += span.state is TaskState.FAILED
    finals = list(latest.values())
    failed = sorted(
        (s for s in finals if s.state is TaskState.FAILED),
        key=lambda s: s.info.ended_at or end,
    )
    counted = {state: sum(s.state is state for s in finals) for state in _STATES}
    length = end - start
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_text(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_text(title)}</h1>",
    ]
    if details:
        parts.append(
            "<table>"
            + "".join(f"<tr><th>{_text(k)}</th><td>{_text(v)}</td></tr>" for k, v in details)
            + "</table>"
        )
    summary = (
        f'<p id="totals"><strong>{len(finals)} task{"s" * (len(finals) != 1)}</strong>: '
        f"{counted[TaskState.SUCCESS]} succeeded, {counted[TaskState.FAILED]} failed"
    )
    unfinished = counted[TaskState.RUNNING] + counted[TaskState.QUEUED]
    if unfinished:
        summary += f", {unfinished} not finished"
    attempts = sum(e.attempts for e in executors.values())
    busy = sum(e.busy for e in executors.values())
    summary += (
        f"; {attempts} attempt{'s' * (attempts != 1)} started, from {_clock(start)} to "
        f"{_clock(end)} ({duration_text(length)}), {duration_text(busy)} of task time"
        f" (on average {busy / length:.1f} running).</p>"
    )
    parts.append(summary)
    parts.append(_executor_table(executors))
    parts.append(_lanes(executors, start, length))
    parts.append(_bars(spans, list(executors), start, length))
    parts.append(_failed_table(failed))
    parts.append(_slowest_table(spans))
    parts.append('<div id="tip" hidden></div>')
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _executor_table(executors: dict[str, _Executor]) -> str:
    rows = "".join(
        f"<tr><td>{_text(e.name)}</td><td class=n>{len(e.tasks)}</td>"
        f"<td class=n>{e.succeeded}</td><td class=n>{e.failed}</td>"
        f"<td class=n>{e.attempts}</td><td class=n>{duration_text(e.busy)}</td></tr>"
        for e in executors.values()
    )
    return (
        "<h2>Executors</h2><table><tr><th>executor</th><th>tasks</th><th>succeeded</th>"
        f"<th>failed</th><th>attempts</th><th>task time</th></tr>{rows}</table>"
    )


def _lanes(executors: dict[str, _Executor], start: float, length: float) -> str:
    """Each executor's lane: the tasks running (coloured) and waiting (grey) over time, averaged
    per column, and a red tick where a task failed."""
    step = length / BINS
    parts = [
        "<h2>Timeline</h2>",
        '<p class="legend muted">Per executor, over the run: '
        f'<span style="background:{COLOURS[TaskState.RUNNING]}"></span>tasks running'
        f'<span style="background:{WAITING_COLOUR}"></span>tasks waiting for a slot'
        f'<span style="background:{COLOURS[TaskState.FAILED]}"></span>failures</p>',
        '<div class="scroll">',
        _axis(_ticks(start, length)),
    ]
    for figures in executors.values():
        running = occupancy(figures.running, start, step)
        waiting = occupancy(figures.waiting, start, step)
        peak_running, peak_waiting = max(running, default=0.0), max(waiting, default=0.0)
        ticks = "".join(
            f'<rect x="{(t - start) / length * WIDTH:.1f}" y="0" width="1.5" height="6" '
            f'fill="{COLOURS[TaskState.FAILED]}"/>'
            for t in sorted({round((t - start) / step) * step + start for t in figures.failures})
        )
        height = 8 + LANE_HEIGHT + 2 + WAIT_HEIGHT
        parts.append(
            f"<h3>{_text(figures.name)} <span class=muted>(up to {math.ceil(peak_running)} "
            f"running, {math.ceil(peak_waiting)} waiting)</span></h3>"
            f'<svg width="{WIDTH + 60}" height="{height}" role="img" '
            f'aria-label="{_text(figures.name)}">'
            f'<rect x="0" y="8" width="{WIDTH}" height="{LANE_HEIGHT}" fill="#f1f3f5"/>'
            f'<path d="{_area(running, peak_running, 8, LANE_HEIGHT)}" '
            f'fill="{COLOURS[TaskState.RUNNING]}"/>'
            f'<path d="{_area(waiting, peak_waiting, 10 + LANE_HEIGHT, WAIT_HEIGHT)}" '
            f'fill="{WAITING_COLOUR}"/>{ticks}'
            f'<text x="{WIDTH + 4}" y="{8 + LANE_HEIGHT}">{math.ceil(peak_running)}</text>'
            "</svg>"
        )
    parts.append("</div>")
    return "".join(parts)


def _bars(spans: Sequence[Span], executors: list[str], start: float, length: float) -> str:
    """One bar per attempt, grouped by executor, in the order they started: grey while waiting
    for a slot, then coloured by how it ended. Only up to :data:`BARS_MAX` attempts."""
    if len(spans) > BARS_MAX:
        return (
            f'<h2>Tasks</h2><p class="muted" id="bars-note">{len(spans)} attempts: single bars are '
            f"drawn up to {BARS_MAX}; the lanes above show them all.</p>"
            '<script type="application/json" id="bars-data">{"rows":[]}</script>'
        )
    order = {name: index for index, name in enumerate(executors)}
    rows = sorted(
        spans,
        key=lambda s: (order[s.executor], s.info.started_at or s.info.ended_at or math.inf),
    )
    height = max(3, min(14, 3000 // max(len(rows), 1)))
    scale = WIDTH / length
    paths: dict[str, list[str]] = {}
    data = []
    for index, span in enumerate(rows):
        info = span.info
        y = index * height
        bar = max(height - 1, 2)
        begun = info.started_at
        finish = info.ended_at if info.ended_at is not None else start + length
        if span.queued_at is not None:
            until = begun if begun is not None else finish
            x, w = (span.queued_at - start) * scale, max((until - span.queued_at) * scale, 0)
            if w >= 0.5:
                paths.setdefault(WAITING_COLOUR, []).append(f"M{x:.1f} {y}h{w:.1f}v{bar}h-{w:.1f}z")
        if begun is not None:
            x, w = (begun - start) * scale, max((finish - begun) * scale, 1.0)
            colour = COLOURS[span.state]
            paths.setdefault(colour, []).append(f"M{x:.1f} {y}h{w:.1f}v{bar}h-{w:.1f}z")
        data.append(
            [
                key_text(span.key),
                order[span.executor],
                _STATES.index(span.state),
                info.attempt or 1,
                duration_text(span.waited),
                duration_text(info.duration),
                shown(info.error or "")[:200],
            ]
        )
    drawn = "".join(f'<path fill="{colour}" d="{"".join(d)}"/>' for colour, d in paths.items())
    total = height * len(rows)
    legend = "".join(
        f'<span style="background:{COLOURS[state]}"></span>{state.value}'
        for state in _STATES
        if state is not TaskState.QUEUED
    )
    document = {
        "rows": data,
        "executors": [shown(name) for name in executors],
        "states": [state.value for state in _STATES],
        "top": 0,
        "height": height,
    }
    return (
        "<h2>Tasks</h2>"
        f'<p class="legend muted">One bar per attempt, by executor, in the order they started:'
        f'<span style="background:{WAITING_COLOUR}"></span>waiting{legend}</p>'
        f'<div class="scroll">{_axis(_ticks(start, length))}'
        f'<svg id="bars" width="{WIDTH + 60}" height="{total}" role="img" '
        f'aria-label="one bar per attempt">{drawn}</svg></div>'
        f'<script type="application/json" id="bars-data">{_json(document)}</script>'
    )


def _failed_table(failed: list[Span]) -> str:
    if not failed:
        return '<h2>Failed tasks</h2><p id="failed">None.</p>'
    rows = []
    for span in failed[:FAILED_LISTED]:
        info = span.info
        error = shown(info.error or "failed", keep_newlines=True)
        if len(error) > ERROR_SHOWN:
            error = error[:ERROR_SHOWN] + f"... ({len(error) - ERROR_SHOWN} more characters)"
        rows.append(
            f"<tr><td><code>{_key(span)}</code></td><td>{_text(span.executor)}</td>"
            f"<td class=n>{info.attempt or '-'}</td>"
            f"<td class=n>{'-' if info.returncode is None else info.returncode}</td>"
            f"<td class=n>{duration_text(info.duration)}</td>"
            f'<td><div class="err">{html.escape(error)}</div>'
            f"<code>{_text(info.log) if info.log else ''}</code></td></tr>"
        )
    more = len(failed) - FAILED_LISTED
    note = f'<p class="muted">... and {more} more failed tasks.</p>' if more > 0 else ""
    return (
        f'<h2>Failed tasks ({len(failed)})</h2><table id="failed"><tr><th>task</th>'
        "<th>executor</th><th>attempt</th><th>exit</th><th>ran</th><th>error, log</th></tr>"
        f"{''.join(rows)}</table>{note}"
    )


def _slowest_table(spans: Sequence[Span]) -> str:
    timed = (s for s in spans if s.info.duration is not None)
    slowest = heapq.nlargest(SLOWEST_LISTED, timed, key=lambda s: s.info.duration or 0.0)
    if not slowest:
        return ""
    rows = "".join(
        f"<tr><td class=n>{duration_text(s.info.duration)}</td>"
        f"<td class=n>{duration_text(s.waited)}</td><td><code>{_key(s)}</code></td>"
        f"<td>{_text(s.executor)}</td><td>{s.state.value}</td>"
        f"<td class=n>{s.info.attempt or '-'}</td>"
        f"<td><code>{_text(s.info.log) if s.info.log else ''}</code></td></tr>"
        for s in slowest
    )
    return (
        f'<h2>Slowest attempts</h2><table id="slowest"><tr><th>ran</th><th>waited</th>'
        f"<th>task</th><th>executor</th><th>ended</th><th>attempt</th><th>log</th></tr>"
        f"{rows}</table>"
    )
