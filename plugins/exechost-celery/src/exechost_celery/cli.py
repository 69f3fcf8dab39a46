"""``exechost-celery worker``: start a Celery worker that runs exechost tasks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from celery.backends.redis import RedisBackend

from exechost_celery.app import make_app
from exechost_celery.orphans import reap_orphans_of_lost_tasks
from exechost_celery.settings import DEFAULT_QUEUE, DEFAULT_REDIS_URL
from exechost_celery.task import LOG_DIR_VARIABLE

DESCRIPTION = """\
Start a Celery worker that runs the tasks of exechost's `celery` executor.

Give it the broker and result backend the host uses (the executor's broker_url and
result_backend settings) and the queues to consume (its queue setting, and the
queues tasks are queued with).
Each task's command runs in a session of its own with the task's env, cwd and
timeout; its output goes to a log file in --log-dir and its tail back to the host.
Arguments after `--` go to `celery worker` unchanged (e.g. -- --without-mingle).
"""

EPILOG = """\
example:
  exechost-celery worker --broker-url redis://127.0.0.1:6379/0 -Q exechost -c 4

Stop it with SIGTERM (Ctrl-C): it finishes the tasks it is running, then exits.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exechost-celery",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker = commands.add_parser(
        "worker",
        help="start a Celery worker for exechost tasks",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument(
        "--broker-url",
        default=DEFAULT_REDIS_URL,
        help="the broker URL, as the executor's broker_url (default: %(default)s)",
    )
    worker.add_argument(
        "--result-backend",
        default=DEFAULT_REDIS_URL,
        help="the result backend URL, as the executor's result_backend (default: %(default)s)",
    )
    worker.add_argument(
        "-Q",
        "--queues",
        default=DEFAULT_QUEUE,
        help="comma-separated queues to consume (default: %(default)s)",
    )
    worker.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="how many tasks run at once (default: the number of CPUs, %(default)s)",
    )
    worker.add_argument(
        "-n", "--hostname", help="the worker's node name (default: celery's, celery@HOST)"
    )
    worker.add_argument(
        "--log-dir",
        help="where task output is kept on this machine (default: a new temporary directory)",
    )
    worker.add_argument(
        "--operation-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the broker or result backend per attempt (default: %(default)s)",
    )
    worker.add_argument(
        "-l", "--loglevel", default="INFO", help="celery's log level (default: %(default)s)"
    )
    worker.add_argument(
        "celery_args", nargs=argparse.REMAINDER, help="after `--`: more `celery worker` options"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``exechost-celery``; returns the exit status."""
    args = build_parser().parse_args(argv)
    queues = [queue.strip() for queue in args.queues.split(",") if queue.strip()]
    if not queues:
        build_parser().error("-Q/--queues: name at least one queue")
    if args.concurrency < 1:
        build_parser().error("-c/--concurrency must be at least 1")
    if args.log_dir:
        os.environ[LOG_DIR_VARIABLE] = os.path.abspath(args.log_dir)
    app = make_app(args.broker_url, args.result_backend, queues[0], args.operation_timeout)
    if not isinstance(app.backend, RedisBackend):
        build_parser().error(
            "--result-backend must be a Redis URL (redis://, rediss://, sentinel://): the worker "
            "claims each task there before running it, so that none runs twice"
        )
    reap_orphans_of_lost_tasks()
    celery_args = [arg for arg in args.celery_args if arg != "--"]
    worker_argv = [
        "worker",
        f"--queues={','.join(queues)}",
        f"--concurrency={args.concurrency}",
        f"--loglevel={args.loglevel}",
        *([f"--hostname={args.hostname}"] if args.hostname else []),
        *celery_args,
    ]
    app.worker_main(worker_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
