"""A real `exechost run` scraped while it runs; the same from Python, with a retry."""

from __future__ import annotations

import math
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import exechost
import pytest
from conftest import Samples, scrape, value
from exechost.testing import hermetic_environment
from exechost_prometheus import PrometheusObserver, PrometheusSettings

DEADLINE = 30.0
HOLD = "while [ ! -e gate ]; do sleep 0.02; done"
TASKS = f"""
[[tasks]]
key = "ok"
command = ["true"]
priority = 10

[[tasks]]
key = "bad"
command = ["sh", "-c", "exit 3"]
priority = 9

[[tasks]]
key = "hold1"
command = ["sh", "-c", "{HOLD}"]
priority = 5

[[tasks]]
key = "hold2"
command = ["sh", "-c", "{HOLD}"]
priority = 5

[[tasks]]
key = "last"
command = ["true"]
priority = 1
"""


def scrape_until(
    url: str,
    ready: Callable[[Samples], object],
    what: str,
    between: Callable[[], object] = lambda: time.sleep(0.05),
) -> Samples:
    """Scrape until ``ready(samples)`` holds, calling ``between`` between scrapes; fail after
    :data:`DEADLINE` naming ``what``."""
    deadline = time.monotonic() + DEADLINE
    while True:
        samples = scrape(url)
        if ready(samples):
            return samples
        if time.monotonic() > deadline:
            pytest.fail(f"the metrics never showed {what} within {DEADLINE:g} s: {samples}")
        between()


def served_url(stderr: queue.Queue[str], process: subprocess.Popen[str]) -> str:
    """The endpoint's URL, from the line the run logs when port 0 picked one."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            line = stderr.get(timeout=0.1)
        except queue.Empty:
            assert process.poll() is None, "exechost run ended before it served metrics"
            continue
        found = re.search(r"serving metrics on (http://127\.0\.0\.1:\d+/metrics)", line)
        if found:
            return found.group(1)
    pytest.fail(f"exechost run did not say where it serves metrics within {DEADLINE:g} s")


def test_a_real_run_is_scraped_while_it_runs(tmp_path: Path) -> None:
    (tmp_path / "exechost.toml").write_text("parallelism = 2\n[plugins.prometheus]\nport = 0\n")
    (tmp_path / "tasks.toml").write_text(TASKS)
    process = subprocess.Popen(
        [sys.executable, "-m", "exechost", "run", "tasks.toml"],
        cwd=tmp_path,
        env=hermetic_environment("OTEL_"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr or ()])
    reader.start()
    try:
        url = served_url(lines, process)
        samples = scrape_until(
            url,
            lambda s: value(s, "exechost_tasks", executor="local", state="running") == 2,
            "the two held tasks running",
        )
        assert value(samples, "exechost_tasks_queued_total", executor="local") == 5
        assert value(samples, "exechost_tasks", executor="local", state="queued") == 1
        assert value(samples, "exechost_open_slots", executor="local") == 0
        for state in ("success", "failed"):
            assert value(samples, "exechost_tasks_finished_total", executor="local", state=state)
            count = ("exechost_task_duration_seconds_count", state)
            assert value(samples, count[0], executor="local", state=state) == 1
            inf = value(
                samples, "exechost_task_duration_seconds_bucket", executor="local", state=state,
                le="+Inf",
            )  # fmt: skip
            assert inf == 1
        assert value(samples, "process_cpu_seconds_total") is not None
        (tmp_path / "gate").touch()
        assert process.wait(DEADLINE) == 1  # a task failed
    finally:
        process.kill()
        process.wait(DEADLINE)
        reader.join(DEADLINE)
    with pytest.raises(OSError):  # the endpoint went with the run
        scrape(url)


def test_from_python_with_a_retry_and_the_final_figures() -> None:
    observer = PrometheusObserver(PrometheusSettings(port=0, buckets=(0.2, 5.0)))
    assert observer.url is None
    executor = exechost.load_executor("local", plugins=[observer], parallelism=3)
    with executor:
        url = observer.url
        assert url is not None and url.startswith("http://127.0.0.1:")
        executor.queue_command(("slow", 1), ["sleep", "0.3"])
        executor.queue_command("flaky", ["sh", "-c", "exit 1"], retries=1)
        samples = scrape_until(
            url,
            lambda s: value(s, "exechost_tasks_finished_total", executor="local", state="failed"),
            "the flaky task failed",
            between=lambda: (executor.heartbeat(), executor.wait(0.05)),
        )
        assert value(samples, "exechost_task_retries_total", executor="local") == 1
        retried = value(
            samples, "exechost_task_duration_seconds_count", executor="local", state="up_for_retry"
        )
        assert retried == 1
    assert observer.url is None  # the last executor finished: no more endpoint
    with pytest.raises(OSError):
        scrape(url)
    final = {
        (metric.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in observer.metrics.registry.collect()
        for sample in metric.samples
    }
    local = (("executor", "local"),)
    assert final["exechost_tasks", "exechost_tasks", (*local, ("state", "queued"))] == 0
    assert final["exechost_tasks", "exechost_tasks", (*local, ("state", "running"))] == 0
    assert final["exechost_open_slots", "exechost_open_slots", local] == 0
    finished = ("exechost_executors_finished", "exechost_executors_finished_total")
    assert final[(*finished, (*local, ("outcome", "ended")))] == 1
    slow = ("exechost_task_duration_seconds", "exechost_task_duration_seconds_bucket")
    assert final[(*slow, (*local, ("le", "0.2"), ("state", "success")))] == 0
    assert final[(*slow, (*local, ("le", "5.0"), ("state", "success")))] == 1


def test_a_port_in_use_is_said_in_one_line_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        observer = PrometheusObserver(PrometheusSettings(port=port))
        with exechost.load_executor("local", plugins=[observer]) as executor:
            executor.queue_command("a", ["true"])
    assert executor.get_event_buffer()["a"].state == "success"
    [said] = [record for record in caplog.records if "cannot serve" in record.getMessage()]
    assert said.levelname == "ERROR" and said.exc_info is None  # one line, no traceback
    assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in said.message
    assert "EXECHOST_PLUGINS__PROMETHEUS__PORT" in said.message
    assert observer.url is None


def test_unlimited_slots_are_infinite() -> None:
    observer = PrometheusObserver(PrometheusSettings(port=0))
    with exechost.load_executor("local", plugins=[observer], parallelism=0) as executor:
        executor.heartbeat()
        url = observer.url
        assert url is not None
        assert value(scrape(url), "exechost_open_slots", executor="local") == math.inf
