"""The journal: each run's tasks, attempts and state changes in SQLite; a killed host loses none.

One file (``.exechost/journal.sqlite`` by default) holds every run made in a directory. It is in
WAL mode with ``synchronous=NORMAL``: a commit reaches the file (so survives a killed host) without
an fsync, and a crash at any instant leaves the last committed transaction whole. The executors
record what happens as it happens, from any thread, into memory; :meth:`Journal.commit` writes it
in one transaction, once per heartbeat -- and always before a backend is handed an attempt, so a
restarted host knows of every attempt any backend may have seen.

A host holds an exclusive lock on the journal while it runs: a second host using the same file is
refused with :class:`JournalError`, as is a file that is not an exechost journal, is corrupt, or
was written by a newer exechost. Such a file is never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exechost.attempts import Attempt, NumberedAttemptIds, new_attempt_id
from exechost.errors import ExecHostError
from exechost.states import TaskInfo, TaskState
from exechost.tasks import QueuedTask, TaskKey

DEFAULT_JOURNAL = Path(".exechost") / "journal.sqlite"
"""Where ``exechost run`` keeps its journal, relative to the working directory."""

SCHEMA_VERSION = 2
"""The version of the journal's tables; a journal with another one is refused (1 was the first
draft: UUIDv4-keyed rows and a row per event, too slow for large batches)."""

APPLICATION_ID = 0x45584A31
"""SQLite's ``application_id`` of an exechost journal (``EXJ1``), to recognise other databases."""

