"""The ``local`` executor, running real processes, and the ``sequential`` one."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import exechost
import pytest
from conftest import MARKER_VARIABLE, no_process_with, processes_with, wait_until
from exechost.executors.local import LocalBackend

TREE = ["sh", "-c", "sleep 100 & sleep 100"]
"""A command that leaves a child of its own running: the tree a kill must take down whole."""


def marked(marker: str, **config: object) -> dict[str, object]:
    """An executor_config whose env carries ``marker``, inherited by the whole process tree."""
    return {"env": {MARKER_VARIABLE: marker}, **config}


def test_local_is_the_default_with_one_slot_per_cpu():
    executor = exechost.load_executor()
    assert executor.name == "local"
    assert isinstance(executor.backend, LocalBackend)
    assert executor.parallelism == (os.cpu_count() or 1)


def test_output_goes_to_a_log_file_named_in_the_info(tmp_path):
    with exechost.load_executor("local", log_dir=str(tmp_path / "logs")) as executor:
        executor.queue_command(("etl", "say", 1), ["sh", "-c", "echo out; echo err >&2"])
        executor.queue_command("fails", ["sh", "-c", "echo bye; exit 3"])
    events = executor.get_event_buffer()
    said = events[("etl", "say", 1)].info
    assert said.log == str(tmp_path / "logs" / "etl__say__1.log")
    assert Path(said.log).read_text() == "out\nerr\n"
    assert said.returncode == 0 and said.error is None
    assert said.external_id is not None and said.external_id.isdigit()
    assert said.started_at is not None and said.ended_at is not None
    failed = events["fails"]
    assert failed.state == "failed"
    assert (failed.info.returncode, failed.info.error) == (3, "exit status 3")
    assert Path(failed.info.log or "").read_text() == "bye\n"


def test_a_key_run_again_gets_a_new_log_file_and_the_old_one_a_number(tmp_path):
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command("again", ["echo", "first"])
        while executor.has_task("again"):
            executor.heartbeat()
            executor.wait(0.1)
        executor.queue_command("again", ["echo", "second"])
    last = Path(executor.get_event_buffer()["again"].info.log or "")
    assert last == tmp_path.absolute() / "again.log"  # the newest log has no number
    assert last.read_text() == "second\n"
    assert (tmp_path / "again.1.log").read_text() == "first\n"


def test_a_temporary_log_directory_is_made_when_none_is_given():
    with exechost.load_executor("local") as executor:
        executor.queue_command("a", ["echo", "hi"])
    log = Path(executor.get_event_buffer()["a"].info.log or "")
    assert log.read_text() == "hi\n"
    assert log.parent.name.startswith("exechost-logs-")


def test_env_is_merged_over_the_hosts_and_cwd_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("EXECHOST_FROM_HOST", "host")
    workdir = tmp_path / "work"
    workdir.mkdir()
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command(
            "env",
            ["sh", "-c", 'echo "$EXECHOST_FROM_HOST $EXECHOST_FROM_TASK"; pwd'],
            executor_config={"env": {"EXECHOST_FROM_TASK": "task"}, "cwd": str(workdir)},
        )
    log = executor.get_event_buffer()["env"].info.log
    assert Path(log or "").read_text() == f"host task\n{workdir}\n"


def test_a_program_is_looked_up_on_the_tasks_own_path(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "exechost-tool").write_text("#!/bin/sh\necho tool ran\n")
    (tools / "exechost-tool").chmod(0o755)
    path = f"{tools}{os.pathsep}{os.environ['PATH']}"
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command("found", ["exechost-tool"], executor_config={"env": {"PATH": path}})
        executor.queue_command("not-on-host-path", ["exechost-tool"])
    events = executor.get_event_buffer()
    assert events["found"].state == "success"
    assert Path(events["found"].info.log or "").read_text() == "tool ran\n"
    assert "No such file or directory" in (events["not-on-host-path"].info.error or "")


def test_a_timeout_kills_the_whole_tree_and_fails_the_task(tmp_path, marker):
    began = time.monotonic()
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command("slow", TREE, executor_config=marked(marker, timeout=0.5))
        executor.queue_command("quick", ["true"], executor_config={"timeout": 30})
    assert time.monotonic() - began < 10
    events = executor.get_event_buffer()
    assert events["slow"].state == "failed"
    assert events["slow"].info.error == "timeout"
    assert events["slow"].info.returncode == -9
    assert events["quick"].state == "success"
    no_process_with(marker)


def test_what_a_finished_task_left_running_is_killed(tmp_path, marker):
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command(
            "leaves", ["sh", "-c", "sleep 100 &"], executor_config=marked(marker)
        )
    assert executor.get_event_buffer()["leaves"].state == "success"
    no_process_with(marker)


def test_terminate_kills_every_tree_and_fails_each_task(tmp_path, marker):
    executor = exechost.load_executor("local", parallelism=2, log_dir=str(tmp_path))
    executor.start()
    for key in ("one", "two", "waiting"):
        executor.queue_command(key, TREE, executor_config=marked(marker))
    executor.heartbeat()
    wait_until(lambda: len(processes_with(marker)) == 6)  # two sh, each with two sleeps
    executor.terminate()
    no_process_with(marker, timeout=2)
    events = executor.get_event_buffer()
    assert {key: (event.state, event.info.error) for key, event in events.items()} == {
        "one": ("failed", "terminated"),
        "two": ("failed", "terminated"),
        "waiting": ("failed", "terminated before it started"),
    }
    assert events["one"].info.returncode == -9


def test_a_raise_in_the_with_block_terminates(tmp_path, marker):
    with (
        pytest.raises(KeyError),
        exechost.load_executor("local", log_dir=str(tmp_path)) as executor,
    ):
        executor.queue_command("tree", TREE, executor_config=marked(marker))
        executor.heartbeat()
        wait_until(lambda: len(processes_with(marker)) == 3)
        raise KeyError("the application broke")
    no_process_with(marker, timeout=2)
    assert executor.get_event_buffer()["tree"].info.error == "terminated"


def test_a_command_that_does_not_exist_fails_with_the_os_error(tmp_path):
    with exechost.load_executor("local", log_dir=str(tmp_path)) as executor:
        executor.queue_command("missing", ["exechost-no-such-command", "--flag"])
        executor.queue_command("not-executable", [str(tmp_path)])
        executor.queue_command("bad-cwd", ["true"], executor_config={"cwd": str(tmp_path / "no")})
        executor.queue_command("nul", ["echo", "a\0b"])
        executor.queue_command("fine", ["true"])
    events = executor.get_event_buffer()
    assert events["nul"].info.error == "embedded null byte"
    missing = events["missing"].info
    assert events["missing"].state == "failed"
    assert "No such file or directory: 'exechost-no-such-command'" in (missing.error or "")
    assert missing.returncode is None
    assert "Permission denied" in (events["not-executable"].info.error or "")
    assert "No such file or directory" in (events["bad-cwd"].info.error or "")
    assert events["fine"].state == "success"


def test_parallelism_is_never_exceeded_by_real_processes(tmp_path):
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    script = 'echo "start $(date +%s.%N)" > "$1.s"; sleep 0.15; echo "end $(date +%s.%N)" > "$1.e"'
    with exechost.load_executor("local", parallelism=2, log_dir=str(tmp_path)) as executor:
        for number in range(6):
            executor.queue_command(
                str(number), ["sh", "-c", script, "sh", str(stamps / str(number))]
            )
    spans = [
        (
            float((stamps / f"{n}.s").read_text().split()[1]),
            float((stamps / f"{n}.e").read_text().split()[1]),
        )
        for n in range(6)
    ]
    most = max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
    assert most == 2


SEQUENTIAL_SCRIPT = 'echo "$1 $(date +%s.%N)" >> "$2"; sleep 0.05; echo "$1 $(date +%s.%N)" >> "$2"'


def test_sequential_runs_one_task_at_a_time_in_priority_order(tmp_path):
    journal = tmp_path / "journal"
    with exechost.load_executor("sequential", log_dir=str(tmp_path)) as executor:
        assert executor.parallelism == 1
        for key, priority in [("c", 1), ("a", 9), ("b", 5)]:
            executor.queue_command(
                key, ["sh", "-c", SEQUENTIAL_SCRIPT, "sh", key, str(journal)], priority=priority
            )
            assert not executor.running  # nothing runs before a heartbeat
    lines = journal.read_text().split()
    assert lines[0::2] == ["a", "a", "b", "b", "c", "c"]
    stamps = [float(stamp) for stamp in lines[1::2]]
    assert stamps == sorted(stamps)  # each task ended before the next one started
    events = executor.get_event_buffer()
    assert [(key, e.state) for key, e in events.transitions if e.state.finished] == [
        ("a", "success"),
        ("b", "success"),
        ("c", "success"),
    ]
    assert Path(events["a"].info.log or "").name == "a.log"


def test_sequential_honours_timeouts_and_reports_os_errors(tmp_path, marker):
    with exechost.load_executor("sequential", log_dir=str(tmp_path)) as executor:
        executor.queue_command("slow", TREE, executor_config=marked(marker, timeout=0.3))
        executor.queue_command("missing", ["exechost-no-such-command"])
        executor.queue_command("nul", ["echo", "a\0b"])
        with pytest.raises(exechost.InvalidTaskError, match="unknown setting 'tiemout'"):
            executor.queue_command("bad", ["true"], executor_config={"tiemout": 1})
    events = executor.get_event_buffer()
    assert events["nul"].info.error == "embedded null byte"
    assert events["slow"].info.error == "timeout"
    assert "No such file or directory" in (events["missing"].info.error or "")
    assert "bad" not in events
    no_process_with(marker)


def test_the_example_batch_runs(tmp_path):
    import subprocess

    example = Path(__file__).parent.parent / "examples" / "batch.py"
    done = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "batch/fails" in done.stdout and "exit status 3" in done.stdout
