"""One error format for the whole API: RFC 9457 problem details.

Every error, whether raised by our code, by DRF (validation, auth, throttling,
405) or by Django itself (404 on an unknown path, 500, CSRF), leaves the
server as ``application/problem+json``::

    {"type": "urn:opply:problem:not_found", "title": "Not Found", "status": 404,
     "detail": "...", "code": "not_found", "request_id": "...", "errors": {...}}

``errors`` carries field errors; problem-specific members (``available``,
``lines``...) sit at the top level next to the standard ones.

Services raise domain errors (:class:`ApplicationError` and its kinds), which
know nothing of HTTP; :data:`STATUS_OF_KIND` below is the one place that maps
them to statuses. ``ProblemError`` is for the HTTP layer itself.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import DisallowedHost, PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError, connections
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django_guid import get_guid
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemError(exceptions.APIException):
    """An API error with a stable ``code`` and optional extra members.

    Raise a subclass (or this with arguments) from services and views; the
    exception handler turns it into a problem-details response.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request could not be processed."
    default_code = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        code: str | None = None,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail=detail, code=code)
        if status_code is not None:
            self.status_code = status_code
        self.code = code or self.default_code
        self.extra = extra
        self.headers = headers or {}


# --- Domain errors ---------------------------------------------------------------


