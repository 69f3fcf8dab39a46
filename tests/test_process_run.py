"""exechost.process.run: the on_spawn callback that lets another thread kill a running task."""

from __future__ import annotations

import subprocess
import threading

import pytest
from exechost.process import kill_group, run


def test_on_spawn_hands_over_the_process_so_another_thread_can_kill_its_group(tmp_path):
    spawned: list[subprocess.Popen[bytes]] = []

    def kill_soon(process: subprocess.Popen[bytes]) -> None:
        spawned.append(process)
        threading.Timer(0.2, kill_group, args=(process,)).start()

    info = run(["sh", "-c", "sleep 30 & wait"], tmp_path / "t.log", on_spawn=kill_soon)

    assert len(spawned) == 1
    assert info.returncode == -9
    assert info.error == "killed by SIGKILL"
    assert info.external_id == str(spawned[0].pid)


def test_an_on_spawn_that_raises_kills_the_process_and_propagates(tmp_path):
    spawned: list[subprocess.Popen[bytes]] = []

    def refuse(process: subprocess.Popen[bytes]) -> None:
        spawned.append(process)
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        run(["sleep", "30"], tmp_path / "t.log", on_spawn=refuse)
    assert spawned[0].returncode == -9
