"""Idempotent POSTs (IETF httpapi Idempotency-Key draft, Stripe's semantics).

A key belongs to one customer and lives 24 hours. The first request with a
key claims it (a row in state ``in_progress``); its outcome is stored with
the order in the same transaction, so "the order exists" and "the key has a
stored response" are never out of step. A retry with the same key and body
gets the stored status and body again; with another body, 422; while the
first is still running, 409. A claim whose request died (the worker was
killed) is taken over after ``LOCK_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from opply.common.errors import ProblemError
from opply.orders.models import IdempotencyRecord

KEY_LIFETIME = timedelta(hours=24)
LOCK_SECONDS = 60
MAX_KEY_LENGTH = 255


class IdempotencyInProgress(ProblemError):
    status_code = 409
    default_code = "idempotency_in_progress"
    default_detail = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyKeyReused(ProblemError):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request."


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


@dataclass(frozen=True)
class Claim:
    """The right to process one request for (customer, key)."""

    customer_id: UUID
    key: str

    def complete(self, *, status: int, body: Any) -> None:
        """Store the outcome. Inside the order's transaction for a success."""
        IdempotencyRecord.objects.filter(customer_id=self.customer_id, key=self.key).update(
            state=IdempotencyRecord.State.DONE, response_status=status, response_body=body
        )

    def abandon(self) -> None:
        """Forget the claim: the request did not run to an outcome worth replaying."""
        IdempotencyRecord.objects.filter(customer_id=self.customer_id, key=self.key, state=IdempotencyRecord.State.IN_PROGRESS).delete()


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


_CLAIM_SQL = """
    INSERT INTO "orders"."idempotency_record"
           (customer_id, key, request_fingerprint, state, response_status, response_body, created_at, locked_until)
    VALUES (%s, %s, %s, 'in_progress', NULL, NULL, %s, %s)
    ON CONFLICT (customer_id, key) DO NOTHING
    RETURNING id
"""


def claim(*, customer_id: UUID, key: str, request_fingerprint: str) -> Claim | StoredResponse:
    """Claim the key, or return the stored response of an earlier request.

    Raises :class:`IdempotencyKeyReused` (422) or :class:`IdempotencyInProgress` (409).
    """
    now = timezone.now()
    lock_until = now + timedelta(seconds=LOCK_SECONDS)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [customer_id, key, request_fingerprint, now, lock_until])
            if cursor.fetchone() is not None:
                return Claim(customer_id, key)
        record = IdempotencyRecord.objects.select_for_update().get(customer_id=customer_id, key=key)
        expired = record.created_at < now - KEY_LIFETIME
        abandoned = record.state == IdempotencyRecord.State.IN_PROGRESS and record.locked_until <= now
        if expired or (abandoned and record.request_fingerprint == request_fingerprint):
            record.request_fingerprint = request_fingerprint
            record.state = IdempotencyRecord.State.IN_PROGRESS
            record.response_status = record.response_body = None
            record.created_at = now if expired else record.created_at
            record.locked_until = lock_until
            record.save()
            return Claim(customer_id, key)
    if record.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    if record.state == IdempotencyRecord.State.DONE:
        return StoredResponse(record.response_status, record.response_body)
    raise IdempotencyInProgress(headers={"Retry-After": "1"})


def delete_expired(*, now: Any = None) -> int:
    """Drop records older than 24 hours (``manage.py idempotency_cleanup``, a periodic task)."""
    cutoff = (now or timezone.now()) - KEY_LIFETIME
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
