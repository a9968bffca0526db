"""OpenTelemetry tracing: off by default; with MCI_OTEL_ENABLED, Strawberry's extension when the package is
installed (the `otel` extra), and a warning, not a failure, when it is not."""

import importlib.util
import logging

import pytest

from app.config import Settings
from app.observability import enable_tracing
from app.resolvers.schema import build_schema

INSTALLED = importlib.util.find_spec("opentelemetry") is not None


def test_tracing_is_off_by_default():
    schema = build_schema()
    extensions = schema.extensions
    assert Settings().otel_enabled is False
    assert enable_tracing(schema, Settings()) is False
    assert schema.extensions == extensions


def test_enabled_tracing_needs_the_package_and_says_so(caplog):
    schema = build_schema()
    with caplog.at_level(logging.WARNING, logger="mci.observability"):
        enabled = enable_tracing(schema, Settings(otel_enabled=True))
    assert enabled is INSTALLED
    if INSTALLED:
        assert schema.extensions[-1].func.__name__ == "OpenTelemetryExtension"
    else:
        assert "not installed" in caplog.text


@pytest.mark.skipif(not INSTALLED, reason="the `otel` extra is not installed")
async def test_operations_become_spans_without_their_arguments():
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    schema = build_schema()
    assert enable_tracing(schema, Settings(otel_enabled=True))
    result = await schema.execute('query Probe { node(id: "secret-argument") { id } }')
    names = [span.name for span in exporter.get_finished_spans()]
    assert "GraphQL Query: Probe" in names, (names, result.errors)
    for span in exporter.get_finished_spans():
        assert all(
            "secret-argument" not in str(value) for key, value in span.attributes.items() if key != "query"
        )
