"""The HTTP endpoint that serves a registry's metrics, from a thread of its own."""

from __future__ import annotations

import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

POLL_SECONDS = 0.05
"""How often the serving thread looks whether it is asked to stop: what stopping may take."""
STOP_SECONDS = 5.0
"""How long stopping waits for the serving thread to end."""


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Nothing: a scrape is no news (and its client's text is not ours to print)."""


class Endpoint:
    """``http://ADDRESS:PORT/metrics`` (any path serves the metrics), served by a daemon thread
    until :meth:`stop`. Port 0 binds a free port: :attr:`url` says which."""

    def __init__(self, registry: CollectorRegistry, address: str, port: int) -> None:
        family, _, _, _, sockaddr = socket.getaddrinfo(
            address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]

        class Server(ThreadingWSGIServer):
            address_family = family

        self._server = make_server(
            str(sockaddr[0]), port, make_wsgi_app(registry), Server, handler_class=_Quiet
        )
        host, bound = self._server.server_address[:2]
        host = str(host)
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{bound}/metrics"
        """Where the metrics are served."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name="exechost-prometheus",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (the port is free again)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(STOP_SECONDS)
        if self._thread.is_alive():
            raise TimeoutError(
                f"the thread serving {self.url} did not stop within {STOP_SECONDS:g} s"
            )
