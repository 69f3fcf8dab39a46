"""The ``slurm`` executor's settings and the per-task options it accepts, checked as given.

Every Slurm resource option (``cpus``, ``memory``...) is both a per-task option and an executor
setting, its default for every task: :class:`SlurmResources` holds them and their checks once.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from exechost.process import ProcessOptions

_MEMORY = re.compile(r"[0-9]+[KMGT]?")
"""Slurm's ``--mem``: a whole number of megabytes, or with a unit suffix K, M, G or T."""
_TIME = re.compile(
    r"[0-9]+(:[0-9]+(:[0-9]+)?)?"  # minutes, minutes:seconds, hours:minutes:seconds
    r"|[0-9]+-[0-9]+(:[0-9]+(:[0-9]+)?)?"  # days-hours, days-hours:minutes, ...:seconds
    r"|UNLIMITED|INFINITE"
)
"""Slurm's ``--time`` formats."""
_TEXT_OPTIONS = ("partition", "account", "qos", "gres", "constraint")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = ("--job-name", "--output", "--error", "--open-mode", "--parsable", "--wrap", "--array")
"""sbatch options the executor sets itself (or that would make the job another thing)."""
_RESERVED_SHORT = ("-J", "-o", "-e", "-a")


@dataclass(frozen=True)
class SlurmResources:
    """What a job asks of Slurm; ``None`` leaves the choice to Slurm (or to the executor's
    setting of the same name, for a task's option)."""

    cpus: int | None = None
    """CPUs for the job's one task (``sbatch --cpus-per-task``)."""
    memory: str | None = None
    """Memory for the job, in Slurm's syntax (``sbatch --mem``): ``"512M"``, ``"2G"``, ``"100"``
    (megabytes). A job past it ends ``OUT_OF_MEMORY`` (or killed, without cgroups)."""
    time_limit: str | None = None
    """The job's time limit in Slurm's syntax (``sbatch --time``): ``"10"`` (minutes),
    ``"00:10:00"``, ``"1-12:00:00"``, ``"UNLIMITED"``. Past it Slurm ends the job ``TIMEOUT``."""
    partition: str | None = None
    """``sbatch --partition``."""
    account: str | None = None
    """``sbatch --account``."""
    qos: str | None = None
    """``sbatch --qos``."""
    gres: str | None = None
    """Generic resources, e.g. ``"gpu:1"`` (``sbatch --gres``)."""
    constraint: str | None = None
    """Node features, e.g. ``"intel&avx2"`` (``sbatch --constraint``)."""
    sbatch_args: list[str] | None = None
    """Any other ``sbatch`` arguments, e.g. ``["--exclusive", "--nice=10"]``: one argument per
    item, never split by a shell. A task's come after the executor's. The options the executor
    sets itself (``--job-name``, ``--output``, ``--error``, ``--open-mode``, ``--parsable``,
    ``--wrap``, ``--array``) are refused."""

    def __post_init__(self) -> None:
        if self.cpus is not None and self.cpus < 1:
            raise ValueError(f"cpus must be at least 1, got {self.cpus}")
        if self.memory is not None and not _MEMORY.fullmatch(self.memory):
            raise ValueError(
                f"memory must be in Slurm's syntax, a number with an optional unit K, M, G or T "
                f"(e.g. '512M'), got {self.memory!r}"
            )
        if self.time_limit is not None and not _TIME.fullmatch(self.time_limit):
            raise ValueError(
                "time_limit must be in Slurm's syntax: minutes, minutes:seconds, "
                "hours:minutes:seconds, days-hours[:minutes[:seconds]] or UNLIMITED "
                f"(e.g. '00:10:00'), got {self.time_limit!r}"
            )
        for name in _TEXT_OPTIONS:
            value = getattr(self, name)
            if value is not None and (not value or not value.isprintable() or " " in value):
                raise ValueError(
                    f"{name} must be a non-empty string without spaces or control characters, "
                    f"got {value!r}"
                )
        for argument in self.sbatch_args or ():
            if not argument.isprintable():
                raise ValueError(f"sbatch_args: control characters in {argument!r}")
            option = argument.split("=", 1)[0]
            if (
                option in _RESERVED
                or option in _RESERVED_SHORT
                or (option[:2] in _RESERVED_SHORT and not option.startswith("--"))
            ):
                raise ValueError(
                    f"sbatch_args: {argument!r} is set by the executor; it refuses "
                    f"{', '.join(_RESERVED + _RESERVED_SHORT)}"
                )

    def over(self, defaults: SlurmResources) -> SlurmResources:
        """These resources, each unset one taken from ``defaults`` (``sbatch_args`` joined)."""
        values = {
            field.name: getattr(defaults, field.name)
            if getattr(self, field.name) is None
            else getattr(self, field.name)
            for field in dataclasses.fields(SlurmResources)
        }
        values["sbatch_args"] = [*(defaults.sbatch_args or ()), *(self.sbatch_args or ())]
        return SlurmResources(**values)

    def sbatch_arguments(self) -> list[str]:
        """The ``sbatch`` arguments that ask for these resources."""
        arguments = []
        for option, value in (
            ("--cpus-per-task", self.cpus),
            ("--mem", self.memory),
            ("--time", self.time_limit),
            ("--partition", self.partition),
            ("--account", self.account),
            ("--qos", self.qos),
            ("--gres", self.gres),
            ("--constraint", self.constraint),
        ):
            if value is not None:
                arguments.append(f"{option}={value}")
        return [*arguments, *(self.sbatch_args or ())]


