"""Heartbeats: periodic work says when it last ran, readiness reads it.

A key per job in Redis holding the epoch time of its last run. The sweeper
writes one at every pass, so that readiness can tell "the worker is up but
beat stopped" (or "nobody sweeps expired carts") apart from "all is well".
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError

from opply.common.redis import get_redis

logger = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600
SWEEPER = "sweeper"  # the cart sweeper (opply.catalog.tasks.release_expired_holds)


def _key(job: str) -> str:
    return f"heartbeat:{job}"


def beat(job: str) -> None:
    try:
        get_redis().set(_key(job), repr(time.time()), ex=KEEP_SECONDS)
    except RedisError:
        logger.warning("Redis unreachable: heartbeat of %s not recorded", job)


def last_beat(job: str) -> float | None:
    """Epoch seconds of the job's last run, None if never (within a day).
    Raises ``RedisError`` if Redis does not answer."""
    value = get_redis().get(_key(job))
    return float(value) if value is not None else None
