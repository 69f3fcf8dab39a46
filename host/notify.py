"""Calling an observer hook, as pluggy would, for a fraction of pluggy's cost per call.

The host calls the observer hooks a few times per task; through pluggy's hook caller (checking
the arguments, copying the implementations, its multicall loop) a call costs a few microseconds
more than the implementations themselves, for every observer. :class:`Notifier` calls the
implementations itself, in pluggy's order, with the arguments each names, and stops at the first
that raises, as pluggy does; it hands the call to pluggy when an implementation is a wrapper. The
implementations are read anew at each call: one registered later is called too. (Pluggy's hook
call monitoring, which no executor's manager has, does not see these calls.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

_Calls = tuple[tuple[Callable[..., Any], tuple[str, ...]], ...]


class Notifier:
    """Calls the implementations of the observer hook ``caller`` (a pluggy hook caller)."""

    def __init__(self, caller: pluggy.HookCaller) -> None:
        self._caller = caller
        self.name = caller.name
        self._impls: list[pluggy.HookImpl] = []
        self._calls: _Calls | None = ()
        """Each implementation's function and argument names, in call order; ``None`` when one
        is a wrapper (pluggy calls them)."""

    def __call__(self, **kwargs: Any) -> None:
        """Call every implementation with what it names of ``kwargs``."""
        impls = self._caller.get_hookimpls()
        if impls != self._impls:  # the first call, or plugins (un)registered since
            self._impls = impls
            wrapped = any(impl.wrapper or impl.hookwrapper for impl in impls)
            self._calls = (
                None
                if wrapped
                else tuple((impl.function, impl.argnames) for impl in reversed(impls))
            )
        calls = self._calls
        if calls is None:
            self._caller(**kwargs)
            return
        for function, names in calls:
            function(*[kwargs[name] for name in names])
