"""Idempotent POSTs (IETF httpapi Idempotency-Key draft, Stripe's semantics).

A key belongs to one customer and lives 24 hours.

* The stored outcome is a PostgreSQL row, written in the same transaction as
  the order it describes: "the order exists" and "the key has a stored
  response" are never out of step. A unique constraint on (customer, key)
  makes a second order for one key impossible, whatever else fails.
* "Still running" is a short-lived Redis lock (``SET NX``) holding the
  request's fingerprint: a retry meanwhile gets 409 (or 422 for another body)
  without touching PostgreSQL. The lock expires after ``LOCK_SECONDS``, so
  the key of a request whose worker died can be used again. Once the outcome
  is stored, the lock says so for 24 hours and retries read the stored row.
* If Redis is down, or lost the lock, requests go ahead and the unique
  constraint decides: the loser rolls back (releasing what it reserved) and
  replays the winner's response.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from opply.common.errors import ProblemError
from opply.common.redis import get_redis
from opply.orders.models import IdempotencyRecord

logger = logging.getLogger(__name__)

KEY_LIFETIME = timedelta(hours=24)
LOCK_SECONDS = 60
MAX_KEY_LENGTH = 255
_DONE = "done"


class IdempotencyInProgress(ProblemError):
    status_code = 409
    default_code = "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyKeyReused(ProblemError):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request."


class AlreadyStored(Exception):
    """Another request with this key stored its outcome first: replay it."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


@dataclass
class Claim:
    """The right to process one request for (customer, key)."""

    customer_id: UUID
    key: str
    fingerprint: str
    lock_token: str | None = field(default=None)  # None: Redis did not answer

    @property
    def lock_key(self) -> str:
        return _lock_key(self.customer_id, self.key)

    def complete(self, *, status: int, body: Any) -> None:
        """Store the outcome (inside the order's transaction for a success).

        Raises :class:`AlreadyStored` if another request with this key got
        there first; the caller's transaction must then roll back.
        """
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO "orders"."idempotency_record"
                       (customer_id, key, request_fingerprint, response_status, response_body, created_at)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (customer_id, key) DO UPDATE
                   SET request_fingerprint = EXCLUDED.request_fingerprint, response_status = EXCLUDED.response_status,
                       response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at
                 WHERE "idempotency_record".created_at < %s
                RETURNING id
                """,
                [self.customer_id, self.key, self.fingerprint, status, json.dumps(body), now, now - KEY_LIFETIME],
            )
            if cursor.fetchone() is None:
                raise AlreadyStored()
        transaction.on_commit(self._mark_done)

    def _mark_done(self) -> None:
        try:
            get_redis().set(self.lock_key, f"{self.fingerprint}:{_DONE}", ex=int(KEY_LIFETIME.total_seconds()))
        except RedisError:
            logger.warning("Redis unreachable: idempotency lock %s not marked done", self.key)

    def abandon(self) -> None:
        """Forget the claim: the request did not run to an outcome worth replaying."""
        if self.lock_token is None:
            return
        try:
            # Only our own lock: compare-and-delete in one script.
            get_redis().eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                1,
                self.lock_key,
                self.lock_token,
            )
        except RedisError:
            logger.warning("Redis unreachable: idempotency lock %s expires on its own", self.key)


def _lock_key(customer_id: UUID, key: str) -> str:
    return f"idem:{customer_id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ProblemError(
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            "validation_error",
            errors={"Idempotency-Key": ["1 to 255 printable ASCII characters."]},
        )
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_response(*, customer_id: UUID, key: str, request_fingerprint: str) -> StoredResponse | None:
    """The live stored outcome for this key, or None. 422 if it was for another body."""
    record = (
        IdempotencyRecord.objects.using("default")
        .filter(customer_id=customer_id, key=key, created_at__gte=timezone.now() - KEY_LIFETIME)
        .first()
    )
    if record is None:
        return None
    if record.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    return StoredResponse(record.response_status, record.response_body)


def claim(*, customer_id: UUID, key: str, request_fingerprint: str) -> Claim | StoredResponse:
    """Claim the key, or return the stored response of an earlier request.

    Raises :class:`IdempotencyKeyReused` (422) or :class:`IdempotencyInProgress` (409).
    """
    lock_key = _lock_key(customer_id, key)
    token = f"{request_fingerprint}:{secrets.token_hex(8)}"
    try:
        acquired = get_redis().set(lock_key, token, nx=True, ex=LOCK_SECONDS)
        current = None if acquired else get_redis().get(lock_key)
    except RedisError:
        logger.warning("Redis unreachable: idempotency relies on the database constraint alone")
        stored = stored_response(customer_id=customer_id, key=key, request_fingerprint=request_fingerprint)
        return stored if stored is not None else Claim(customer_id, key, request_fingerprint)
    if acquired:
        return Claim(customer_id, key, request_fingerprint, token)
    if current is None:  # the lock expired between SET and GET: try once more
        return claim(customer_id=customer_id, key=key, request_fingerprint=request_fingerprint)
    held_fingerprint, _, state = current.partition(":")
    if held_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    if state == _DONE:
        stored = stored_response(customer_id=customer_id, key=key, request_fingerprint=request_fingerprint)
        if stored is not None:
            return stored
    raise IdempotencyInProgress(headers={"Retry-After": "1"})


def store_outcome(claim_: Claim, *, status: int, body: Any) -> None:
    """Store a non-order outcome (a 409) in a transaction of its own."""
    try:
        with transaction.atomic():
            claim_.complete(status=status, body=body)
    except AlreadyStored:
        pass


def delete_expired(*, now: Any = None) -> int:
    """Drop records older than 24 hours (``manage.py idempotency_cleanup``, a periodic task)."""
    cutoff = (now or timezone.now()) - KEY_LIFETIME
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