def resources_of(options: SlurmResources) -> SlurmResources:
    """Only the :class:`SlurmResources` fields of ``options`` (settings or task options)."""
    return SlurmResources(
        **{field.name: getattr(options, field.name) for field in dataclasses.fields(SlurmResources)}
    )


@dataclass(frozen=True)
class SlurmSettings(SlurmResources):
    """Settings of the ``slurm`` executor: the resources of every task (each task may override
    them with its own options), where logs go, and how often Slurm is asked."""

    log_dir: str | None = None
    """The directory of the tasks' log files (Slurm writes each job's output there, from the
    node that runs it: on a real cluster, a directory the nodes share with the host); a new
    temporary directory when ``None``."""
    poll_interval: float = 1.0
    """The fewest seconds between two polls: one ``squeue`` call for all of the host's jobs, and
    one ``sacct`` call for those ``squeue`` no longer lists."""
    submit_concurrency: int = 4
    """How many ``sbatch`` calls run at once when a heartbeat submits many jobs."""
    command_timeout: float = 30.0
    """Seconds any Slurm command may take; also how long ``executor_start`` waits for the
    controller, how long it may stay unreachable before the running tasks fail, and how long a
    job gone from ``squeue`` may wait for its end in ``sacct``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.poll_interval < 0:
            raise ValueError(f"poll_interval must be 0 or more seconds, got {self.poll_interval}")
        if self.submit_concurrency < 1:
            raise ValueError(
                f"submit_concurrency must be at least 1, got {self.submit_concurrency}"
            )
        if self.command_timeout <= 0:
            raise ValueError(
                f"command_timeout must be a positive number of seconds, got {self.command_timeout}"
            )


@dataclass(frozen=True)
class SlurmTaskOptions(ProcessOptions, SlurmResources):
    """A task's ``executor_config`` on the ``slurm`` executor: ``env``, ``cwd`` and ``timeout`` as
    on every process-running executor, and the Slurm resources of :class:`SlurmResources`
    (each one unset takes the executor's setting).

    ``timeout`` is kept by the host: it cancels the job that many seconds after Slurm started it
    (and asks Slurm for a time limit a minute longer, for a host that died meanwhile, unless
    ``time_limit`` is set). ``env`` names must be shell variable names."""

    def __post_init__(self) -> None:
        ProcessOptions.__post_init__(self)
        SlurmResources.__post_init__(self)
        for name in self.env or {}:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(
                    f"env: {name!r} is not a variable name (letters, digits and _, not first a "
                    "digit)"
                )
