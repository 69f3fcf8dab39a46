"""A small batch on the default ``local`` executor, driven from the Python API.

Run it with ``python3 examples/batch.py``; it prints each task's outcome and its log file.
"""

from __future__ import annotations

import sys

import exechost

TASKS = {
    ("batch", "hello"): ["echo", "hello from exechost"],
    ("batch", "count"): ["sh", "-c", "for i in 1 2 3; do echo $i; done"],
    ("batch", "python"): [sys.executable, "-c", "import sys; print(sys.version)"],
    ("batch", "fails"): ["sh", "-c", "echo going wrong >&2; exit 3"],
}


def main() -> int:
    with exechost.load_executor("local", parallelism=2) as executor:
        for priority, (key, command) in enumerate(TASKS.items()):
            executor.queue_command(key, command, priority=priority)
    failed = 0
    for key, (state, info) in sorted(executor.get_event_buffer().items()):
        failed += state == exechost.TaskState.FAILED
        print(f"{'/'.join(map(str, key)):<15} {state.value:<8} {info.error or '':<15} {info.log}")
    return 1 if failed != 1 else 0  # exactly one task is meant to fail


if __name__ == "__main__":
    raise SystemExit(main())
