"""`exechost plugins`, `check` and `run` on an executor that does not support this exechost's API
version, and the capabilities of those that do."""

from __future__ import annotations

import json

import exechost
import pytest
from conftest import make_distribution

FUTURE = """
class FutureBackend:
    exechost_api = ">=9.0,<10"
"""


@pytest.fixture
def future_env(tmp_path):
    """PYTHONPATH with an installed executor ``future`` written for exechost API 9."""
    site = make_distribution(
        tmp_path / "site",
        "exechost-future",
        {"future_executor": FUTURE},
        {"exechost.executors": {"future": "future_executor:FutureBackend"}},
    )
    return {"PYTHONPATH": str(site)}


def test_plugins_check_shows_incompatible_executor_and_capabilities(cli, future_env):
    result = cli("plugins", "--check", "--json", env=future_env)
    assert result.returncode == 1, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    future = rows["future"]
    assert future["status"] == "incompatible"
    assert ">=9.0,<10" in future["detail"] and "provides API 1.1" in future["detail"]
    assert future["capabilities"] is None
    local = rows["local"]
    assert local["status"] == "ok"
    assert local["capabilities"]["can_cancel_running"] is True
    assert local["capabilities"]["executor_config"] == {
        "env": "dict[str, str] | None",
        "cwd": "str | None",
        "timeout": "float | None",
    }


def test_plugins_check_in_a_pipe_prints_plain_lines_that_cut_nothing(cli, future_env):
    result = cli("plugins", "--check", env={**future_env, "COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert lines[0] == "kind name distribution version status"
    assert "…" not in result.stdout
    local = lines.index(f"executor local exechost {exechost.__version__} ok")
    assert lines[local + 1] == (
        "  capabilities: can_cancel_running, ordered_start; executor_config: env, cwd, timeout"
    )
    future = lines.index("executor future exechost-future 1.0 incompatible")
    assert lines[future + 1].startswith("  detail: ") and ">=9.0,<10" in lines[future + 1]


def test_plugins_without_check_imports_nothing(cli, future_env):
    result = cli("plugins", "--json", env=future_env)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["future"]["status"] == "not checked"


def test_selecting_an_incompatible_executor_names_both_versions(tmp_path, cli, future_env):
    (tmp_path / "exechost.toml").write_text('executor = "future"\n')
    result = cli("run", "--", "true", env=future_env)
    assert result.returncode != 0
    assert ">=9.0,<10" in result.stderr and "provides API 1.1" in result.stderr
    assert "exechost-future 1.0" in result.stderr
    checked = cli("check", env=future_env)
    assert checked.returncode == 1
    assert "problem" in checked.stdout and ">=9.0,<10" in checked.stdout
