"""Task files: ``[[tasks]]`` in TOML, ``{"tasks": [...]}`` in JSON, or JSON lines (a ``.jsonl``
file, or standard input).

Each task is a table with ``key`` (a string, or an array of strings and integers) and ``command``
(an array of strings), and optionally ``priority``, ``queue``, ``executor``,
``executor_config``, ``retries`` and ``retry_delay``. Every problem of a file is reported at
once, with the task it is in.

JSON lines are read a line at a time, each task checked and kept in a compact form as it is read.
A TOML or JSON document is parsed whole first (the standard library has no streaming parser for
either), so for a very large batch JSON lines take the least memory.
"""

from __future__ import annotations

import json
import reprlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from exechost.config import list_problems, unknown_key_message
from exechost.config.files import parse_toml, read_text
from exechost.errors import ExecHostError, InvalidTaskError
from exechost.executor import check_retry_policy
from exechost.tasks import TaskKey, check_command, check_executor_config, check_key

TASK_KEYS = (
    "command",
    "executor",
    "executor_config",
    "key",
    "priority",
    "queue",
    "retries",
    "retry_delay",
)
NO_CONFIG: Mapping[str, Any] = MappingProxyType({})
"""The ``executor_config`` of every task that sets none (one shared object, not one per task)."""

MAX_TASK_FILE_BYTES = 256 << 20
"""The largest task file read (256 MiB, millions of tasks): ``/dev/zero`` is no task file."""
MAX_LINE_CHARS = 1 << 20
"""The longest line of JSON lines on standard input (1 MiB, one task)."""


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task to run, as a task file describes it."""

    key: TaskKey
    command: tuple[str, ...]
    priority: int = 1
    queue: str | None = None
    executor: str | None = None
    executor_config: Mapping[str, Any] = field(default_factory=lambda: NO_CONFIG)
    retries: int | None = None
    """More attempts after a failed one; the executor's ``retries`` when ``None``."""
    retry_delay: float | None = None
    """Seconds before each retry; the executor's ``retry_delay`` when ``None``."""
    place: str = ""
    """Where the task is written, for messages: ``tasks.toml, task 3``."""


class TaskFileError(ExecHostError, ValueError):
    """A task file cannot be read or holds invalid tasks; the message lists every problem."""


def read_task_file(path: str) -> list[TaskSpec]:
    """Read the tasks of a ``.toml``, ``.json`` or ``.jsonl`` file."""
    file = Path(path)
    if file.suffix == ".jsonl":
        try:
            with file.open(encoding="utf-8") as stream:
                return read_json_lines(stream, path)
        except (OSError, UnicodeDecodeError) as exc:
            raise TaskFileError(f"cannot read task file {path}: {exc}") from None
    try:
        text = read_text(file, MAX_TASK_FILE_BYTES)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TaskFileError(f"cannot read task file {path}: {exc}") from None
    if file.suffix == ".toml":
        document: Any = parse_toml(text, path)
    elif file.suffix == ".json":
        document = _parse_json(text, path)
    else:
        raise TaskFileError(
            f"task file {path}: unknown format {file.suffix or '(no suffix)'!r}; "
            'name it .toml ([[tasks]] tables), .json ({"tasks": [...]}) or .jsonl (a task '
            "object per line), or give - for JSON lines on standard input"
        )
    if isinstance(document, dict) and set(document) == {"tasks"}:
        items = document["tasks"]
    elif isinstance(document, list) and file.suffix == ".json":
        items = document
    else:
        found = ", ".join(repr(k) for k in document) if isinstance(document, dict) else "no table"
        raise TaskFileError(
            f"task file {path}: expected only a list of tasks under 'tasks' "
            f'([[tasks]] in TOML, {{"tasks": [...]}} in JSON), found {found or "nothing"}'
        )
    if not isinstance(items, list):
        raise TaskFileError(f"task file {path}: 'tasks' must be an array of tables")
    return parse_tasks(enumerate(items, 1), path, "task")


def read_json_lines(stream: IO[str], name: str = "<stdin>") -> list[TaskSpec]:
    """Read one JSON task object per line (blank lines are skipped), a line at a time."""
    return parse_tasks(_json_lines(stream, name), name, "line")


