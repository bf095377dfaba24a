"""Idempotent POSTs (IETF httpapi Idempotency-Key draft, Stripe's semantics).

A key belongs to one customer and lives 24 hours.

* The stored outcome is a PostgreSQL row, written in the same transaction as
  the order it describes: "the order exists" and "the key has a stored
  response" are never out of step. A unique constraint on (customer, key)
  makes a second order for one key impossible, whatever else fails.
* "Still running" is a Redis lock (``SET NX``) holding the request's
  fingerprint, a lease and its owner (host, PID namespace, PID): a retry
  meanwhile gets 409 (or 422 for another body) without touching PostgreSQL.
  A worker that dies mid-request (killed by gunicorn's timeout, the OOM
  killer, a deploy) must not block its client's retries for long, so a retry
  takes the key over as soon as the owner is known dead (same host and PID
  namespace, and its PID is gone: at once) or its lease has run out
  (``IDEMPOTENCY_LEASE_SECONDS``, the longest a request can take given its
  database timeouts). The taker first looks for an outcome the dead owner
  may have committed, and replays it. Once the outcome is stored, the lock
  says so for 24 hours and retries read the stored row.
* If Redis is down, or lost the lock, or a lease ran out while its owner
  still ran, requests go ahead and the unique constraint decides: the loser
  rolls back (releasing what it reserved) and replays the winner's response.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from opply.common.errors import ApplicationError, ConflictError, UnprocessableError
from opply.common.redis import get_redis
from opply.orders.models import IdempotencyRecord

logger = logging.getLogger(__name__)

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255
_DONE = "done"
_RUNNING = "running"


class IdempotencyInProgress(ConflictError):
    default_code = "idempotency_in_progress"
    default_message = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyKeyReused(UnprocessableError):
    default_code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used with a different request."


class AlreadyStored(Exception):
    """Another request with this key stored its outcome first: replay it."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any


@cache
def _this_host() -> str:
    """Where PIDs of this process are meaningful: the host name and the PID
    namespace (two containers may share a host name, never a namespace)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


@dataclass(frozen=True)
class _Lock:
    """What the Redis lock says: whose request, for which body, until when."""

    fingerprint: str
    state: str  # _RUNNING or _DONE
    host: str = ""
    pid: int = 0
    lease_until: float = 0.0
    token: str = ""

    def encode(self) -> str:
        return json.dumps(
            {"f": self.fingerprint, "s": self.state, "h": self.host, "p": self.pid, "u": self.lease_until, "t": self.token},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: str) -> _Lock:
        if not raw.startswith("{"):  # written by an older version: "<fingerprint>:<token or done>"
            fingerprint, _, rest = raw.partition(":")
            return cls(fingerprint, _DONE if rest == _DONE else _RUNNING, token=rest)
        value = json.loads(raw)
        return cls(value["f"], value["s"], value.get("h", ""), int(value.get("p", 0)), float(value.get("u", 0.0)), value.get("t", ""))

    @classmethod
    def running(cls, fingerprint: str) -> _Lock:
        lease = settings.IDEMPOTENCY_LEASE_SECONDS
        return cls(fingerprint, _RUNNING, _this_host(), os.getpid(), time.time() + lease, secrets.token_hex(8))

    def owner_gone(self) -> bool:
        """The request holding this lock can no longer finish: its lease ran
        out, or its process is known to be dead."""
        if time.time() >= self.lease_until:
            return True
        return self.host == _this_host() and self.pid > 0 and not _pid_alive(self.pid)


# Replace the lock only if it still holds what we read (two retries racing to
# take over a dead owner's key: one wins). KEYS: lock. ARGV: expected, new.
_TAKE_OVER = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0"


@dataclass
class Claim:
    """The right to process one request for (customer, key)."""

    customer_id: UUID
    key: str
    fingerprint: str
    lock_value: str | None = field(default=None)  # None: Redis did not answer

    @property
    def lock_key(self) -> str:
        return _lock_key(self.customer_id, self.key)

    @property
    def holder(self) -> str:
        """The availability-store holder of this request's reservation.

        Named after the key, not the attempt: a retry after a process died
        mid-request finds (and reuses) what that attempt reserved or took over
        from the cart, instead of holding the same units a second time until
        the sweeper frees them.
        """
        return f"order:{self.lock_key.removeprefix('idem:')}"

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
            get_redis().set(self.lock_key, _Lock(self.fingerprint, _DONE).encode(), ex=int(KEY_LIFETIME.total_seconds()))
        except RedisError:
            logger.warning("Redis unreachable: idempotency lock %s not marked done", self.key)

    def abandon(self) -> None:
        """Forget the claim: the request did not run to an outcome worth replaying."""
        if self.lock_value is None:
            return
        try:
            # Only our own lock: compare-and-delete in one script.
            get_redis().eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                1,
                self.lock_key,
                self.lock_value,
            )
        except RedisError:
            logger.warning("Redis unreachable: idempotency lock %s expires on its own", self.key)


def _lock_key(customer_id: UUID, key: str) -> str:
    return f"idem:{customer_id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ApplicationError(
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
    mine = _Lock.running(request_fingerprint).encode()
    for _ in range(3):
        try:
            redis = get_redis()
            acquired = redis.set(lock_key, mine, nx=True, ex=int(KEY_LIFETIME.total_seconds()))
            current = None if acquired else redis.get(lock_key)
            if acquired:
                return Claim(customer_id, key, request_fingerprint, mine)
            if current is None:  # expired between SET and GET: try again
                continue
            held = _Lock.decode(current)
            if held.fingerprint != request_fingerprint:
                raise IdempotencyKeyReused()
            if held.state == _RUNNING and not held.owner_gone():
                retry_after = min(max(math.ceil(held.lease_until - time.time()), 1), settings.IDEMPOTENCY_LEASE_SECONDS)
                raise IdempotencyInProgress(retry_after=retry_after)
            if held.state == _DONE:
                stored = stored_response(customer_id=customer_id, key=key, request_fingerprint=request_fingerprint)
                if stored is not None:
                    return stored
                # Marked done but the record is gone (deleted by hand, or a
                # restored database): the request runs again.
            # The owner is gone: take over, if no other retry did first.
            if not redis.eval(_TAKE_OVER, 1, lock_key, current, mine):
                continue
        except RedisError:
            logger.warning("Redis unreachable: idempotency relies on the database constraint alone")
            stored = stored_response(customer_id=customer_id, key=key, request_fingerprint=request_fingerprint)
            return stored if stored is not None else Claim(customer_id, key, request_fingerprint)
        logger.warning("idempotency key of customer %s taken over from a request that died (%s, pid %s)", customer_id, held.host, held.pid)
        taken = Claim(customer_id, key, request_fingerprint, mine)
        # It may have committed its order just before dying: replay that.
        stored = stored_response(customer_id=customer_id, key=key, request_fingerprint=request_fingerprint)
        if stored is not None:
            taken._mark_done()
            return stored
        return taken
    raise IdempotencyInProgress(retry_after=1)


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
