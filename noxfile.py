"""Test sessions: ``nox`` runs them all; ``nox -s tests`` runs the full suite on Python 3.11."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests", "core", "docs"]
# a Python that is not installed skips its sessions here, and fails them in CI
nox.options.error_on_missing_interpreters = os.environ.get("CI", "").lower() == "true"

PLUGINS = sorted(str(path.parent) for path in Path("plugins").glob("*/pyproject.toml"))
PLUGIN_PACKAGES = sorted(Path(plugin).name.replace("-", "_") for plugin in PLUGINS)
OBSERVER_PLUGINS = [
    plugin
    for plugin in PLUGINS
    if '[project.entry-points."exechost.plugins"]' in (Path(plugin) / "pyproject.toml").read_text()
]
"""The observer plugins: once installed, every run loads them (an HTTP endpoint, spans), so they
are installed after the host's and the executor plugins' tests, for their own."""
EXECUTOR_PLUGINS = [plugin for plugin in PLUGINS if plugin not in OBSERVER_PLUGINS]
HOST_WORKERS = ("-n", "4")
"""pytest-xdist processes for the host's tests: most of their time is spent waiting on the
processes they start, so four halve a run on two cores. (The plugins' tests share brokers, workers
and clusters between tests, and run in one process.)"""
MAIN_PYTHON = "3.11"
OTHER_PYTHONS = ["3.10", "3.12", "3.13"]


def pyenv_interpreters(versions: list[str]) -> list[str]:
    """The ``bin`` folders of pyenv's newest CPython of each of ``versions`` that is installed.

    nox looks for ``python3.12`` on ``PATH``, where pyenv's shims answer only for the active
    version; put the installed interpreters themselves first on ``PATH`` instead.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip())
    else:
        root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = []
    for version in versions:
        installed = [
            path
            for path in (root / "versions").glob(f"{version}.*")
            if path.name.removeprefix(f"{version}.").isdigit()
            and (path / "bin" / f"python{version}").is_file()
        ]
        if installed:
            newest = max(installed, key=lambda path: int(path.name.rsplit(".", 1)[1]))
            found.append(str(newest / "bin"))
    return found


os.environ["PATH"] = os.pathsep.join(
    [*pyenv_interpreters([MAIN_PYTHON, *OTHER_PYTHONS]), os.environ.get("PATH", "")]
)


@nox.session(python=MAIN_PYTHON)
def tests(session: nox.Session) -> None:
    """Everything: the host, the built-in executors and every plugin, against real services."""
    session.install(".[test]", *(f"./{plugin}[test]" for plugin in EXECUTOR_PLUGINS))
    session.run("pytest", "tests", *HOST_WORKERS, *session.posargs)
    # One run per plugin: plugins' test modules and conftests share names (test_conformance.py,
    # `from conftest import ...`), which one pytest process cannot import side by side.
    for plugin in EXECUTOR_PLUGINS:
        session.run("pytest", f"{plugin}/tests", *session.posargs)
    session.install(*(f"./{plugin}[test]" for plugin in OBSERVER_PLUGINS))
    for plugin in OBSERVER_PLUGINS:
        session.run("pytest", f"{plugin}/tests", *session.posargs)


@nox.session(python=OTHER_PYTHONS)
def core(session: nox.Session) -> None:
    """The host and its built-in executors on the other supported Pythons."""
    session.install(".[test]")
    session.run("pytest", "tests", "-p", "no:cacheprovider", *HOST_WORKERS, *session.posargs)


@nox.session(python=MAIN_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff and mypy (strict) over the host, the hookspecs and the plugins."""
    # tomli: mypy checks for Python 3.10 ([tool.mypy]), where exechost reads TOML with it
    session.install("ruff==0.17.5", "mypy==2.4.1", "tomli", ".[testing]", *PLUGINS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "-p", "exechost", *(f"--package={package}" for package in PLUGIN_PACKAGES))


@nox.session(python=MAIN_PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation (docs/, Sphinx + MyST), warnings as errors, into docs/_build/html."""
    session.install(
        "sphinx==9.0.4",
        "myst-parser==5.2.0",
        "furo==2025.12.19",
        ".[testing]",
        "./plugins/exechost-tutorial",
    )
    session.run(
        "sphinx-build", "-W", "--keep-going", "-E", "-a", "-b", "html", "docs", "docs/_build/html"
    )
