"""Test kits for plugin authors: :class:`ExecutorConformance`, the executor conformance suite,
:func:`processes_with` and :func:`wait_until_gone`, which find the processes a task left behind,
:func:`hermetic_environment`, the environment for a real ``exechost run`` in a test, and
:func:`python_examples` and :func:`run_python_example`, which run a documentation page's examples.

Use it from a plugin's own tests by subclassing it (needs pytest, e.g. ``exechost[testing]``)::

    import pytest
    from exechost.testing import ExecutorConformance

    class TestMyExecutor(ExecutorConformance):
        executor = "my-executor"

Importing this package is the only step: exechost registers no pytest plugin, so nothing changes
in a test run that does not import it.
"""

from __future__ import annotations

import pytest

# pytest rewrites the asserts of the suite (for its detailed failure messages) only when told so
# before the module is first imported.
pytest.register_assert_rewrite("exechost.testing.conformance")

from exechost.testing.conformance import ExecutorConformance  # noqa: E402
from exechost.testing.environment import hermetic_environment  # noqa: E402
from exechost.testing.examples import python_examples, run_python_example  # noqa: E402
from exechost.testing.processes import processes_with, wait_until_gone  # noqa: E402
from exechost.testing.recorder import Recorder  # noqa: E402

__all__ = [
    "ExecutorConformance",
    "Recorder",
    "hermetic_environment",
    "processes_with",
    "python_examples",
    "run_python_example",
    "wait_until_gone",
]
