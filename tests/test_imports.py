"""Importing the package or the contract loads only what it needs; the names stay reachable."""

from __future__ import annotations

import subprocess
import sys

import exechost
import pytest
from exechost.testing import hermetic_environment

NEW_MODULES = (
    "import sys; before = set(sys.modules); import {0}; "
    "print(*sorted(name for name in set(sys.modules) - before if name.startswith('exechost')))"
)


def exechost_modules_loaded_by(module: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", NEW_MODULES.format(module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


def test_the_contract_loads_the_contract_only() -> None:
    assert exechost_modules_loaded_by("exechost.hookspecs") == [
        "exechost",
        "exechost.hookspecs",
        "exechost.hookspecs.capabilities",
        "exechost.hookspecs.markers",
        "exechost.hookspecs.version",
    ]


def test_the_package_loads_itself_only() -> None:
    assert exechost_modules_loaded_by("exechost") == ["exechost"]


@pytest.mark.parametrize("name", exechost.__all__)
def test_every_public_name_is_reachable(name: str) -> None:
    assert getattr(exechost, name) is not None
    assert name in dir(exechost)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'exechost' has no attribute 'load_exector'"):
        exechost.load_exector  # noqa: B018


def test_a_run_into_a_pipe_does_not_import_the_progress_bar(tmp_path) -> None:
    """rich's progress bar and tables are for a terminal: a run in a pipeline starts without
    them (about a fifth of the command's start-up)."""
    (tmp_path / "tasks.json").write_text('[{"key": "a", "command": ["true"]}]')
    probe = (
        "import runpy, sys; sys.argv = ['exechost', 'run', '--no-journal', 'tasks.json']\n"
        "try:\n    runpy.run_module('exechost', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('loaded:', *sorted(n for n in sys.modules if n in ('rich.progress', "
        "'rich.table', 'rich.live', 'exechost.cli.progress')), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=hermetic_environment(),
        timeout=60,
    )
    assert done.stderr.splitlines()[-1] == "loaded:", done.stderr
