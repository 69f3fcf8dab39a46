"""``exechost run --resume``: what of a task file's last journaled run is done, what to adopt,
and what to run again.

A task counts as done when its latest attempt succeeded with the command the task file gives it
now; a changed command runs again. An attempt handed to a backend and not finished is offered to
that backend for adoption (see :meth:`exechost.MultiExecutor.adopt`); one the backend cannot take
over may have run, or may still run, outside this host, and follows the ``--unadopted`` policy.
Every other task (never started, failed, or with a changed command) runs again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from exechost.attempts import Attempt
from exechost.cli.batch import Batch, Outcome
from exechost.cli.taskfile import TaskSpec
from exechost.errors import ExecHostError
from exechost.journal import Journal, JournaledTask, RunRecord
from exechost.multi import MultiExecutor
from exechost.states import TaskInfo, TaskState
from exechost.tasks import QueuedTask, TaskKey
from exechost.text import key_json


class Unadopted(str, Enum):
    """What ``--resume`` does with an unfinished attempt no backend took over."""

    RERUN = "rerun"
    """Run the task again: it may then have run twice (the summary names it)."""
    FAIL = "fail"
    """Fail the task without running it, naming the earlier attempt."""


@dataclass
class ResumePlan:
    """How a resumed run treats each task of its task file."""

    previous: RunRecord
    done: dict[TaskKey, JournaledTask] = field(default_factory=dict)
    """Tasks whose latest attempt succeeded: skipped, and recorded as succeeded in the new run."""
    unfinished: dict[str, list[Attempt]] = field(default_factory=dict)
    """Attempts handed to a backend and never finished, by the name of the executor they were
    handed to: offered to it for adoption."""
    changed: list[TaskKey] = field(default_factory=list)
    """Tasks that ran before with a command other than the task file's now: they run again."""

    @property
    def offered(self) -> int:
        """How many attempts are offered for adoption."""
        return sum(len(attempts) for attempts in self.unfinished.values())


class ResumeError(ExecHostError):
    """There is nothing to resume: no journal, or no earlier run of the task file in it."""


def plan_resume(journal: Journal, taskfile: str, tasks: Mapping[TaskKey, TaskSpec]) -> ResumePlan:
    """Compare the last run of ``taskfile`` with the tasks it holds now.

    :param taskfile: the task file's absolute path, as its runs were journaled.
    :param tasks: the task file's tasks by key.
    :raises ResumeError: when the journal holds no run of ``taskfile``.
    """
    previous = journal.last_run(taskfile)
    if previous is None:
        raise ResumeError(
            f"--resume: the journal {journal.path} holds no run of {taskfile}; run it without "
            "--resume first (`exechost runs` lists the journaled runs)"
        )
    plan = ResumePlan(previous)
    for key, journaled in latest_attempts(journal, previous.id).items():
        spec = tasks.get(key)
        attempt = journaled.attempt
        if spec is None or attempt is None:
            continue  # no longer in the task file, or never handed to a backend
        if attempt.command != spec.command:
            plan.changed.append(key)
        elif journaled.state is TaskState.SUCCESS:
            plan.done[key] = journaled
        elif journaled.state in (TaskState.QUEUED, TaskState.RUNNING):
            plan.unfinished.setdefault(journaled.executor, []).append(attempt)
    return plan


def latest_attempts(journal: Journal, run_id: int) -> dict[TaskKey, JournaledTask]:
    """Each task of the run with its latest attempt, looking back through the runs it resumed.

    A host killed just after it began a resumed run may have recorded few of its tasks (or none):
    the attempts of the runs before it still count, or a second resume would run again what the
    first one had skipped.
    """
    found: dict[TaskKey, JournaledTask] = {}
    seen: set[int] = set()
    run = journal.run(run_id)
    while run is not None and run.id not in seen:
        seen.add(run.id)
        for key, task in journal.tasks(run.id).items():
            if key not in found or (found[key].attempt is None and task.attempt is not None):
                found[key] = task
        run = None if run.resumed_from is None else journal.run(run.resumed_from)
    return found


@dataclass
class ResumeOutcome:
    """What resuming did before queueing, for the summary."""

    previous: int
    """The id of the resumed run."""
    skipped: int = 0
    adopted: int = 0
    rerun: int = 0
    changed: int = 0
    """Of the tasks run again, those whose command changed since the resumed run."""
    may_have_run: list[Attempt] = field(default_factory=list)
    """Unfinished earlier attempts no backend took over: they may have run (or still run)."""
    policy: Unadopted = Unadopted.RERUN

    def as_json(self) -> dict[str, object]:
        """The outcome for ``--json``."""
        return {
            "resumed_from": self.previous,
            "skipped": self.skipped,
            "adopted": self.adopted,
            "rerun": self.rerun,
            "changed": self.changed,
            "unadopted": self.policy.value,
            "may_have_run": [
                {"key": key_json(a.key), "attempt": a.attempt_id} for a in self.may_have_run
            ],
        }


def resume(
    plan: ResumePlan,
    executors: MultiExecutor,
    batch: Batch,
    tasks: Mapping[TaskKey, TaskSpec],
    policy: Unadopted,
) -> tuple[ResumeOutcome, set[TaskKey]]:
    """Carry the plan out on started executors: record the done tasks as succeeded, adopt what
    the backends can, apply ``policy`` to the rest of the unfinished attempts.

    :param batch: the run's tasks, every one added already.
    :param tasks: the task file's tasks by key.
    :returns: the outcome, and the keys of the tasks not to queue (done, adopted, or failed by
        the policy).
    """
    for key, done in plan.done.items():
        batch.finish(Outcome(key, done.executor, TaskState.SUCCESS, done.info))
        _carry_over(executors, done.executor, tasks[key], done.info.attempt_id)
    left = executors.adopt(plan.unfinished)
    outcome = ResumeOutcome(
        plan.previous.id,
        skipped=len(plan.done),
        adopted=plan.offered - len(left),
        changed=len(plan.changed),
        may_have_run=left,
        policy=policy,
    )
    unadopted = {attempt.attempt_id for attempt in left}
    taken = set(plan.done)
    for executor, attempts in plan.unfinished.items():
        for attempt in attempts:
            if attempt.attempt_id not in unadopted:
                taken.add(attempt.key)
            elif policy is Unadopted.FAIL:
                taken.add(attempt.key)
                _carry_over(executors, executor, tasks[attempt.key], attempt.attempt_id)
                error = (
                    f"not run again: its attempt {attempt.attempt_id} of run {plan.previous.id} "
                    "was not finished and could not be adopted; it may have run"
                )
                info = TaskInfo(
                    error=error,
                    external_id=attempt.external_id,
                    attempt_id=attempt.attempt_id,
                    attempt=attempt.number,
                )
                batch.finish(Outcome(attempt.key, executor, TaskState.FAILED, info))
    outcome.rerun = len(tasks) - len(taken)
    return outcome, taken


def _carry_over(
    executors: MultiExecutor, executor: str, spec: TaskSpec, attempt_id: str | None
) -> None:
    """Record in the new run a task not run again, pointing at its attempt of the resumed run
    (so that resuming the new run sees it as the resumed one did)."""
    journal = executors.journal
    if journal is not None and attempt_id is not None:
        task = QueuedTask(spec.key, spec.command, spec.priority, spec.queue, spec.executor_config)
        journal.record_task(executor, task, attempt_id)
