"""The Python examples of docs/observers/prometheus.md run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from exechost.testing import hermetic_environment

PAGE = Path(__file__).parents[3] / "docs" / "observers" / "prometheus.md"


def test_the_pages_python_examples_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
    assert blocks
    for code in blocks:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=hermetic_environment(
                "OTEL_", EXECHOST_PLUGINS__AUTOLOAD="false"
            ),  # only its own observer
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
