"""What a backend can do, declared on its class so that the host and its tools can rely on it.

A backend class sets ``capabilities`` to a :class:`Capabilities`::

    from exechost.hookspecs import Capabilities
    from exechost.process import ProcessOptions

    class SlurmBackend:
        capabilities = Capabilities(
            can_cancel_running=True, runs_elsewhere=True, executor_config=ProcessOptions
        )

A backend that declares none gets ``Capabilities()``: it claims nothing, and the host checks no
``executor_config`` key for it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    """The promises a backend makes beyond the lifecycle every backend implements."""

    can_cancel_running: bool = False
    """``executor_terminate`` kills the work of the tasks that are running, not only forgets it;
    ``executor_cancel`` (API 1.1), when implemented, kills the work of one of them."""

    runs_elsewhere: bool = False
    """Tasks may run on another machine: the host's paths, processes and environment may differ
    there (a shared directory is needed to exchange files with a task)."""

    ordered_start: bool = False
    """Tasks start in the order the host hands them over, so in priority order (highest first,
    first queued first among equals) when the executor runs one task at a time."""

    can_adopt: bool = False
    """``executor_adopt`` takes over the unfinished tasks that a host which died left behind, found
    by their attempt ids and external ids, and reports their ends (API 1.1). The conformance suite
    checks the promise by killing a host mid-batch."""

    reports_running: bool = False
    """The backend reports ``running`` when a task really starts (a worker took it), so the time a
    task waits inside the backend can be bounded by the executor's ``queued_timeout`` (API 1.1).
    Without it, a task counts as started once ``executor_execute_async`` returned."""

    executor_config: type[Any] | None = None
    """A dataclass whose fields are the per-task options (``executor_config`` keys) the backend
    accepts, with their types and defaults; e.g. :class:`exechost.process.ProcessOptions` for
    ``env``, ``cwd`` and ``timeout``. The host refuses any other key, or a value of the wrong type,
    when the task is queued. ``None``: not declared, and not checked."""

    def __post_init__(self) -> None:
        options = self.executor_config
        if options is not None and not (
            isinstance(options, type) and dataclasses.is_dataclass(options)
        ):
            raise TypeError(f"Capabilities.executor_config must be a dataclass, got {options!r}")

    def accepts_option(self, name: str) -> bool:
        """Whether the backend declares the ``executor_config`` key ``name``."""
        if self.executor_config is None:
            return False
        return any(field.name == name for field in dataclasses.fields(self.executor_config))
