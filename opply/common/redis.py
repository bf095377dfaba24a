"""The Redis client for state that must not be lost quietly.

The cache (Django's ``cache``) may fail silently and fall back to the
database. The availability store and carts may not: their client raises, and
callers turn a ``redis.RedisError`` into a 503 with ``Retry-After`` or a
PostgreSQL-only path. One connection pool per process, created lazily, so
that forked gunicorn/celery workers do not share sockets.

Every call is timed for the metrics (``opply_redis_command_duration_seconds``
by command; a pipeline counts once, as ``pipeline``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import hiredis
import redis
from django.conf import settings
from redis.client import Pipeline
from redis.connection import AbstractConnection
from redis.exceptions import ResponseError

from opply.common.observability import metrics


class InstrumentedPipeline(Pipeline):
    def execute(self, raise_on_error: bool = True) -> list[Any]:
        start = perf_counter()
        try:
            return super().execute(raise_on_error)
        finally:
            metrics.observe_redis("pipeline", perf_counter() - start)


class InstrumentedRedis(redis.Redis):
    def execute_command(self, *args: Any, **options: Any) -> Any:
        start = perf_counter()
        try:
            return super().execute_command(*args, **options)
        finally:
            metrics.observe_redis(str(args[0]).upper() if args else "unknown", perf_counter() - start)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> InstrumentedPipeline:
        return InstrumentedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid: int | None = None


def get_redis() -> redis.Redis:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        with _lock:
            if _client is None or _client_pid != os.getpid():
                client_class = InstrumentedRedis if metrics.TIMERS_ENABLED else redis.Redis
                _client = client_class.from_url(
                    settings.REDIS_URL,
                    socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                    health_check_interval=30,
                    decode_responses=True,
                )
                _client_pid = os.getpid()
    return _client


def reset_redis_client() -> None:
    """Forget the client (tests that point REDIS_URL elsewhere use this)."""
    global _client
    with _lock:
        _client = None


def round_trip(commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Send ``commands`` in one write and read their replies, in order.

    What a non-transactional pipeline does, for the one round trip every
    authenticated request makes (opply/identity/authentication.py), without
    the pipeline's machinery: that was a quarter of the client's CPU for
    those four commands (88-97 against 62-75 µs a call, in one process).
    Replies come as Redis sends them, with no redis-py reply callbacks
    (``INCR`` an int, ``EXPIRE`` 0 or 1, ``MGET`` a list); an
    error Redis answers to one command is returned in its place, as
    ``pipeline.execute(raise_on_error=False)`` does. A connection that breaks
    is dropped (never returned to the pool half-read) and the batch retried
    as the connection's retry policy says, as a pipeline's would be (a client
    made from a URL retries none): then ``RedisError`` is raised.
    Timed as one ``pipeline`` in the metrics.
    """
    pool = get_redis().connection_pool
    start = perf_counter()
    try:
        connection = pool.get_connection()
        try:
            return connection.retry.call_with_retry(lambda: _send_and_read(connection, commands), lambda _error: connection.disconnect())
        finally:
            pool.release(connection)
    finally:
        if metrics.TIMERS_ENABLED:
            metrics.observe_redis("pipeline", perf_counter() - start)


def _send_and_read(connection: AbstractConnection, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    # hiredis packs (redis-py's own packer is a layer of Python over it); the
    # commands' arguments are text and integers. The connection disconnects
    # itself on a socket error, so a failed read never leaves unread replies
    # on a pooled socket.
    connection.send_packed_command([b"".join([hiredis.pack_command(command) for command in commands])])
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(connection.read_response())
        except ResponseError as error:
            replies.append(error)
    return replies
