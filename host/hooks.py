"""One executor's hooks: its backend and observer plugins, in a pluggy PluginManager of their own.

Each executor gets its own manager so that its lifecycle calls reach its backend alone, however
many backends are installed or running in the process. An observer's hook implementations are
guarded (:mod:`exechost.guard`): what they raise is logged as the observer's, once per observer
and hook at ``ERROR`` (later ones at ``DEBUG``, all counted in
:attr:`ExecutorHooks.observer_errors`), and the run goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pluggy
from exechost.discovery import distribution_of
from exechost.guard import guarded
from exechost.hookspecs import LIFECYCLE_HOOKS, PROJECT_NAME, lifecycle, observers

logger = logging.getLogger("exechost")


class ExecutorHooks:
    """The pluggy manager of one executor, and who each of its plugins is, for messages."""

    def __init__(self, backend: object | None, name: str = "", origin: str | None = None) -> None:
        """Register ``backend`` under ``name``; ``origin`` is its distribution, if known.

        Without a backend, the manager serves to check observer plugins (``plugins --check``).
        """
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(lifecycle)
        self.manager.add_hookspecs(observers)
        self.hook = self.manager.hook
        self.backend = backend
        self.executor_name = name
        self.observer_errors: dict[tuple[str, str], int] = {}
        """How many times each observer raised in each hook, by ``(plugin name, hook name)``."""
        self._observers: set[str] = set()
        self._errors_lock = threading.Lock()
        self._origins: dict[str, str | None] = {}
        if backend is not None:
            self._register(backend, name, origin)

    def register_observer(
        self, plugin: object, name: str | None = None, origin: str | None = None
    ) -> None:
        """Register an observer plugin, refusing a class (whose hook implementations would be
        called without an instance) and one that implements a lifecycle hook plainly.

        Its hook implementations are guarded: what they raise is logged, never raised.
        """
        if isinstance(plugin, type):
            raise pluggy.PluginValidationError(
                plugin,
                f"observer plugin {name or plugin.__name__!r} "
                f"({origin or distribution_of(plugin)}) is the class {plugin.__qualname__}; "
                "an observer is a module or an object: register an instance (an entry point "
                "names one as module:INSTANCE)",
            )
        plugin_name = self._register(plugin, name, origin)
        plain = [
            caller.name
            for caller in self.manager.get_hookcallers(plugin) or ()
            if caller.name in LIFECYCLE_HOOKS
            and any(
                impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper)
                for impl in caller.get_hookimpls()
            )
        ]
        if plain:
            self.manager.unregister(plugin)
            raise pluggy.PluginValidationError(
                plugin,
                f"observer plugin {self.describe(plugin_name)} implements {', '.join(plain)} "
                "without wrapper=True; only an executor's backend implements lifecycle hooks, "
                "observers may only wrap them",
            )
        self._observers.add(plugin_name)
        for caller in self.manager.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    # pluggy calls impl.function; this manager's HookImpl is this executor's own
                    impl.function = guarded(  # type: ignore[misc]
                        impl.function,
                        self._reporter(plugin_name, caller.name),
                        wrapper=impl.wrapper or impl.hookwrapper,
                    )

    def _reporter(self, plugin_name: str, hook_name: str) -> Callable[[Exception], None]:
        """Log what the observer ``plugin_name`` raised in ``hook_name``: the first time at
        ``ERROR`` with its traceback, later times at ``DEBUG``."""

        def report(exc: Exception) -> None:
            with self._errors_lock:
                count = self.observer_errors.get((plugin_name, hook_name), 0) + 1
                self.observer_errors[plugin_name, hook_name] = count
            logger.log(
                logging.ERROR if count == 1 else logging.DEBUG,
                "executor %r: observer %s raised in %s: %s: %s%s",
                self.executor_name,
                self.describe(plugin_name),
                hook_name,
                type(exc).__name__,
                exc,
                "; the run goes on, later errors of this observer in this hook are logged at DEBUG"
                if count == 1
                else f" (error {count})",
                exc_info=exc if count == 1 else None,
            )

        return report

    def describe(self, plugin_name: str) -> str:
        """``'name' (distribution d 1.0)`` for a registered plugin."""
        origin = self._origins.get(plugin_name)
        if origin is None:
            plugin = self.manager.get_plugin(plugin_name)
            origin = distribution_of(plugin) if plugin is not None else "unregistered"
            self._origins[plugin_name] = origin
        return f"{plugin_name!r} ({origin})"

    def _free_name(self, plugin: object) -> str:
        """A name for a plugin registered without one: its ``__name__`` or its class's name,
        numbered when that is taken (``Timing``, ``Timing-2``)."""
        base = getattr(plugin, "__name__", None) or type(plugin).__name__
        name, number = base, 1
        while self.manager.has_plugin(name):
            number += 1
            name = f"{base}-{number}"
        return name

    def culprit(self, hook_name: str, exc: BaseException) -> str:
        """Describe the plugin whose implementation of ``hook_name`` raised ``exc``."""
        codes: dict[Any, str] = {}
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            if impl.plugin_name in self._observers:  # guarded: they never raise out
                continue
            code = getattr(impl.function, "__code__", None)
            if code is not None:
                codes[code] = impl.plugin_name
        tb, found = exc.__traceback__, None
        while tb is not None:
            found = codes.get(tb.tb_frame.f_code, found)
            tb = tb.tb_next
        name = found or self.manager.get_name(self.backend) or "?"
        return self.describe(name)

    def _register(self, plugin: object, name: str | None, origin: str | None) -> str:
        try:
            registered = self.manager.register(plugin, name or self._free_name(plugin))
            self.manager.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            where = origin or distribution_of(plugin)
            raise pluggy.PluginValidationError(plugin, f"{exc} [{where}]") from exc
        except ValueError as exc:  # pluggy: the name or the object is registered already
            raise pluggy.PluginValidationError(plugin, str(exc)) from exc
        assert registered is not None
        self._origins[registered] = origin
        return registered
