"""Fixtures: a real Dask cluster of worker processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from distributed import LocalCluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """A LocalCluster of two worker processes, shared by the tests that bring no cluster."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as local_cluster:
        yield local_cluster


@pytest.fixture
def marker() -> str:
    """A value to put in a task's environment, so its processes can be found in /proc."""
    return f"exechost-dask-test-{uuid.uuid4().hex}"
