"""Cache-aside for product pages, invalidated by a catalog version.

Every catalog write bumps the version instead of hunting for keys: the next
read builds a new key and misses, old pages simply age out. Reading a page
is one round trip (a script reads the version and the page under it). Pages
are JSON in Redis.

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

from opply.common.redis import get_redis

logger = logging.getLogger(__name__)

VERSION_KEY = "catalog:version"
PAGE_TIMEOUT_SECONDS = 120

# KEYS: version key. ARGV: page digest.
# -> {version or false, page or false, on_hand, reserved, on_hand, reserved...}
# The page's live quantities are read in the same round trip from the
# availability store (keys as in opply.catalog.inventory.product_key; a
# missing key reads as false and is rebuilt by the caller).
_READ_PAGE = """
local version = redis.call('GET', KEYS[1])
if not version then return {false, false} end
local page = redis.call('GET', 'catalog:page:' .. version .. ':' .. ARGV[1])
local out = {version, page}
if page then
  for _, row in ipairs(cjson.decode(page)['rows']) do
    local v = redis.call('HMGET', 'inv:{p' .. row['pk'] .. '}', 'on_hand', 'reserved')
    table.insert(out, v[1]); table.insert(out, v[2])
  end
end
return out
"""


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
        version, raw, *stock = get_redis().register_script(_READ_PAGE)(keys=[VERSION_KEY], args=[digest])
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
        get_redis().set(f"catalog:page:{version}:{digest}", json.dumps(page, separators=(",", ":")), ex=PAGE_TIMEOUT_SECONDS)
    except RedisError:
        logger.warning("page cache unreachable: page not stored")


def bump_catalog_version() -> None:
    try:
        get_redis().set(VERSION_KEY, uuid.uuid4().hex)
    except RedisError:
        logger.error("page cache unreachable: catalog version not bumped; cached pages expire within %ss", PAGE_TIMEOUT_SECONDS)
