"""A request's own absolute URL, remembered per process.

A page's ``next`` and ``previous`` links are absolute: the request's URL with
another cursor. Django builds it anew for every request (the scheme, the host
checked against ``ALLOWED_HOSTS``, the path quoted): on a cached catalog page
that was a twentieth of the request. It is a function of a few values of the
request's environment and of settings that do not change while the process
runs, so it is remembered by exactly those values; a host Django refuses is
never remembered (it is refused afresh, a 400, every time).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from opply.common.memo import BoundedMemo

_URLS: BoundedMemo[tuple[str | None, ...], str] = BoundedMemo(1024)

# Everything HttpRequest.build_absolute_uri() reads from the environment
# (the scheme: the proxy's header or wsgi.url_scheme; the host: the forwarded
# host, Host or the server's name and port; the path and the query string).
_ENVIRONMENT = (
    "HTTP_HOST",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
    "QUERY_STRING",
)


def absolute_url(request: HttpRequest) -> str:
    """``request.build_absolute_uri()``, the same text."""
    proxy_header = settings.SECURE_PROXY_SSL_HEADER[0] if settings.SECURE_PROXY_SSL_HEADER else None
    meta = request.META
    key = (request.path, meta.get(proxy_header) if proxy_header else None, *(meta.get(name) for name in _ENVIRONMENT))
    url = _URLS.get(key)
    if url is None:
        url = request.build_absolute_uri()  # DisallowedHost for a refused host
        _URLS.put(key, url)
    return url
