"""Primary / replica routing with read-your-writes.

Reads go to the ``replica`` alias and writes to ``default`` (the primary). Reads
are pinned to the primary when:

* the current request (or task) has already written: it must see its writes;
* a transaction is open on the primary: a read inside it is part of it;
* the caller is a customer who wrote within the last ``REPLICA_PIN_SECONDS``:
  replica lag must not hide an order they have just placed. That window is
  kept in Redis, keyed by the customer's public id, so it holds
  across processes and machines.

The "has written" flag is a context variable: each request gets a fresh one
from :class:`ReplicaPinningMiddleware`; nothing lives in process globals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError

from opply.common.redis import get_redis

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"

_pinned_to_primary: ContextVar[bool] = ContextVar("opply_pinned_to_primary", default=False)


def pin_to_primary() -> None:
    """Send every further read of this request/task to the primary."""
    _pinned_to_primary.set(True)


def is_pinned_to_primary() -> bool:
    return _pinned_to_primary.get()


def pin_key(user_key: str) -> str:
    return f"replica-pin:{user_key}"


def remember_recent_writer(user_key: str) -> None:
    try:
        get_redis().set(pin_key(user_key), 1, ex=settings.REPLICA_PIN_SECONDS)
    except RedisError:
        # Reads may then lag behind the caller's own writes by the replica's
        # delay for a few seconds; nothing breaks.
        logger.warning("Redis unreachable: read-your-writes pin not recorded")


def is_recent_writer(user_key: str) -> bool:
    try:
        return bool(get_redis().exists(pin_key(user_key)))
    except RedisError:
        return True  # unknown: the primary is always right


class PrimaryReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str:
        if _pinned_to_primary.get() or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return REPLICA

    def db_for_write(self, model: type, **hints: Any) -> str:
        _pinned_to_primary.set(True)
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # Both aliases hold the same data.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY


class ReplicaPinningMiddleware:
    """Give each request a fresh pin flag; remember customers who wrote."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _pinned_to_primary.set(False)
        try:
            response = self.get_response(request)
            user = getattr(request, "user", None)
            if _pinned_to_primary.get() and user is not None and user.is_authenticated and request.method not in ("GET", "HEAD", "OPTIONS"):
                remember_recent_writer(str(user.public_id))
            return response
        finally:
            _pinned_to_primary.reset(token)
