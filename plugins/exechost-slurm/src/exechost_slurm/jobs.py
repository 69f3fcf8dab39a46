"""What Slurm says about jobs, and Slurm's states in exechost's terms: one ``squeue`` call for
all of a user's jobs the controller knows, one ``sacct`` call for jobs it no longer knows."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from exechost_slurm import commands
from exechost_slurm.commands import SlurmError

JOB_NAME_PREFIX = "exechost-"
"""A task's job is named this and its attempt id, so a new host finds it again."""

_FIELDS = ("JobID", "State", "Reason", "exit_code", "StartTime", "EndTime", "Name", "STDOUT")
_FORMAT = ",".join(f"{field}:|" for field in _FIELDS)  # ":|": no padding, "|" after each field
_ACCOUNTING_FIELDS = ("JobID", "State", "Reason", "ExitCode", "Start", "End", "JobName")
_ACCOUNTING_DISABLED = "accounting storage is disabled"
"""What ``sacct`` says on a cluster without accounting (``AccountingStorageType=none``)."""

_TIME = "%Y-%m-%dT%H:%M:%S"
"""How Slurm's commands show a time (local)."""

PENDING = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
)
"""States of a job waiting for a node (or to start again): queued in exechost's terms."""
RUNNING = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"})
"""States of a job that has started and not ended."""
# Anything else has ended: COMPLETED is a success, every other end (FAILED, OUT_OF_MEMORY,
# TIMEOUT, NODE_FAIL, CANCELLED, PREEMPTED, BOOT_FAIL, DEADLINE...) a failure.


class AccountingDisabled(SlurmError):
    """The cluster keeps no accounting: ``sacct`` knows no job."""


@dataclass(frozen=True)
class Job:
    """One line of ``squeue`` or ``sacct``: a job as the controller or the accounting knows it."""

    job_id: str
    state: str
    reason: str
    wait_status: int | None
    """The job's exit as a wait status (exit code times 256, or the signal), once it ended."""
    started_at: float | None
    ended_at: float | None
    name: str
    log: str
    """The job's output file; empty from ``sacct``, which does not record it."""

    @property
    def pending(self) -> bool:
        return self.state in PENDING

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def ended(self) -> bool:
        return not self.pending and not self.running

    @property
    def returncode(self) -> int | None:
        """The command's exit status (negative: the signal that killed it), once it ended."""
        if not self.ended or self.wait_status is None:
            return None
        signal = self.wait_status & 0x7F
        return -signal if signal else self.wait_status >> 8

    @property
    def error(self) -> str | None:
        """Why the job failed, with Slurm's state and reason; ``None`` if it succeeded."""
        if self.state == "COMPLETED":
            return None
        code = self.returncode
        if self.state == "FAILED" and code is not None and code > 0:
            how = f"exit status {code}"
        elif self.state == "FAILED" and code is not None and code < 0:
            how = f"killed by signal {-code}"
        else:
            how = f"Slurm ended the job {self.state}"
        reason = "" if self.reason in ("None", "") else f", reason {self.reason}"
        return f"{how} (Slurm job {self.job_id}: {self.state}{reason})"


def _timestamp(text: str) -> float | None:
    """A time ``squeue`` or ``sacct`` shows (local, ``2026-12-06T23:10:18``) as a Unix time;
    ``None`` for ``N/A``, ``Unknown`` and the like."""
    try:
        return time.mktime(time.strptime(text, _TIME))
    except ValueError:
        return None


def _state(text: str) -> str:
    """Slurm's state without what some versions add (``CANCELLED by 0``)."""
    return text.split()[0] if text.strip() else ""


def parse(line: str) -> Job | None:
    """A line of :func:`squeue`'s output, or ``None`` for a line it cannot read."""
    parts = line.split("|", len(_FIELDS) - 1)
    if len(parts) != len(_FIELDS):
        return None
    job_id, state, reason, status, started, ended, name, log = parts
    return Job(
        job_id=job_id.strip(),
        state=_state(state),
        reason=reason.strip(),
        wait_status=int(status) if status.strip().isdigit() else None,
        started_at=_timestamp(started.strip()),
        ended_at=_timestamp(ended.strip()),
        name=name,
        log=log.removesuffix("|"),
    )


def squeue(timeout: float, names: Iterable[str] | None = None) -> dict[str, Job]:
    """Every job of this user the controller still knows (pending, running, or ended within its
    ``MinJobAge``), by job id; only those named ``names`` when given. One ``squeue`` call."""
    argv = ["squeue", "--me", "--noheader", "--states=all", f"--Format={_FORMAT}"]
    if names is not None:
        argv.append(f"--name={','.join(names)}")
    jobs = (parse(line) for line in commands.run(argv, timeout).splitlines())
    return {job.job_id: job for job in jobs if job is not None}


def parse_accounting(line: str) -> Job | None:
    """A line of :func:`sacct`'s output, or ``None`` for a line it cannot read."""
    parts = line.split("|", len(_ACCOUNTING_FIELDS) - 1)
    if len(parts) != len(_ACCOUNTING_FIELDS):
        return None
    job_id, state, reason, exit_code, started, ended, name = parts
    code, _, signal = exit_code.partition(":")  # "3:0": exit status 3; "0:9": killed by signal 9
    return Job(
        job_id=job_id.strip(),
        state=_state(state),
        reason=reason.strip(),
        wait_status=int(code) << 8 | int(signal) if code.isdigit() and signal.isdigit() else None,
        started_at=_timestamp(started.strip()),
        ended_at=_timestamp(ended.strip()),
        name=name,
        log="",
    )


def sacct(
    timeout: float,
    job_ids: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
    since: float | None = None,
) -> dict[str, Job]:
    """The jobs the cluster's accounting knows among ``job_ids`` (the newest of each id), or
    named ``names`` and active after ``since`` (a Unix time; ever, when ``None``), by job id.
    One ``sacct`` call.

    :raises AccountingDisabled: when the cluster keeps no accounting.
    """
    argv = [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        f"--format={','.join(_ACCOUNTING_FIELDS)}",
    ]
    if job_ids is not None:
        argv.append(f"--jobs={','.join(job_ids)}")
    if names is not None:
        start = time.localtime(since or 0)  # sacct reads a time in the local time zone
        argv += [f"--name={','.join(names)}", f"--starttime={time.strftime(_TIME, start)}"]
    try:
        output = commands.run(argv, timeout)
    except SlurmError as exc:
        if _ACCOUNTING_DISABLED in str(exc):
            raise AccountingDisabled(str(exc)) from exc
        raise
    jobs = (parse_accounting(line) for line in output.splitlines())
    return {job.job_id: job for job in jobs if job is not None}
