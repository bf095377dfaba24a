"""gunicorn configuration: ``gunicorn -c config/gunicorn.py config.wsgi``.

Every value can be overridden from the environment, so the same file serves
a laptop, the benchmark and a container.
"""

import json
import multiprocessing
import os

from gunicorn import util

from opply.common.observability import multiprocess as metrics_processes

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - containers listen on every interface
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
# "-" logs requests to stdout; an empty value turns the access log off.
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Bounds on what a client may send before the application sees anything
# (gunicorn's defaults, stated so that they are a decision, not an accident;
# README "Limits"). Over them gunicorn answers itself: 414 for the request
# line, 431 for too many or too large header fields.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "4094"))
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", "100"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"))


def _write_problem(sock, status_int, reason, mesg):  # type: ignore[no-untyped-def]
    """gunicorn's own error answers (414, 431, 400 for a malformed request) as
    problem+json like every other error of the API, instead of an HTML page."""
    # The same codes as nginx's own answers (deploy/nginx), whichever layer refuses.
    code = {414: "uri_too_long", 431: "headers_too_large"}.get(status_int, "bad_request")
    body = json.dumps(
        {
            "type": f"urn:opply:problem:{code}",
            "title": reason,
            "status": status_int,
            "detail": mesg or reason,
            "code": code,
        }
    ).encode()
    head = f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
    util.write_nonblock(sock, head.encode("latin1") + body)


util.write_error = _write_problem

# Metrics (prometheus_client's multi-process mode, opply/common/observability/multiprocess.py):
# a fresh directory per start, made in the master before any worker imports
# the app; a worker that exits is marked dead; the directory goes at exit.


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    directory = metrics_processes.prepare_directory("gunicorn")
    server.log.info("metrics directory: %s", directory)


def child_exit(server, worker) -> None:  # type: ignore[no-untyped-def]
    metrics_processes.mark_process_dead(worker.pid)


def on_exit(server) -> None:  # type: ignore[no-untyped-def]
    metrics_processes.remove_directory()
