"""A host that runs a batch through the Python API, resuming the batch's last journaled run.

``python resume_host.py JOURNAL LABEL TASKS MARKER SETTINGS_JSON FIGURES`` runs the tasks
``t000``, ``t001``... (each appends its key to MARKER) on the ``celery`` executor. When the
journal has an earlier run under LABEL, its finished tasks are skipped, its unfinished attempts
are offered to the backend (:meth:`exechost.Executor.adopt`) and the rest run again. It appends
one JSON line of figures to FIGURES once it has adopted (so a host killed later still told them),
and exits 0 when every task succeeded. The durability tests kill it with SIGKILL at random
moments (forked from the test, or started as this program).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import exechost
from exechost import TaskState
from exechost.journal import Journal, JournaledTask, RunRecord, open_journal
from exechost.tasks import QueuedTask

PARALLELISM = 64
"""Tasks in flight at once: more than the worker runs, fewer than the batch, so that a kill finds
tasks in every stage (queued here, in the broker, running, finished and not yet reported)."""


def task_command(key: str, marker: Path) -> list[str]:
    """The task ``key``: append the key to ``marker``, then take a little time."""
    return ["sh", "-c", 'echo "$1" >> "$2"; sleep 0.05', "sh", key, str(marker)]


def latest_tasks(journal: Journal, run: RunRecord | None) -> dict[object, JournaledTask]:
    """Each task's newest record over ``run`` and the runs it resumed, back to the first.

    A host killed right after it began its run may not have carried every task into it yet.
    """
    runs = {record.id: record for record in journal.runs()}
    chain = []
    while run is not None:
        chain.append(run.id)
        run = runs.get(run.resumed_from) if run.resumed_from is not None else None
    latest: dict[object, JournaledTask] = {}
    for run_id in reversed(chain):
        latest.update(journal.tasks(run_id))
    return latest


def main(argv: list[str]) -> int:
    journal_path, label, count, marker, settings, figures_path = argv
    journal = open_journal(journal_path)
    previous = journal.last_run(label)
    earlier = latest_tasks(journal, previous)
    journal.begin_run(taskfile=label, resumed_from=previous.id if previous else None)
    executor = exechost.load_executor(
        "celery", journal=journal, parallelism=PARALLELISM, **json.loads(settings)
    )
    executor.start()
    keys = [f"t{n:03d}" for n in range(int(count))]
    skipped, offered, fresh = [], [], []
    for key in keys:
        task = earlier.get(key)
        if task is None or task.attempt is None:
            fresh.append(key)
            continue
        # carry the task into this run, pointing at the attempt that finished or is offered
        attempt = task.attempt
        queued = QueuedTask(key, attempt.command, 1, attempt.queue, attempt.executor_config)
        journal.record_task(executor.name, queued)
        if task.state.finished:
            journal.record_pointer(key, attempt.attempt_id)
            skipped.append(key)
        else:
            offered.append(attempt)
    left = executor.adopt(offered)
    figures = {
        "skipped": len(skipped),
        "offered": len(offered),
        "adopted": len(offered) - len(left),
        "rerun": len(left),
        "fresh": len(fresh),
    }
    with open(figures_path, "a") as out:
        out.write(json.dumps(figures) + "\n")
    for key in [attempt.key for attempt in left] + fresh:
        assert isinstance(key, str)
        executor.queue_command(key, task_command(key, Path(marker)))
    executor.end()
    events = executor.get_event_buffer()
    journal.end_run("ended")
    journal.close()
    failed = [key for key, event in events.items() if event.state is not TaskState.SUCCESS]
    if failed:
        print(f"{len(failed)} tasks failed: {[events[key] for key in failed[:5]]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
