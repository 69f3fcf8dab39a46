"""Keeping track of how long a service has been unreachable."""

from __future__ import annotations

import time


class Outage:
    """How long one service (the broker, the result backend) has been failing, and why."""

    def __init__(self, service: str, url: str, timeout: float) -> None:
        self.service = service
        self.url = url
        self.timeout = timeout
        self.since: float | None = None
        self.error: BaseException | None = None

    def failed(self, error: BaseException) -> bool:
        """Record a failed attempt; return whether the outage has outlasted the timeout."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.error = error
        return now - self.since >= self.timeout

    def recovered(self) -> None:
        """Record a successful attempt."""
        self.since = None
        self.error = None

    @property
    def reason(self) -> str:
        """Why the affected tasks fail, once the outage has outlasted the timeout."""
        return (
            f"the Celery {self.service} at {self.url} stayed unreachable for {self.timeout:g}s "
            f"(setting operation_timeout): {type(self.error).__name__}: {self.error}"
        )
