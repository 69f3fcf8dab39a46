"""``exechost runs``: the journaled runs of a directory, or one run's tasks."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from exechost.errors import ExecHostError
from exechost.journal import Journal, JournaledTask, RunRecord, read_journal
from exechost.report import journal_spans, write_report
from exechost.text import key_json, key_text, shown
from rich.console import Console
from rich.markup import escape

STATE_STYLES = {"success": "green", "failed": "red", "running": "yellow", "queued": "dim"}


def show_runs(path: Path | None, args: argparse.Namespace, console: Console) -> int:
    """List the runs (or, with ``args.run_id``, one run's tasks); the exit status."""
    if path is None:
        raise ExecHostError("the journal is turned off (journal = false); there are no runs")
    journal, host_pid = read_journal(path)
    try:
        if args.run_id is None:
            runs = journal.runs(args.limit)
            if args.json:
                print(json.dumps([_run_json(run, host_pid) for run in runs], indent=2))
            else:
                _print_runs(console, journal.path, runs, host_pid)
            return 0
        if args.report is not None:
            return _write_report(journal, args.run_id, host_pid, args.report, console)
        return _show_run(journal, args.run_id, host_pid, console, json_output=args.json)
    finally:
        journal.close()


def run_status(run: RunRecord, host_pid: int | None) -> str:
    """How a run ended; ``died`` for one recorded as running whose host no longer runs."""
    if run.status == "running" and run.pid != host_pid:
        return "died"
    return run.status


def _run_json(run: RunRecord, host_pid: int | None) -> dict[str, object]:
    return {
        "id": run.id,
        "taskfile": run.taskfile,
        "cwd": run.cwd,
        "pid": run.pid,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "status": run_status(run, host_pid),
        "resumed_from": run.resumed_from,
        "tasks": dict(run.counts),
    }


def _print_runs(console: Console, path: Path, runs: list[RunRecord], host_pid: int | None) -> None:
    console.print(f"# journal: {escape(shown(str(path)))}", highlight=False)
    if not runs:
        console.print("no runs recorded")
        return
    for run in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started_at))
        counts = ", ".join(f"{count} {state}" for state, count in sorted(run.counts.items()))
        resumed = f", resumes run {run.resumed_from}" if run.resumed_from else ""
        console.print(
            f"run {run.id}  {started}  {run_status(run, host_pid)}{resumed}  "
            f"{shown(run.taskfile or '(no task file)')}  [{counts or 'no tasks'}]",
            highlight=False,
            markup=False,
        )
    console.print(
        "`exechost runs RUN` shows a run's tasks; `exechost run --resume TASKFILE` resumes the "
        "last run of a task file."
    )


def _find_run(journal: Journal, run_id: int) -> RunRecord:
    run = journal.run(run_id)
    if run is None:
        raise ExecHostError(f"journal {journal.path} holds no run {run_id} (`exechost runs`)")
    return run


def _write_report(
    journal: Journal, run_id: int, host_pid: int | None, path: str, console: Console
) -> int:
    run = _find_run(journal, run_id)
    details = [
        ("run", f"{run.id} in {journal.path}"),
        ("task file", run.taskfile or "(none)"),
        ("status", run_status(run, host_pid)),
    ]
    if run.resumed_from is not None:
        details.append(("resumes run", str(run.resumed_from)))
    size = write_report(path, journal_spans(journal, run_id), details=details)
    console.print(f"report: {escape(shown(path))} ({size} bytes)", highlight=False)
    return 0


def _show_run(
    journal: Journal, run_id: int, host_pid: int | None, console: Console, *, json_output: bool
) -> int:
    run = _find_run(journal, run_id)
    tasks = journal.tasks(run_id)
    if json_output:
        document = _run_json(run, host_pid) | {"task_list": [_task_json(t) for t in tasks.values()]}
        print(json.dumps(document, indent=2))
        return 0
    taskfile = escape(shown(run.taskfile or "(no task file)"))
    console.print(f"run {run.id}: {run_status(run, host_pid)}, {taskfile}", highlight=False)
    for task in tasks.values():
        info = task.info
        style = STATE_STYLES.get(task.state.value, "")
        details = [f"attempt {info.attempt}" if info.attempt else "never started"]
        if info.returncode is not None:
            details.append(f"exit {info.returncode}")
        if info.external_id:
            details.append(f"id {escape(shown(info.external_id))}")
        if info.log:
            details.append(f"log {escape(shown(info.log))}")
        if info.error:
            details.append(f"error: {escape(shown(info.error))}")
        console.print(
            f"  [{style}]{task.state.value:<12}[/] {escape(shown(key_text(task.key)))} "
            f"({escape(task.executor)}) {', '.join(details)}",
            highlight=False,
        )
    return 0


def _task_json(task: JournaledTask) -> dict[str, object]:
    info = task.info
    return {
        "key": key_json(task.key),
        "executor": task.executor,
        "state": task.state.value,
        "attempt": info.attempt,
        "attempt_id": info.attempt_id,
        "external_id": info.external_id,
        "returncode": info.returncode,
        "error": info.error,
        "log": info.log,
        "started_at": info.started_at,
        "ended_at": info.ended_at,
    }
