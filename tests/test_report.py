"""The HTML report: a real run's report opened in a real browser, escaping, scale, the file."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import exechost
import pytest
from exechost import TaskInfo, TaskState, hookimpl
from exechost.journal import open_journal, read_journal
from exechost.report import BARS_MAX, Recorder, Span, journal_spans, render_report, write_report
from exechost.report.render import FAILED_LISTED

BROWSER_TIMEOUT = 60

CONFIG = """
[executors.local]
parallelism = 2

[executors.gpu]
backend = "local"
parallelism = 1
queues = ["gpu"]
"""

HOSTILE_KEY = "</script><img src=x onerror=alert(1)>\x1b[2J"

TASKS = f"""
[[tasks]]
key = "ok"
command = ["sh", "-c", "sleep 0.2"]

[[tasks]]
key = {json.dumps(HOSTILE_KEY)}
command = ["sh", "-c", "echo boom; exit 3"]

[[tasks]]
key = ["train", 1]
command = ["sh", "-c", "sleep 0.1"]
queue = "gpu"

[[tasks]]
key = ["train", 2]
command = ["true"]
queue = "gpu"
"""


def browser() -> str:
    """Debian's chromium; skip without it, but fail under ``CI=true`` (``.ci/chromium.sh``)."""
    found = shutil.which("chromium")
    if found is None:
        message = "chromium is not installed (`bash .ci/chromium.sh` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return found


def rendered(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after chromium (headless) loaded it and ran its script."""
    result = subprocess.run(
        [
            browser(),
            "--headless",
            "--no-sandbox",  # as root in CI
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def text_of(dom: str, element_id: str) -> str:
    """The text of the element with ``element_id`` in ``dom`` (tags dropped, entities decoded)."""
    found = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', dom, re.S)
    assert found, f"no element #{element_id} was rendered"
    cells = re.sub(r"</t[dh]>|<br>", " ", found.group(2))
    return html.unescape(re.sub(r"<[^>]+>", "", cells))


def test_a_real_run_s_report_renders_in_chromium(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "exechost.toml").write_text(CONFIG)
    (tmp_path / "tasks.toml").write_text(TASKS)

    result = cli("run", "--report", "report.html", "tasks.toml")
    after = cli("runs", "1", "--report", "again.html")

    assert result.returncode == 1, result.stderr
    assert "report: report.html" in result.stdout
    assert after.returncode == 0, after.stderr
    page = tmp_path / "report.html"
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    for name in ("report.html", "again.html"):
        dom = rendered(tmp_path / name, tmp_path / "profile")
        assert 'data-ready="1"' in dom  # its script ran: the embedded JSON parsed
        assert "<img" not in dom  # the key stayed text
        totals = " ".join(text_of(dom, "totals").split())
        assert totals.startswith("4 tasks: 3 succeeded, 1 failed; 4 attempts started"), totals
        failed = text_of(dom, "failed")
        assert "</script><img src=x onerror=alert(1)>\\u001b[2J" in failed
        assert "exit status 3" in failed
        assert str(tmp_path / ".exechost" / "logs") in failed  # its log
        assert "gpu" in text_of(dom, "slowest")
        assert dom.count("<path") >= 3  # the lanes and the bars were drawn


class Flaky:
    """Fails each task's first ``failures[key]`` attempts, then succeeds."""

    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = failures
        self.seen: dict[str, int] = {}

    @hookimpl
    def executor_execute_async(self, executor: exechost.Executor, key: str) -> None:
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] <= self.failures.get(key, 0):
            executor.fail(key, TaskInfo(returncode=1, error=f"attempt {self.seen[key]}"))
        else:
            executor.success(key, TaskInfo(returncode=0))


