"""Liveness and readiness probes.

``/health/live/`` does no I/O: it says the process can serve a request (the
load balancer's and the benchmark's floor). ``/health/ready/`` checks every
dependency a request may need and answers 503 naming the ones that are down,
so that an instance is taken out of rotation instead of serving errors.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from kombu import Connection

from opply.common.db.routing import PRIMARY, REPLICA
from opply.common.errors import problem_response
from opply.common.redis import get_redis

_LIVE_BODY = b'{"status":"ok"}'


def _check_database(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    get_redis().ping()


def _check_broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1)


CHECKS: dict[str, Callable[[], None]] = {
    "primary": lambda: _check_database(PRIMARY),
    "replica": lambda: _check_database(REPLICA),
    "redis": _check_redis,
    "broker": _check_broker,
}


def _method_not_allowed(request: HttpRequest) -> JsonResponse:
    response = problem_response(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    response["Allow"] = "GET, HEAD"
    return response


# csrf_exempt: they take no cookies and change nothing, and a POST must get
# their 405, not a CSRF 403 (CsrfViewMiddleware runs before the view).
@csrf_exempt
def live(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed(request)
    response = JsonResponse({}, status=200)
    response.content = _LIVE_BODY
    return response


@csrf_exempt
def ready(request: HttpRequest) -> JsonResponse:
    if request.method not in ("GET", "HEAD"):
        return _method_not_allowed(request)
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            results[name] = "down"
        else:
            results[name] = "ok"
    down = sorted(name for name, state in results.items() if state != "ok")
    if down:
        response = problem_response(503, "not_ready", f"Unavailable: {', '.join(down)}.", checks=results, down=down)
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"status": "ok", "checks": results})
