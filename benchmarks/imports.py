"""What reading exechost's contract costs a plugin, against pluggy, in one run.

Each import runs in a fresh interpreter (this one's, so the same site-packages), interleaved with
the others and with an empty interpreter, round after round:

* wall: the subprocess's wall time minus the empty interpreter's (medians);
* importtime: the cumulative time ``python -X importtime`` reports for the imported module;
* modules: how many modules the import adds to ``sys.modules``.

Usage: ``python benchmarks/imports.py [ROUNDS]`` (default 20); ``run.py`` prints it too.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

MODULES = ("pluggy", "exechost.hookspecs", "exechost")
"""What is imported: pluggy first, the reference every ratio is taken against."""

_COUNT = "import sys; before = set(sys.modules); import {0}; print(len(set(sys.modules) - before))"


@dataclass(frozen=True)
class ImportCost:
    wall: float
    """Seconds, over an empty interpreter's start (median)."""
    importtime: float
    """Seconds, cumulative, as ``-X importtime`` reports them (median)."""
    modules: int


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args}: exit status {done.returncode}: {done.stderr[-2000:]!r}")
    return done


def _wall(statement: str) -> float:
    started = time.perf_counter()
    _python("-c", statement)
    return time.perf_counter() - started


def _importtime(module: str) -> float:
    """The cumulative microseconds of the top-level line for ``module``, in seconds."""
    for line in _python("-X", "importtime", "-c", f"import {module}").stderr.splitlines():
        _, _, timing = line.partition("import time:")
        fields = timing.split("|")
        if len(fields) == 3 and fields[2].rstrip() == f" {module}":
            return int(fields[1]) / 1e6
    raise RuntimeError(f"-X importtime printed no line for {module}")


def measure(rounds: int) -> dict[str, ImportCost]:
    """The cost of importing each of :data:`MODULES`, ``rounds`` interleaved times."""
    walls: dict[str, list[float]] = {module: [] for module in ("", *MODULES)}
    times: dict[str, list[float]] = {module: [] for module in MODULES}
    for _ in range(rounds):
        for module, samples in walls.items():
            samples.append(_wall(f"import {module}" if module else "pass"))
        for module, samples in times.items():
            samples.append(_importtime(module))
    empty = statistics.median(walls[""])
    return {
        module: ImportCost(
            wall=statistics.median(walls[module]) - empty,
            importtime=statistics.median(times[module]),
            modules=int(_python("-c", _COUNT.format(module)).stdout),
        )
        for module in MODULES
    }


def report(costs: dict[str, ImportCost]) -> list[str]:
    """One line per import, with its ratios to ``import pluggy``."""
    reference = costs[MODULES[0]]
    return [
        f"import {module:<20} {cost.wall * 1e3:7.1f} ms wall ({cost.wall / reference.wall:5.2f}x)"
        f"  {cost.importtime * 1e3:7.1f} ms importtime "
        f"({cost.importtime / reference.importtime:5.2f}x)  {cost.modules:4d} modules"
        for module, cost in costs.items()
    ]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(f"imports in fresh interpreters, median of {rounds}; ratios to import pluggy")
    for line in report(measure(rounds)):
        print(f"  {line}")


if __name__ == "__main__":
    main()
