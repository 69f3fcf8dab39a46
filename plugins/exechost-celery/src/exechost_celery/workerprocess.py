"""Starting and stopping an ``exechost-celery worker`` as a child process (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType


class WorkerProcess:
    """A worker started with ``python -m exechost_celery worker``, ready when ``start`` returns.

    It runs in a session of its own, its output in ``log_path``; :meth:`stop` asks it to shut
    down (SIGTERM) and kills its process group if it has not exited in time.

    Example::

        with WorkerProcess("redis://127.0.0.1:6379/9", "redis://127.0.0.1:6379/9", "q1",
                           log_path=Path("worker.log")) as worker:
            ...  # run tasks on queue "q1"
    """

    def __init__(
        self,
        broker_url: str,
        result_backend: str,
        queue: str,
        *,
        log_path: Path,
        concurrency: int = 2,
        hostname: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.broker_url = broker_url
        self.result_backend = result_backend
        self.queue = queue
        self.hostname = hostname or f"{queue}@127.0.0.1"
        self.log_path = log_path
        self.command = [
            sys.executable,
            "-m",
            "exechost_celery",
            "worker",
            f"--broker-url={broker_url}",
            f"--result-backend={result_backend}",
            f"--queues={queue}",
            f"--concurrency={concurrency}",
            f"--hostname={self.hostname}",
            f"--log-dir={log_path.parent / (log_path.stem + '-tasks')}",
            "--",
            "--without-mingle",
            "--without-gossip",
            *extra_args,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker has not been started"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """Start the worker and wait until it consumes its queue.

        :raises RuntimeError: when it exits or is not ready within ``timeout`` seconds, with the
            end of its log.
        """
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready = f"{self.hostname} ready.".encode()
        deadline = time.monotonic() + timeout
        while ready not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"celery worker {self.hostname} did not start:\n{tail}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """Shut the worker down: SIGTERM (a warm shutdown), then SIGKILL to its process group."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (main process and pool processes) now."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> WorkerProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
