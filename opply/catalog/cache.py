"""Cache-aside for product pages, invalidated by a catalog version.

Every catalog write bumps the version instead of hunting for keys: the next
read builds a new key and misses, old pages simply age out. Reading a page
is one round trip (``lua/read_page.lua`` reads the version, the page under
it and its live quantities). Pages are JSON in Redis; keys as laid out in
:mod:`opply.catalog.keys`.

This is the cache role: it may fail quietly. If Redis is down every function
here degrades to "miss" (and a bump to a no-op, which is why pages expire
after ``PAGE_TIMEOUT_SECONDS`` whatever happens).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from opply.catalog import scripts
from opply.catalog.keys import VERSION_KEY, page_key
from opply.common.redis import get_redis

logger = logging.getLogger(__name__)

PAGE_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class CachedPage:
    version: str | None  # None: Redis is down
    page: dict[str, Any] | None  # None: a miss
    # product id -> available units, for the page's products whose
    # availability keys exist (a hit only)
    available: dict[int, int] = field(default_factory=dict)


def page_digest(params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]


def read_page(digest: str) -> CachedPage:
    """The catalog version and, on a hit, the page with its live quantities: one round trip."""
    try:
        version, raw, *stock = scripts.READ_PAGE(keys=[VERSION_KEY], args=[digest])
        if version is None:
            # First read ever, or Redis restarted: start a version (another
            # process may win the race; both then use the winner's).
            get_redis().set(VERSION_KEY, uuid.uuid4().hex, nx=True)
            version = get_redis().get(VERSION_KEY)
    except RedisError:
        logger.warning("page cache unreachable: serving the list from the database")
        return CachedPage(None, None)
    if raw is None:
        return CachedPage(version, None)
    page = json.loads(raw)
    available = {
        row["pk"]: int(stock[2 * i]) - int(stock[2 * i + 1] or 0) for i, row in enumerate(page["rows"]) if stock[2 * i] is not None
    }
    return CachedPage(version, page, available)


def write_page(version: str, digest: str, page: dict[str, Any]) -> None:
    try:
        get_redis().set(page_key(version, digest), json.dumps(page, separators=(",", ":")), ex=PAGE_TIMEOUT_SECONDS)
    except RedisError:
        logger.warning("page cache unreachable: page not stored")


def bump_catalog_version() -> None:
    try:
        get_redis().set(VERSION_KEY, uuid.uuid4().hex)
    except RedisError:
        logger.error("page cache unreachable: catalog version not bumped; cached pages expire within %ss", PAGE_TIMEOUT_SECONDS)
