"""The ``slurm`` executor backend: each task is a Slurm batch job.

* ``executor_execute_async`` prepares the task's job, named ``exechost-<attempt id>`` (its
  external id until Slurm gives it a job id), its output appended to the log file made for it in
  ``log_dir``; the ``executor_sync`` of the same heartbeat submits the jobs prepared since the
  last one with ``sbatch --parsable`` (``submit_concurrency`` at once), each batch script on
  standard input (:mod:`exechost_slurm.script`), and reports each ``queued`` with its job id.
* ``executor_sync`` asks Slurm about every job of the host with one ``squeue`` call, at most every
  ``poll_interval`` seconds, however many jobs there are, and reports what changed: ``running``
  when Slurm starts a job, its end when it ends (see :class:`exechost_slurm.jobs.Job`). The ends
  of the jobs ``squeue`` no longer lists (past the cluster's ``MinJobAge``) come from one
  ``sacct`` call for all of them, where the cluster keeps accounting. A task's ``timeout`` is
  kept here, from the start time Slurm reported, with a ``scancel``.
* ``executor_terminate`` cancels every job of the host with one ``scancel``; ``executor_cancel``
  cancels one.
* ``executor_adopt`` finds the jobs of a host that died by their names: one ``squeue`` call, and
  one ``sacct`` call for those ``squeue`` no longer lists.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exechost import Attempt, Executor, TaskInfo, TaskKey
from exechost.hookspecs import Capabilities, hookimpl
from exechost.process import (
    TIMEOUT_ERROR,
    log_path_for,
    make_log_dir,
    parse_options,
    read_log,
)

from exechost_slurm import commands, jobs
from exechost_slurm.commands import SlurmError, SlurmTimeout
from exechost_slurm.jobs import JOB_NAME_PREFIX, AccountingDisabled, Job
from exechost_slurm.script import batch_script
from exechost_slurm.settings import SlurmSettings, SlurmTaskOptions, resources_of

logger = logging.getLogger("exechost_slurm")

_START_GRANULARITY = 1.0
"""Slurm shows start times to the second: a ``timeout`` counts from one second after it, so a
task is never cancelled early."""
_CLOCK_MARGIN = 86400.0
"""How much earlier than the host handed it an attempt ``executor_adopt`` looks for its job in
``sacct``: the host's clock and the controller's may differ."""


@dataclass
class _Tracked:
    """A job the host waits for."""

    key: TaskKey
    name: str
    log: str | None
    timeout: float | None
    started_at: float | None = None
    """When Slurm started the job (reported ``running`` then), ``None`` while it is pending."""
    missing_since: float | None = None
    """Since when (``time.monotonic()``) neither ``squeue`` nor ``sacct`` has shown the job."""


@dataclass(frozen=True)
class _Submission:
    """A job prepared by ``executor_execute_async``, not submitted yet."""

    key: TaskKey
    name: str
    argv: list[str]
    script: str
    log: str
    timeout: float | None


class SlurmBackend:
    """Runs each task as a Slurm batch job; see :mod:`exechost_slurm.backend`."""

    Settings = SlurmSettings
    default_parallelism = 500
    """Slurm queues what its nodes cannot run yet; this keeps a host from flooding it."""
    exechost_api = ">=1.1,<2"
    capabilities = Capabilities(
        can_cancel_running=True,
        runs_elsewhere=True,
        ordered_start=False,  # Slurm's scheduler orders the jobs
        can_adopt=True,
        reports_running=True,
        executor_config=SlurmTaskOptions,
    )

    def __init__(self, settings: SlurmSettings) -> None:
        self.settings = settings
        self.defaults = resources_of(settings)
        self.log_dir: Path | None = None
        self._jobs: dict[str, _Tracked] = {}  # by job id
        self._unsubmitted: list[_Submission] = []
        self._unconfirmed: dict[str, tuple[_Submission, float, str]] = {}
        """By job name: submissions whose ``sbatch`` timed out, their deadline and error."""
        self._pool: ThreadPoolExecutor | None = None
        self._terminated = False
        self._lock = threading.Lock()
        self._next_poll = 0.0
        self._unanswered_since: float | None = None
        self._accounting = True
        """Whether ``sacct`` may know the jobs gone from ``squeue``: until it says the cluster
        keeps no accounting."""

    @hookimpl
    def executor_start(self) -> None:
        """Check that Slurm's commands are here and its controller answers, within
        ``command_timeout`` (``sacct`` is optional: without it, no accounting is asked)."""
        missing = commands.missing_commands()
        if missing:
            raise SlurmError(
                f"Slurm's {', '.join(missing)} not found on PATH: install Slurm's client "
                "commands (Debian: slurm-client) on this machine"
            )
        answer = commands.run(["scontrol", "ping"], self.settings.command_timeout)
        if " is UP" not in answer:
            raise SlurmError(f"the Slurm controller does not answer: {commands.shown(answer)}")
        self._accounting = not commands.missing_commands(["sacct"])
        self.log_dir = make_log_dir(self.settings)
        self._pool = ThreadPoolExecutor(
            self.settings.submit_concurrency, thread_name_prefix="exechost-slurm-sbatch"
        )

    @hookimpl
    def executor_execute_async(
        self,
        key: TaskKey,
        command: Sequence[str],
        executor_config: Mapping[str, Any],
        attempt_id: str,
    ) -> str:
        """Prepare the task's job; the ``executor_sync`` that ends the heartbeat submits it."""
        assert self.log_dir is not None
        options = parse_options(key, executor_config, SlurmTaskOptions)  # checked when queued
        resources = resources_of(options).over(self.defaults)
        arguments = resources.sbatch_arguments()
        if options.timeout is not None and resources.time_limit is None:
            # Slurm ends the job a minute after the host would have, should the host be gone.
            arguments.append(f"--time={math.ceil(options.timeout / 60) + 1}")
        log = log_path_for(self.log_dir, key)
        name = f"{JOB_NAME_PREFIX}{attempt_id}"
        argv = [
            "sbatch",
            "--parsable",
            f"--job-name={name}",
            f"--output={log}",
            "--open-mode=append",
            f"--chdir={options.cwd or os.getcwd()}",
            *arguments,
        ]
        script = batch_script(command, options.env, options.cwd)
        with self._lock:
            self._unsubmitted.append(
                _Submission(key, name, argv, script, str(log), options.timeout)
            )
        return name

    def _submit(self, executor: Executor) -> None:
        """Submit the jobs prepared since the last sync, ``submit_concurrency`` at a time, and
        report each ``queued`` with its Slurm job id (or failed, with ``sbatch``'s error)."""
        with self._lock:
            batch, self._unsubmitted = self._unsubmitted, []
        if not batch:
            return
        assert self._pool is not None
        outcomes = self._pool.map(self._sbatch, batch)
        too_late = []
        for submission, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, SlurmTimeout):  # the job may exist: look for it by name
                deadline = time.monotonic() + self.settings.command_timeout
                with self._lock:
                    self._unconfirmed[submission.name] = (submission, deadline, str(outcome))
            elif isinstance(outcome, SlurmError):
                executor.fail(submission.key, TaskInfo(error=str(outcome), log=submission.log))
            else:
                with self._lock:
                    if self._terminated:  # while this sync submitted: cancel, report nothing
                        too_late.append(outcome)
                        continue
                self._track(executor, outcome, submission)
        if too_late:
            self._cancel(too_late)

    def _track(self, executor: Executor, job_id: str, submission: _Submission) -> None:
        """Follow the submitted job ``job_id``; report its task ``queued``."""
        with self._lock:
            self._jobs[job_id] = _Tracked(
                submission.key, submission.name, submission.log, submission.timeout
            )
        executor.change_state(
            submission.key, "queued", TaskInfo(external_id=job_id, log=submission.log)
        )

    def _confirm(self, executor: Executor, seen: Mapping[str, Job]) -> None:
        """Find the jobs of the ``sbatch`` calls that timed out among those ``squeue`` listed;
        fail the tasks of those still missing ``command_timeout`` seconds after."""
        with self._lock:
            unconfirmed = dict(self._unconfirmed)
        if not unconfirmed:
            return
        by_name = {job.name: job for job in seen.values()}
        now = time.monotonic()
        for name, (submission, deadline, error) in unconfirmed.items():
            job = by_name.get(name)
            if job is None and now < deadline:
                continue
            with self._lock:
                self._unconfirmed.pop(name, None)
            if job is None:
                executor.fail(
                    submission.key,
                    TaskInfo(
                        error=f"{error}, and Slurm has no job named {name}", log=submission.log
                    ),
                )
            else:
                self._track(executor, job.job_id, submission)

    def _sbatch(self, submission: _Submission) -> str | SlurmError:
        """Submit one job; its id, or why ``sbatch`` failed."""
        try:
            output = commands.run(
                submission.argv, self.settings.command_timeout, stdin=submission.script
            )
        except SlurmError as exc:
            return exc
        return output.strip().split(";")[0]  # "id" or "id;cluster"

    @hookimpl
    def executor_adopt(self, executor: Executor, tasks: Sequence[Attempt]) -> list[TaskKey]:
        """Take over the jobs of ``tasks`` that Slurm still knows, found by name: one ``squeue``
        call, and one ``sacct`` call for those ``squeue`` no longer lists."""
        by_name = {f"{JOB_NAME_PREFIX}{attempt.attempt_id}": attempt for attempt in tasks}
        if not by_name:
            return []
        found = list(jobs.squeue(self.settings.command_timeout, names=by_name).values())
        unlisted = [name for name in by_name if name not in {job.name for job in found}]
        if unlisted:
            starts = [by_name[name].started_at for name in unlisted]
            known = [start for start in starts if start is not None]
            since = min(known) - _CLOCK_MARGIN if len(known) == len(starts) else None
            found += self._accounted(names=unlisted, since=since).values()
        adopted = []
        ended = []
        for job in found:
            attempt = by_name.pop(job.name, None)
            if attempt is None:  # a second job of the same name: keep the first
                continue
            options = parse_options(attempt.key, attempt.executor_config, SlurmTaskOptions)
            with self._lock:
                self._jobs[job.job_id] = _Tracked(
                    attempt.key, job.name, job.log or None, options.timeout
                )
            adopted.append(attempt.key)
            if job.ended:
                ended.append(job)
        for job in ended:
            self._finish(executor, job)
        self._next_poll = 0.0
        return adopted

    @hookimpl
    def executor_sync(self, executor: Executor) -> None:
        self._submit(executor)
        self._expire_timeouts(executor)
        now = time.monotonic()
        with self._lock:
            if (not self._jobs and not self._unconfirmed) or now < self._next_poll:
                return
        self._next_poll = now + self.settings.poll_interval
        try:
            seen = jobs.squeue(self.settings.command_timeout)
        except SlurmError as exc:
            self._unanswered(exc)
            return
        self._unanswered_since = None
        self._confirm(executor, seen)
        with self._lock:
            tracked = list(self._jobs.items())
        recorded = self._recorded({job_id: task for job_id, task in tracked if job_id not in seen})
        for job_id, task in tracked:
            job = seen.get(job_id) or recorded.get(job_id)
            if job is None:
                self._missing(executor, job_id, task, now)
            elif job.ended:
                self._finish(executor, job)
            elif job.running and task.started_at is None:
                task.started_at = job.started_at or time.time()
                executor.change_state(
                    task.key, "running", TaskInfo(started_at=task.started_at, log=task.log)
                )

    def _accounted(
        self,
        job_ids: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
        since: float | None = None,
    ) -> dict[str, Job]:
        """What ``sacct`` knows of these jobs (see :func:`exechost_slurm.jobs.sacct`); nothing
        where the cluster keeps no accounting, which the first call finds out for the executor's
        life."""
        if not self._accounting:
            return {}
        try:
            return jobs.sacct(self.settings.command_timeout, job_ids, names, since)
        except AccountingDisabled:
            self._accounting = False
            logger.info(
                "exechost-slurm: the cluster keeps no accounting (sacct): a job's end is known "
                "only while squeue lists it (the cluster's MinJobAge)"
            )
            return {}

    def _recorded(self, gone: Mapping[str, _Tracked]) -> dict[str, Job]:
        """The ends that ``sacct`` recorded of the jobs ``gone`` from ``squeue`` (one call for
        all); nothing for a job whose end it has not recorded yet, nor when it fails (the next
        poll asks again)."""
        if not gone:
            return {}
        try:
            found = self._accounted(job_ids=list(gone))
        except SlurmError as exc:
            logger.warning("exechost-slurm: sacct failed, retrying: %s", exc)
            return {}
        return {
            job_id: job
            for job_id, job in found.items()
            if job.ended and job_id in gone and job.name == gone[job_id].name
        }

    def _missing(self, executor: Executor, job_id: str, task: _Tracked, now: float) -> None:
        """Fail the task of a job that neither ``squeue`` nor ``sacct`` shows ended: at once
        where the cluster keeps no accounting; else once ``sacct`` has not recorded its end for
        ``command_timeout`` seconds (the controller records a job's end in the background, and
        may forget the job before)."""
        if self._accounting:
            if task.missing_since is None:
                task.missing_since = now
            if now - task.missing_since <= self.settings.command_timeout:
                return
            why = (
                f"sacct has not recorded its end within {self.settings.command_timeout:g} s "
                "(setting command_timeout)"
            )
        else:
            why = "the cluster keeps no accounting (sacct) that would tell its end"
        if self._forget(job_id) is not None:
            executor.fail(
                task.key,
                TaskInfo(
                    error=f"Slurm job {job_id} is gone: squeue no longer lists it, and {why}",
                    log=task.log,
                ),
            )

    @hookimpl
    def executor_cancel(self, executor: Executor, key: TaskKey) -> bool:
        with self._lock:
            unsubmitted = [item for item in self._unsubmitted if item.key == key]
            for submission in unsubmitted:
                self._unsubmitted.remove(submission)
        if unsubmitted:
            executor.fail(key, TaskInfo(log=unsubmitted[0].log))
            return True
        with self._lock:
            names = [name for name, entry in self._unconfirmed.items() if entry[0].key == key]
            for name in names:
                submission = self._unconfirmed.pop(name)[0]
        if names:
            self._cancel_named(names)
            executor.fail(key, TaskInfo(log=submission.log))
            return True
        with self._lock:
            found = [job_id for job_id, task in self._jobs.items() if task.key == key]
        if not found:
            return False
        self._cancel(found)
        for job_id in found:
            task = self._forget(job_id)
            if task is not None:
                executor.fail(key, TaskInfo(error=f"cancelled Slurm job {job_id}", log=task.log))
        return True

    @hookimpl
    def executor_fetch_log(self, info: TaskInfo) -> str | None:
        return None if info.log is None else read_log(Path(info.log))

    @hookimpl
    def executor_terminate(self) -> None:
        """Cancel every job of this host with one ``scancel``."""
        with self._lock:
            self._terminated = True
            job_ids = list(self._jobs)
            self._jobs.clear()
            self._unsubmitted.clear()
            names = list(self._unconfirmed)
            self._unconfirmed.clear()
        try:
            if job_ids:
                self._cancel(job_ids)
            self._cancel_named(names)
        finally:
            if self._pool is not None:  # a sync still submitting cancels what it submits
                self._pool.shutdown(wait=False, cancel_futures=True)

    @hookimpl
    def executor_end(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def _cancel(self, job_ids: Sequence[str]) -> None:
        commands.run(["scancel", "--", *job_ids], self.settings.command_timeout)

    def _cancel_named(self, names: Sequence[str]) -> None:
        """Cancel the jobs of ``sbatch`` calls that timed out, if they exist, by name (rare:
        one ``scancel`` each)."""
        for name in names:
            commands.run(["scancel", f"--name={name}"], self.settings.command_timeout)

    def _forget(self, job_id: str) -> _Tracked | None:
        with self._lock:
            return self._jobs.pop(job_id, None)

    def _finish(self, executor: Executor, job: Job) -> None:
        """Report the end of ``job``, once."""
        task = self._forget(job.job_id)
        if task is None:
            return
        info = TaskInfo(
            returncode=job.returncode,
            error=job.error,
            log=task.log,
            external_id=job.job_id,
            started_at=job.started_at,
            ended_at=None if job.started_at is None else max(job.ended_at or 0, job.started_at),
        )
        if info.error is None:
            executor.success(task.key, info)
        else:
            executor.fail(task.key, info)

    def _expire_timeouts(self, executor: Executor) -> None:
        """Cancel the jobs running past their ``timeout``; report them failed ``"timeout"``."""
        now = time.time()
        with self._lock:
            expired = [
                (job_id, task)
                for job_id, task in self._jobs.items()
                if task.timeout is not None
                and task.started_at is not None
                and now > task.started_at + _START_GRANULARITY + task.timeout
            ]
        if not expired:
            return
        self._cancel([job_id for job_id, _ in expired])
        for job_id, task in expired:
            if self._forget(job_id) is not None:
                executor.fail(task.key, TaskInfo(error=TIMEOUT_ERROR, log=task.log))

    def _unanswered(self, exc: SlurmError) -> None:
        """Note that ``squeue`` failed; raise once it has failed for ``command_timeout``."""
        now = time.monotonic()
        if self._unanswered_since is None:
            self._unanswered_since = now
            logger.warning("exechost-slurm: squeue failed, retrying: %s", exc)
        elif now - self._unanswered_since > self.settings.command_timeout:
            raise SlurmError(
                f"the Slurm controller has not answered for {self.settings.command_timeout:g} s "
                f"(setting command_timeout): {exc}"
            ) from exc