# Every btree below grows at its end, so that a commit touches few pages whatever the journal's
# size: task rows get increasing rowids, attempt ids are time-ordered (new_attempt_id), events
# are appended. An attempt's first state change (running, when handed to its backend) and its
# last (its end) are its row's started_at and ended_at; events holds those in between. A task row
# is written with the id its first attempt will have (Journal.begin_attempt), so that handing that
# attempt over inserts its row and touches no other; until then no attempts row has that id.
_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    taskfile TEXT,
    cwd TEXT NOT NULL,
    pid INTEGER NOT NULL,
    exechost_version TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    status TEXT NOT NULL,
    resumed_from INTEGER REFERENCES runs (id)
);
CREATE INDEX runs_by_taskfile ON runs (taskfile, id);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    executor TEXT NOT NULL,
    command TEXT NOT NULL,
    priority INTEGER NOT NULL,
    queue TEXT,
    options TEXT NOT NULL,
    retries INTEGER NOT NULL,
    retry_delay REAL NOT NULL,
    attempt_id TEXT
);
CREATE INDEX tasks_by_run ON tasks (run_id);
CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    external_id TEXT,
    started_at REAL NOT NULL,
    ended_at REAL,
    returncode INTEGER,
    error TEXT,
    log TEXT
) WITHOUT ROWID;
CREATE TABLE events (
    attempt_id TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX events_by_attempt ON events (attempt_id);
"""

_INSERT_TASK = "INSERT INTO tasks VALUES (?, {run_id:d}, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# a row already written (an attempt that was running) is written again whole: new attempts and
# ended ones go in one statement
_INSERT_ATTEMPT = "INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_POINT_TASK = "UPDATE tasks SET attempt_id = ? WHERE id = ?"
_UPDATE_ATTEMPT = (
    "UPDATE attempts SET state = coalesce(?, state), external_id = coalesce(?, external_id), "
    "ended_at = coalesce(?, ended_at), returncode = coalesce(?, returncode), "
    "error = coalesce(?, error), log = coalesce(?, log) WHERE id = ?"
)
_INSERT_EVENT = "INSERT INTO events VALUES (?, ?, ?)"

# the columns of an attempts row (see _INSERT_ATTEMPT) that later reports fill in, and where
# they are in a row of _UPDATE_ATTEMPT
_REPORTED = ((3, 0), (4, 1), (6, 2), (7, 3), (8, 4), (9, 5))

_FINISHED = frozenset(state.value for state in TaskState if state.finished)

_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_string = json.encoder.encode_basestring_ascii  # one str as JSON, in C


def _strings(values: Sequence[str]) -> str:
    """A sequence of strings as a JSON array (what ``json.dumps`` writes, faster)."""
    return f"[{','.join(map(_string, values))}]"


class JournalError(ExecHostError):
    """The journal cannot be used: in use by another host, corrupt, foreign or too new."""


def key_to_text(key: TaskKey) -> str:
    """A key as the journal stores it: JSON, so ``"1"`` and ``(1,)`` stay apart."""
    if type(key) is str:
        return _string(key)
    # a tuple of strs and ints (exechost.tasks.check_key)
    return f"[{','.join(_string(p) if type(p) is str else str(p) for p in key)}]"


def key_from_text(text: str) -> TaskKey:
    """The key stored as ``text`` by :func:`key_to_text`."""
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class RunRecord:
    """One journaled run, as :meth:`Journal.runs` lists it."""

    id: int
    taskfile: str | None
    cwd: str
    pid: int
    started_at: float
    ended_at: float | None
    status: str
    """``running`` while its host runs (or if the host died), then how it ended."""
    resumed_from: int | None
    counts: Mapping[str, int]
    """How many of its tasks are in each state (``queued`` for those never started)."""


@dataclass(frozen=True)
class JournaledTask:
    """A task of a journaled run and its latest attempt."""

    key: TaskKey
    executor: str
    state: TaskState
    """Its latest attempt's state; ``queued`` when it never started."""
    attempt: Attempt | None
    info: TaskInfo


class Journal:
    """An open journal, locked for this host. Use :func:`open_journal` to make one; it is a
    context manager that closes it.

    The ``record_*`` methods are thread-safe and only remember; :meth:`commit` writes. What is
    recorded before a commit is merged into as few row writes as it can be.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self.run_id: int | None = None
        """The run being recorded, once :meth:`begin_run` was called."""
        self._db = connection
        self._lock_fd = lock_fd
        self._closed = False
        self._lock = threading.Lock()  # the pending rows
        self._writing = threading.Lock()  # the connection
        last_task = connection.execute("SELECT max(id) FROM tasks").fetchone()[0]
        self._task_ids = itertools.count((last_task or 0) + 1)
        self._task_rows: dict[TaskKey, int] = {}  # this run's latest task row of each key
        self._first_attempt_ids = NumberedAttemptIds()  # by task row
        self._adopted: set[TaskKey] = set()  # keys whose latest row points at an adopted attempt
        self._tasks: list[list[Any]] = []
        self._pending_tasks: dict[TaskKey, list[Any]] = {}
        self._attempts: dict[str, list[Any]] = {}
        self._open: dict[str, list[Any]] = {}  # written rows of this host's unfinished attempts
        self._pointers: list[tuple[str, int]] = []
        self._updates: dict[str, list[Any]] = {}
        self._events: list[tuple[str, str, float]] = []

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- a run -------------------------------------------------------------------------------

    def begin_run(self, taskfile: str | None = None, resumed_from: int | None = None) -> int:
        """Start recording a new run; return its id.

        :param taskfile: the task file's absolute path, by which ``--resume`` finds the run.
        :param resumed_from: the run this one resumes.
        """
        from exechost import __version__  # the package imports this module

        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO runs (taskfile, cwd, pid, exechost_version, started_at, status, "
                "resumed_from) VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (taskfile, os.getcwd(), os.getpid(), __version__, time.time(), resumed_from),
            )
        assert cursor.lastrowid is not None
        self.run_id = cursor.lastrowid
        return self.run_id

    def end_run(self, status: str) -> None:
        """Write what is pending and mark the run ended with ``status``."""
        self.commit()
        if self.run_id is not None:
            with self._transaction():
                self._db.execute(
                    "UPDATE runs SET ended_at = ?, status = ? WHERE id = ?",
                    (time.time(), status, self.run_id),
                )

    # -- recording (any thread) --------------------------------------------------------------

    def record_task(self, executor: str, task: QueuedTask, attempt_id: str | None = None) -> None:
        """Remember that ``task`` was queued on ``executor`` (and, for an adopted task, that its
        latest attempt is ``attempt_id``)."""
        task_id = next(self._task_ids)
        row: list[Any] = [
            task_id,
            key_to_text(task.key),
            executor,
            _strings(task.command),
            task.priority,
            task.queue,
            _encode(task.executor_config) if task.executor_config else "{}",
            task.retries,
            task.retry_delay,
            self._first_attempt_ids(task_id) if attempt_id is None else attempt_id,
        ]
        with self._lock:
            self._tasks.append(row)
            self._pending_tasks[task.key] = row
            self._task_rows[task.key] = task_id
            if attempt_id is None:
                self._adopted.discard(task.key)
            else:
                self._adopted.add(task.key)

    def begin_attempt(self, task: QueuedTask, started_at: float) -> str:
        """Remember that the next attempt at ``task`` (queued with :meth:`record_task`) is about
        to be handed to its backend, its ``running`` from ``started_at``; return its id.

        A first attempt gets the id its task row was written with, so that its hand-over
        inserts its attempts row and rewrites no other.
        """
        with self._lock:
            task_id = self._task_rows[task.key]
            if task.attempt == 1 and task.key not in self._adopted:
                attempt_id = self._first_attempt_ids(task_id)
            else:  # a retry, or a first attempt after an adopted one: the task row must name it
                attempt_id = new_attempt_id()
                pending = self._pending_tasks.get(task.key)
                if pending is not None:
                    pending[-1] = attempt_id
                else:
                    self._pointers.append((attempt_id, task_id))
            self._attempts[attempt_id] = [
                attempt_id,
                task_id,
                task.attempt,
                TaskState.RUNNING.value,
                None,
                started_at,
                None,
                None,
                None,
                None,
            ]
        return attempt_id

    def record_state(self, attempt_id: str, state: TaskState, info: TaskInfo, at: float) -> None:
        """Remember that the attempt is now in ``state``, with ``info``."""
        reported = (
            state.value,
            info.external_id,
            info.ended_at,
            info.returncode,
            info.error,
            info.log,
        )
        with self._lock:
            if not state.finished:  # the end's time is the attempt's ended_at
                self._events.append((attempt_id, state.value, at))
            self._merge(attempt_id, reported)

    def record_external_id(self, attempt_id: str, external_id: str) -> None:
        """Remember the backend's id for the attempt (its state is left as it is)."""
        with self._lock:
            self._merge(attempt_id, (None, external_id, None, None, None, None))

    def _merge(self, attempt_id: str, reported: tuple[Any, ...]) -> None:
        """Fold what was reported into the attempt's pending row or pending update (under the
        lock): one row write per attempt and commit."""
        row = self._attempts.get(attempt_id)
        if row is None and attempt_id in self._open:  # to be written again whole
            row = self._attempts[attempt_id] = self._open.pop(attempt_id)
        if row is not None:
            for column, index in _REPORTED:
                if reported[index] is not None:
                    row[column] = reported[index]
            return
        update = self._updates.get(attempt_id)
        if update is None:
            self._updates[attempt_id] = [*reported, attempt_id]
            return
        for index, value in enumerate(reported):
            if value is not None:
                update[index] = value

    @property
    def pending(self) -> bool:
        """Whether anything recorded is not written yet."""
        return bool(
            self._tasks or self._attempts or self._pointers or self._updates or self._events
        )

    def commit(self) -> None:
        """Write everything recorded since the last commit, in one transaction."""
        with self._writing:
            with self._lock:
                if not self.pending:
                    return
                tasks, attempts, pointers = self._tasks, self._attempts, self._pointers
                updates, events = self._updates, self._events
                self._tasks, self._attempts, self._pointers = [], {}, []
                self._updates, self._events = {}, []
                self._pending_tasks = {}
                written = []
                for row in attempts.values():
                    written.append(tuple(row))  # as it is now: a report may change it later
                    if row[3] not in _FINISHED:
                        self._open[row[0]] = row
            if tasks and self.run_id is None:  # tasks queued on an executor never started
                self.begin_run()
            with self._transaction():
                db = self._db
                if tasks:
                    db.executemany(_INSERT_TASK.format(run_id=self.run_id), tasks)
                if written:
                    db.executemany(_INSERT_ATTEMPT, written)
                if pointers:
                    db.executemany(_POINT_TASK, pointers)
                if updates:
                    db.executemany(_UPDATE_ATTEMPT, updates.values())
                if events:
                    db.executemany(_INSERT_EVENT, events)

    # -- reading -----------------------------------------------------------------------------

    def runs(self, limit: int | None = None) -> list[RunRecord]:
        """The journaled runs, newest first (at most ``limit``)."""
        return self._runs("ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,))

    def run(self, run_id: int) -> RunRecord | None:
        """The run ``run_id``, if the journal holds it."""
        found = self._runs("WHERE id = ?", (run_id,))
        return found[0] if found else None

    def last_run(self, taskfile: str) -> RunRecord | None:
        """The newest run of ``taskfile`` (an absolute path), if any."""
        found = self._runs("WHERE taskfile = ? ORDER BY id DESC LIMIT 1", (taskfile,))
        return found[0] if found else None

    def _runs(self, clause: str, parameters: tuple[Any, ...]) -> list[RunRecord]:
        """The runs the SQL ``clause`` selects, with their tasks counted by state."""
        rows = self._db.execute(
            "SELECT id, taskfile, cwd, pid, started_at, ended_at, status, resumed_from FROM runs "
            + clause,
            parameters,
        ).fetchall()
        counts: dict[int, dict[str, int]] = {row[0]: {} for row in rows}
        if rows:
            for run_id, state, count in self._db.execute(
                "SELECT t.run_id, coalesce(a.state, 'queued'), count(*) FROM tasks t "
                "LEFT JOIN attempts a ON a.id = t.attempt_id WHERE t.run_id BETWEEN ? AND ? "
                "GROUP BY t.run_id, 2",
                (min(counts), max(counts)),
            ):
                if run_id in counts:
                    counts[run_id][state] = count
        return [
            RunRecord(
                id=row[0],
                taskfile=row[1],
                cwd=row[2],
                pid=row[3],
                started_at=row[4],
                ended_at=row[5],
                status=row[6],
                resumed_from=row[7],
                counts=counts[row[0]],
            )
            for row in rows
        ]

    def tasks(self, run_id: int) -> dict[TaskKey, JournaledTask]:
        """Every task of the run with its latest attempt, by key."""
        found: dict[TaskKey, JournaledTask] = {}
        for row in self._db.execute(
            "SELECT t.key, t.executor, t.command, t.queue, t.options, a.id, a.number, a.state, "
            "a.external_id, a.started_at, a.ended_at, a.returncode, a.error, a.log "
            "FROM tasks t LEFT JOIN attempts a ON a.id = t.attempt_id WHERE t.run_id = ? "
            "ORDER BY t.id",
            (run_id,),
        ).fetchall():
            text, executor, command, queue, options, attempt_id, number, state = row[:8]
            external_id, started_at, ended_at, returncode, error, log = row[8:]
            key = key_from_text(text)
            attempt = None
            if attempt_id is not None:
                attempt = Attempt(
                    key,
                    attempt_id,
                    number,
                    tuple(json.loads(command)),
                    queue,
                    json.loads(options),
                    external_id,
                    started_at,
                )
            info = TaskInfo(
                returncode, error, log, external_id, started_at, ended_at, attempt_id, number
            )
            found[key] = JournaledTask(
                key, executor, TaskState(state or TaskState.QUEUED), attempt, info
            )
        return found

    def attempts(self, run_id: int) -> list[tuple[TaskKey, str, TaskState, TaskInfo]]:
        """Every attempt at the run's tasks, adopted ones too, as ``(key, executor, state,
        info)``: task by task in the order they were queued, each task's oldest attempt first. A
        task that never started is one ``queued`` row with an empty info.

        One pass over the journal's attempts (``CROSS JOIN`` keeps SQLite from looking them up
        task by task: they are not indexed by task), whatever the run's size.
        """
        columns = (
            "t.id, t.key, t.executor, a.id, a.number, a.state, a.external_id, a.started_at, "
            "a.ended_at, a.returncode, a.error, a.log"
        )
        rows = self._db.execute(
            f"SELECT {columns} FROM attempts a CROSS JOIN tasks t ON t.id = a.task_id "
            "WHERE t.run_id = ? "
            f"UNION ALL SELECT {columns} FROM tasks t JOIN attempts a ON a.id = t.attempt_id "
            "WHERE t.run_id = ? AND a.task_id != t.id "
            f"UNION ALL SELECT {columns} FROM tasks t LEFT JOIN attempts a ON 0 "
            "WHERE t.run_id = ? AND t.attempt_id IS NULL "
            "ORDER BY 1, 5, 8",
            (run_id,) * 3,
        ).fetchall()
        found = []
        for row in rows:
            _, text, executor, attempt_id, number, state, external_id = row[:7]
            started_at, ended_at, returncode, error, log = row[7:]
            info = TaskInfo(
                returncode, error, log, external_id, started_at, ended_at, attempt_id, number
            )
            found.append((key_from_text(text), executor, TaskState(state or "queued"), info))
        return found

    def attempt_ids(self, run_id: int, key: TaskKey) -> list[str]:
        """The ids of every attempt at ``key`` in the run (adopted ones too), oldest first."""
        return [
            row[0]
            for row in self._db.execute(
                "SELECT a.id FROM attempts a WHERE a.task_id IN "
                "(SELECT id FROM tasks WHERE run_id = ? AND key = ?) OR a.id IN "
                "(SELECT attempt_id FROM tasks WHERE run_id = ? AND key = ?) "
                "ORDER BY a.number, a.started_at",
                (run_id, key_to_text(key)) * 2,
            )
        ]

    def history(self, attempt_id: str) -> list[tuple[TaskState, float]]:
        """Every state change of an attempt, with its time, oldest first: ``running`` when it was
        handed to its backend, each change its backend reported, and its end."""
        found = self._db.execute(
            "SELECT state, started_at, ended_at FROM attempts WHERE id = ?", (attempt_id,)
        ).fetchone()
        if found is None:
            return []
        state, started_at, ended_at = TaskState(found[0]), found[1], found[2]
        changes = [(TaskState.RUNNING, started_at)]
        changes += [
            (TaskState(reported), at)
            for reported, at in self._db.execute(
                "SELECT state, at FROM events WHERE attempt_id = ? ORDER BY rowid", (attempt_id,)
            )
        ]
        if state.finished:
            changes.append((state, ended_at))
        return changes

    def close(self) -> None:
        """Write what is pending, then release the file and its lock (once; later calls do
        nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.commit()
        finally:
            self._db.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # deferred: the write lock comes with the first write (the file's lock keeps other
        # writers out), one step less per heartbeat than BEGIN IMMEDIATE
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def open_journal(path: str | Path) -> Journal:
    """Open (creating it if needed) the journal at ``path`` and lock it for this host.

    Its folder is created private (0700), the file 0600.

    :raises JournalError: when another host holds it, or it is not an exechost journal, is
        corrupt, was written by a newer exechost, or cannot be created; the file is left as it is.
    """
    path = Path(path).absolute()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.is_symlink():
            raise JournalError(f"journal {path} is a symbolic link; refusing to follow it")
        lock_fd = os.open(
            f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError as exc:
        raise JournalError(f"cannot create the journal {path}: {exc.strerror}") from None
    try:
        _lock(lock_fd, path)
        return Journal(path, _connect(path), lock_fd)
    except BaseException:
        os.close(lock_fd)
        raise


def read_journal(path: str | Path) -> tuple[Journal, int | None]:
    """Open the journal at ``path`` to read it only, without locking it (a host may be writing).

    :returns: the journal, and the pid of the host running on it now, if any.
    :raises JournalError: when there is no journal at ``path``, or it cannot be read.
    """
    path = Path(path).absolute()
    if path.is_symlink() or not path.is_file():
        raise JournalError(f"no journal at {path}: no run was recorded there")
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        db.execute("SELECT count(*) FROM runs").fetchone()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"journal {path} cannot be read ({exc})") from None
    return Journal(path, db, None), _lock_holder(path)


def _lock_holder(path: Path) -> int | None:
    try:
        fd = os.open(f"{path}.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    else:
        return None
    finally:
        os.close(fd)


LOCK_WAIT = 1.0
"""Seconds to wait for a journal's lock before refusing it: a host killed while it was starting a
task leaves the lock to the half-started child (``fork`` shares it) until that child execs."""


def _lock(fd: int, path: Path) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        raise JournalError(
            f"journal {path} is in use by another exechost (pid {holder}); wait for it to end, "
            "or give this run a journal of its own (--journal PATH, or journal = false)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        application_id, version = (
            db.execute("PRAGMA application_id").fetchone()[0],
            db.execute("PRAGMA user_version").fetchone()[0],
        )
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id != APPLICATION_ID and (tables or application_id):
            raise JournalError(
                f"journal {path} is an SQLite database that exechost did not make; refusing to "
                "touch it (give another path with --journal or the journal key)"
            )
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {path} was written by a newer exechost (journal schema {version}; this "
                f"exechost reads schema {SCHEMA_VERSION} and older); use that exechost, or "
                "another journal path"
            )
        if tables and version < SCHEMA_VERSION:
            raise JournalError(
                f"journal {path} was written by an older exechost (journal schema {version}; "
                f"this exechost writes schema {SCHEMA_VERSION}); move it away (keep it to read "
                "it with that exechost), or give another path with --journal or the journal key"
            )
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # a checkpoint (WAL into the file) is the journal's only fsync: one per ~40 MB written
        # rather than SQLite's default 4 MB keeps it off the heartbeats; closing checkpoints too
        db.execute("PRAGMA wal_autocheckpoint = 10000")
        if not tables:
            db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID}; "
                f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )
    except sqlite3.DatabaseError as exc:
        db.close()
        raise JournalError(
            f"journal {path} cannot be read ({exc}); it is left as it is: move it away to keep "
            "it, or give another path with --journal or the journal key"
        ) from None
    except BaseException:
        db.close()
        raise
    return db
