"""The batch script of one task: the task's argv, each argument quoted, run by ``exec``.

``sbatch`` reads the script on its standard input and hands it to the controller, so no file is
written for it. The task's argv never becomes shell syntax: every argument (and every ``env``
value, and the ``cwd``) is one ``shlex.quote``-d word, and ``exec`` replaces the shell with the
command, whose exit status becomes the job's. A command that cannot start fails with the shell's
message in the log (exit status 127 or 126).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence


def batch_script(command: Sequence[str], env: Mapping[str, str] | None, cwd: str | None) -> str:
    """The ``sh`` script that runs ``command`` with ``env`` merged over the job's environment,
    in ``cwd`` (the job's working directory when ``None``). ``env`` names are checked already
    (:class:`exechost_slurm.settings.SlurmTaskOptions`)."""
    lines = ["#!/bin/sh"]
    if cwd is not None:
        lines.append(f"cd -- {shlex.quote(cwd)} || exit 1")
    for name, value in (env or {}).items():
        lines.append(f"export {name}={shlex.quote(value)}")
    lines.append("exec " + " ".join(shlex.quote(argument) for argument in command))
    return "\n".join(lines) + "\n"
