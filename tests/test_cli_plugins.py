"""Observer plugins from the ``exechost.plugins`` group, `exechost plugins` and `exechost check`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_environment, make_distribution

RECORDER = """
import os
from exechost import hookimpl

with open("imported", "a") as marker:
    marker.write("recorder\\n")

@hookimpl
def executor_task_state_changed(executor, key, state):
    with open("states", "a") as log:
        log.write(f"{executor.name} {key} {state}\\n")
"""

BROKEN = """
with open("imported", "a") as marker:
    marker.write("broken\\n")
raise ImportError("needs libfoo")
"""

TASKS = '[[tasks]]\nkey = "a"\ncommand = ["true"]\n'


@pytest.fixture
def plugins_env(tmp_path):
    """PYTHONPATH with two installed observer plugins: ``recorder`` and ``broken``."""
    site = tmp_path / "site"
    make_distribution(
        site,
        "exechost-recorder",
        {"recorder": RECORDER},
        {"exechost.plugins": {"recorder": "recorder"}},
    )
    make_distribution(
        site, "broken-plugin", {"broken": BROKEN}, {"exechost.plugins": {"broken": "broken"}}
    )
    return {"PYTHONPATH": str(site)}


def imported(tmp_path):
    marker = tmp_path / "imported"
    return marker.read_text().split() if marker.exists() else []


def test_plugins_lists_from_metadata_without_importing(tmp_path, cli, plugins_env):
    result = cli("plugins", "--json", env=plugins_env)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("executor", "local")]["distribution"] == "exechost"
    assert rows[("executor", "sequential")]["status"] == "not checked"
    assert rows[("observer", "recorder")] == {
        "kind": "observer",
        "name": "recorder",
        "distribution": "exechost-recorder",
        "version": "1.0",
        "value": "recorder",
        "status": "not checked",
        "detail": "",
        "capabilities": None,
    }
    assert imported(tmp_path) == []
    table = cli("plugins", env=plugins_env).stdout
    assert "kind" in table and "status" in table and "exechost-recorder" in table


def test_plugins_check_imports_and_reports_import_errors(tmp_path, cli, plugins_env):
    result = cli("plugins", "--check", "--json", env=plugins_env)
    assert result.returncode == 1
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["local"]["status"] == "ok"
    assert rows["recorder"]["status"] == "ok"
    assert rows["broken"]["status"] == "import error"
    assert rows["broken"]["detail"] == "ImportError: needs libfoo"
    assert sorted(imported(tmp_path)) == ["broken", "recorder"]


def test_blocked_plugins_are_never_imported(tmp_path, cli, plugins_env):
    (tmp_path / "exechost.toml").write_text('[plugins]\nblock = ["broken"]\n')
    result = cli("plugins", "--check", "--json", env=plugins_env)
    assert result.returncode == 0, result.stdout
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert (rows["broken"]["status"], rows["broken"]["detail"]) == (
        "blocked",
        "named in [plugins] block",
    )
    assert imported(tmp_path) == ["recorder"]

    (tmp_path / "imported").unlink()
    off = {**plugins_env, "EXECHOST_PLUGINS__AUTOLOAD": "false"}
    rows = {r["name"]: r for r in json.loads(cli("plugins", "--check", "--json", env=off).stdout)}
    assert rows["recorder"]["detail"] == rows["broken"]["detail"] == "autoload is off"
    assert imported(tmp_path) == []


def test_run_autoloads_observer_plugins_into_every_executor(tmp_path, cli, plugins_env):
    (tmp_path / "exechost.toml").write_text(
        '[executors.other]\nbackend = "sequential"\n[plugins]\nblock = ["broken"]\n'
    )
    (tmp_path / "tasks.toml").write_text(
        TASKS + '[[tasks]]\nkey = "b"\ncommand = ["true"]\nexecutor = "other"\n'
    )
    result = cli("run", "tasks.toml", env=plugins_env)
    assert result.returncode == 0, result.stderr
    states = sorted((tmp_path / "states").read_text().splitlines())
    assert states == ["local a running", "local a success", "other b running", "other b success"]
    assert imported(tmp_path) == ["recorder"]


def test_a_broken_plugin_stops_the_run_before_it_starts_and_says_how_to_block_it(
    tmp_path, cli, plugins_env
):
    (tmp_path / "tasks.toml").write_text('[[tasks]]\nkey = "a"\ncommand = ["touch", "ran"]\n')
    result = cli("run", "tasks.toml", env=plugins_env)
    assert result.returncode == 2
    assert (
        "exechost.plugins plugin 'broken' from distribution broken-plugin 1.0 could not be "
        "loaded (broken): ImportError: needs libfoo"
    ) in result.stderr
    assert (
        "block = ['broken']" in result.stderr and "EXECHOST_PLUGINS__BLOCK=broken" in result.stderr
    )
    assert not (tmp_path / "ran").exists()
    blocked = cli("run", "tasks.toml", env={**plugins_env, "EXECHOST_PLUGINS__BLOCK": "broken"})
    assert blocked.returncode == 0, blocked.stderr
    assert (tmp_path / "ran").exists()


def test_check_reports_ready_configuration(tmp_path, cli, plugins_env):
    (tmp_path / "exechost.toml").write_text(
        'parallelism = 4\n[executors.gpu]\nbackend = "local"\nparallelism = 1\nqueues = ["gpu"]\n'
        '[plugins]\nblock = ["broken"]\n'
    )
    result = cli("check", env=plugins_env)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert "ok executor local (default): backend local, parallelism 4" in out
    assert "ok executor gpu: backend local, parallelism 1, queues gpu" in out
    assert "ok observer plugin recorder" in out
    assert "blocked observer plugin broken" in out
    assert "everything is ready" in out


def test_check_lists_every_problem(tmp_path, cli, plugins_env):
    (tmp_path / "exechost.toml").write_text(
        '[executors.gpu]\nbackend = "pbs"\n[executors.io]\nbackend = "local"\nlog_dir = 1\n'
    )
    result = cli("check", env=plugins_env)
    assert result.returncode == 1
    out = result.stdout
    assert "problem executor gpu:" in out and "no executor named 'pbs' is installed" in out
    assert "problem executor io:" in out and "setting 'log_dir' must be" in out
    assert "problem observer plugin broken: ImportError: needs libfoo" in out
    assert "3 problems" in out
    (tmp_path / "exechost.toml").write_text("parallelism = -1\n")
    invalid = cli("check", env=plugins_env)
    assert invalid.returncode == 1
    assert "parallelism must be an integer >= 0" in invalid.stdout


def test_import_exechost_imports_no_cli_module():
    code = (
        "import sys, exechost\n"
        "exechost.load_executors()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich' "
        "or m.startswith('exechost.cli')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_environment(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


UNREACHABLE = """
from exechost import hookimpl

