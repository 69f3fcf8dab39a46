"""The documentation's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from exechost.testing import hermetic_environment, python_examples, run_python_example

DOCS = Path(__file__).parent.parent / "docs"


def executor_installed(name: str) -> bool:
    return any(ep.name == name for ep in metadata.entry_points(group="exechost.executors"))


EXAMPLES = [
    pytest.param(code, id=f"{page}-{index}")
    for page in ("quickstart.md", "tutorial.md", "report.md")
    for index, code in enumerate(python_examples(DOCS / page))
]


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str, tmp_path: Path):
    if '"threads"' in code and not executor_installed("threads"):
        pytest.skip("needs plugins/exechost-tutorial installed (the nox tests session does)")
    if "MyExecutor" in code or "SlurmBackend" in code:
        pytest.skip("a sketch of a third-party plugin")
    run_python_example(code, tmp_path)


def test_quickstart_output_is_what_the_page_shows(tmp_path: Path):
    first = python_examples(DOCS / "quickstart.md")[0]
    done = subprocess.run(
        [sys.executable, "-c", first], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    # tasks that end together are reported in either order
    lines = sorted(line.rsplit(" ", 1)[0] for line in done.stdout.splitlines())
    assert lines == [
        "('build', 'fails') failed 3 exit status 3",
        "hello success 0 None",
        "slow failed -9 timeout",
    ]


_TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)
_CONSOLE_BLOCK = re.compile(r"```console\n(.*?)```", re.DOTALL)
_DURATION = re.compile(r"\d+\.\d+s")


def console_output(page: str, command: str) -> list[str]:
    """The lines the page shows ``$ command`` printing (up to the next prompt or a ``...``)."""
    for block in _CONSOLE_BLOCK.findall((DOCS / page).read_text()):
        lines = block.splitlines()
        if f"$ {command}" in lines:
            shown = lines[lines.index(f"$ {command}") + 1 :]
            ends = [i for i, line in enumerate(shown) if line.startswith("$ ") or line == "..."]
            return shown[: ends[0]] if ends else shown
    raise AssertionError(f"{page} shows no `$ {command}`")


def exechost_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = hermetic_environment()
    return subprocess.run(
        [sys.executable, "-m", "exechost", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def progress_lines(lines: list[str]) -> set[str]:
    """Progress lines without their position and durations, which vary from run to run."""
    return {_DURATION.sub("Ns", line.partition("] ")[2]) for line in lines if line.startswith("[")}


def test_quickstart_command_line_batch_prints_what_the_page_shows(tmp_path: Path):
    config, tasks = _TOML_BLOCK.findall((DOCS / "quickstart.md").read_text())[:2]
    (tmp_path / "exechost.toml").write_text(config)
    (tmp_path / "tasks.toml").write_text(tasks)
    done = exechost_command("run", "tasks.toml", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    shown = console_output("quickstart.md", "exechost run tasks.toml")
    printed = done.stdout.splitlines()
    assert progress_lines(printed) == progress_lines(shown)
    assert _DURATION.sub("Ns", printed[3]) == _DURATION.sub("Ns", shown[3])


def test_tutorial_configuration_selects_the_threads_executor(tmp_path: Path):
    if not executor_installed("threads"):
        pytest.skip("needs plugins/exechost-tutorial installed (the nox tests session does)")
    config = _TOML_BLOCK.findall((DOCS / "tutorial.md").read_text())[-1]
    (tmp_path / "exechost.toml").write_text(config)
    checked = exechost_command("check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # an observer plugin installed beside (exechost-prometheus in a shared venv) adds its line
    lines = [line for line in checked.stdout.splitlines() if "observer plugin" not in line]
    assert lines[1:] == console_output("tutorial.md", "exechost check")[1:]
    ran = exechost_command("run", "--", "echo", "hello from threads", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "logs" / "echo.log").read_text() == "hello from threads\n"
