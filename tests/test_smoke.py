"""The README's promise in a few lines: queue commands on the default executor and read results."""

from __future__ import annotations

import exechost
from exechost import TaskState


def test_default_executor_runs_commands_and_reports_each(tmp_path):
    with exechost.load_executor(parallelism=2, log_dir=str(tmp_path)) as executor:
        executor.queue_command("ok", ["sh", "-c", "echo hello"])
        executor.queue_command("bad", ["sh", "-c", "exit 3"])
    events = executor.get_event_buffer()
    assert events["ok"].state == TaskState.SUCCESS
    assert events["bad"].state == "failed"
    assert events["bad"].info.returncode == 3
    assert (tmp_path / "ok.log").read_text() == "hello\n"
