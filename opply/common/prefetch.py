"""A view's Redis read, sent in the authentication's round trip.

Every authenticated request makes one Redis round trip before its view runs
(opply/identity/authentication.py: revocation, the read-your-writes pin, the
rate limit's counter). A view whose answer is mostly one Redis read (the
cached product list: one script call) would make a second, and on a cache
hit that round trip is a good part of the request's cost. Instead the view
declares its read up front (``redis_prefetch(request, user)``, returning a
:class:`Prefetch`); authentication sends it in its own round trip and leaves
the reply on the request, where the view takes it (:func:`take`).

Nothing about the checks changes: authentication, permissions and throttles
are judged before the view runs, exactly as before; the reply only waits on
the request meanwhile, and a refused request never reaches the view that
would read it. A prefetch must be a pure read with no effect of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request

# The attribute of the Django request that carries a reply to its view.
_ATTRIBUTE = "redis_prefetched"


class Missing:
    """No prefetched reply: the view reads for itself."""


MISSING = Missing()


@dataclass(frozen=True)
class Prefetch:
    key: str  # what the view will ask for (take() hands the reply only to the same key)
    command: tuple[Any, ...]  # exactly one Redis command (a pure read), sent with authentication's


def requested(request: Request, user: Any) -> Prefetch | None:
    """The prefetch the request's view wants for this (not yet checked) user, if any."""
    view = (request.parser_context or {}).get("view")
    hook = getattr(view, "redis_prefetch", None)
    return hook(request, user) if hook is not None else None


def deliver(request: Request, prefetch: Prefetch, reply: Any) -> None:
    """Leave the reply (or the error Redis answered instead) for the view."""
    setattr(request._request, _ATTRIBUTE, (prefetch.key, reply))


def take(request: HttpRequest | Request, key: str) -> Any:
    """The reply prefetched for ``key`` (once), else MISSING; an error Redis
    answered is returned as the exception object."""
    django_request = request._request if isinstance(request, Request) else request
    found = getattr(django_request, _ATTRIBUTE, None)
    if found is None or found[0] != key:
        return MISSING
    delattr(django_request, _ATTRIBUTE)
    return found[1]