def _json_lines(stream: IO[str], name: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(iter(lambda: stream.readline(MAX_LINE_CHARS + 1), ""), 1):
        if len(line) > MAX_LINE_CHARS:
            raise TaskFileError(f"{name}:{number}: longer than {MAX_LINE_CHARS} characters")
        if line.strip():
            yield number, _parse_json(line, name, number)


def command_task(argv: list[str]) -> TaskSpec:
    """The task of ``exechost run -- CMD ARG...``: keyed by the command's name."""
    return TaskSpec(key=Path(argv[0]).name or argv[0], command=tuple(argv))


def parse_tasks(items: Iterable[tuple[int, Any]], where: str, unit: str) -> list[TaskSpec]:
    """Check every task; ``unit`` says what the numbers count (``task`` or ``line``)."""
    tasks: list[TaskSpec] = []
    problems: list[str] = []
    first_seen: dict[TaskKey, int] = {}
    for number, item in items:
        place = f"{where}, {unit} {number}"
        try:
            task = _parse_task(item, place)
        except InvalidTaskError as exc:
            problems.append(str(exc))
            continue
        if task.key in first_seen:
            problems.append(
                f"{place}: key {task.key!r} is used by {unit} {first_seen[task.key]} already; "
                "keys must be unique"
            )
            continue
        first_seen[task.key] = number
        tasks.append(task)
    if problems:
        raise TaskFileError(list_problems("invalid tasks", problems))
    if not tasks:
        raise TaskFileError(f"{where}: no tasks")
    return tasks


def _parse_task(item: Any, place: str) -> TaskSpec:
    if not isinstance(item, dict):
        raise InvalidTaskError(f"{place}: a task must be a table/object, got {reprlib.repr(item)}")
    problems = [unknown_key_message(place, k, TASK_KEYS) for k in item if k not in TASK_KEYS]
    problems += [f"{place}: {k!r} is required" for k in ("key", "command") if k not in item]
    if problems:
        raise InvalidTaskError("\n  - ".join(problems))
    raw_key = item["key"]
    key = tuple(map(_shared, raw_key)) if isinstance(raw_key, list) else raw_key
    try:
        check_key(key)
        check_command(key, item["command"])
        config = check_executor_config(key, item.get("executor_config")) or NO_CONFIG
    except InvalidTaskError as exc:
        raise InvalidTaskError(f"{place}: {exc}") from None
    priority = item.get("priority", 1)
    if type(priority) is not int:
        raise InvalidTaskError(f"{place}: priority must be an integer, got {priority!r}")
    for name in ("queue", "executor"):
        if name in item and type(item[name]) is not str:
            raise InvalidTaskError(f"{place}: {name} must be a string, got {item[name]!r}")
    check_retry_policy(place, item.get("retries", 0), item.get("retry_delay", 0.0))
    return TaskSpec(
        key=key,
        command=tuple(map(sys.intern, item["command"])),
        priority=priority,
        queue=item.get("queue"),
        executor=item.get("executor"),
        executor_config=config,
        retries=item.get("retries"),
        retry_delay=item.get("retry_delay"),
        place=place,
    )


def _shared(part: Any) -> Any:
    """A key's string part, interned: the same group name in many keys is then stored once."""
    return sys.intern(part) if type(part) is str else part


def _parse_json(text: str, where: str, line: int | None = None) -> Any:
    """Parse ``text``, the whole of ``where`` or its ``line``."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        place = f"{where}:{exc.lineno + (line or 1) - 1}:{exc.colno}"
        raise TaskFileError(f"{place}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as exc:  # from _unique_keys
        problem = str(exc)
    raise TaskFileError(f"{where if line is None else f'{where}:{line}'}: invalid JSON: {problem}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats (JSON leaves it to the reader; TOML forbids it)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        names = [name for name, _ in pairs]
        repeated = next(name for n, name in enumerate(names) if name in names[:n])
        raise ValueError(f"key {repeated!r} appears twice in one object")
    return document
