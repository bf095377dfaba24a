"""Sentry and OpenTelemetry: fully off without their settings; with them, really delivered.

Each scenario runs Django in a child process (observability_probe.py), as
gunicorn would, against a local HTTP server this test starts: a stand-in
for Sentry's ingestion endpoint, or an OTLP/HTTP receiver.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from deploy.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
SECRET_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
SECRET_PASSWORD = "correct-horse-battery-staple-42"


class Receiver:
    """A local HTTP server that records every POST (path, headers, decoded body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                received.append((self.path, {name.lower(): value for name, value in self.headers.items()}, raw))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def probe(scenario: str, *, headers: dict[str, str] | None = None, body: dict | None = None, **environment: str):  # type: ignore[no-untyped-def, type-arg]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TEST_REDIS_URL": settings.REDIS_URL,
        "DJANGO_LOG_FORMAT": "json",
        **environment,
    }
    for name in ("SENTRY_DSN", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "PROMETHEUS_MULTIPROC_DIR"):
        if name not in environment:
            env.pop(name, None)
    arguments = [json.dumps(headers or {})] + ([json.dumps(body)] if body is not None else [])
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "opply.common.tests.observability_probe", scenario, *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_without_their_settings_error_reporting_and_tracing_are_not_even_imported(receiver):
    for scenario in ("work", "crash"):
        outcome, logs = probe(scenario)
        assert outcome["status"] == (200 if scenario == "work" else 500)
        # No Sentry client or hub: sentry_sdk never loaded. No tracer provider,
        # instrumentation or exporter: OpenTelemetry's tracing never loaded.
        assert outcome["loaded"] == [], outcome["loaded"]
        assert outcome["tracer_provider"] in (None, "ProxyTracerProvider")
    assert receiver.requests == []
    # The log lines carry the field, empty.
    line = next(json.loads(line) for line in logs.splitlines() if "probe work done" in line) if "probe work done" in logs else None
    assert line is None or line["trace_id"] == ""


def _envelope_items(raw: bytes) -> list[tuple[dict, dict]]:  # type: ignore[type-arg]
    lines = raw.split(b"\n")
    items = []
    i = 1  # line 0: the envelope header
    while i + 1 < len(lines):
        header = json.loads(lines[i])
        items.append((header, json.loads(lines[i + 1])))
        i += 2
    return items


def test_an_error_reaches_sentry_with_the_request_id_and_release_and_without_secrets(receiver):
    request_id = uuid.uuid4().hex
    outcome, _ = probe(
        "crash",
        headers={"X-Request-ID": request_id, "Authorization": f"Bearer {SECRET_JWT}", "Cookie": f"sessionid={SECRET_PASSWORD}"},
        body={"username": "someone", "password": SECRET_PASSWORD, "refresh": SECRET_JWT, "email": "someone@example.com"},
        SENTRY_DSN=f"http://public-key@127.0.0.1:{receiver.port}/42",
        SENTRY_RELEASE="opply@test-release",
    )
    assert outcome["status"] == 500
    assert outcome["request_id"] == request_id
    assert "sentry_sdk" in outcome["loaded"]

    envelopes = [raw for path, _, raw in receiver.requests if path == "/api/42/envelope/"]
    assert envelopes, receiver.requests
    events = [payload for raw in envelopes for header, payload in _envelope_items(raw) if header.get("type") == "event"]
    assert len(events) == 1, events
    event = events[0]
    assert event["tags"]["request_id"] == request_id
    assert event["release"] == "opply@test-release"
    assert event["environment"] == "test"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["request"]["url"].endswith("/probe/crash/")

    everything = b"".join(envelopes).decode()
    for secret in (SECRET_JWT, SECRET_PASSWORD, "someone@example.com"):
        assert secret not in everything, secret
    assert "Bearer [Filtered]" in everything  # the token inside the exception's message, blanked
    headers = {name.lower(): value for name, value in event["request"].get("headers", {}).items()}
    assert headers.get("authorization") in (None, "[Filtered]")
    assert "data" not in event["request"] or event["request"]["data"] in ("", None, "[Filtered]")


def test_spans_are_exported_over_otlp_and_logs_carry_request_and_trace_ids(receiver):
    """A request touching PostgreSQL and Redis, and a Celery task: every span reaches the collector."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request_id = uuid.uuid4().hex
    outcome, logs = probe(
        "work",
        headers={"X-Request-ID": request_id},
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
        OTEL_SERVICE_NAME="opply-test",
    )
    assert outcome["status"] == 200
    assert "opentelemetry.sdk.trace" in outcome["loaded"]
    assert outcome["tracer_provider"] == "TracerProvider"

    spans = []
    for path, headers, raw in receiver.requests:
        assert path == "/v1/traces", path
        assert headers["content-type"] == "application/x-protobuf"
        exported = ExportTraceServiceRequest()
        exported.ParseFromString(raw)
        for resource_spans in exported.resource_spans:
            service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
            assert service == "opply-test"
            for scope_spans in resource_spans.scope_spans:
                spans += [(scope_spans.scope.name, span) for span in scope_spans.spans]

    [server] = [span for scope, span in spans if scope == "opentelemetry.instrumentation.django"]
    assert server.name == "GET probe/work/"
    # One trace: the request's SQL statement and Redis call are its children.
    in_request = {scope for scope, span in spans if span.trace_id == server.trace_id and span.parent_span_id}
    assert {"opentelemetry.instrumentation.psycopg", "opentelemetry.instrumentation.redis"} <= in_request
    tasks = [span.name for scope, span in spans if scope == "opentelemetry.instrumentation.celery"]
    assert "run/opply.orders.tasks.delete_expired_idempotency_records" in tasks

    record = next(json.loads(line) for line in logs.splitlines() if "probe work done" in line)
    assert record["request_id"] == request_id
    assert record["trace_id"] == server.trace_id.hex()
