"""Metrics of the Celery worker: task signals, and an exporter on its own port.

The worker has no HTTP server, and its prefork pool runs tasks in child
processes. So, as under gunicorn, every process writes its values to the
worker's multiprocess directory (made fresh by the ``celeryd_init`` hook in
config/celery.py, before anything imports prometheus_client), and the
worker's main process serves them all on ``CELERY_METRICS_PORT`` (off when
unset) with the same access rule as the API's ``/metrics``. Its own port
rather than the API's directory: a worker runs in its own container or
task, often on another host, and scales on its own.

What is counted: every task run, by name and outcome (succeeded, failed,
retried...), and its run time. Queue depth is the broker's, read at scrape
time by the API (:mod:`.collectors`).
"""

from __future__ import annotations

import logging
import os
import threading
from socketserver import ThreadingMixIn
from time import perf_counter
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from opply.common.observability import metrics

logger = logging.getLogger(__name__)

_started: dict[str, float] = {}


def task_started(task_id: str | None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = perf_counter()


def task_ended(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    start = _started.pop(task_id, None) if task_id else None
    name = getattr(task, "name", None) or "unknown"
    outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(state or "", (state or "unknown").lower())
    metrics.task_finished(task=name, outcome=outcome, seconds=None if start is None else perf_counter() - start)


def connect_task_signals() -> None:
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(task_started, weak=False, dispatch_uid="opply-metrics-task-prerun")
    task_postrun.connect(task_ended, weak=False, dispatch_uid="opply-metrics-task-postrun")


# --- The exporter --------------------------------------------------------------------


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def exporter_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    from django.conf import settings

    from opply.common.observability import access, exposition

    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: the metrics are on /metrics\n"]
    # No proxy in front of the exporter: the peer address is the client.
    if not access.allowed(environ, token=settings.METRICS_BEARER_TOKEN, networks=tuple(settings.METRICS_ALLOWED_NETWORKS), num_proxies=0):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"forbidden: metrics are readable from the internal network or with the metrics bearer token only\n"]
    body, content_type = exposition.render(environ.get("HTTP_ACCEPT"), extra=())
    start_response("200 OK", [("Content-Type", content_type)])
    return [body]


def start_exporter() -> WSGIServer | None:
    """Serve the worker's metrics on CELERY_METRICS_PORT (unset: no exporter)."""
    port = os.environ.get("CELERY_METRICS_PORT", "").strip()
    if not port:
        return None
    address = os.environ.get("CELERY_METRICS_ADDR", "0.0.0.0")  # noqa: S104 - containers are reached on their network address
    server = make_server(address, int(port), exporter_app, _ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="opply-metrics-exporter", daemon=True).start()
    logger.info("worker metrics on http://%s:%s/metrics", address, port)
    return server
