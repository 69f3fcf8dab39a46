"""Settings from the configuration, and counts kept right when backends report from threads."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from exechost import TaskInfo, TaskState
from exechost.testing import hermetic_environment
from exechost_prometheus import Metrics

TASKS = '[[tasks]]\nkey = "a"\ncommand = ["touch", "ran"]\n'


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "tasks.toml").write_text(TASKS)
    return subprocess.run(
        [sys.executable, "-m", "exechost", "run", "tasks.toml"],
        cwd=tmp_path,
        env=hermetic_environment("OTEL_", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_settings_stop_the_run_before_any_task_naming_where(tmp_path: Path) -> None:
    (tmp_path / "exechost.toml").write_text("[plugins.prometheus]\nprot = 9100\n")
    done = run(tmp_path)
    assert done.returncode == 2
    assert "exechost.toml:2, [plugins.prometheus]" in done.stderr
    assert "unknown setting 'prot' (did you mean 'port'?)" in done.stderr
    (tmp_path / "exechost.toml").unlink()
    done = run(tmp_path, EXECHOST_PLUGINS__PROMETHEUS__PORT="70000")
    assert done.returncode == 2
    assert "EXECHOST_PLUGINS__PROMETHEUS__PORT" in done.stderr
    assert "port must be from 0 to 65535, got 70000" in done.stderr
    assert not (tmp_path / "ran").exists()


def test_counts_stay_right_with_reports_from_many_threads() -> None:
    metrics = Metrics()
    series = metrics.series("threaded")
    per_thread = 500

    def work(thread: int) -> None:
        for number in range(per_thread):
            key = (f"t{thread}", number)
            series.queued(key)
            series.changed(key, TaskState.RUNNING, TaskInfo(started_at=1.0))
            series.changed(key, TaskState.RUNNING, TaskInfo(started_at=1.0))  # said again
            series.changed(key, TaskState.SUCCESS, TaskInfo(started_at=1.0, ended_at=2.0))

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    got = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
    }
    label = ("executor", "threaded")
    assert got["exechost_tasks", (label, ("state", "queued"))] == 0
    assert got["exechost_tasks", (label, ("state", "running"))] == 0
    success = (label, ("state", "success"))
    assert got["exechost_tasks_finished_total", success] == 8 * per_thread
    assert got["exechost_task_duration_seconds_sum", success] == 8 * per_thread  # 1 s each
