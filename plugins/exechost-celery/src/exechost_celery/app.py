"""The Celery application that host and workers share: JSON only, the exechost task registered."""

from __future__ import annotations

from celery import Celery

from exechost_celery.task import TASK_NAME, run_command

JSON_ONLY = ["json"]


def make_app(
    broker_url: str, result_backend: str, default_queue: str, operation_timeout: float
) -> Celery:
    """A Celery app that speaks JSON only and knows the task that runs exechost commands.

    Tasks are acknowledged when a worker starts them (``task_acks_late=False``), so a command is
    never run twice: a worker that dies mid-task does not hand the message to another worker. The
    task then ends failed instead, through Celery's ``WorkerLostError`` when a pool process dies,
    or through the host's ``worker_lost_timeout`` when the whole worker dies.
    """
    app = Celery("exechost", broker=broker_url, backend=result_backend, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=JSON_ONLY,
        result_accept_content=JSON_ONLY,
        task_default_queue=default_queue,
        task_create_missing_queues=True,
        task_acks_late=False,
        task_reject_on_worker_lost=False,
        task_track_started=False,  # the task stamps STARTED itself, with its heartbeat
        worker_prefetch_multiplier=1,
        broker_connection_timeout=operation_timeout,
        broker_connection_retry_on_startup=True,
        redis_socket_timeout=operation_timeout,
        redis_socket_connect_timeout=operation_timeout,
    )
    if app.conf.broker_url.split(":", 1)[0] in ("amqp", "pyamqp", "amqps"):
        # Publisher confirms: a publish returns once RabbitMQ has the message, so a message in
        # flight when the connection drops raises (and is retried) instead of vanishing.
        app.conf.broker_transport_options = {"confirm_publish": True}
    app.task(name=TASK_NAME, bind=True)(run_command)
    return app
