"""Reports the end of the tasks submitted to Dask: one scan of their futures' states at a time.

A thread of the collector's own looks at the state of every watched future (a local read: the
client keeps each future's state up to date from the scheduler's messages) and reports those that
have ended, then waits a little and looks again. Nothing is asked of the scheduler or the workers
per task:

* a command that succeeded returns ``None`` on the worker (see
  :func:`exechost_dask.worker.run_task`), and Dask tells the client the *type* of each result
  along with its completion, so a finished future whose result type is ``NoneType`` is a success
  without fetching anything;
* a command that failed returns its :class:`exechost.TaskInfo`; those are fetched with one
  ``gather`` per scan, however many there are;
* a task that Dask itself gave up on (``KilledWorker``) or cancelled carries its exception to the
  client already.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Sequence

from distributed import Client, Future
from exechost import Executor, TaskInfo, TaskKey

logger = logging.getLogger("exechost_dask")

SCAN_INTERVAL = 0.005
"""Seconds between two scans while tasks are watched..."""
SCAN_SHARE = 0.05
"""...or longer when there are so many tasks that scanning takes more than this share of time."""

_SUCCESS = type(None)


@dataclasses.dataclass(frozen=True)
class Watched:
    """A task submitted to Dask: its key, its future, its log file."""

    key: TaskKey
    future: Future[TaskInfo | None]
    log_path: str


class Collector:
    """Watches the futures of submitted tasks and reports each end to the executor."""

    def __init__(self, executor: Executor, client: Client) -> None:
        self._executor = executor
        self._client = client
        self._watched: dict[object, Watched] = {}  # by Dask key
        self._changed = threading.Condition()
        self._stopping = False
        self._silenced = False
        self._thread = threading.Thread(
            target=self._run, name="exechost-dask-collector", daemon=True
        )
        self._thread.start()

    def watch(self, tasks: Iterable[Watched]) -> None:
        """Report the end of each of ``tasks``."""
        with self._changed:
            self._watched.update((task.future.key, task) for task in tasks)
            self._changed.notify()

    def future_of(self, key: TaskKey) -> Future[TaskInfo | None] | None:
        """The future of the watched task ``key``, if it has not been reported yet."""
        with self._changed:
            for task in self._watched.values():
                if task.key == key:
                    return task.future
        return None

    def pending(self) -> list[Future[TaskInfo | None]]:
        """The futures of the tasks not reported yet."""
        with self._changed:
            return [task.future for task in self._watched.values()]

    def silence(self) -> None:
        """Report nothing more (the host reports what a terminate leaves running)."""
        self._silenced = True

    def stop(self) -> None:
        """Stop the thread (after its current scan)."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        interval = SCAN_INTERVAL
        while True:
            with self._changed:
                if self._watched:  # let them run a while (stop and new tasks cut it short)
                    self._changed.wait(interval)
                while not self._watched and not self._stopping:
                    self._changed.wait()
                if self._stopping:
                    return
                watched = list(self._watched.values())
            began = time.monotonic()
            ended = [task for task in watched if task.future.status != "pending"]
            if ended and not self._silenced:
                try:
                    self._report(ended)
                except Exception as exc:  # never leave a task unreported
                    logger.exception("exechost-dask: reporting %d tasks failed", len(ended))
                    for task in ended:
                        self._finish(task, TaskInfo(error=f"{type(exc).__name__}: {exc}"))
            interval = max(SCAN_INTERVAL, (time.monotonic() - began) / SCAN_SHARE)

    def _report(self, ended: Sequence[Watched]) -> None:
        failed_commands = []
        for task in ended:
            status = task.future.status
            if status == "finished":
                if task.future.type is _SUCCESS:
                    self._finish(task, TaskInfo(returncode=0))
                else:  # a failed command, or a result whose type Dask did not tell
                    failed_commands.append(task)
            elif status in ("error", "cancelled"):  # the client holds the exception already
                self._finish(task, _result_of(task.future) or TaskInfo(returncode=0))
        if failed_commands:
            for task, info in zip(failed_commands, self._results(failed_commands), strict=True):
                self._finish(task, info or TaskInfo(returncode=0))

    def _results(self, tasks: Sequence[Watched]) -> list[TaskInfo | None]:
        futures = [task.future for task in tasks]
        try:
            results: list[TaskInfo | None] = self._client.gather(futures)
        except Exception:  # one of them is lost: fetch each on its own to learn which
            results = [_result_of(future) for future in futures]
        return results

    def _finish(self, task: Watched, info: TaskInfo) -> None:
        with self._changed:
            watched = self._watched.pop(task.future.key, None)
        if watched is None or self._silenced:
            return
        task.future.release()  # Dask may drop the result now, and never recompute it
        # The worker's PID is not kept: the task's external id stays its Dask key.
        info = dataclasses.replace(
            info,
            log=info.log or task.log_path,
            external_id=None,
            ended_at=info.ended_at or time.time(),
        )
        if info.error is None:
            self._executor.success(task.key, info)
        else:
            self._executor.fail(task.key, info)


def _result_of(future: Future[TaskInfo | None]) -> TaskInfo | None:
    """The future's result, or a :class:`TaskInfo` with the exception it raises."""
    try:
        return future.result()
    except Exception as exc:
        return TaskInfo(error=f"{type(exc).__name__}: {exc}")
