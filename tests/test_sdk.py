"""The SDK of plugin authors: what the bundled plugins import from exechost is declared public."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import exechost
import exechost.hookspecs
import exechost.process
import pytest

PLUGINS = Path(__file__).parent.parent / "plugins"

PUBLIC_MODULES = (
    "exechost",
    "exechost.process",
    "exechost.hookspecs",
    "exechost.testing",
    "exechost.testing.crashes",
)
"""The modules whose ``__all__`` is the public API; ``exechost.hookspecs`` is public whole."""


def public_names(module: str) -> set[str]:
    names = set(importlib.import_module(module).__all__)
    submodules = {sub for sub in PUBLIC_MODULES if sub.startswith(module + ".")}
    return names | {sub.rpartition(".")[2] for sub in submodules}


def is_public_module(module: str) -> bool:
    return module in PUBLIC_MODULES or module.startswith("exechost.hookspecs.")


def internal_uses(tree: ast.AST) -> list[str]:
    """The exechost names ``tree`` imports, or reads from ``import exechost``, that are internal."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "exechost" and not node.module.startswith("exechost."):
                continue
            if not is_public_module(node.module):
                found.append(f"line {node.lineno}: module {node.module}")
            elif not node.module.startswith("exechost.hookspecs"):
                allowed = public_names(node.module)
                found += [
                    f"line {node.lineno}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name not in allowed
                ]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: module {alias.name}"
                for alias in node.names
                if alias.name.startswith("exechost.") and not is_public_module(alias.name)
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "exechost"
            and node.attr not in public_names("exechost")
        ):
            found.append(f"line {node.lineno}: exechost.{node.attr}")
    return found


def plugin_sources() -> list[Path]:
    return sorted(
        path
        for path in PLUGINS.rglob("*.py")
        if not {"build", ".venv"} & set(path.relative_to(PLUGINS).parts)
    )


def test_the_bundled_plugins_import_only_the_public_api() -> None:
    sources = plugin_sources()
    assert len(sources) > 20, sources  # the three plugins, their packages and their tests
    uses = {
        str(path.relative_to(PLUGINS)): internal_uses(ast.parse(path.read_text(), str(path)))
        for path in sources
    }
    assert {path: found for path, found in uses.items() if found} == {}


def test_the_checker_sees_internal_imports() -> None:
    source = (
        "import exechost\n"
        "import exechost.executor\n"
        "from exechost.executors.local import LocalSettings\n"
        "from exechost import Executor, journal\n"
        "from exechost.process import make_log_dir, _NO_OPTIONS\n"
        "from exechost.hookspecs.capabilities import Capabilities\n"
        "exechost.load_executor, exechost.discovery\n"
    )
    assert internal_uses(ast.parse(source)) == [
        "line 2: module exechost.executor",
        "line 3: module exechost.executors.local",
        "line 4: exechost.journal",
        "line 5: exechost.process._NO_OPTIONS",
        "line 7: exechost.discovery",
    ]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_declared_name_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    assert [name for name in loaded.__all__ if not hasattr(loaded, name)] == []


def test_names_the_docs_showed_keep_working(tmp_path: Path) -> None:
    from exechost.executors.local import LocalSettings, make_log_dir

    assert make_log_dir(LocalSettings(log_dir=str(tmp_path / "logs"))) == tmp_path / "logs"
    assert (tmp_path / "logs").is_dir()
    shown = {"ProcessOptions", "parse_options", "log_path_for", "spawn", "finished_info", "run"}
    assert shown <= set(exechost.process.__all__)
    assert {"Capabilities", "hookimpl"} <= set(exechost.hookspecs.__all__)
