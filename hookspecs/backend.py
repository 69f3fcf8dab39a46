"""What an executor backend is, besides its hook implementations.

A backend is a class. Its methods marked with :data:`exechost.hookspecs.hookimpl` implement the
lifecycle hooks (:mod:`exechost.hookspecs.lifecycle`). A distribution makes it installable by
naming it in the ``exechost.executors`` entry point group; the entry point's name is the
executor's name::

    [project.entry-points."exechost.executors"]
    slurm = "exechost_slurm:SlurmBackend"

The host reads these optional class attributes:

``Settings``
    A dataclass of the backend's settings, with type annotations and defaults. The host validates
    what the user gives (an unknown key, a wrong type or a missing value is an
    :class:`exechost.SettingsError` naming the key and listing the valid ones) and calls the class
    with one argument, the ``Settings`` instance. A backend without ``Settings`` is called with no
    argument and accepts no settings.

``default_parallelism``
    An ``int``: how many tasks run at once when the user sets no parallelism (0 for no limit).
    32 when absent.

``exechost_api``
    A ``str``: the versions of this contract (:data:`exechost.hookspecs.API_VERSION`) the backend
    supports, as comma-separated comparisons, e.g. ``">=1.0,<2"``. The host refuses to load a
    backend whose range excludes its own API version, with an
    :class:`exechost.IncompatiblePluginError` naming both. When absent, ``">=1.0,<2"``
    (:data:`exechost.hookspecs.DEFAULT_API_RANGE`) is assumed: the backend was written for API 1.
    See :mod:`exechost.hookspecs.version` for what changes which number.

``capabilities``
    A :class:`exechost.hookspecs.Capabilities`: what the backend promises beyond the lifecycle
    (cancelling running work, running tasks elsewhere, starting them in order) and the
    ``executor_config`` keys it accepts. ``Capabilities()`` -- nothing claimed -- when absent.

Example::

    @dataclass(frozen=True)
    class SlurmSettings:
        partition: str
        account: str | None = None

    class SlurmBackend:
        Settings = SlurmSettings
        default_parallelism = 100
        exechost_api = ">=1.0,<2"
        capabilities = Capabilities(can_cancel_running=True, runs_elsewhere=True)

        def __init__(self, settings: SlurmSettings) -> None:
            self.settings = settings

        @hookimpl
        def executor_execute_async(self, executor, key, command):
            return submit(command, partition=self.settings.partition)
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from exechost.hookspecs.capabilities import Capabilities


class ExecutorBackend(Protocol):
    """The shape of a backend class, for type checkers; a backend need not inherit from it."""

    Settings: ClassVar[type[Any]]
    default_parallelism: ClassVar[int]
    exechost_api: ClassVar[str]
    capabilities: ClassVar[Capabilities]