def test_the_recorder_and_the_journal_give_the_same_attempts(tmp_path: Path) -> None:
    recorder = Recorder()
    executor = exechost.Executor(Flaky({"twice": 2, "never": 9}), name="flaky", parallelism=1)
    executor.journal = open_journal(tmp_path / "journal.sqlite")
    executor.owns_journal = True
    executor.hooks.register_observer(recorder)
    with executor:
        for key in ("twice", "never", "fine"):
            executor.queue_command(key, ["true"], retries=2)
    journal, _ = read_journal(tmp_path / "journal.sqlite")
    with journal:
        from_journal = journal_spans(journal, journal.runs()[0].id)

    def outline(spans: list[Span]) -> list[tuple[object, ...]]:
        return sorted((s.key, s.info.attempt, s.state, s.info.error) for s in spans)

    recorded = recorder.spans()
    assert outline(recorded) == outline(from_journal)
    assert [s.state for s in recorded if s.key == "twice"] == [
        TaskState.UP_FOR_RETRY,
        TaskState.UP_FOR_RETRY,
        TaskState.SUCCESS,
    ]
    for span in recorded:
        assert span.queued_at is not None and span.info.started_at is not None
        assert span.queued_at <= span.info.started_at <= (span.info.ended_at or 0)
    page = render_report(recorded)
    assert "3 tasks</strong>: 2 succeeded, 1 failed; 7 attempts started" in page


def test_untrusted_text_is_escaped_and_the_json_cannot_end_its_script() -> None:
    hostile = "</script><script>alert(1)</script>\x1b[2J\u202e<b>"
    info = TaskInfo(
        returncode=1, error=hostile, log=f"/tmp/{hostile}", started_at=1.0, ended_at=2.0
    )
    page = render_report(
        [Span(hostile, f"ex{hostile}", TaskState.FAILED, info, 0.5)],
        title=hostile,
        details=[(hostile, hostile)],
    )

    assert "<b>" not in page and "\x1b" not in page and "\u202e" not in page
    assert page.count("<script") == 2  # the data and the page's own script, none injected
    data = re.search(r'<script type="application/json" id="bars-data">(.*?)</script>', page, re.S)
    assert data is not None
    document = json.loads(data.group(1))
    assert document["rows"][0][0] == '"</script><script>alert(1)</script>\\u001b[2J\\u202e<b>"'
    assert document["executors"] == ["ex</script><script>alert(1)</script>\\x1b[2J\\u202e<b>"]
    assert (
        "<td>ex&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\u202e&lt;b&gt;" in page
    )


def test_a_large_run_is_binned_and_its_lists_capped() -> None:
    spans = []
    for index in range(BARS_MAX + 500):
        failed = index % 7 == 0
        info = TaskInfo(
            returncode=1 if failed else 0,
            error="boom" if failed else None,
            log=f"/logs/{index}.log",
            started_at=100.0 + index * 0.01,
            ended_at=100.5 + index * 0.01,
            attempt=1,
        )
        state = TaskState.FAILED if failed else TaskState.SUCCESS
        spans.append(Span(("t", index), "local", state, info, 100.0))

    page = render_report(spans)

    assert f"single bars are drawn up to {BARS_MAX}" in page
    failures = sum(s.state is TaskState.FAILED for s in spans)
    assert f"... and {failures - FAILED_LISTED} more failed tasks" in page
    assert len(page) < 100_000


def test_the_report_replaces_a_planted_link_without_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (tmp_path / "report.html").symlink_to(victim)

    size = write_report(tmp_path / "report.html", [])

    assert victim.read_text() == "keep"
    page = tmp_path / "report.html"
    assert not page.is_symlink() and page.stat().st_size == size
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert "0 tasks" in page.read_text()
    assert [p.name for p in tmp_path.iterdir()] != []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "victim"]


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(exechost.ExecHostError, match="cannot write the report"):
        write_report(tmp_path, [])


def test_report_usage_errors_before_anything_runs(tmp_path: Path, cli: Any) -> None:
    no_folder = cli("run", "--report", "missing/report.html", "--", "touch", "ran")
    no_run = cli("runs", "--report", "report.html")

    assert no_folder.returncode == 2 and "--report: no folder 'missing'" in no_folder.stderr
    assert not (tmp_path / "ran").exists()
    assert no_run.returncode == 2 and "--report needs a RUN" in no_run.stderr
