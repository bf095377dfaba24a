"""Tracing with OpenTelemetry: on only when an OTLP endpoint is configured.

``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
set: spans of Django requests, psycopg statements, Redis calls and Celery
tasks (sent and run) go over OTLP/HTTP to that collector (an OpenTelemetry
Collector, AWS's ADOT collector, Jaeger, Tempo...), configured by the
standard ``OTEL_*`` variables (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``...). Log records then
carry the trace id (:mod:`.logs`).

Unset (or ``OTEL_SDK_DISABLED=true``): no tracer provider, instrumentation
or exporter is imported or set up, so tracing costs neither start-up time nor
a request's. (redis-py 8 imports OpenTelemetry's metrics API on its own when
the package is installed, for an opt-in feature of its own that stays off.)

Django (4.2 and 5.2, psycopg 3) hands its cursor class to ``psycopg.connect``
as ``cursor_factory``; psycopg's instrumentation wraps that class rather than
replacing it, so Django's client-side binding is kept.
"""

from __future__ import annotations

import os
from typing import Any

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Probes and scrapes, many times a minute, tell nothing a trace would.
DEFAULT_EXCLUDED_URLS = "health/,metrics"

_enabled = False


def tracing_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def init_tracing(default_service_name: str = "opply") -> bool:
    """Set up the tracer provider and the instrumentations; True if tracing is on."""
    global _enabled
    if _enabled:
        return True
    if not tracing_configured():
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from opply.common.observability.logs import enable_trace_ids

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": default_service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    # BatchSpanProcessor restarts its thread in forked children (gunicorn, prefork).
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)

    os.environ.setdefault("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS)
    DjangoInstrumentor().instrument()
    RedisInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    enable_trace_ids()
    _enabled = True
    return True


def force_flush(timeout_millis: int = 5000) -> None:
    """Send the spans still buffered (tests, and before a process exits)."""
    if not _enabled:
        return
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_millis)
