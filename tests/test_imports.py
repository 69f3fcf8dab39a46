"""Importing the package or the contract loads only what it needs; the names stay reachable."""

from __future__ import annotations

import subprocess
import sys

import exechost
import pytest

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
