"""HTTP-level policies that hold for every endpoint, in one place each."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.middleware import common

from opply.common.errors import problem_response

# --- X-Request-ID ---------------------------------------------------------------------

# What a client (or a proxy) may name its request: short, and safe to put in
# a header, a JSON body and a log line as it is. nginx's $request_id (32 hex
# digits), a UUID, or an ALB/X-Ray style "1-5e1b4151-5ac6c58f..." all match.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_REQUEST_ID_META = "HTTP_X_REQUEST_ID"


class RequestIdFilterMiddleware:
    """Drops an ``X-Request-ID`` that is not :data:`REQUEST_ID` before
    django-guid reads it, so that django-guid generates one instead.

    (django-guid's own ``VALIDATE_GUID`` accepts only UUIDs, which would
    throw away nginx's ids; this keeps any bounded, safe id.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(_REQUEST_ID_META)
        if incoming is not None and not REQUEST_ID.fullmatch(incoming):
            del request.META[_REQUEST_ID_META]
        return self.get_response(request)


# --- Cache-Control: no-store ------------------------------------------------------------


class NoStoreMiddleware:
    """Every API answer is personal or depends on who asks (tokens, profiles,
    customers, orders, carts, even the catalog, whose quantities and hidden
    products depend on the caller): no cache, shared or private, may keep it.
    The schema and the docs are the same for everyone and keep their defaults.
    """

    CACHEABLE = ("/api/schema/", "/api/docs/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/") and not request.path.startswith(self.CACHEABLE):
            response["Cache-Control"] = "no-store"
        return response


# --- Trailing slashes ---------------------------------------------------------------------


class CommonMiddleware(common.CommonMiddleware):
    """Django's, except for a missing trailing slash on a POST, PUT, PATCH or DELETE.

    Django answers those with a 301 (and in DEBUG raises), and clients follow a
    301 with a GET: the body is lost and the write silently not done. Here
    they get a 308 Permanent Redirect, which clients repeat with the same
    method and body, carrying a problem+json body that names the right
    address for anyone who does not follow redirects. GET and HEAD keep
    Django's 301.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code == 404 and request.method not in ("GET", "HEAD") and self.should_redirect_with_slash(request):
            location = request.get_full_path(force_append_slash=True)
            redirect = problem_response(
                308,
                "trailing_slash_required",
                f"Every address of this API ends with a slash: {request.method} {location}",
                location=location,
            )
            redirect["Location"] = location
            return redirect
        return super().process_response(request, response)
