"""The pip path, as a user takes it: wheels of exechost and of a plugin (never editable installs)
in a fresh virtual environment; then a broken and an incompatible plugin beside them.

Slow (it builds wheels in isolated build environments, which pip fills from the package index or
its cache), so marked ``slow``; it runs in the nox ``tests`` session like every other test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TUTORIAL_PLUGIN = REPO / "plugins" / "exechost-tutorial"

pytestmark = pytest.mark.slow

MISFITS_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "exechost-misfits"
version = "0.3"
dependencies = ["exechost"]

[project.entry-points."exechost.executors"]
broken = "exechost_misfits.broken:Backend"
future = "exechost_misfits.future:Backend"
"""

MISFITS_MODULES = {
    "__init__.py": "",
    "broken.py": "import exechost_missing_dependency  # not installed: the import fails\n",
    "future.py": textwrap.dedent(
        """\
        class Backend:
            exechost_api = ">=7.0,<8"
        """
    ),
}


def run(argv: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done


def python_in(venv: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the venv's interpreter, in ``cwd``; whatever its exit status."""
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment, with only pip (the test runner's may have none: uv)."""
    path = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", path])
    return path


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, fresh_venv: Path) -> dict[str, Path]:
    """Wheels of exechost, of the tutorial plugin and of the misfits distribution."""
    out = tmp_path_factory.mktemp("wheels")
    misfits = tmp_path_factory.mktemp("misfits")
    (misfits / "pyproject.toml").write_text(MISFITS_PYPROJECT)
    package = misfits / "exechost_misfits"
    package.mkdir()
    for name, text in MISFITS_MODULES.items():
        (package / name).write_text(text)
    run([fresh_venv / "bin" / "python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", out,
         REPO, TUTORIAL_PLUGIN, misfits])  # fmt: skip
    found = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(found) == {"exechost", "exechost_tutorial", "exechost_misfits"}, found
    return found


@pytest.fixture(scope="module")
def venv(fresh_venv: Path, wheels: dict[str, Path]) -> Path:
    """The fresh environment with exechost and the tutorial plugin installed from their wheels."""
    run([fresh_venv / "bin" / "python", "-m", "pip", "install", "-q",
         wheels["exechost"], wheels["exechost_tutorial"]])  # fmt: skip
    return fresh_venv


RUN_TASKS = """
import json, exechost
with exechost.load_executor("threads", parallelism=2, log_dir="logs") as executor:
    executor.queue_command("hello", ["sh", "-c", "echo hello from a wheel"])
    executor.queue_command("fails", ["sh", "-c", "exit 4"])
events = executor.get_event_buffer()
print(json.dumps({
    "module": exechost.__file__,
    "backend": type(executor.backend).__module__,
    "states": {key: [event.state.value, event.info.returncode] for key, event in events.items()},
}))
"""


def test_plugin_from_wheels_runs_tasks(venv: Path, tmp_path: Path):
    done = python_in(venv, RUN_TASKS, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["module"].startswith(str(venv)), "exechost must come from the venv's wheel"
    assert report["backend"] == "exechost_tutorial.backend"
    assert report["states"] == {"hello": ["success", 0], "fails": ["failed", 4]}
    assert (tmp_path / "logs" / "hello.log").read_text() == "hello from a wheel\n"


CONFIG = """\
executor = "threads"

[executors.threads]
log_dir = "threads-logs"
"""

TASKS = """\
[[tasks]]
key = "hello"
command = ["sh", "-c", "echo hello through the command line"]

[[tasks]]
key = ["batch", 2]
command = ["true"]
executor_config = { timeout = 30 }
"""


def exechost_cli(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The venv's ``exechost`` console script, as a user runs it, in ``cwd``."""
    return subprocess.run(
        [str(venv / "bin" / "exechost"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "COLUMNS": "500"},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory whose exechost.toml selects the ``threads`` plugin."""
    (tmp_path / "exechost.toml").write_text(CONFIG)
    (tmp_path / "tasks.toml").write_text(TASKS)
    return tmp_path


def table_rows(output: str) -> dict[str, str]:
    """``exechost plugins``' plain lines (in a pipe) by plugin name: each plugin's line and its
    indented lines (capabilities, detail), whitespace collapsed."""
    rows: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in output.splitlines()[1:]:
        if not line.startswith(" "):
            lines = rows[line.split()[1]] = []
        lines.append(line)
    return {name: " ".join(" ".join(entry).split()) for name, entry in rows.items()}


def test_cli_runs_tasks_on_the_plugin_selected_in_the_config_file(venv: Path, project: Path):
    done = exechost_cli(venv, project, "run", "tasks.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "threads-logs" / "hello.log").read_text() == (
        "hello through the command line\n"
    )
    listed = exechost_cli(venv, project, "plugins", "--check")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    threads = table_rows(listed.stdout)["threads"]
    assert threads.startswith("executor threads exechost-tutorial 1.0.0 ok")
    assert "can_cancel_running, ordered_start; executor_config: env, cwd, timeout" in threads


@pytest.fixture(scope="module")
def venv_with_misfits(venv: Path, wheels: dict[str, Path]) -> Path:
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheels["exechost_misfits"]])
    return venv


def test_broken_plugin_hurts_nothing_else_and_reports_the_real_import_error(
    venv_with_misfits: Path, tmp_path: Path
):
    done = python_in(venv_with_misfits, RUN_TASKS, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["states"]["hello"] == ["success", 0]
    selected = python_in(
        venv_with_misfits, "import exechost; exechost.load_executor('broken')", tmp_path
    )
    assert selected.returncode == 1
    last_line = selected.stderr.strip().splitlines()[-1]
    assert last_line.startswith("exechost.errors.PluginLoadError: ")
    assert "'broken'" in last_line and "exechost-misfits 0.3" in last_line
    assert "No module named 'exechost_missing_dependency'" in last_line


def test_incompatible_plugin_is_refused_naming_both_versions(
    venv_with_misfits: Path, tmp_path: Path
):
    selected = python_in(
        venv_with_misfits, "import exechost; exechost.load_executor('future')", tmp_path
    )
    last_line = selected.stderr.strip().splitlines()[-1]
    assert last_line.startswith("exechost.errors.IncompatiblePluginError: "), selected.stderr
    assert ">=7.0,<8" in last_line and "provides API 1.1" in last_line
    assert "exechost-misfits 0.3" in last_line


def test_cli_with_broken_and_incompatible_plugins_installed(venv_with_misfits: Path, project: Path):
    done = exechost_cli(venv_with_misfits, project, "run", "tasks.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "threads-logs" / "hello.log").exists()

    listed = exechost_cli(venv_with_misfits, project, "plugins")
    assert listed.returncode == 0, listed.stderr
    assert {"local", "threads", "broken", "future"} <= set(table_rows(listed.stdout))

    checked = exechost_cli(venv_with_misfits, project, "plugins", "--check")
    assert checked.returncode == 1
    rows = table_rows(checked.stdout)
    assert "import error" in rows["broken"]
    assert "No module named 'exechost_missing_dependency'" in rows["broken"]
    assert "incompatible" in rows["future"] and ">=7.0,<8" in rows["future"]
    assert " ok " in rows["threads"] and " ok " in rows["local"]

    broken = exechost_cli(venv_with_misfits, project, "run", "--executor", "broken", "--", "true")
    assert broken.returncode != 0
    assert "No module named 'exechost_missing_dependency'" in broken.stderr
    assert "exechost-misfits 0.3" in broken.stderr
    future = exechost_cli(venv_with_misfits, project, "run", "--executor", "future", "--", "true")
    assert future.returncode != 0
    assert ">=7.0,<8" in future.stderr and "provides API 1.1" in future.stderr
