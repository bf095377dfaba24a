"""Request metrics, and the ``/metrics`` endpoint itself.

:class:`RequestMetricsMiddleware` sits near the top of ``MIDDLEWARE`` (after
the request id): it times every request and counts it by route *name*
(``catalog:product-list``, not the raw path with its ids, so the number of
series stays bounded), method and status.

It also answers ``GET /metrics`` itself, before the rest of the stack runs:

* scrapers address an instance by its IP or service name (``api:8000``,
  ``10.0.3.7:8000``), which is rightly not in ``ALLOWED_HOSTS``, and Django
  would refuse them (host validation in CommonMiddleware) or redirect them to
  HTTPS (SecurityMiddleware); the metrics body contains no URL that a forged
  Host header could poison;
* scrapes stay out of the request metrics they read.

Who may read it is decided by :mod:`opply.common.observability.access`.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

from opply.common.errors import problem_response
from opply.common.observability import metrics

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not metrics.TIMERS_ENABLED:
            raise MiddlewareNotUsed("OPPLY_METRICS_DISABLED")
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == METRICS_PATH:
            return metrics_endpoint(request)
        start = perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = (match.view_name or UNMATCHED) if match is not None else UNMATCHED
        metrics.observe_request(route, request.method or "", response.status_code, perf_counter() - start)
        return response


def metrics_endpoint(request: HttpRequest) -> HttpResponse:
    from opply.common.observability import access, exposition

    if request.method not in ("GET", "HEAD"):
        return problem_response(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    if not access.allowed(
        request.META,
        token=settings.METRICS_BEARER_TOKEN,
        networks=tuple(settings.METRICS_ALLOWED_NETWORKS),
        num_proxies=settings.REST_FRAMEWORK["NUM_PROXIES"],
    ):
        return problem_response(
            403,
            "metrics_forbidden",
            "Metrics are readable from the internal network or with the metrics bearer token only.",
        )
    body, content_type = exposition.render(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)
