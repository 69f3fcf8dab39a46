"""Reports the end of the tasks submitted to Dask, gathering their results in batches."""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Sequence

from distributed import Client, Future
from exechost.executor import Executor
from exechost.states import TaskInfo
from exechost.tasks import TaskKey

logger = logging.getLogger("exechost_dask")


@dataclasses.dataclass(frozen=True)
class _Submitted:
    key: TaskKey
    future: Future[TaskInfo]
    log_path: str


class Collector:
    """Watches the futures of submitted tasks and reports each end to the executor.

    Dask calls back (in its callback thread) as each future ends; the callback only queues the
    future. This collector's thread takes whatever has queued up and fetches the results of all
    of it with one ``gather`` (a round trip per worker that holds results, not per task), so the
    batches grow with the rate at which tasks end.
    """

    def __init__(self, executor: Executor, client: Client) -> None:
        self._executor = executor
        self._client = client
        self._submitted: dict[object, _Submitted] = {}  # by Dask key
        self._ended: queue.SimpleQueue[Future[TaskInfo] | None] = queue.SimpleQueue()
        self._silenced = False
        self._thread = threading.Thread(
            target=self._run, name="exechost-dask-collector", daemon=True
        )
        self._thread.start()

    def watch(self, key: TaskKey, future: Future[TaskInfo], log_path: str) -> None:
        """Report the end of ``future``, the task ``key`` whose output goes to ``log_path``."""
        self._submitted[future.key] = _Submitted(key, future, log_path)
        future.add_done_callback(self._ended.put)

    def pending(self) -> list[Future[TaskInfo]]:
        """The futures of the tasks not reported yet."""
        return [submitted.future for submitted in list(self._submitted.values())]

    def silence(self) -> None:
        """Report nothing more (the host reports what a terminate leaves running)."""
        self._silenced = True

    def stop(self) -> None:
        """Report what has ended so far and stop the thread."""
        self._ended.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self._ended.get()]
            while not self._ended.empty():
                batch.append(self._ended.get_nowait())
            futures = [future for future in batch if future is not None]
            if futures and not self._silenced:
                try:
                    self._report(futures)
                except Exception as exc:  # never leave a task unreported
                    logger.exception("exechost-dask: reporting %d tasks failed", len(futures))
                    for future in futures:
                        self._finish(future, TaskInfo(error=f"{type(exc).__name__}: {exc}"))
            if len(futures) < len(batch):
                return

    def _report(self, futures: Sequence[Future[TaskInfo]]) -> None:
        finished = [future for future in futures if future.status == "finished"]
        if finished:
            try:
                infos: list[TaskInfo] = self._client.gather(finished)
            except Exception:  # one of them is lost: fetch each on its own to find which
                infos = [_result_of(future) for future in finished]
            for future, info in zip(finished, infos, strict=True):
                self._finish(future, info)
        for future in futures:
            if future.status == "error":
                exc = future.exception()
                self._finish(future, TaskInfo(error=f"{type(exc).__name__}: {exc}"))
            elif future.status == "cancelled":
                self._finish(future, TaskInfo(error="cancelled in Dask"))

    def _finish(self, future: Future[TaskInfo], info: TaskInfo) -> None:
        submitted = self._submitted.pop(future.key, None)
        if submitted is None or self._silenced:
            return
        # The worker's PID is not kept: the task's external id stays its Dask key.
        info = dataclasses.replace(
            info,
            log=info.log or submitted.log_path,
            external_id=None,
            ended_at=info.ended_at or time.time(),
        )
        if info.error is None:
            self._executor.success(submitted.key, info)
        else:
            self._executor.fail(submitted.key, info)


def _result_of(future: Future[TaskInfo]) -> TaskInfo:
    try:
        info: TaskInfo = future.result()
    except Exception as exc:
        return TaskInfo(error=f"{type(exc).__name__}: {exc}")
    return info
