"""The promise about services: a test that needs a missing one skips here, and fails in CI."""

from __future__ import annotations

import pytest
from conftest import free_port, require


def test_a_missing_service_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    port = free_port()
    expected = f"Nothing is not reachable at 127.0.0.1:{port}"
    with pytest.raises(pytest.skip.Exception, match=expected):
        require("Nothing", ("127.0.0.1", port))


def test_a_missing_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: Nothing is not reachable"):
        require("Nothing", ("127.0.0.1", free_port()))
