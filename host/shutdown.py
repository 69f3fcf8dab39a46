"""No task outlives its host: started executors are terminated when the interpreter exits.

While any executor is started, SIGTERM and SIGHUP (when their handlers are still the default ones)
raise :class:`SystemExit` in the main thread, so that ``with`` blocks and ``atexit`` can terminate
the executors; Ctrl-C already raises :class:`KeyboardInterrupt`. The handlers are restored when the
last executor ends.
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

_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_live: weakref.WeakSet[Executor] = weakref.WeakSet()
_replaced: dict[int, Any] = {}
_lock = threading.Lock()
_atexit_registered = False


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


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
        for signum in _SIGNALS:
            if signum not in _replaced and signal.getsignal(signum) is signal.SIG_DFL:
                _replaced[signum] = signal.signal(signum, _raise_system_exit)


def untrack(executor: Executor) -> None:
    """Forget ``executor``; restore the signal handlers once no executor is started."""
    with _lock:
        _live.discard(executor)
        if _live or threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in list(_replaced.items()):
            if signal.getsignal(signum) is _raise_system_exit:
                signal.signal(signum, previous)
            del _replaced[signum]
