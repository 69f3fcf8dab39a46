"""Helpers: a clean environment for the real command, and scraping the real endpoint."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

SCRAPE_TIMEOUT = 5.0


def scrape(url: str) -> Samples:
    """Every sample the endpoint serves now, parsed as Prometheus parses the text format."""
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels``, or ``None``."""
    return samples.get((name, frozenset(labels.items())))