class UnreachableBackend:
    @hookimpl
    def executor_start(self):
        raise ConnectionError("broker at 127.0.0.1:1 refused the connection")
"""


def test_only_the_executors_a_batch_uses_are_started(tmp_path, cli):
    site = make_distribution(
        tmp_path / "site",
        "exechost-unreachable",
        {"unreachable": UNREACHABLE},
        {"exechost.executors": {"remote": "unreachable:UnreachableBackend"}},
    )
    env = {"PYTHONPATH": str(site)}
    (tmp_path / "exechost.toml").write_text("[executors.remote]\n")
    (tmp_path / "tasks.toml").write_text('[[tasks]]\nkey = "a"\ncommand = ["touch", "ran"]\n')
    assert cli("run", "tasks.toml", env=env).returncode == 0  # remote is not used: not started
    assert (tmp_path / "ran").exists()

    (tmp_path / "ran").unlink()
    (tmp_path / "tasks.toml").write_text(
        '[[tasks]]\nkey = "a"\ncommand = ["touch", "ran"]\n'
        '[[tasks]]\nkey = "b"\ncommand = ["true"]\nexecutor = "remote"\n'
    )
    result = cli("run", "tasks.toml", env=env)
    assert result.returncode == 1
    assert "executor 'remote' could not start" in result.stderr
    assert "ConnectionError: broker at 127.0.0.1:1 refused the connection; no task ran" in (
        result.stderr
    )
    assert not (tmp_path / "ran").exists()


MISREGISTERED = """
from exechost import hookimpl

class Observer:
    @hookimpl
    def executor_task_state_changed(self, key, state):
        pass

OBSERVER = Observer()

def a_function():
    pass

@hookimpl
def executor_task_state_changed(executor, key, stat):
    pass

class Backend:
    @hookimpl
    def executor_execute_async(self, executor, key, comand):
        return None

class Good:
    @hookimpl
    def executor_execute_async(self, executor, key, command):
        return None

BACKEND = Good()
"""


@pytest.fixture
def misregistered_env(tmp_path):
    """PYTHONPATH with plugins that import fine but that ``run`` refuses, and one it accepts."""
    make_distribution(
        tmp_path / "site",
        "exechost-misregistered",
        {"misregistered": MISREGISTERED},
        {
            "exechost.plugins": {
                "a-class": "misregistered:Observer",
                "a-function": "misregistered:a_function",
                "misspelt": "misregistered",
                "instance": "misregistered:OBSERVER",
            },
            "exechost.executors": {
                "misspelt-backend": "misregistered:Backend",
                "an-instance": "misregistered:BACKEND",
                "good": "misregistered:Good",
            },
        },
    )
    return {"PYTHONPATH": str(tmp_path / "site")}


def test_plugins_check_registers_each_plugin_as_run_does(cli, misregistered_env):
    result = cli("plugins", "--check", "--json", env=misregistered_env)
    assert result.returncode == 1
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    ours = "exechost-misregistered"
    mine = {name: r["status"] for name, r in rows.items() if r["distribution"] == ours}
    assert mine == {
        "a-class": "ok",  # made by the host (API 1.1)
        "a-function": "refused",
        "misspelt": "refused",
        "instance": "ok",
        "misspelt-backend": "refused",
        "an-instance": "refused",
        "good": "ok",
    }
    assert (
        "names the function a_function; it must name a module, a class or an object"
        in (rows["a-function"]["detail"])
    )
    assert "'stat'" in rows["misspelt"]["detail"]
    assert "'comand'" in rows["misspelt-backend"]["detail"]
    assert (
        "executor 'an-instance' (misregistered:BACKEND) is a Good object, not a class"
        in (rows["an-instance"]["detail"])
    )
    checked = cli("check", env=misregistered_env)
    assert checked.returncode == 1
    assert "problem observer plugin a-function: " in checked.stdout


@pytest.mark.parametrize(
    ("block", "refusal"),
    [
        (["misspelt", "instance", "a-class"], "names the function a_function"),
        (["a-function", "a-class", "instance"], "'stat'"),
    ],
)
def test_run_refuses_what_plugins_check_reports(tmp_path, cli, misregistered_env, block, refusal):
    (tmp_path / "tasks.toml").write_text('[[tasks]]\nkey = "a"\ncommand = ["touch", "ran"]\n')
    env = {**misregistered_env, "EXECHOST_PLUGINS__BLOCK": ",".join(block)}
    result = cli("run", "tasks.toml", env=env)
    assert result.returncode == 2, result.stderr
    assert refusal in " ".join(result.stderr.split())
    assert not (tmp_path / "ran").exists()
