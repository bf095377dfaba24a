"""Primary / replica routing with read-your-writes.

Reads go to the ``replica`` alias and writes to ``default`` (the primary). Reads
are pinned to the primary when:

* the request is a write (any method but GET/HEAD/OPTIONS): everything on a
  write path (carts, checkout, orders, cancels, stock, the validation of
  references such as a product's category, login and token refresh) reads
  what is committed, never what a lagging replica has replayed so far;
* the current request (or task) has already written: it must see its writes;
* a transaction is open on the primary: a read inside it is part of it;
* the row being followed was read from the primary (related objects follow
  their instance);
* the caller is a customer who wrote within the last ``REPLICA_PIN_SECONDS``
  (longer while the replica is measured to lag more): reads right after a
  write see it. That window is kept in Redis, keyed by the customer's public
  id, so it holds across processes and machines;
* the replica is down or lags past ``REPLICA_MAX_LAG_SECONDS`` (a circuit
  breaker, see :mod:`opply.common.db.replica`).

Reads whose answer must never lag (one's own orders and account, a cart's
products) name the primary in their selectors whatever the pin says.

The pin flag is a context variable: each request gets a fresh one from
:class:`ReplicaPinningMiddleware`; nothing lives in process globals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError

from opply.common.db.replica import PRIMARY, REPLICA, last_known_lag, replica_usable
from opply.common.observability import metrics
from opply.common.redis import get_redis

logger = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

_pinned_to_primary: ContextVar[bool] = ContextVar("opply_pinned_to_primary", default=False)


def pin_to_primary() -> None:
    """Send every further read of this request/task to the primary."""
    _pinned_to_primary.set(True)


def is_pinned_to_primary() -> bool:
    return _pinned_to_primary.get()


@contextmanager
def reading_primary() -> Iterator[None]:
    """Send the reads inside the block to the primary (then back as before)."""
    token = _pinned_to_primary.set(True)
    try:
        yield
    finally:
        _pinned_to_primary.reset(token)


def pin_key(user_key: str) -> str:
    return f"replica-pin:{user_key}"


def pin_seconds() -> int:
    """How long a writer reads from the primary: the configured window, or
    longer while this process has measured the replica lagging more."""
    lag = last_known_lag()
    if lag is None or not math.isfinite(lag):
        return settings.REPLICA_PIN_SECONDS
    return max(settings.REPLICA_PIN_SECONDS, math.ceil(lag) + 1)


def remember_recent_writer(user_key: str) -> None:
    try:
        get_redis().set(pin_key(user_key), 1, ex=pin_seconds())
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
        instance = hints.get("instance")
        if instance is not None and getattr(instance._state, "db", None) == PRIMARY:
            return PRIMARY
        if replica_usable():
            return REPLICA
        # The replica is down or lagging (its circuit breaker is open).
        metrics.replica_fallback()
        return PRIMARY

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
        writes = request.method not in SAFE_METHODS
        token = _pinned_to_primary.set(writes)
        try:
            response = self.get_response(request)
            user = getattr(request, "user", None)
            if writes and response.status_code < 400 and user is not None and user.is_authenticated:
                remember_recent_writer(str(user.public_id))
            return response
        finally:
            _pinned_to_primary.reset(token)
