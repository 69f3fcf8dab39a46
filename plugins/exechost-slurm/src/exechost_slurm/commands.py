"""Slurm's client commands, run as argv with a deadline, their failures as :class:`SlurmError`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from exechost import ExecHostError

REQUIRED = ("sbatch", "squeue", "scancel", "scontrol")
"""The commands the executor runs."""


class SlurmError(ExecHostError):
    """A Slurm command is missing, failed, or did not answer in time."""


class SlurmTimeout(SlurmError):
    """A Slurm command did not answer in time: what it asked may have been done, or not."""


def shown(text: str, limit: int = 500) -> str:
    """``text`` (a command's error output) shortened, its control characters escaped."""
    text = text.strip()
    if len(text) > limit:
        text = text[:limit] + "..."
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode() for char in text
    )


def missing_commands(names: Sequence[str] = REQUIRED) -> list[str]:
    """The commands ``names`` (the :data:`REQUIRED` ones by default) not found on ``PATH``."""
    return [name for name in names if shutil.which(name) is None]


def run(argv: Sequence[str], timeout: float, stdin: str | None = None) -> str:
    """Run the Slurm command ``argv`` (never through a shell) and return its standard output.

    :raises SlurmError: when it cannot start, exits non-zero (with its error output) or takes
        more than ``timeout`` seconds.
    """
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmTimeout(f"{argv[0]} did not answer within {timeout:g} s") from exc
    except OSError as exc:
        raise SlurmError(f"{argv[0]} could not run: {exc}") from exc
    if done.returncode != 0:
        said = shown(done.stderr or done.stdout) or "no output"
        raise SlurmError(f"{argv[0]} failed (exit status {done.returncode}): {said}")
    return done.stdout
