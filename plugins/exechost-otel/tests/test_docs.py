"""The Python examples of docs/observers/otel.md run as written."""

from __future__ import annotations

from pathlib import Path

from exechost.testing import hermetic_environment, python_examples, run_python_example

PAGE = Path(__file__).parents[3] / "docs" / "observers" / "otel.md"


def test_the_pages_python_examples_run(tmp_path: Path) -> None:
    examples = python_examples(PAGE)
    assert examples
    for code in examples:  # only its own observer: none autoloaded
        run_python_example(
            code, tmp_path, hermetic_environment("OTEL_", EXECHOST_PLUGINS__AUTOLOAD="false")
        )
