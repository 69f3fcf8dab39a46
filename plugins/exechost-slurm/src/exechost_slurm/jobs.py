"""What Slurm says about jobs: one ``squeue`` call for all of a user's jobs, and Slurm's states
in exechost's terms."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from exechost_slurm import commands

JOB_NAME_PREFIX = "exechost-"
"""A task's job is named this and its attempt id, so a new host finds it again."""

_FIELDS = ("JobID", "State", "Reason", "exit_code", "StartTime", "EndTime", "Name", "STDOUT")
_FORMAT = ",".join(f"{field}:|" for field in _FIELDS)  # ":|": no padding, "|" after each field

PENDING = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
)
"""States of a job waiting for a node (or to start again): queued in exechost's terms."""
RUNNING = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT"})
"""States of a job that has started and not ended."""
# Anything else has ended: COMPLETED is a success, every other end (FAILED, OUT_OF_MEMORY,
# TIMEOUT, NODE_FAIL, CANCELLED, PREEMPTED, BOOT_FAIL, DEADLINE...) a failure.


@dataclass(frozen=True)
class Job:
    """One line of ``squeue``: a job as the controller knows it."""

    job_id: str
    state: str
    reason: str
    wait_status: int | None
    """The job's exit as a wait status (exit code times 256, or the signal), once it ended."""
    started_at: float | None
    ended_at: float | None
    name: str
    log: str

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
    """A time ``squeue`` shows (local, ``2026-12-06T23:10:18``) as a Unix time; ``None`` for
    ``N/A``, ``Unknown`` and the like."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def parse(line: str) -> Job | None:
    """A line of :func:`squeue`'s output, or ``None`` for a line it cannot read."""
    parts = line.split("|", len(_FIELDS) - 1)
    if len(parts) != len(_FIELDS):
        return None
    job_id, state, reason, status, started, ended, name, log = parts
    state = state.split()[0] if state.strip() else ""  # "CANCELLED by 0" in some versions
    return Job(
        job_id=job_id.strip(),
        state=state,
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