class ApplicationError(Exception):
    """A business rule refused the operation (HackSoft's ``ApplicationError``).

    Services raise a kind below, with a stable ``code``, a message for the
    client and extra members (``errors``, ``available``...); nothing changed.
    The base class itself means invalid input.
    """

    default_code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(self, message: str | None = None, code: str | None = None, *, retry_after: int | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.retry_after = retry_after
        self.extra = extra
        super().__init__(self.message)


class NotFoundError(ApplicationError):
    default_code = "not_found"
    default_message = "Not found."


class ConflictError(ApplicationError):
    """The request is valid but the current state refuses it (stock, a status)."""

    default_code = "conflict"


class UnprocessableError(ApplicationError):
    """Well-formed, but not processable as sent (over a per-customer cap, a reused key)."""

    default_code = "unprocessable"


class UnavailableError(ApplicationError):
    """A dependency is down; retry after ``retry_after`` seconds."""

    default_code = "service_unavailable"
    default_message = "A service this request needs is temporarily unavailable."

    def __init__(self, message: str | None = None, code: str | None = None, *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(message, code, retry_after=retry_after, **extra)


STATUS_OF_KIND: dict[type[ApplicationError], int] = {
    ApplicationError: status.HTTP_400_BAD_REQUEST,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ConflictError: status.HTTP_409_CONFLICT,
    UnprocessableError: status.HTTP_422_UNPROCESSABLE_ENTITY,
    UnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_of(exc: ApplicationError) -> int:
    return next(STATUS_OF_KIND[kind] for kind in type(exc).__mro__ if kind in STATUS_OF_KIND)


def as_problem(exc: ApplicationError) -> ProblemError:
    """The HTTP error a domain error becomes."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return ProblemError(exc.message, exc.code, status_code=status_of(exc), headers=headers, **exc.extra)


def problem_of(exc: ApplicationError) -> tuple[int, dict[str, Any]]:
    """Status and problem body of a domain error (an idempotent outcome stores them)."""
    code = status_of(exc)
    return code, problem(code, exc.code, exc.message, **exc.extra)


class ServiceUnavailable(ProblemError):
    """A dependency the request needs is down; the client should retry later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is temporarily unavailable."
    default_code = "service_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **extra)


class DatabaseBusy(ServiceUnavailable):
    default_code = "database_busy"
    default_detail = "The database is busy (a lock or a slow query); nothing was changed. Retry shortly, with the same Idempotency-Key."


class DatabaseUnavailable(ServiceUnavailable):
    default_code = "database_unavailable"
    default_detail = "The database connection failed; nothing was committed. Retry shortly, with the same Idempotency-Key."


# lock_timeout and statement_timeout (opply/common/db/timeouts.py) fired: the
# database is up but something holds what this request needed.
_BUSY = (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)
# Deadlocks and serialization failures are transient too: PostgreSQL rolled
# the transaction back, a retry succeeds.
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
DATABASE_RETRY_AFTER_SECONDS = 2


def database_problem(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 that a database failure deserves, or None if ``exc`` is not one.

    The one place that decides what a database error means to a client:
    timeouts (busy), and connections that failed or dropped (unavailable).
    Either way the transaction was rolled back (PostgreSQL never commits a
    transaction whose connection or statement failed), so the client may
    retry; with an Idempotency-Key the retry orders at most once. Integrity
    and programming errors are bugs or bad input, not outages: None.
    """
    cause = exc.__cause__ if isinstance(exc, OperationalError | InterfaceError) else exc
    if isinstance(cause, _BUSY):
        return DatabaseBusy(retry_after=DATABASE_RETRY_AFTER_SECONDS)
    if isinstance(cause, _TRANSIENT):
        return DatabaseBusy(retry_after=1)
    if isinstance(exc, OperationalError | InterfaceError | psycopg.OperationalError | psycopg.InterfaceError):
        _drop_broken_connections()
        return DatabaseUnavailable(retry_after=DATABASE_RETRY_AFTER_SECONDS)
    return None


def _drop_broken_connections() -> None:
    """Close connections that no longer work, so that the next request
    reconnects instead of failing once more on a dead socket (Django would
    find out at the next request start; tests and threads never get there)."""
    from opply.common.db.replica import REPLICA, breaker

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block and conn.errors_occurred and not conn.is_usable():
            conn.close()
            if conn.alias == REPLICA:
                breaker.failed("connection lost")


def problem(status_code: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """Build the body of a problem-details response."""
    body: dict[str, Any] = {
        "type": f"urn:opply:problem:{code}",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    request_id = get_guid()
    if request_id:
        body["request_id"] = request_id
    clashing = body.keys() & extra.keys()
    if clashing:
        raise ValueError(f"problem members {sorted(clashing)} are reserved")
    body.update(extra)
    return body


def problem_response(status_code: int, code: str, detail: str, **extra: Any) -> JsonResponse:
    """A plain Django JSON problem response, for views outside DRF."""
    return JsonResponse(problem(status_code, code, detail, **extra), status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def _first_code(codes: Any) -> str | None:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict):
        codes = list(codes.values())
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler producing problem details.

    Built on DRF's own handler so that its behaviour is kept: Http404 and
    PermissionDenied are translated, ``Retry-After`` and ``WWW-Authenticate``
    headers are set, and the open transaction is marked for rollback
    (``set_rollback``). Unexpected exceptions return None and reach Django's
    500 handler, which is JSON as well.
    """
    if isinstance(exc, ApplicationError):
        exc = as_problem(exc)
    unavailable = database_problem(exc)
    if unavailable is not None:
        logger.warning("database unavailable (%s): %s", unavailable.code, exc)
        exc = unavailable
    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        detail = "The request has invalid fields."
        errors = response.data
        if not isinstance(errors, dict):
            errors = {"non_field_errors": errors}
        extra["errors"] = errors
    elif isinstance(exc, ProblemError):
        code = exc.code
        detail = str(exc.detail)
        extra.update(exc.extra)
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.APIException):
        code = _first_code(exc.get_codes()) or "error"
        detail = exc.detail if isinstance(exc.detail, str) else str(response.data.get("detail", exc.default_detail))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after"] = int(response.get("Retry-After", 1))
    else:  # pragma: no cover - DRF only handles APIException, Http404, PermissionDenied
        code, detail = "error", str(exc)

    response.data = problem(response.status_code, code, str(detail), **extra)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


# --- Django-level handlers (wired in config/urls.py and settings) -------------------


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400s: its SuspiciousOperation family, each told apart."""
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # The same code and member as nginx's own 413 (deploy/nginx).
        return problem_response(
            413, "request_too_large", f"The request body is larger than the {limit} bytes this API accepts.", max_bytes=limit
        )
    if isinstance(exception, DisallowedHost):
        # Django logs the reason (logger django.security.DisallowedHost); the
        # client, often a developer pointing a device or an emulator at a
        # laptop, gets it too.
        host = request._get_raw_host()[:255]  # what get_host() refused
        detail = f"This server does not answer to the host {host!r}."
        if settings.DEBUG or getattr(settings, "ENVIRONMENT", "") != "production":
            detail += " Add it to DJANGO_ALLOWED_HOSTS (an Android emulator reaches the host machine as 10.0.2.2)."
        return problem_response(400, "disallowed_host", detail)
    return problem_response(400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(403, "permission_denied", "You do not have permission to perform this action.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return problem_response(404, "not_found", "No resource lives at this address.")


def server_error(request: HttpRequest) -> JsonResponse:
    # Django calls this while handling the exception: a database outage
    # raised outside DRF (a middleware, a plain view) is still a 503.
    unavailable = database_problem(sys.exc_info()[1]) if sys.exc_info()[1] is not None else None
    if unavailable is not None:
        return unavailable_response(unavailable)
    return problem_response(500, "server_error", "An unexpected error occurred; it has been logged.")


def unavailable_response(exc: ServiceUnavailable) -> JsonResponse:
    response = problem_response(exc.status_code, exc.code, str(exc.detail), **exc.extra)
    for name, value in exc.headers.items():
        response[name] = value
    return response


class DatabaseUnavailableMiddleware:
    """Database outages in views outside DRF (admin, health) become a 503
    problem, not a 500 (DRF views get the same from ``exception_handler``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        unavailable = database_problem(exception)
        if unavailable is None:
            return None
        logger.warning("database unavailable (%s): %s", unavailable.code, exception)
        return unavailable_response(unavailable)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return problem_response(403, "csrf_failed", f"CSRF verification failed: {reason}")
