"""No task outlives its host: started executors are terminated when the interpreter exits.

While any executor is started, SIGTERM and SIGHUP (when their handlers are still the default ones)
raise :class:`SystemExit` in the main thread, and SIGINT (when its handler is still Python's)
raises :class:`KeyboardInterrupt` as usual, so that ``with`` blocks and ``atexit`` can terminate
the executors. The handlers are restored when the last executor ends.

A signal that arrives while the main thread starts a child (:func:`signals_deferred`) takes effect
once the child is known to its backend, so that no child is started and then forgotten.
"""

from __future__ import annotations

import atexit
import signal
import threading
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exechost.executor import Executor

_SIGNALS = {
    signal.SIGTERM: signal.SIG_DFL,
    signal.SIGHUP: signal.SIG_DFL,
    signal.SIGINT: signal.default_int_handler,
}
"""The signals handled while an executor is started, with the handler each must have had."""

HANDLED_SIGNALS = frozenset(_SIGNALS)
"""Signals that threads of exechost block, so that they reach the main thread, which handles them.

A thread that starts children must not block them: its children would inherit the blocked mask.
"""

_live: weakref.WeakSet[Executor] = weakref.WeakSet()
_replaced: dict[int, Any] = {}
_lock = threading.Lock()
_atexit_registered = False


class _Deferral(threading.local):
    depth = 0
    pending: int | None = None


_deferral = _Deferral()


def _exit_for(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    return SystemExit(128 + signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _deferral.depth:
        _deferral.pending = signum
        return
    raise _exit_for(signum)


class signals_deferred:  # lower case: used like a function, ``with signals_deferred():``
    """Hold back the exit a handled signal causes in this thread until the block ends.

    Wrap the start of a child and its hand-over to whatever kills it on terminate.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        _deferral.depth += 1

    def __exit__(self, *exc_info: object) -> None:
        _deferral.depth -= 1
        if not _deferral.depth and _deferral.pending is not None:
            signum, _deferral.pending = _deferral.pending, None
            raise _exit_for(signum)


def _terminate_all() -> None:
    for executor in list(_live):
        executor.terminate()


def track(executor: Executor) -> None:
    """Terminate ``executor`` at interpreter exit unless :func:`untrack` is called first."""
    global _atexit_registered
    with _lock:
        _live.add(executor)
        if not _atexit_registered:
            atexit.register(_terminate_all)
            _atexit_registered = True
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, default in _SIGNALS.items():
            if signum not in _replaced and signal.getsignal(signum) is default:
                _replaced[signum] = signal.signal(signum, _on_signal)


def untrack(executor: Executor) -> None:
    """Forget ``executor``; restore the signal handlers once no executor is started."""
    with _lock:
        _live.discard(executor)
        if _live or threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in list(_replaced.items()):
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, previous)
            del _replaced[signum]
