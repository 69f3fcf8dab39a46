"""Observer hook implementations that cannot break a run: what they raise is reported, not raised.

An observer's plain implementation that raises is reported and returns ``None``; the next observer
is still called. An observer's wrapper (``wrapper=True`` or ``hookwrapper=True``) that raises
before or after its ``yield`` is reported, and the wrapped call's result, or the backend's
exception, passes on unchanged, as if the wrapper were not there. A wrapper may still change the
result or the exception on purpose, by returning or raising what the call gave it otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any

Report = Callable[[Exception], None]
"""Called with what an observer's implementation raised."""


def guarded(function: Callable[..., Any], report: Report, *, wrapper: bool) -> Callable[..., Any]:
    """``function``, a hook implementation, with what it raises handed to ``report``."""
    if wrapper:

        @functools.wraps(function)
        def guarded_wrapper(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
            return _wrap(function(*args, **kwargs), report)

        return guarded_wrapper

    @functools.wraps(function)
    def guarded_call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            report(exc)
            return None

    return guarded_call


def _wrap(inner: Generator[None, Any, Any], report: Report) -> Generator[None, Any, Any]:
    """Run the wrapper generator ``inner`` around the call, reporting what it raises itself."""
    try:
        next(inner)
    except Exception as exc:  # before its yield (StopIteration: it never yielded)
        report(exc)
        return (yield)
    try:
        result = yield
    except BaseException as raised:  # the call raised: hand it to the wrapper
        try:
            inner.throw(raised)
        except StopIteration as stop:  # the wrapper swallowed it and returned a result
            return stop.value
        except Exception as exc:
            if exc is raised or exc.__context__ is raised:  # passed on, or replaced on purpose
                raise
            report(exc)
        else:
            inner.close()
            report(RuntimeError("the wrapper yielded a second time"))
        raise raised
    try:
        inner.send(result)
    except StopIteration as stop:
        return stop.value
    except Exception as exc:
        report(exc)
        return result
    inner.close()
    report(RuntimeError("the wrapper yielded a second time"))
    return result
