"""Liveness and readiness probes.

``/health/live/`` does no I/O: it says the process can serve a request (the
load balancer's and the benchmark's floor).

``/health/ready/`` answers 503 only for what an instance cannot serve
without: the primary database. Everything else degrades the service but not
the instance, and taking every instance out of rotation because Redis or
the replica is down would turn a partial outage into a total one (they
share those dependencies, so they would all fail at once). Those are
reported in the body, with what clients see meanwhile:

* ``replica``: unreachable, or lagging past ``REPLICA_MAX_LAG_SECONDS``
  (measured, reported in ``details``): reads are served by the primary;
* ``redis``: carts answer 503, orders run on PostgreSQL alone, the catalog
  is served from the database;
* ``broker``: periodic jobs cannot be queued;
* ``worker``: nothing consumes the queue, or the sweeper has not run lately:
  abandoned carts keep their stock until it runs again.

Statuses are ``ok``, ``degraded`` (serving, with less) and ``down`` (the
primary only: 503).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from kombu import Connection
from redis.exceptions import RedisError

from opply.common import heartbeat
from opply.common.db.replica import PRIMARY, REPLICA, breaker, measure_lag, replica_configured
from opply.common.errors import problem_response
from opply.common.redis import get_redis

_LIVE_BODY = b'{"status":"ok"}'

OK, DEGRADED, DOWN = "ok", "degraded", "down"


@dataclass
class Check:
    status: str
    details: dict[str, Any] = field(default_factory=dict)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_primary() -> Check:
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(DOWN, {"error": _first_line(exc)})
    return Check(OK)


def check_replica() -> Check:
    limit = settings.REPLICA_MAX_LAG_SECONDS
    if not replica_configured():
        return Check(OK, {"configured": False, "reads": "primary"})
    if breaker.is_open and breaker.retry_in() > 0:
        # Do not pay a connect timeout on every probe: the breaker knows.
        return Check(DEGRADED, {"reads": "primary", "reason": breaker.reason, "retry_in_seconds": round(breaker.retry_in(), 1)})
    try:
        connections[REPLICA].close_if_health_check_failed()
        lag = measure_lag()
    except DatabaseError as exc:
        breaker.failed(f"unreachable: {_first_line(exc)}")
        return Check(DEGRADED, {"reads": "primary", "reason": breaker.reason})
    reported_lag = round(lag, 3) if math.isfinite(lag) else None
    if lag > limit:
        breaker.failed(f"lagging {lag:.1f}s behind, over {limit}s")
        return Check(DEGRADED, {"reads": "primary", "reason": breaker.reason, "lag_seconds": reported_lag, "max_lag_seconds": limit})
    breaker.succeeded()
    return Check(OK, {"reads": "replica", "lag_seconds": reported_lag, "max_lag_seconds": limit})


def check_redis() -> Check:
    try:
        get_redis().ping()
    except RedisError as exc:
        return Check(
            DEGRADED,
            {
                "error": _first_line(exc),
                "impact": "carts answer 503; orders run on PostgreSQL alone; the catalog is served from the database",
            },
        )
    return Check(OK)


def check_broker_and_worker() -> tuple[Check, Check]:
    """The broker, and whether anything consumes our queue and the sweeper
    ran lately (its heartbeat in Redis)."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    consumers: int | None = None
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0)
            try:
                _, messages, consumers = connection.default_channel.queue_declare(queue=queue, passive=True)
            except connection.channel_errors:
                messages, consumers = 0, 0  # the queue does not exist: no worker ever declared it
    except Exception as exc:  # noqa: BLE001 - kombu raises transport-specific errors
        broker = Check(DEGRADED, {"error": _first_line(exc), "impact": "periodic jobs cannot be queued"})
    else:
        broker = Check(OK, {"queue": queue, "messages": messages})
    return broker, _worker_check(consumers)


def _worker_check(consumers: int | None) -> Check:
    details: dict[str, Any] = {"consumers": consumers}
    stale_after = max(3 * settings.CART_SWEEP_SECONDS, 30.0)
    try:
        last = heartbeat.last_beat(heartbeat.SWEEPER)
    except RedisError:
        last = None
        details["sweeper_last_run"] = "unknown (Redis unreachable)"
    else:
        details["sweeper_last_run"] = datetime.fromtimestamp(last, tz=UTC).isoformat() if last is not None else None
        details["sweeper_age_seconds"] = round(time.time() - last, 1) if last is not None else None
    problems = []
    if not consumers:
        problems.append("no worker consumes the queue")
    if last is None or time.time() - last > stale_after:
        problems.append(f"the sweeper has not run in the last {stale_after:.0f}s: expired carts keep their stock")
    if problems:
        details["impact"] = "; ".join(problems)
        return Check(DEGRADED, details)
    return Check(OK, details)


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
    broker, worker = check_broker_and_worker()
    results = {
        "primary": check_primary(),
        "replica": check_replica(),
        "redis": check_redis(),
        "broker": broker,
        "worker": worker,
    }
    checks = {name: result.status for name, result in results.items()}
    details = {name: result.details for name, result in results.items() if result.details}
    degraded = sorted(name for name, status in checks.items() if status == DEGRADED)
    if checks["primary"] == DOWN:
        response = problem_response(
            503, "not_ready", "Unavailable: primary.", checks=checks, down=["primary"], degraded=degraded, details=details
        )
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"status": DEGRADED if degraded else OK, "checks": checks, "degraded": degraded, "details": details})
