"""A real `exechost run` configured by OTEL_* variables alone, through a real exporter entry point;
the application's own global provider."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from exechost.testing import hermetic_environment

EXPORTER = """
import json, os
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

class JsonLines(SpanExporter):
    def export(self, spans):
        with open(os.environ["SPANS_FILE"], "a") as out:
            for span in spans:
                out.write(json.dumps(json.loads(span.to_json())) + "\\n")
        return SpanExportResult.SUCCESS
"""
TASKS = """
[[tasks]]
key = ["report", 7]
command = ["true"]

[[tasks]]
key = "broken"
command = ["sh", "-c", "exit 4"]
"""


def install_exporter(site: Path) -> None:
    """A distribution with the span exporter ``jsonlines`` (entry point group
    ``opentelemetry_traces_exporter``), on ``site``."""
    site.mkdir()
    (site / "jsonlines_exporter.py").write_text(EXPORTER)
    info = site / "jsonlines_exporter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: jsonlines-exporter\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[opentelemetry_traces_exporter]\njsonlines = jsonlines_exporter:JsonLines\n"
    )


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "tasks.toml").write_text(TASKS)
    return subprocess.run(
        [sys.executable, "-m", "exechost", "run", "tasks.toml"],
        cwd=tmp_path,
        env=hermetic_environment("OTEL_", PYTHONPATH=str(tmp_path / "site"), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_otel_variables_choose_the_exporter_and_the_service(tmp_path: Path) -> None:
    install_exporter(tmp_path / "site")
    spans_file = tmp_path / "spans.jsonl"
    done = run(
        tmp_path,
        OTEL_TRACES_EXPORTER="jsonlines",
        OTEL_SERVICE_NAME="nightly",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test",
        SPANS_FILE=str(spans_file),
    )
    assert done.returncode == 1, done.stderr  # a task failed
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    by_name: dict[str, dict[str, Any]] = {span["name"]: span for span in spans}
    assert sorted(by_name) == ["broken", "exechost local", "report"]
    root = by_name["exechost local"]
    assert root["parent_id"] is None
    for name in ("broken", "report"):
        assert by_name[name]["parent_id"] == root["context"]["span_id"]
        assert by_name[name]["context"]["trace_id"] == root["context"]["trace_id"]
    resource = root["resource"]["attributes"]
    assert resource["service.name"] == "nightly"
    assert resource["deployment.environment"] == "test"
    assert by_name["report"]["attributes"]["exechost.task.key"] == '["report", 7]'
    assert by_name["broken"]["status"] == {
        "status_code": "ERROR",
        "description": "exit status 4",
    }
    assert "process.command_args" not in by_name["report"]["attributes"]  # not by default

    spans_file.unlink()
    done = run(tmp_path, OTEL_TRACES_EXPORTER="jsonlines", SPANS_FILE=str(spans_file))
    assert done.returncode == 1, done.stderr
    first = json.loads(spans_file.read_text().splitlines()[0])
    assert first["resource"]["attributes"]["service.name"] == "exechost"


def test_no_spans_unless_named_enabled_sampled_and_a_missing_exporter_or_bad_batching_stops(
    tmp_path: Path,
) -> None:
    install_exporter(tmp_path / "site")
    done = run(tmp_path, OTEL_TRACES_EXPORTER="otlp")
    assert done.returncode == 2
    assert "could not be made" in done.stderr
    assert "'otlp_proto_grpc', which no installed package provides" in done.stderr
    assert "pip install opentelemetry-exporter-otlp" in done.stderr
    assert "EXECHOST_PLUGINS__BLOCK=otel" in done.stderr
    assert not (tmp_path / ".exechost" / "logs").exists()  # before any task
    done = run(tmp_path, OTEL_TRACES_EXPORTER="jsonlines", OTEL_BSP_MAX_QUEUE_SIZE="lots")
    assert done.returncode == 2
    assert "OTEL_BSP_MAX_QUEUE_SIZE='lots': a whole number above 0 is allowed" in done.stderr
    assert not (tmp_path / ".exechost" / "logs").exists()

    spans_file = tmp_path / "spans.jsonl"
    done = run(tmp_path, SPANS_FILE=str(spans_file))
    assert done.returncode == 1, done.stderr
    assert not spans_file.exists()
    done = run(tmp_path, OTEL_TRACES_EXPORTER="jsonlines", OTEL_SDK_DISABLED="true")
    assert done.returncode == 1 and not spans_file.exists()
    sampled_out = {"OTEL_TRACES_EXPORTER": "jsonlines", "OTEL_TRACES_SAMPLER": "always_off"}
    done = run(tmp_path, SPANS_FILE=str(spans_file), **sampled_out)
    assert done.returncode == 1 and not spans_file.exists()


def test_an_applications_global_provider_is_used_and_left_open(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import exechost
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from exechost_otel import OtelObserver

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        for run in range(2):
            with exechost.load_executor("local", plugins=[OtelObserver()]) as executor:
                executor.queue_command(f"task{run}", ["true"])
        print(sorted(span.name for span in exporter.get_finished_spans()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=hermetic_environment("OTEL_", EXECHOST_PLUGINS__AUTOLOAD="false"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == str(["exechost local", "exechost local", "task0", "task1"])
