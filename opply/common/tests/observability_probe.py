"""Run Django in a process of its own and make a few requests (the observability tests start it).

Error reporting and tracing are set up once per process, from the
environment, exactly as in gunicorn or a worker: a child process is the only
honest way to test "on" and "off". Prints one JSON line: the responses, and
which observability modules the process imported.

    python -m opply.common.tests.observability_probe work|crash [headers as JSON] [body as JSON]
"""

from __future__ import annotations

import io
import json
import os
import sys
from wsgiref.util import setup_testing_defaults


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    from django.core.wsgi import get_wsgi_application
    from django.test import override_settings

    from opply.common.observability import tracing

    # The WSGI application gunicorn calls (Sentry and OpenTelemetry hook in there).
    application = get_wsgi_application()
    scenario = sys.argv[1]
    headers = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    body = sys.argv[3].encode() if len(sys.argv) > 3 else b""
    environ = {
        "REQUEST_METHOD": "POST" if body else "GET",
        "PATH_INFO": f"/probe/{scenario}/",
        "HTTP_HOST": "localhost",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    setup_testing_defaults(environ)
    answer: dict[str, object] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: object = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    with override_settings(ROOT_URLCONF="opply.common.tests.urls_observability"):
        b"".join(application(environ, start_response))
    if scenario == "work":
        # A Celery task, run here as a worker would run it (signals and all).
        from opply.orders.tasks import delete_expired_idempotency_records

        delete_expired_idempotency_records.apply()

    if "sentry_sdk" in sys.modules:
        import sentry_sdk

        sentry_sdk.flush(timeout=10)
    tracing.force_flush()
    # redis-py 8 imports OpenTelemetry's metrics API at import time when it is
    # installed (its own opt-in observability, inert unless enabled): count
    # only what tracing and error reporting would load.
    ours = ("sentry_sdk", "opentelemetry.sdk.trace", "opentelemetry.instrumentation", "opentelemetry.exporter")
    loaded = sorted(name for name in sys.modules if name.startswith(ours))
    trace_api = sys.modules.get("opentelemetry.trace")
    provider = type(trace_api.get_tracer_provider()).__name__ if trace_api else None
    request_id = answer["headers"].get("X-Request-ID")  # type: ignore[attr-defined]
    print(json.dumps({"status": answer["status"], "request_id": request_id, "loaded": loaded, "tracer_provider": provider}))


if __name__ == "__main__":
    main()
