"""The Redis client for state that must not be lost quietly.

The cache (Django's ``cache``) may fail silently and fall back to the
database. The availability store and carts may not: their client raises, and
callers turn a ``redis.RedisError`` into a 503 with ``Retry-After`` or a
PostgreSQL-only path. One connection pool per process, created lazily, so
that forked gunicorn/celery workers do not share sockets.
"""

from __future__ import annotations

import os
import threading

import redis
from django.conf import settings

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid: int | None = None


def get_redis() -> redis.Redis:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        with _lock:
            if _client is None or _client_pid != os.getpid():
                _client = redis.Redis.from_url(
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
